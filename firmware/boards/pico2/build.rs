//! Link script set-up (shared by the boards), plus embedded-test's script for
//! the on-target test binary.
include!("../board_build.rs");
