//! The Nyquist firmware demo under QEMU (see `nyquist_app::qemu`): counts
//! instructions per layer, logs with defmt over semihosting, exits with the
//! demo's status.
#![no_std]
#![no_main]

use defmt_semihosting as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    nyquist_app::qemu::start()
}
