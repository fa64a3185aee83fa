//! `nyquist-convert`: see [`nyquist_convert::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = nyquist_convert::cli::Args::parse();
    match nyquist_convert::cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
