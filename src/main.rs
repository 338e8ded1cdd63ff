//! The `tyk-dr` command: everything happens in [`tyk_dr::run`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(tyk_dr::run(std::env::args_os()))
}
