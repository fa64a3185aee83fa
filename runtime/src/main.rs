//! `nyquist`: the command line over the `nyquist_runtime` library (see
//! [`cli`]). The library itself has no CLI dependencies; this binary needs
//! the `cli` feature (on by default).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
