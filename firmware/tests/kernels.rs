//! Every SIMD dot-product kernel this build has is bit-exact with the scalar
//! reference on random lengths (aligned or not, with tails) and values,
//! extremes included. On x86 the build's kernel *is* scalar; CI runs this file
//! on aarch64 under qemu-aarch64 (NEON, and SDOT with `+dotprod`), and the QEMU
//! board self-test does the same for the Cortex-M DSP and Helium kernels.

use nyquist_firmware::kernels::{dot, scalar, KERNEL};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn build_kernel_equals_scalar(v in proptest::collection::vec((any::<i8>(), any::<i8>()), 0..400), offset in 0usize..16) {
        let (x, w): (Vec<i8>, Vec<i8>) = v.into_iter().unzip();
        let (x, w) = (&x[offset.min(x.len())..], &w[offset.min(w.len())..]);
        prop_assert_eq!(dot(x, w), scalar::dot(x, w), "kernel {}", KERNEL);
    }
}

#[test]
fn extremes() {
    for len in [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 255, 1024, 4097] {
        for (a, b) in [(-128i8, -128i8), (127, -128), (-128, 127), (127, 127)] {
            let (x, w) = (vec![a; len], vec![b; len]);
            assert_eq!(
                dot(&x, &w),
                a as i32 * b as i32 * len as i32,
                "len {len} ({a}, {b}) with {KERNEL}"
            );
        }
    }
}
