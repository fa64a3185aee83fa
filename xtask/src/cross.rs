//! `cargo xtask build-runtime --target aarch64|armv7`: fully static builds of
//! the `nyquist` binary (aarch64: musl; armv7: glibc with `crt-static`, see
//! `.cargo/config.toml`) for Raspberry Pi (64- and 32-bit OS) and Jetson,
//! with V4L2 camera support. Installs the rustup target, Debian's cross gcc (the
//! linker) and libclang (bindgen reads the target's V4L2 headers) when missing.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, ensure_apt, ensure_target, run};

/// A Linux ARM target the runtime ships for.
#[derive(Debug, Clone, Copy)]
pub struct Arm {
    /// Short name on the command line.
    pub name: &'static str,
    /// Rust target triple.
    pub triple: &'static str,
    /// Debian cross toolchain package.
    pub gcc: &'static str,
    /// Debian multiarch include root with the kernel (V4L2) headers.
    pub include: &'static str,
}

/// The two targets.
pub const TARGETS: [Arm; 2] = [
    Arm {
        name: "aarch64",
        triple: "aarch64-unknown-linux-musl",
        gcc: "gcc-aarch64-linux-gnu",
        include: "/usr/aarch64-linux-gnu/include",
    },
    Arm {
        name: "armv7",
        triple: "armv7-unknown-linux-gnueabihf",
        gcc: "gcc-arm-linux-gnueabihf",
        include: "/usr/arm-linux-gnueabihf/include",
    },
];

/// Look a target up by short name or triple.
pub fn target(name: &str) -> Result<Arm> {
    TARGETS
        .into_iter()
        .find(|t| t.name == name || t.triple == name)
        .with_context(|| format!("unknown target `{name}`; expected one of: aarch64, armv7"))
}

/// Install what a cross build for `t` needs.
pub fn prepare(t: &Arm, camera: bool) -> Result<()> {
    ensure_target(t.triple)?;
    let mut pkgs = vec![t.gcc, "qemu-user"];
    if camera {
        pkgs.push("libclang-dev");
    }
    ensure_apt(&pkgs)
}

/// `cargo` with bindgen pointed at the target's kernel headers.
pub fn cross_cargo(t: &Arm) -> std::process::Command {
    let mut c = cargo();
    c.env(
        format!("BINDGEN_EXTRA_CLANG_ARGS_{}", t.triple.replace('-', "_")),
        format!("-I{}", t.include),
    );
    c
}

/// True if the ELF file has no program interpreter (statically linked).
pub fn is_static_elf(bytes: &[u8]) -> Option<bool> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let is64 = bytes[4] == 2;
    let rd16 = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let rd32 = |o: usize| {
        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
    };
    let rd64 = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8])) as usize;
    let (phoff, phentsize, phnum) = if is64 {
        (rd64(0x20), rd16(0x36), rd16(0x38))
    } else {
        (rd32(0x1C), rd16(0x2A), rd16(0x2C))
    };
    Some((0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 > bytes.len() || rd32(o) != 3 // PT_INTERP
    }))
}

/// `cargo xtask build-runtime --target T [--no-camera]`.
pub fn build_runtime(args: &[String]) -> Result<()> {
    let mut name = None;
    let mut camera = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => name = it.next().cloned(),
            "--no-camera" => camera = false,
            other if other.starts_with("--target=") => {
                name = Some(other["--target=".len()..].to_string())
            }
            other => bail!("build-runtime: unknown argument `{other}`"),
        }
    }
    let t = target(
        name.as_deref()
            .context("build-runtime needs --target aarch64|armv7")?,
    )?;
    prepare(&t, camera)?;
    let mut c = cross_cargo(&t);
    c.args([
        "build",
        "--release",
        "--target",
        t.triple,
        "-p",
        "nyquist-runtime",
        "--bin",
        "nyquist",
    ]);
    if camera {
        c.args(["--features", "camera"]);
    }
    run(&mut c)?;
    let bin = PathBuf::from(format!("target/{}/release/nyquist", t.triple));
    let bytes = std::fs::read(&bin).with_context(|| format!("{}", bin.display()))?;
    let linkage = match is_static_elf(&bytes) {
        Some(true) => "statically linked",
        Some(false) => bail!(
            "{} is dynamically linked; expected a static binary",
            bin.display()
        ),
        None => bail!("{} is not an ELF binary", bin.display()),
    };
    println!(
        "built {} ({:.1} MiB, {linkage}, camera: {})",
        bin.display(),
        bytes.len() as f64 / 1048576.0,
        if camera { "V4L2" } else { "off" }
    );
    println!(
        "copy it to the board: scp {} pi@raspberrypi:",
        bin.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_dynamic_elves() {
        // This very test binary is dynamically linked against glibc.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(is_static_elf(&me), Some(false));
        assert_eq!(is_static_elf(b"not an elf"), None);
    }
}
