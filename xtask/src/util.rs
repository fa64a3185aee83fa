//! Running commands and installing what is missing (announced, never silent).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// The workspace root (this crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Work from the workspace root whatever the caller's folder.
pub fn chdir_to_workspace() -> Result<()> {
    std::env::set_current_dir(root()).context("cannot enter the workspace root")
}

/// Cargo's target directory, where the binaries it builds land: from `cargo
/// metadata`, so `CARGO_TARGET_DIR` and `build.target-dir` are honoured
/// (xtask's own outputs stay under the workspace's `target/`).
pub fn target_dir() -> Result<PathBuf> {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(d) = DIR.get() {
        return Ok(d.clone());
    }
    let json = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("`cargo metadata` failed")?;
    let v: serde_json::Value = serde_json::from_str(&json).context("`cargo metadata` output")?;
    let d = PathBuf::from(
        v["target_directory"]
            .as_str()
            .context("`cargo metadata`: no target_directory")?,
    );
    Ok(DIR.get_or_init(|| d).clone())
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Run a command, echoing it; fail on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let st = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", show(cmd)))?;
    if !st.success() {
        bail!("`{}` failed ({st})", show(cmd));
    }
    Ok(())
}

/// Run a command and return its exit code as ours.
pub fn run_code(cmd: &mut Command) -> Result<ExitCode> {
    eprintln!("$ {}", show(cmd));
    let st = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", show(cmd)))?;
    Ok(ExitCode::from(st.code().unwrap_or(1).clamp(0, 255) as u8))
}

/// Text of a command line.
pub fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `cargo run --release -p PKG --bin BIN -- ARGS`, passing the exit code through.
pub fn cargo_run_release(pkg: &str, bin: &str, args: &[String]) -> Result<ExitCode> {
    run_code(
        cargo()
            .args(["run", "--quiet", "--release", "-p", pkg, "--bin", bin, "--"])
            .args(args),
    )
}

/// Output of a command, if it runs.
pub fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Install a rustup target unless it is there.
/// Write `text` to `path` whole or not at all: a temporary file beside it,
/// then a rename (a reader never sees half a file).
pub fn write_atomic(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

pub fn ensure_target(target: &str) -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    eprintln!("xtask: installing rustup target {target} (missing)");
    run(Command::new("rustup").args(["target", "add", target]))
}

/// Install Debian packages that are not installed (apt-get, with sudo when not root).
pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing Debian packages {} (missing)",
        missing.join(" ")
    );
    let root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| -> Command {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root {
            c.arg("apt-get");
        }
        c.args(args);
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    if run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing)).is_err() {
        run(&mut apt(&["update"]))?;
        run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing))?;
    }
    Ok(())
}

#[cfg(test)]
mod target_dir_tests {
    /// The test binary itself was built into cargo's target directory, so
    /// `target_dir` must contain it (whatever `CARGO_TARGET_DIR` says).
    #[test]
    fn target_dir_holds_what_cargo_built() {
        let d = super::target_dir().expect("cargo metadata");
        let exe = std::env::current_exe().expect("test binary");
        assert!(
            exe.starts_with(std::fs::canonicalize(&d).expect("target dir exists")),
            "{} not under {}",
            exe.display(),
            d.display()
        );
    }
}
