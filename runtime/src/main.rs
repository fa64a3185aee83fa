//! `nyquist`: see [`nyquist_runtime::cli`].

fn main() -> std::process::ExitCode {
    nyquist_runtime::cli::main()
}
