//! `cargo xtask build-runtime --target aarch64|armv7`: fully static builds of
//! the `nyquist` binary (aarch64: musl; armv7: glibc with `crt-static`, see
//! `.cargo/config.toml`) for Raspberry Pi (64- and 32-bit OS) and Jetson,
//! with V4L2 camera support. Installs what a cross build needs when it is
//! missing — the rustup target and the Debian packages of [`Arm::packages`]
//! (the one list README.md and docs/deploy.md quote) — and checks that the
//! target's C headers are really there before cargo starts, so a missing
//! package is named instead of surfacing as a bindgen error deep in a build.

use anyhow::{bail, Context, Result};

use crate::util::{cargo, ensure_apt, ensure_target, run};

/// A Linux ARM target the runtime ships for.
#[derive(Debug, Clone, Copy)]
pub struct Arm {
    /// Short name on the command line.
    pub name: &'static str,
    /// Rust target triple.
    pub triple: &'static str,
    /// Debian packages a build for this target needs: the cross gcc (the
    /// linker) and the target's libc headers and static libraries (which
    /// `apt-get --no-install-recommends gcc-…` leaves out), and the kernel
    /// headers bindgen reads for V4L2 (a dependency of the libc headers).
    pub packages: &'static [&'static str],
    /// Debian multiarch include root with the libc and kernel (V4L2) headers.
    pub include: &'static str,
}

/// Packages every cross build needs besides the target's own: the user-mode
/// emulator that runs the tests, and libclang for bindgen (V4L2 bindings).
pub const HOST_PACKAGES: [&str; 2] = ["qemu-user", "libclang-dev"];

/// Headers that must exist under [`Arm::include`] before a build starts, and
/// the package that provides each.
const HEADERS: [(&str, &str); 2] = [
    ("sys/time.h", "libc6-dev"),
    ("linux/videodev2.h", "linux-libc-dev"),
];

/// The two targets.
pub const TARGETS: [Arm; 2] = [
    Arm {
        name: "aarch64",
        triple: "aarch64-unknown-linux-musl",
        packages: &[
            "gcc-aarch64-linux-gnu",
            "libc6-dev-arm64-cross",
            "linux-libc-dev-arm64-cross",
        ],
        include: "/usr/aarch64-linux-gnu/include",
    },
    Arm {
        name: "armv7",
        triple: "armv7-unknown-linux-gnueabihf",
        packages: &[
            "gcc-arm-linux-gnueabihf",
            "libc6-dev-armhf-cross",
            "linux-libc-dev-armhf-cross",
        ],
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

/// Install what a cross build for `t` needs, then check its headers are there.
pub fn prepare(t: &Arm, camera: bool) -> Result<()> {
    ensure_target(t.triple)?;
    let mut pkgs: Vec<&str> = t.packages.to_vec();
    pkgs.push(HOST_PACKAGES[0]);
    if camera {
        pkgs.push(HOST_PACKAGES[1]);
    }
    ensure_apt(&pkgs)?;
    check_headers(t, std::path::Path::new(t.include))
}

/// The headers of [`HEADERS`] under `include`, or an error naming the package
/// that provides the first missing one.
fn check_headers(t: &Arm, include: &std::path::Path) -> Result<()> {
    for (header, pkg) in HEADERS {
        let path = include.join(header);
        if !path.is_file() {
            let pkg = t
                .packages
                .iter()
                .find(|p| p.starts_with(pkg))
                .copied()
                .unwrap_or(pkg);
            bail!(
                "{} is missing: a {} build needs the Debian package `{pkg}` \
                 (install it with `sudo apt-get install {pkg}`)",
                path.display(),
                t.name
            );
        }
    }
    Ok(())
}

/// `cargo` with bindgen pointed at the target's kernel headers.
pub fn cross_cargo(t: &Arm) -> xshell::Cmd<'static> {
    cargo().env(
        format!("BINDGEN_EXTRA_CLANG_ARGS_{}", t.triple.replace('-', "_")),
        format!("-I{}", t.include),
    )
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
    let mut c = cross_cargo(&t).args([
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
        c = c.args(["--features", "camera"]);
    }
    run(c)?;
    let bin = crate::util::target_dir()?.join(format!("{}/release/nyquist", t.triple));
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
    fn missing_headers_name_their_package() {
        let dir = tempdir();
        let err = check_headers(&TARGETS[0], &dir).unwrap_err().to_string();
        assert!(err.contains("sys/time.h"), "{err}");
        assert!(err.contains("`libc6-dev-arm64-cross`"), "{err}");
        std::fs::create_dir_all(dir.join("sys")).unwrap();
        std::fs::write(dir.join("sys/time.h"), "").unwrap();
        let err = check_headers(&TARGETS[1], &dir).unwrap_err().to_string();
        assert!(err.contains("`linux-libc-dev-armhf-cross`"), "{err}");
        std::fs::create_dir_all(dir.join("linux")).unwrap();
        std::fs::write(dir.join("linux/videodev2.h"), "").unwrap();
        check_headers(&TARGETS[1], &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// README.md and docs/deploy.md quote the package list: keep them true.
    #[test]
    fn docs_quote_every_package() {
        for doc in ["README.md", "docs/deploy.md"] {
            let text = std::fs::read_to_string(crate::util::root().join(doc)).unwrap();
            for p in TARGETS
                .iter()
                .flat_map(|t| t.packages.iter())
                .chain(HOST_PACKAGES.iter())
            {
                assert!(
                    text.contains(&format!("`{p}`")),
                    "{doc} does not name `{p}`"
                );
            }
        }
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-headers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn static_and_dynamic_elves() {
        // This very test binary is dynamically linked against glibc.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(is_static_elf(&me), Some(false));
        assert_eq!(is_static_elf(b"not an elf"), None);
    }
}
