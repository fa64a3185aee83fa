//! The 64-byte header: what it holds, where, and how to read or write it.

use crate::crc::crc32;
use crate::record::Reader;
use crate::{Error, HEADER_LEN, MAGIC, VERSION};

/// Byte offsets of the header fields other programs read without decoding the
/// whole header (the boards size their arena from [`ARENA_SIZE`] at compile
/// time; fuzzers and tests reseal a mutated blob via [`TOTAL_LEN`] and [`CRC`]).
pub mod offset {
    /// `u32`: bytes of the whole blob.
    pub const TOTAL_LEN: usize = 8;
    /// `u32`: CRC-32 of bytes `HEADER_LEN..TOTAL_LEN`.
    pub const CRC: usize = 12;
    /// `u32`: arena bytes the model needs (activations and scratch).
    pub const ARENA_SIZE: usize = 16;
}

/// The header, field by field, in file order.
///
/// | bytes | field |
/// |---|---|
/// | 0..4 | magic `NQMB` |
/// | 4..6 | version (2) |
/// | 6..8 | header length (64) |
/// | 8..12 | total length |
/// | 12..16 | CRC-32 of bytes 64..total |
/// | 16..20 | arena bytes (activations + scratch) |
/// | 20..22, 22..24 | tensor count, op count |
/// | 24..28, 28..32, 32..36, 36..40 | tensor, op and data section offsets; data length |
/// | 40..42, 42..44 | input and output tensor index |
/// | 44..48, 48..52 | input scale (f32), input zero point (i32) |
/// | 52..56, 56..60 | output scale (f32), output zero point (i32) |
/// | 60..64 | scratch bytes at the end of the arena |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// Bytes of the whole blob, header included.
    pub total_len: u32,
    /// CRC-32 of the bytes after the header.
    pub crc: u32,
    /// Arena bytes the model needs (scratch included).
    pub arena_size: u32,
    /// Tensor records.
    pub n_tensors: u16,
    /// Op records.
    pub n_ops: u16,
    /// Offset of the tensor section.
    pub tensors_offset: u32,
    /// Offset of the op section.
    pub ops_offset: u32,
    /// Offset of the data section (16-byte aligned).
    pub data_offset: u32,
    /// Bytes of the data section.
    pub data_len: u32,
    /// Index of the input tensor.
    pub input: u16,
    /// Index of the output tensor.
    pub output: u16,
    /// Real value of one input step.
    pub input_scale: f32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Real value of one output step.
    pub output_scale: f32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Scratch bytes at the end of the arena.
    pub scratch_len: u32,
}

impl Header {
    /// Read the header of `blob`: magic, version and header length checked;
    /// lengths, offsets and the CRC are left to [`crate::Model::from_bytes`].
    pub fn parse(blob: &[u8]) -> Result<Header, Error> {
        if blob.len() < HEADER_LEN {
            return Err(if blob.len() >= 4 && blob[..4] != MAGIC {
                Error::BadMagic
            } else {
                Error::Truncated
            });
        }
        let mut r = Reader::new(blob);
        if r.take::<4>()? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u16()?;
        if version != VERSION || r.u16()? as usize != HEADER_LEN {
            return Err(Error::UnsupportedVersion(version));
        }
        Ok(Header {
            total_len: r.u32()?,
            crc: r.u32()?,
            arena_size: r.u32()?,
            n_tensors: r.u16()?,
            n_ops: r.u16()?,
            tensors_offset: r.u32()?,
            ops_offset: r.u32()?,
            data_offset: r.u32()?,
            data_len: r.u32()?,
            input: r.u16()?,
            output: r.u16()?,
            input_scale: r.f32()?,
            input_zero_point: r.i32()?,
            output_scale: r.f32()?,
            output_zero_point: r.i32()?,
            scratch_len: r.u32()?,
        })
    }

    /// The 64 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            b[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&MAGIC);
        put(&VERSION.to_le_bytes());
        put(&(HEADER_LEN as u16).to_le_bytes());
        put(&self.total_len.to_le_bytes());
        put(&self.crc.to_le_bytes());
        put(&self.arena_size.to_le_bytes());
        put(&self.n_tensors.to_le_bytes());
        put(&self.n_ops.to_le_bytes());
        put(&self.tensors_offset.to_le_bytes());
        put(&self.ops_offset.to_le_bytes());
        put(&self.data_offset.to_le_bytes());
        put(&self.data_len.to_le_bytes());
        put(&self.input.to_le_bytes());
        put(&self.output.to_le_bytes());
        put(&self.input_scale.to_le_bytes());
        put(&self.input_zero_point.to_le_bytes());
        put(&self.output_scale.to_le_bytes());
        put(&self.output_zero_point.to_le_bytes());
        put(&self.scratch_len.to_le_bytes());
        debug_assert_eq!(at, HEADER_LEN);
        b
    }
}

const fn u32_at(blob: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]])
}

/// Arena bytes a blob asks for, read at compile time where the blob is a
/// `const` (`include_bytes!`): `None` when it is not an `.nqm` header.
/// [`crate::Model::from_bytes`] still validates the blob at run time.
pub const fn arena_size(blob: &[u8]) -> Option<usize> {
    if blob.len() < HEADER_LEN
        || blob[0] != MAGIC[0]
        || blob[1] != MAGIC[1]
        || blob[2] != MAGIC[2]
        || blob[3] != MAGIC[3]
    {
        return None;
    }
    Some(u32_at(blob, offset::ARENA_SIZE) as usize)
}

/// Recompute the CRC-32 field of a (possibly damaged) blob over the bytes it
/// covers — `HEADER_LEN..total_len`, clamped to the slice — so that a mutation
/// reaches the validation behind the checksum. For fuzzers and tests; a blob
/// shorter than its header is left alone.
pub fn reseal(blob: &mut [u8]) {
    if blob.len() < HEADER_LEN {
        return;
    }
    let total = u32_at(blob, offset::TOTAL_LEN) as usize;
    let end = total.clamp(HEADER_LEN, blob.len());
    let crc = crc32(&blob[HEADER_LEN..end]);
    blob[offset::CRC..offset::CRC + 4].copy_from_slice(&crc.to_le_bytes());
}
