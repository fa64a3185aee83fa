//! # nyquist-camera
//!
//! Frames on the microcontroller: a [`FrameSource`] trait, the ArduCAM Mini 2MP
//! (OV2640 over I²C + SPI FIFO) driver written against embedded-hal 1.0, and the
//! preprocessing that turns an RGB565 frame into the model's int8 input while it
//! streams out of the camera FIFO (no frame buffer needed).
//!
//! Its own crate so that the engine (`nyquist-firmware`), and through it the
//! host converter, does not depend on embedded-hal.
#![no_std]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(test)]
extern crate std;

pub mod arducam;
pub mod preprocess;

pub use arducam::{ArduCam, CamError};
pub use preprocess::InputSpec;

/// Something that fills the model's int8 input with the next frame.
pub trait FrameSource {
    /// Error type.
    type Error;
    /// Capture a frame and write the model input (`spec.len()` bytes) to `input`.
    fn next_frame(&mut self, spec: &InputSpec, input: &mut [i8]) -> Result<(), Self::Error>;
}
