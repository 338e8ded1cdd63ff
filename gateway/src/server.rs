//! Accept loop: one task per connection, served by the fast HTTP/1.1 path ([`crate::h1`]) or hyper,
//! with keep-alive, a bounded request head, and a graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::state::AppState;

/// Serve on an already-bound listener until `stop` turns true, then drain: stop accepting, let in-flight
/// requests finish (keep-alive connections are closed after their current request) for up to
/// `shutdown_grace_ms`.
pub async fn serve(
    state: &'static AppState,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let fast_path = state.settings.raw.http1_fast_path;
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, remote) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The client address as a header value, formatted once per connection (X-Forwarded-For).
        let client_ip =
            http::HeaderValue::from_maybe_shared(bytes::Bytes::from(remote.ip().to_string()))
                .unwrap_or(http::HeaderValue::from_static("unknown"));
        let watcher = graceful.watcher();
        if fast_path {
            tokio::spawn(crate::h1::serve_connection(
                state, stream, remote, client_ip, watcher,
            ));
        } else {
            tokio::spawn(serve_hyper(state, stream, remote, client_ip, watcher));
        }
    }
    drop(listener);
    let grace = Duration::from_millis(state.settings.raw.shutdown_grace_ms);
    crate::h1::begin_drain();
    // Fast-path connections close after their current exchange; idle ones are dropped with the runtime.
    let fast_path_drained = async {
        while crate::h1::in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let drained = async { tokio::join!(graceful.shutdown(), fast_path_drained) };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// Serve a connection with hyper until it closes (or shutdown closes it after its current request).
pub async fn serve_hyper<I>(
    state: &'static AppState,
    io: I,
    remote: SocketAddr,
    client_ip: http::HeaderValue,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let client_ip = client_ip.clone();
        async move {
            Ok::<_, std::convert::Infallible>(crate::proxy::handle(state, req, client_ip).await)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(
            state.settings.raw.client_idle_timeout_ms,
        ))
        .max_buf_size(state.settings.raw.max_header_bytes.max(8192))
        .keep_alive(true)
        // A client that shuts down its sending side after a request still gets the answer (the fast
        // path behaves so too); without this hyper drops the request on EOF after forwarding it.
        .half_close(true)
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%remote, error = %e, "connection ended with error");
    }
}

/// Start background tasks: Redis watcher, limiter sync and the notification listener.
pub fn spawn_background(state: &Arc<AppState>) {
    tokio::spawn(state.store.clone().watch());
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(
            s.settings.raw.limits.sync_interval_ms,
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            s.limiter.sync_once(&s.store).await;
            s.api_limiter.sync_once(&s.store).await;
        }
    });
    tokio::spawn(crate::notify::run(state.clone()));
}

/// Bind `n` listeners on the same address with `SO_REUSEPORT` (the kernel spreads connections across them).
/// Must run inside a runtime; the listeners are returned as std sockets for the worker runtimes to adopt.
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    // SO_REUSEPORT would let a second gateway silently share (and split) this address: probe with a plain
    // bind first so "address in use" is still reported.
    drop(std::net::TcpListener::bind(addr)?);
    (0..n.max(1))
        .map(|_| {
            let sock = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            sock.set_reuseaddr(true)?;
            #[cfg(unix)]
            sock.set_reuseport(true)?;
            sock.set_nodelay(true)?;
            sock.bind(addr)?;
            sock.listen(4096)?.into_std()
        })
        .collect()
}

/// Run one worker: a single-threaded runtime serving one listener, on its own OS thread.
pub fn spawn_worker(
    state: &'static AppState,
    listener: std::net::TcpListener,
    id: usize,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gw-worker-{id}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start worker runtime");
                    std::process::exit(70);
                }
            };
            rt.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => serve(state, l, stop).await,
                    Err(e) => {
                        tracing::error!(error = %e, "worker cannot adopt listener");
                        std::process::exit(70);
                    }
                }
            })
        })
}
