//! The `nyquist` command line: classify, bench, eval (and eval merge / report),
//! corrupt. Each subcommand is a module with its `Args` and `run`.
//!
//! Exit codes: 0 success, 1 error, 3 some inputs failed (reported, others done).

pub mod bench;
pub mod classify;
pub mod corrupt;
pub mod eval;
pub mod eval_report;
pub mod model;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Anti-aliased classifiers on the edge: run, benchmark and evaluate Nyquist models.
#[derive(Debug, Parser)]
#[command(name = "nyquist", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Top-k classes of images, folders, streams or camera frames.
    Classify(Box<classify::ClassifyArgs>),
    /// Clean and corrupted accuracy, CE and mCE (ImageNet-C protocol).
    /// Also `nyquist eval merge OUT SHARDS…` and `nyquist eval report RESULTS…`.
    Eval(Box<eval::EvalArgs>),
    /// Combine shard results into the result of one run (`nyquist eval merge`).
    #[command(name = "eval-merge", hide = true)]
    EvalMerge(eval::MergeArgs),
    /// Markdown / SVG of result files side by side (`nyquist eval report`).
    #[command(name = "eval-report", hide = true)]
    EvalReport(eval::ReportArgs),
    /// Apply ImageNet-C corruptions to an image.
    Corrupt(corrupt::CorruptArgs),
    /// Latency, throughput, memory and kernel choice of a model on this machine.
    Bench(Box<bench::BenchArgs>),
}

/// Run the CLI.
pub fn main() -> ExitCode {
    // `nyquist eval merge|report …` are spelled as sub-subcommands for users;
    // they are separate commands to clap.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.len() > 2 && argv[1] == "eval" && (argv[2] == "merge" || argv[2] == "report") {
        let joined = format!("eval-{}", argv[2].to_string_lossy());
        argv.splice(1..3, [std::ffi::OsString::from(joined)]);
    }
    let cli = Cli::parse_from(argv);
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: --threads {n}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let r = match cli.command {
        Command::Classify(a) => classify::run(*a),
        Command::Eval(a) => eval::run(*a),
        Command::EvalMerge(a) => eval::run_merge(a),
        Command::EvalReport(a) => eval::run_report(a),
        Command::Corrupt(a) => corrupt::run(a),
        Command::Bench(a) => bench::run(*a),
    };
    match r {
        Ok(code) => code,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Print a line on stdout. A closed pipe (`nyquist … | head`) surfaces as an
/// error that [`main`] turns into a quiet, successful exit.
pub fn out(line: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}").map_err(anyhow::Error::from)
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Exit code when some inputs failed and the rest were processed.
pub const SOME_FAILED: u8 = 3;
