//! The [`Platform`] for QEMU's Arm MPS2/MPS3 machines: with `-icount shift=0`
//! one guest instruction is one virtual nanosecond, so SysTick (running at the
//! machine's fixed system clock) counts instructions once it is calibrated
//! against a loop of known length. Logs go out through semihosting (defmt
//! frames on QEMU's stdout); the exit status through semihosting too.

use core::arch::asm;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

use crate::{Platform, ARENA};

/// SysTick as a 32-bit counter, scaled to instructions.
pub struct Qemu {
    syst: SYST,
    wraps: u32,
    milli: u32,
}

impl Qemu {
    /// Start SysTick and calibrate it.
    pub fn new(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        // The counter reads 0 until its first reload; start from a running
        // counter and a clear wrap flag so the first reading is not one whole
        // period ahead of the second.
        while SYST::get_current() == 0 {}
        let _ = syst.has_wrapped();
        let mut q = Qemu {
            syst,
            wraps: 0,
            milli: 1000,
        };
        // Calibrate: 2 instructions per iteration (`subs`, `bne`).
        let n: u32 = 2_000_000;
        let t0 = q.now();
        // SAFETY: a register-only countdown loop; no memory is touched.
        unsafe {
            asm!("2:", "subs {n}, #1", "bne 2b", n = inout(reg) n => _, options(nomem, nostack))
        };
        let ticks = q.now().wrapping_sub(t0) as u64;
        q.milli = (ticks * 1000 / (2 * n as u64)).max(1) as u32;
        q
    }
}

impl Platform for Qemu {
    fn now(&mut self) -> u32 {
        // Read the wrap flag after the value: a reload between the two reads
        // then shows as a wrap with a small value, never a lost period.
        let v = 0x00FF_FFFF - SYST::get_current();
        if self.syst.has_wrapped() {
            self.wraps += 1;
            let v2 = 0x00FF_FFFF - SYST::get_current();
            return (self.wraps << 24) | v2;
        }
        (self.wraps << 24) | v
    }

    fn milli_units_per_instruction(&mut self) -> u32 {
        self.milli
    }

    fn unit(&self) -> &'static str {
        "instructions"
    }

    fn mark(&mut self) {
        // SAFETY: `hint.w #100` is an unallocated hint, architecturally a
        // NOP; it touches no register, memory or flag. The insn_count plugin
        // (xtask/qemu-plugin) records its counts when it executes.
        unsafe { asm!("hint.w #100", options(nomem, nostack, preserves_flags)) }
    }

    fn exit(&mut self, code: i32) -> ! {
        semihosting::process::exit(code)
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    semihosting::process::exit(101)
}

/// The whole QEMU program: paint the stack, take the peripherals, run the demo.
pub fn start() -> ! {
    crate::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| semihosting::process::exit(102));
    let arena = cortex_m::singleton!(: [i8; ARENA] = [0; ARENA])
        .unwrap_or_else(|| semihosting::process::exit(103));
    let mut q = Qemu::new(core.SYST);
    crate::run(&mut q, arena)
}
