//! The `tyk-dr-gateway` binary: everything lives in the library; `main` only passes the exit code on.

fn main() {
    std::process::exit(tyk_dr_gateway::run());
}
