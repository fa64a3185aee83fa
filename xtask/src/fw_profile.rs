//! `cargo xtask fw profile --board B [--model M] [--top N]`: where the
//! firmware's instructions go, by function. The board's demo runs under QEMU
//! with the `insn_count` plugin writing every translated block's executions
//! (`blocks=`); each block's instructions are charged to the ELF function
//! symbol that holds its first address, divided by the demo's images.
//!
//! Only what runs between the demo's two markers around each inference
//! counts (the plugin snapshots every block's runs at each marker), so
//! start-up, the kernel self-test and the logging between images do not;
//! the per-function figures add up to `fw bench`'s whole-network total.
//! Inlined code counts in the function it was inlined into; the hottest
//! blocks of each top function are listed with their addresses, to read
//! against `llvm-objdump -d` of the same ELF.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSymbol, SymbolKind};

use crate::fw::{build, check, decode, qemu_args, Board, FwModel};
use crate::fw_log::{one, records};
use crate::qemu_plugin::{count_blocks, Block};

/// A function symbol of the ELF: `[start, start + size)`, name demangled
/// without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub start: u64,
    pub size: u64,
}

/// The function symbols of `elf`, sorted by address (Thumb's bit 0 cleared).
pub fn symbols(elf: &[u8]) -> Result<Vec<Symbol>> {
    let file = object::File::parse(elf).context("the firmware ELF")?;
    let mut out: Vec<Symbol> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            let name = s.name().ok()?;
            Some(Symbol {
                name: format!("{:#}", rustc_demangle::demangle(name)),
                start: s.address() & !1,
                size: s.size(),
            })
        })
        .collect();
    out.sort_by_key(|s| s.start);
    Ok(out)
}

/// The function holding `addr`, if any.
pub fn symbol_at(syms: &[Symbol], addr: u64) -> Option<&Symbol> {
    let i = syms.partition_point(|s| s.start <= addr);
    let s = syms.get(i.checked_sub(1)?)?;
    (addr < s.start + s.size).then_some(s)
}

/// One function's share: instructions in all and its blocks, hottest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub name: String,
    pub instructions: u64,
    pub blocks: Vec<Block>,
}

/// Charge every block to the function at its first address (blocks outside
/// every symbol to `?`), the same block address translated twice merged;
/// the functions and their blocks sorted hottest first.
pub fn charge(blocks: &[Block], syms: &[Symbol]) -> Vec<Charge> {
    let mut by_fn: BTreeMap<String, BTreeMap<u64, Block>> = BTreeMap::new();
    for b in blocks.iter().filter(|b| b.runs > 0) {
        let name = symbol_at(syms, b.addr).map_or("?", |s| s.name.as_str());
        let fresh = || Block {
            runs: 0,
            at_marks: Vec::new(),
            ..b.clone()
        };
        let blocks = by_fn.entry(name.to_string()).or_default();
        let merged = blocks.entry(b.addr).or_insert_with(fresh);
        if merged.insns == b.insns {
            merged.runs += b.runs;
        } else {
            // Retranslated with another length: keep both, keyed apart.
            blocks.entry(b.addr | 1 << 63).or_insert_with(fresh).runs += b.runs;
        }
    }
    let mut out: Vec<Charge> = by_fn
        .into_iter()
        .map(|(name, m)| {
            let mut blocks: Vec<Block> = m
                .into_values()
                .map(|b| Block {
                    addr: b.addr & !(1 << 63),
                    ..b
                })
                .collect();
            blocks.sort_by_key(|b| std::cmp::Reverse(b.executed()));
            Charge {
                name,
                instructions: blocks.iter().map(Block::executed).sum(),
                blocks,
            }
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.instructions));
    out
}

/// Run the board's best build of `model` with per-block counting and print
/// the top `top` functions per image.
pub fn profile(b: &Board, data: &Path, model: FwModel, top: usize) -> Result<()> {
    anyhow::ensure!(
        b.qemu.is_some(),
        "fw profile runs under QEMU; {} is a real board",
        b.name
    );
    let v = b.best();
    let elf_path = build(b, &v, data)?;
    let plugin = crate::qemu_plugin::build("qemu-system-arm", &crate::util::target_dir()?)?;
    let blocks_path = crate::util::target_dir()?.join(format!("fw-profile-{}.blocks", b.name));
    let (counts, stdout) = count_blocks(
        &plugin,
        "qemu-system-arm",
        &qemu_args(b, true)?,
        &["-kernel".into(), elf_path.display().to_string()],
        &blocks_path,
    )?;
    let elf = std::fs::read(&elf_path)?;
    let log = decode(&elf, &stdout)?;
    check(b, 0, &log)?;
    let images = one(&records(&log), "summary")?.num("images")?.max(1);
    let blocks = Block::parse(&std::fs::read_to_string(&blocks_path)?)?;
    let windows: Vec<Block> = blocks
        .iter()
        .map(Block::between_marks)
        .collect::<Option<_>>()
        .with_context(|| {
            format!(
                "{}: the demo's markers do not come in pairs",
                blocks_path.display()
            )
        })?;
    let charges = charge(&windows, &symbols(&elf)?);
    let total: u64 = charges.iter().map(|c| c.instructions).sum();
    let whole: u64 = counts.marks.chunks_exact(2).map(|p| p[1] - p[0]).sum();
    anyhow::ensure!(
        total == whole,
        "the blocks add up to {total} instructions between the markers, the plugin counted {whole}",
    );
    println!(
        "\n{} ({}, kernels {}), model {}: {} instructions per image, {} images \
         (between the markers around each inference)\n",
        b.name,
        b.cpu,
        v.name,
        model.name(),
        total / images,
        images
    );
    println!("| function | instructions per image | share | hottest blocks (address: instructions per image) |");
    println!("|---|---:|---:|---|");
    for c in charges.iter().take(top) {
        let hot: Vec<String> = c
            .blocks
            .iter()
            .take(3)
            .map(|bl| format!("{:#x}: {}", bl.addr, bl.executed() / images))
            .collect();
        println!(
            "| `{}` | {} | {:.1} % | {} |",
            c.name,
            c.instructions / images,
            100.0 * c.instructions as f64 / total.max(1) as f64,
            hot.join(", ")
        );
    }
    println!(
        "\nblocks: {} (ELF {})",
        blocks_path.display(),
        elf_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, start: u64, size: u64) -> Symbol {
        Symbol {
            name: name.into(),
            start,
            size,
        }
    }

    #[test]
    fn blocks_are_charged_to_the_function_that_holds_them() {
        let syms = [
            sym("a", 0x100, 0x40),
            sym("b", 0x140, 0x10),
            sym("c", 0x200, 8),
        ];
        assert_eq!(symbol_at(&syms, 0x100).map(|s| &s.name[..]), Some("a"));
        assert_eq!(symbol_at(&syms, 0x13f).map(|s| &s.name[..]), Some("a"));
        assert_eq!(symbol_at(&syms, 0x140).map(|s| &s.name[..]), Some("b"));
        assert_eq!(symbol_at(&syms, 0x150), None); // a gap
        assert_eq!(symbol_at(&syms, 0xff), None);
        let blocks =
            Block::parse("100 4 10\n120 2 1000\n140 3 7\n150 5 1\n120 2 24\n130 6 0\n\n140 2 1\n")
                .unwrap();
        assert!(blocks.iter().all(|b| b.at_marks.is_empty()));
        let c = charge(&blocks, &syms);
        // a: 4·10 + 2·(1000 + 24) (one address translated twice, merged);
        // b: 3·7 and a retranslation of 2 instructions; the gap to `?`.
        assert_eq!(c[0].name, "a");
        assert_eq!(c[0].instructions, 40 + 2048);
        assert_eq!(
            c[0].blocks[0],
            Block {
                addr: 0x120,
                insns: 2,
                runs: 1024,
                at_marks: Vec::new()
            }
        );
        assert_eq!(c[1].name, "b");
        assert_eq!(c[1].instructions, 21 + 2);
        assert_eq!(c[1].blocks.len(), 2);
        assert!(c[1].blocks.iter().all(|b| b.addr == 0x140));
        assert_eq!(c[2].name, "?");
        assert_eq!(c[2].instructions, 5);
        assert_eq!(
            c.iter().map(|c| c.instructions).sum::<u64>(),
            40 + 2048 + 23 + 5
        );
    }

    #[test]
    fn runs_between_marker_pairs() {
        // Marks at 2, 5 (image 1) and 9, 15 (image 2): 3 + 6 runs inside.
        let b = &Block::parse("1a0 4 20 2 5 9 15\n").unwrap()[0];
        assert_eq!(b.at_marks, [2, 5, 9, 15]);
        let w = b.between_marks().unwrap();
        assert_eq!((w.addr, w.insns, w.runs), (0x1a0, 4, 9));
        assert_eq!(w.executed(), 36);
        assert!(Block::parse("1a0 4 20 2 5 9\n").unwrap()[0]
            .between_marks()
            .is_none());
        assert!(Block::parse("1a0 4 20\n").unwrap()[0]
            .between_marks()
            .is_none());
    }

    #[test]
    fn malformed_block_lines_are_refused_with_the_line() {
        let e = Block::parse("100 4 10\nzz 1 1\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("zz 1 1"), "{e}");
        assert!(Block::parse("100 4\n").is_err());
    }
}
