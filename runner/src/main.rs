//! The `retort` binary: everything lives in the library; see `retort::cli`.

fn main() -> std::process::ExitCode {
    retort::cli::main()
}
