//! tyk-dr-gateway: a Tyk-compatible data plane that rides out Redis failover.
//!
//! Module map:
//! - [`config`]: TOML config, validated as a whole before binding (exit 64 on errors);
//! - [`apis`]: definition loading and longest-prefix routing (swapped atomically on reload);
//! - [`versions`]: Tyk versioning (`version_data`, `definition`) and endpoint white/black/ignored
//!   lists, compiled per route at load and checked in `proxy::admit` before auth;
//! - [`target`]: the request path in normal form, the one every check and the upstream see;
//! - [`proxy`]: the request pipeline (auth → limits → forward, per-thread upstream pool in
//!   `proxy::upstream`), [`error`]: errors → HTTP in one place;
//! - [`h1`]: the fast HTTP/1.1 path for plainly framed proxied requests (everything else goes to hyper);
//! - [`clock`]: one clock reading per request; [`cache`]: local session cache, [`ratelimit`]: local limiter reconciled with Redis;
//! - [`store`]: the only code talking to Redis (DNS-following reconnects);
//! - [`mgmt`]: `/tyk/` management API, [`notify`]: cluster notifications;
//! - [`health`]: `/hello`, readiness and metrics rendering, [`metrics`]: Prometheus registry;
//! - [`epoch`]: fencing from the epoch record, read through DNS (which region may serve);
//! - [`server`]: worker threads, accept loop, graceful drain and background tasks;
//! - [`tls`]: rustls client configuration (Redis TLS, https upstreams).

pub mod apis;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod epoch;
pub mod error;
pub mod h1;
pub mod health;
pub mod metrics;
pub mod mgmt;
pub mod notify;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod state;
pub mod store;
pub mod target;
pub mod tls;
pub mod versions;

use clap::Parser;

/// Parse arguments, validate config, then serve. Returns the process exit code.
pub fn run() -> i32 {
    let args = cli::Args::parse();
    init_tracing();
    let settings = match config::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return config::EXIT_CONFIG;
        }
    };
    if args.check_config {
        println!("{}: configuration OK", args.config.display());
        return 0;
    }
    // Background work (Redis watcher, limiter sync, pub/sub) runs on this thread's runtime; requests are
    // served by `workers` threads, each with its own single-threaded runtime and SO_REUSEPORT listener.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return 70;
        }
    };
    rt.block_on(async move {
        let listen = settings.listen;
        let workers = match settings.raw.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        };
        let state = match state::AppState::new(settings) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {}: {e}", args.config.display());
                return config::EXIT_CONFIG;
            }
        };
        let listeners = match server::bind(listen, workers) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return 69;
            }
        };
        server::spawn_background(&state);
        // Fail closed: readiness stays 503 until the first epoch read succeeds.
        if let Some(epoch) = &state.epoch {
            tokio::spawn(epoch.clone().run(state.store.clone()));
        }
        // The state lives as long as the process: workers borrow it for `'static` instead of cloning an
        // `Arc` (a reference count shared by every thread) for each request.
        let shared: &'static state::AppState = Box::leak(Box::new(state.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            match server::spawn_worker(shared, l, i, stop_rx.clone()) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    eprintln!("error: cannot start worker thread: {e}");
                    return 71;
                }
            }
        }
        tracing::info!(%listen, workers, region = %state.settings.raw.region, "tyk-dr-gateway listening");
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        state.set_draining();
        let _ = stop_tx.send(true);
        let joined = tokio::task::spawn_blocking(move || {
            for h in handles {
                let _ = h.join();
            }
        });
        let grace = std::time::Duration::from_millis(state.settings.raw.shutdown_grace_ms + 1_000);
        let _ = tokio::time::timeout(grace, joined).await;
        // Push the last local rate/quota increments to Redis before exiting.
        state.limiter.sync_once(&state.store).await;
        state.api_limiter.sync_once(&state.store).await;
        tracing::info!("stopped");
        0
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TYK_GW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
