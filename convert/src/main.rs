//! `nyquist-convert`: the command line over the `nyquist_convert` library
//! ([`cli`]: flags and the float path, [`cli_quant`]: int8, gate, repair and
//! `.nqm`, [`plots`]: the CE chart). The library has no CLI dependencies;
//! this binary needs the `cli` feature (on by default).

mod cli;
mod cli_quant;
mod plots;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
