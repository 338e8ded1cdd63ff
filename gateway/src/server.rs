//! Accept loop: HTTP/1.1 with keep-alive, a bounded request head, and one task per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::state::AppState;

/// Serve forever on an already-bound listener.
pub async fn serve(state: Arc<AppState>, listener: TcpListener) {
    let max_head = state.settings.raw.max_header_bytes;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        crate::proxy::handle(state, req, remote).await,
                    )
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .max_buf_size(max_head.max(8192))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "connection ended with error");
            }
        });
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
        }
    });
    tokio::spawn(crate::notify::run(state.clone()));
}

/// Bind the listen address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
