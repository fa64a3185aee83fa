//! Link script set-up (shared by the boards).
include!("../board_build.rs");
