//! Like `load_and_run`, but the CRC-32 in the header is recomputed first, so
//! mutations of a valid seed reach the tensor, op and constant validation and
//! the engine itself instead of stopping at the checksum.
#![no_main]

include!("common.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut blob = data.to_vec();
    // The CRC covers HEADER_LEN..total_len; `reseal` recomputes it in place.
    nyquist_firmware::nqm::reseal(&mut blob);
    load_and_run(&blob);
});
