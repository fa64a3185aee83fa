//! On-target tests for the Pico 2 (embedded-test; `probe-rs` flashes and runs
//! each test after a reset): the DSP kernels are bit-exact with the scalar
//! ones on the real core, the embedded model classifies the embedded images
//! exactly as the host engine did, and a damaged blob is refused.
//!
//! Compiled in CI (`cargo test --no-run`); not run here (no board). On
//! hardware: `cd firmware/boards/pico2 && NYQUIST_FW_DATA=… cargo test`.
#![no_std]
#![no_main]

use defmt_rtt as _;
use rp235x_hal as hal;

/// Tells the RP2350 boot ROM this is a secure Arm executable.
#[link_section = ".start_block"]
#[used]
pub static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

#[cfg(test)]
#[embedded_test::tests]
mod tests {
    use nyquist_app::{classify, n_images, selftest, ARENA, EXPECTED, MODEL};
    use nyquist_firmware::{Error, Model};

    #[test]
    fn kernels_are_bit_exact_with_scalar() {
        assert_eq!(selftest(), 0);
    }

    #[test]
    fn embedded_images_match_the_host_engine() {
        let model = Model::from_bytes(&MODEL).expect("the embedded blob loads");
        let arena = cortex_m::singleton!(: [i8; ARENA] = [0; ARENA]).expect("one arena");
        let n = n_images(&model);
        assert!(n > 0);
        for (k, &expected) in EXPECTED.iter().enumerate().take(n) {
            assert_eq!(
                classify(&model, arena, k),
                Ok(expected as usize),
                "image {}",
                k
            );
        }
    }

    #[test]
    fn damaged_blobs_are_refused() {
        assert_eq!(
            Model::from_bytes(&MODEL[..100]).err(),
            Some(Error::Truncated)
        );
        let model = Model::from_bytes(&MODEL).expect("the embedded blob loads");
        let mut small = [0i8; 64];
        assert!(matches!(
            classify(&model, &mut small, 0),
            Err(Error::ArenaTooSmall { .. })
        ));
    }
}
