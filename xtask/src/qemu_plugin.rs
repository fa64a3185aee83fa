//! The instruction-counting QEMU TCG plugin (`xtask/qemu-plugin/insn_count.c`):
//! built on demand against the `qemu-plugin.h` of the installed QEMU's own
//! Debian source package (Debian ships QEMU with plugin support but without
//! plugins or the header), and a runner that counts the instructions a guest
//! program executes, by class.
//!
//! The header comes from `apt-get source --download-only` with a private
//! source list and package lists under `target/qemu-plugin/apt` — the
//! machine's own apt configuration is not touched — and only
//! `include/qemu/qemu-plugin.h` is extracted from the source tarball.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::util::{cmd, ensure_apt, output, run, run_in};

const SOURCE: &str = "xtask/qemu-plugin/insn_count.c";
/// The T32 decoder the plugin includes, and its test program.
const T32_HEADER: &str = "xtask/qemu-plugin/t32_classes.h";
const T32_TEST: &str = "xtask/qemu-plugin/t32_classes_test.c";
/// The bare-metal Cortex-M55 probe with hand-counted classes.
const T32_PROBE: &str = "xtask/qemu-plugin/probe_t32.s";

/// What the plugin writes at exit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counts {
    /// Every executed guest instruction.
    pub instructions: u64,
    /// By class: a64 guests `sdot`, `smlal`, `fmla`, `simd_other`,
    /// `load_store`, `branch`, `other`; T32 guests `other`, `mac`, `div`,
    /// `load_store`, `ldm_stm`, `branch`, `loop_end`, `mve_mem`, `mve_alu`.
    pub classes: BTreeMap<String, u64>,
    /// T32 guests: `transfers`, `mem_follows`, `mve_overlaps` (see the
    /// plugin's header comment); empty for a64 guests.
    #[serde(default)]
    pub events: BTreeMap<String, u64>,
    /// The running total at each executed marker (`hint #100`).
    #[serde(default)]
    pub marks: Vec<u64>,
    /// The counts by class and the events at each executed marker.
    #[serde(default)]
    pub mark_counts: Vec<Counts>,
}

/// `a − b`, key by key (saturating), then divided by `n`.
fn sub_div(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, n: u64) -> BTreeMap<String, u64> {
    a.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(b.get(k).copied().unwrap_or(0)) / n.max(1),
            )
        })
        .collect()
}

impl Counts {
    /// `self − base`, class by class and event by event (saturating).
    pub fn minus(&self, base: &Counts) -> Counts {
        Counts {
            instructions: self.instructions.saturating_sub(base.instructions),
            classes: sub_div(&self.classes, &base.classes, 1),
            events: sub_div(&self.events, &base.events, 1),
            ..Counts::default()
        }
    }

    /// Every count divided by `n` (per-iteration figures).
    pub fn per(&self, n: u64) -> Counts {
        let zero = BTreeMap::new();
        Counts {
            instructions: self.instructions / n.max(1),
            classes: sub_div(&self.classes, &zero, n),
            events: sub_div(&self.events, &zero, n),
            ..Counts::default()
        }
    }

    /// A class's or an event's count (0 when absent).
    pub fn get(&self, key: &str) -> u64 {
        self.classes
            .get(key)
            .or_else(|| self.events.get(key))
            .copied()
            .unwrap_or(0)
    }
}

/// The Debian source version of the installed QEMU package `pkg`
/// (`1:7.2+dfsg-7+deb12u18`), which names the source package to fetch.
fn source_version(pkg: &str) -> Result<String> {
    output(cmd("dpkg-query").args(["-W", "-f=${source:Version}", pkg]))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{pkg} is not installed (dpkg-query)"))
}

/// Fetch the QEMU source package matching `pkg` and extract `qemu-plugin.h`
/// into `dir`; returns the folder holding the header.
fn fetch_header(pkg: &str, dir: &Path) -> Result<PathBuf> {
    let version = source_version(pkg)?;
    let dir = &std::fs::canonicalize(dir)?;
    let include = dir.join(format!("include-{}", version.replace(':', "_")));
    if include.join("qemu-plugin.h").is_file() {
        return Ok(include);
    }
    let apt = dir.join("apt");
    std::fs::create_dir_all(apt.join("lists/partial"))?;
    let release = output(cmd("sh").args(["-c", ". /etc/os-release && echo $VERSION_CODENAME"]))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .context("cannot read VERSION_CODENAME from /etc/os-release")?;
    let list = apt.join("sources.list");
    std::fs::write(
        &list,
        format!(
            "deb-src http://deb.debian.org/debian {release} main\n\
             deb-src http://deb.debian.org/debian-security {release}-security main\n\
             deb-src http://deb.debian.org/debian {release}-updates main\n"
        ),
    )?;
    let opts = [
        format!("-oDir::Etc::SourceList={}", list.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_string(),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        "-oAPT::Sandbox::User=root".to_string(),
    ];
    eprintln!(
        "xtask: fetching the QEMU {version} source package for qemu-plugin.h (Debian ships no plugin header)"
    );
    run(cmd("apt-get").args(&opts).arg("update"))?;
    let src = dir.join("src");
    std::fs::create_dir_all(&src)?;
    run_in(
        &src,
        cmd("apt-get")
            .args(&opts)
            .args(["source", "--download-only"])
            .arg(format!("qemu={version}")),
    )?;
    let tarball = std::fs::read_dir(&src)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".orig.tar"))
        })
        .context("the QEMU source package has no .orig tarball")?;
    run_in(
        &src,
        cmd("tar")
            .arg("-xf")
            .arg(&tarball)
            .args(["--wildcards", "*/include/qemu/qemu-plugin.h"]),
    )?;
    let header = std::fs::read_dir(&src)?
        .filter_map(|e| e.ok().map(|e| e.path().join("include/qemu/qemu-plugin.h")))
        .find(|p| p.is_file())
        .context("qemu-plugin.h not found in the QEMU source tarball")?;
    std::fs::create_dir_all(&include)?;
    std::fs::copy(&header, include.join("qemu-plugin.h"))?;
    Ok(include)
}

/// Build (once) the plugin for the QEMU in Debian package `pkg`
/// (`qemu-user` or `qemu-system-arm`); returns the `.so`.
pub fn build(pkg: &str, target_dir: &Path) -> Result<PathBuf> {
    let dir = target_dir.join("qemu-plugin");
    std::fs::create_dir_all(&dir)?;
    let version = source_version(pkg)?;
    let so = dir.join(format!("libinsn_count-{}.so", version.replace(':', "_")));
    let fresh = |p: &Path| -> bool {
        let Ok(built) = std::fs::metadata(p).and_then(|m| m.modified()) else {
            return false;
        };
        [SOURCE, T32_HEADER].iter().all(|src| {
            std::fs::metadata(src)
                .and_then(|m| m.modified())
                .is_ok_and(|m| built >= m)
        })
    };
    if fresh(&so) {
        return Ok(so);
    }
    let include = fetch_header(pkg, &dir)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    run(cmd(cc)
        .args(["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(&include)
        .args(["-I", "xtask/qemu-plugin", "-o"])
        .arg(&so)
        .arg(SOURCE))?;
    Ok(so)
}

/// Run `prog` under `qemu` (with `qemu_args`, without its `-plugin`) with
/// the plugin and the environment `envs`; return the counts it wrote and
/// the program's stdout (raw bytes: the firmware's is defmt frames).
pub fn count(
    plugin: &Path,
    qemu: &str,
    qemu_args: &[&str],
    prog: &[String],
    envs: &[(&str, &str)],
) -> Result<(Counts, Vec<u8>)> {
    run_plugin(plugin, qemu, qemu_args, prog, envs, None)
}

/// [`count`], also writing the plugin's per-block executions to `blocks`
/// (`VADDR INSNS RUNS` lines, read by [`Block::parse`]).
pub fn count_blocks(
    plugin: &Path,
    qemu: &str,
    qemu_args: &[&str],
    prog: &[String],
    blocks: &Path,
) -> Result<(Counts, Vec<u8>)> {
    run_plugin(plugin, qemu, qemu_args, prog, &[], Some(blocks))
}

fn run_plugin(
    plugin: &Path,
    qemu: &str,
    qemu_args: &[&str],
    prog: &[String],
    envs: &[(&str, &str)],
    blocks: Option<&Path>,
) -> Result<(Counts, Vec<u8>)> {
    let out = tempfile_path("insn-count", "json");
    let mut opts = format!("{},out={}", plugin.display(), out.display());
    if let Some(b) = blocks {
        opts.push_str(&format!(",blocks={}", b.display()));
    }
    let c = cmd(qemu)
        .envs(envs.iter().copied())
        .args(qemu_args)
        .arg("-plugin")
        .arg(opts)
        .args(prog)
        .quiet()
        .ignore_status();
    let o = c.output().with_context(|| format!("cannot start {qemu}"))?;
    if !o.status.success() {
        bail!(
            "{c} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("the plugin wrote no counts to {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let counts: Counts = serde_json::from_str(&text).context("plugin output")?;
    Ok((counts, o.stdout))
}

/// One translated block of a `blocks=` run: its first instruction's address,
/// its instructions, how often it ran, and how often it had run at each
/// marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub addr: u64,
    pub insns: u64,
    pub runs: u64,
    pub at_marks: Vec<u64>,
}

impl Block {
    /// The plugin's `VADDR INSNS RUNS [RUNS_AT_MARK ...]` lines (hex, then
    /// decimals).
    pub fn parse(text: &str) -> Result<Vec<Block>> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let bad = || {
                    format!(
                        "blocks line {}: `{l}` is not `VADDR INSNS RUNS [RUNS_AT_MARK ...]`",
                        i + 1
                    )
                };
                anyhow::ensure!(f.len() >= 3, bad());
                let num = |s: &str| s.parse::<u64>().with_context(bad);
                Ok(Block {
                    addr: u64::from_str_radix(f[0], 16).with_context(bad)?,
                    insns: num(f[1])?,
                    runs: num(f[2])?,
                    at_marks: f[3..].iter().map(|s| num(s)).collect::<Result<_>>()?,
                })
            })
            .collect()
    }

    /// Instructions it executed in all.
    pub fn executed(&self) -> u64 {
        self.insns * self.runs
    }

    /// The block with `runs` counted only between markers 2i and 2i + 1
    /// (a start and an end per inference), `None` unless the markers come in
    /// pairs.
    pub fn between_marks(&self) -> Option<Block> {
        let m = &self.at_marks;
        if m.is_empty() || !m.len().is_multiple_of(2) {
            return None;
        }
        let runs = m.chunks_exact(2).map(|p| p[1].saturating_sub(p[0])).sum();
        Some(Block {
            runs,
            at_marks: Vec::new(),
            ..self.clone()
        })
    }
}

fn tempfile_path(stem: &str, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "nyquist-{stem}-{}-{}.{ext}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Check the plugin on `xtask/qemu-plugin/probe.S`, whose instruction counts
/// are known by hand: the total, every class, and the markers' positions.
pub fn self_test(target_dir: &Path) -> Result<()> {
    let plugin = build("qemu-user", target_dir)?;
    let dir = target_dir.join("qemu-plugin");
    let exe = dir.join("probe");
    run(cmd("aarch64-linux-gnu-gcc")
        .args(["-march=armv8.2-a+dotprod", "-nostdlib", "-static", "-o"])
        .arg(&exe)
        .arg("xtask/qemu-plugin/probe.S"))?;
    let blocks_path = tempfile_path("probe-blocks", "txt");
    let (c, _) = count_blocks(
        &plugin,
        "qemu-aarch64",
        &["-cpu", "neoverse-n1"],
        &[exe.display().to_string()],
        &blocks_path,
    )?;
    let blocks = Block::parse(&std::fs::read_to_string(&blocks_path)?)?;
    let _ = std::fs::remove_file(&blocks_path);
    // The profile by block adds up to the total, and the loop body (10
    // instructions from `1:` to `b.ne`) is a block of its own that ran 99
    // or 100 times (the first turn may share the block from `_start`).
    let executed: u64 = blocks.iter().map(Block::executed).sum();
    anyhow::ensure!(
        executed == 1008 && blocks.iter().any(|b| b.insns == 10 && b.runs >= 99),
        "insn_count self-test: blocks add up to {executed} (expected 1008), loop block {:?}",
        blocks.iter().find(|b| b.runs > 1)
    );
    // Three markers, so three snapshots per block; between the first two
    // the loop ran (all of it, or all but a first turn in the entry block).
    anyhow::ensure!(
        blocks.iter().all(|b| b.at_marks.len() == 3),
        "insn_count self-test: not three snapshots per block: {:?}",
        blocks
    );
    let looped: u64 = blocks
        .iter()
        .map(|b| b.insns * (b.at_marks[1] - b.at_marks[0]))
        .sum();
    anyhow::ensure!(
        (990..=1003).contains(&looped),
        "insn_count self-test: block snapshots at the markers {:?}",
        blocks
    );
    let class = |k: &str| c.classes.get(k).copied().unwrap_or(0);
    let want = [
        ("sdot", 200),
        ("smlal", 200),
        ("fmla", 200),
        ("simd_other", 100),
        ("load_store", 100),
        // 100 b.ne, 3 markers (hint space), 1 svc
        ("branch", 104),
        // adr and mov before the loop, 100 subs, 2 mov after
        ("other", 104),
    ];
    for (k, n) in want {
        anyhow::ensure!(
            class(k) == n,
            "insn_count self-test: {k} = {}, expected {n} ({c:?})",
            class(k)
        );
    }
    anyhow::ensure!(
        c.instructions == 1008,
        "insn_count self-test: {} instructions, expected 1008",
        c.instructions
    );
    // Three marks, in order; the last two one instruction apart (the total
    // read at a mark includes its whole translation block).
    anyhow::ensure!(
        c.marks.len() == 3,
        "insn_count self-test: {} marks, expected 3",
        c.marks.len()
    );
    anyhow::ensure!(
        c.marks[2] - c.marks[1] <= 2 && c.marks[1] > c.marks[0],
        "insn_count self-test: marks {:?}",
        c.marks
    );
    println!(
        "insn_count plugin: exact counts on the probe program ({} instructions, {} markers, {} blocks)",
        c.instructions,
        c.marks.len(),
        blocks.len()
    );
    self_test_t32(target_dir)
}

/// The T32 side: the decoder on encodings from LLVM's assembler
/// (`t32_classes_test.c`), then the plugin under `qemu-system-arm` on
/// `probe_t32.s`, whose classes, events and markers are counted by hand.
fn self_test_t32(target_dir: &Path) -> Result<()> {
    let dir = target_dir.join("qemu-plugin");
    let test = dir.join("t32_classes_test");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    run(cmd(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&test)
        .arg(T32_TEST))?;
    run(cmd(&test))?;
    ensure_apt(&["qemu-system-arm", "binutils-arm-linux-gnueabihf"])?;
    let plugin = build("qemu-system-arm", target_dir)?;
    let (obj, elf) = (dir.join("probe_t32.o"), dir.join("probe_t32"));
    run(cmd("arm-linux-gnueabihf-as")
        .args(["-march=armv8.1-m.main+mve", "-mthumb", "-o"])
        .arg(&obj)
        .arg(T32_PROBE))?;
    run(cmd("arm-linux-gnueabihf-ld")
        .args(["-Ttext=0x100", "--section-start=.vectors=0", "-o"])
        .arg(&elf)
        .arg(&obj))?;
    let (c, _) = count(
        &plugin,
        "qemu-system-arm",
        &crate::fw::qemu_args(&crate::fw::board("qemu-an547")?, false)?,
        &["-kernel".into(), elf.display().to_string()],
        &[],
    )?;
    let want = [
        ("other", 18),
        ("mac", 10),
        ("div", 10),
        ("load_store", 24),
        ("ldm_stm", 30),
        ("branch", 1),
        ("loop_end", 10),
        ("mve_mem", 20),
        ("mve_alu", 10),
        ("transfers", 80),
        ("mem_follows", 11),
        ("mve_overlaps", 20),
    ];
    for (k, n) in want {
        anyhow::ensure!(
            c.get(k) == n,
            "insn_count T32 self-test: {k} = {}, expected {n} ({c:?})",
            c.get(k)
        );
    }
    anyhow::ensure!(
        c.instructions == 133 && c.mark_counts.len() == 10,
        "insn_count T32 self-test: {} instructions, {} markers; expected 133 and 10",
        c.instructions,
        c.mark_counts.len()
    );
    // Two markers one loop iteration apart: exactly one iteration's classes.
    let one = c.mark_counts[5].minus(&c.mark_counts[4]);
    anyhow::ensure!(
        one.instructions == 12 && one.get("ldm_stm") == 3 && one.get("transfers") == 8,
        "insn_count T32 self-test: one iteration between markers is {one:?}"
    );
    println!(
        "insn_count plugin: exact T32 classes on the M55 probe ({} instructions, {} markers)",
        c.instructions,
        c.mark_counts.len()
    );
    Ok(())
}
