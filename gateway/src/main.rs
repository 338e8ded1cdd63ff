//! The `tyk-dr-gateway` binary: everything lives in the library; `main` only passes the exit code on.

/// mimalloc: the proxy allocates many small, short-lived buffers per request; glibc malloc showed up at
/// ~7% of CPU in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tyk_dr_gateway::run());
}
