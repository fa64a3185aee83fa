//! Running commands (through `xshell`) and installing what is missing
//! (announced, never silent).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use xshell::{Cmd, PushDir, Shell};

thread_local! {
    // One shell for the whole (single-threaded) program, so commands borrow
    // it for `'static`; its working directory is the workspace root after
    // `chdir_to_workspace`, and `in_dir` moves it for a scope.
    static SHELL: &'static Shell =
        Box::leak(Box::new(Shell::new().expect("the current directory is readable")));
}

/// The program's shell.
pub fn sh() -> &'static Shell {
    SHELL.with(|s| *s)
}

/// Run the commands of a scope in `dir` (relative to the current one); the
/// folder is restored when the guard drops.
pub fn in_dir(dir: impl AsRef<Path>) -> PushDir<'static> {
    sh().push_dir(dir)
}

/// A command on the program's shell.
pub fn cmd(program: impl AsRef<Path>) -> Cmd<'static> {
    sh().cmd(program)
}

/// The workspace root (this crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Work from the workspace root whatever the caller's folder.
pub fn chdir_to_workspace() -> Result<()> {
    std::env::set_current_dir(root()).context("cannot enter the workspace root")?;
    sh().change_dir(root());
    Ok(())
}

/// Cargo's target directory, where the binaries it builds land: from `cargo
/// metadata`, so `CARGO_TARGET_DIR` and `build.target-dir` are honoured
/// (xtask's own outputs stay under the workspace's `target/`).
pub fn target_dir() -> Result<PathBuf> {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(d) = DIR.get() {
        return Ok(d.clone());
    }
    let json = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .quiet()
        .read()
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
pub fn cargo() -> Cmd<'static> {
    cmd(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Run a command, echoing it; fail on a non-zero exit (the error names the
/// command line).
pub fn run(c: Cmd<'_>) -> Result<()> {
    c.run()?;
    Ok(())
}

/// [`run`] in folder `dir`.
pub fn run_in(dir: impl AsRef<Path>, c: Cmd<'_>) -> Result<()> {
    let _d = in_dir(dir);
    run(c)
}

/// Run a command (echoed) and return its exit code as ours.
pub fn run_code(c: Cmd<'_>) -> Result<ExitCode> {
    eprintln!("$ {c}");
    let line = c.to_string();
    let st = std::process::Command::from(c)
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    Ok(ExitCode::from(st.code().unwrap_or(1).clamp(0, 255) as u8))
}

/// `cargo run --release -p PKG --bin BIN -- ARGS`, passing the exit code through.
pub fn cargo_run_release(pkg: &str, bin: &str, args: &[String]) -> Result<ExitCode> {
    run_code(
        cargo()
            .args(["run", "--quiet", "--release", "-p", pkg, "--bin", bin, "--"])
            .args(args),
    )
}

/// Standard output of a command (not echoed), if it runs and succeeds.
pub fn output(c: Cmd<'_>) -> Option<String> {
    c.quiet().ignore_stderr().read().ok()
}

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

/// Install a rustup target unless it is there.
pub fn ensure_target(target: &str) -> Result<()> {
    let installed =
        output(cmd("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    eprintln!("xtask: installing rustup target {target} (missing)");
    run(cmd("rustup").args(["target", "add", target]))
}

/// Install Debian packages that are not installed (apt-get, with sudo when not root).
pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(cmd("dpkg-query").args(["-W", "-f=${Status}", p]))
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
    let root = output(cmd("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| -> Cmd<'static> {
        let c = if root {
            cmd("apt-get")
        } else {
            cmd("sudo").arg("apt-get")
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive")
    };
    if run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing)).is_err() {
        run(apt(&["update"]))?;
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
