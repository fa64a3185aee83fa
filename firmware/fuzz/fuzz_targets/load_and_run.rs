//! Arbitrary bytes into `Model::from_bytes` (and `run` when they load): the
//! header, CRC and section checks must refuse them without panicking.
#![no_main]

include!("common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| load_and_run(data));
