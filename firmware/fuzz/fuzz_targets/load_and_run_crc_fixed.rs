//! Like `load_and_run`, but the CRC-32 in the header is recomputed first, so
//! mutations of a valid seed reach the tensor, op and constant validation and
//! the engine itself instead of stopping at the checksum.
#![no_main]

include!("common.rs");

use nyquist_firmware::blob::HEADER_LEN;
use nyquist_firmware::crc::crc32;

/// Byte offset of the CRC-32 field in the header.
const CRC_AT: usize = 12;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut blob = data.to_vec();
    if blob.len() >= HEADER_LEN {
        // The CRC covers the bytes after the header up to `total_len` (offset 8).
        let total = u32::from_le_bytes([blob[8], blob[9], blob[10], blob[11]]) as usize;
        let end = total.clamp(HEADER_LEN, blob.len());
        let crc = crc32(&blob[HEADER_LEN..end]);
        blob[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    }
    load_and_run(&blob);
});
