//! The `deepvault` binary: everything lives in the library; see `deepvault::cli`.

fn main() -> std::process::ExitCode {
    deepvault::cli::main()
}
