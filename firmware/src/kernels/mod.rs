//! The inner loop of every conv and fully connected layer: the int8 dot product
//! `Σ x[i]·w[i]` with an i32 accumulator. A portable scalar reference, and the
//! SIMD forms chosen at compile time:
//!
//! | build | kernel | MACs per instruction |
//! |---|---|---|
//! | feature `kernel-helium` (Cortex-M55/M85) | `VLDRB.S8` ×2 + `VMLADAVA.S8` | 16 per VMLADAVA |
//! | feature `kernel-dsp` (Cortex-M4/M7/M33) | `SXTB16` ×4 + `SMLAD` ×2 | 4 per 6 ALU ops |
//! | `aarch64` with `dotprod` | `SDOT` | 16 |
//! | `aarch64` | `SMULL`/`SMULL2` + `SADALP` | 16 per 4 |
//! | otherwise | scalar | 1 |
//!
//! Every SIMD kernel is bit-exact with [`scalar::dot`] (integer arithmetic):
//! host / qemu-aarch64 tests check NEON, the QEMU board self-test checks DSP and Helium.

pub mod scalar;

#[cfg(feature = "kernel-dsp")]
pub mod dsp;
#[cfg(feature = "kernel-helium")]
pub mod helium;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// The dot product this build uses.
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    #[cfg(feature = "kernel-helium")]
    return helium::dot(x, w);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::dot(x, w);
    #[cfg(all(
        target_arch = "aarch64",
        not(any(feature = "kernel-dsp", feature = "kernel-helium"))
    ))]
    return neon::dot(x, w);
    #[cfg(not(any(
        feature = "kernel-dsp",
        feature = "kernel-helium",
        target_arch = "aarch64"
    )))]
    return scalar::dot(x, w);
}

/// Name of the kernel this build uses.
pub const KERNEL: &str = if cfg!(feature = "kernel-helium") {
    "helium (MVE VMLADAVA.S8)"
} else if cfg!(feature = "kernel-dsp") {
    "dsp (SXTB16 + SMLAD)"
} else if cfg!(all(target_arch = "aarch64", target_feature = "dotprod")) {
    "neon (SDOT)"
} else if cfg!(target_arch = "aarch64") {
    "neon (SMULL + SADALP)"
} else {
    "scalar"
};
