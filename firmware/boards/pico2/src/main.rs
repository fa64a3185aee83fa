//! The Nyquist firmware demo on a Raspberry Pi Pico 2 (RP2350, Cortex-M33 at
//! 150 MHz, DSP kernel): counts *cycles* per layer with the DWT cycle counter,
//! logs with defmt over RTT, ends with a semihosting exit that `probe-rs run`
//! turns into its own exit status.
//!
//! Compiled in CI; not run here (no board). On hardware:
//! `cargo xtask fw run --board pico2 --probe`.
#![no_std]
#![no_main]

use cortex_m::peripheral::DWT;
use defmt_rtt as _;
use nyquist_app::{Platform, ARENA};
use rp235x_hal as hal;

/// Tells the RP2350 boot ROM this is a secure Arm executable.
#[link_section = ".start_block"]
#[used]
pub static IMAGE_DEF: hal::block::ImageDef = hal::block::ImageDef::secure_exe();

/// The Pico 2's crystal.
const XTAL_HZ: u32 = 12_000_000;

struct Pico2;

impl Platform for Pico2 {
    fn now(&mut self) -> u32 {
        DWT::cycle_count()
    }

    fn unit(&self) -> &'static str {
        "cycles"
    }

    fn exit(&mut self, code: i32) -> ! {
        semihosting::process::exit(code)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    semihosting::process::exit(101)
}

#[hal::entry]
fn main() -> ! {
    nyquist_app::paint_stack();
    let (Some(mut pac), Some(mut core)) =
        (hal::pac::Peripherals::take(), cortex_m::Peripherals::take())
    else {
        semihosting::process::exit(102)
    };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    // 150 MHz system clock from the crystal through PLL_SYS.
    if hal::clocks::init_clocks_and_plls(
        XTAL_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    )
    .is_err()
    {
        semihosting::process::exit(104)
    }
    core.DCB.enable_trace();
    core.DWT.enable_cycle_counter();
    let arena = cortex_m::singleton!(: [i8; ARENA] = [0; ARENA])
        .unwrap_or_else(|| semihosting::process::exit(103));
    nyquist_app::run(&mut Pico2, arena)
}
