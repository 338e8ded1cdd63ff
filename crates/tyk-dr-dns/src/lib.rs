//! tyk-dr-dns: a DNS server answering from the Route 53 hosted zones of an AWS endpoint
//! (normally the local emulator), so gateways and clients of the local two-region environment
//! really resolve the Redis CNAME and the global name, failover records included.
//!
//! Modules: [`zones`] (zone table and answer logic), [`health`] (Route 53-style health
//! probing), [`refresh`] (polling Route 53 and swapping the table), [`server`] (the hickory
//! request handler). [`serve`] starts everything and returns a [`ServerHandle`].

pub mod health;
pub mod refresh;
pub mod server;
pub mod zones;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_server::ServerFuture;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;
use tyk_dr_aws::route53::Route53;

pub use zones::Prefer;

/// Server settings (the binary's flags map onto these one to one).
#[derive(Debug, Clone)]
pub struct Config {
    /// UDP and TCP listen address; port 0 picks a free port (see [`ServerHandle::local_addr`]).
    pub listen: SocketAddr,
    /// How often zones are re-read from Route 53.
    pub refresh: Duration,
    /// Replaces every health check's RequestInterval (local runs and tests use ~100-200 ms).
    pub health_interval_override: Option<Duration>,
    /// Time allowed for one health probe; `None` = 2 s, or twice the interval override
    /// (at least 200 ms) when one is set.
    pub health_timeout: Option<Duration>,
    /// Which zone answers when a private and a public zone share an apex.
    pub prefer: Prefer,
    /// Cap on the TTL of negative answers (SOA TTL / minimum).
    pub max_negative_ttl: Duration,
    /// Idle timeout of TCP connections.
    pub tcp_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5353)),
            refresh: Duration::from_secs(1),
            health_interval_override: None,
            health_timeout: None,
            prefer: Prefer::Private,
            max_negative_ttl: Duration::from_secs(5),
            tcp_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Probe timing derived from the flags.
    pub fn probe_timing(&self) -> health::ProbeTiming {
        let timeout = self
            .health_timeout
            .unwrap_or(match self.health_interval_override {
                Some(i) => (i * 2).max(Duration::from_millis(200)),
                None => Duration::from_secs(2),
            });
        health::ProbeTiming {
            interval_override: self.health_interval_override,
            timeout,
            local_resolver: None,
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound (UDP or TCP).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address that failed.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
}

/// State shared by the request handler and the refresher.
#[derive(Debug)]
pub struct Shared {
    /// The current zone table, swapped atomically on refresh.
    pub table: ArcSwap<zones::ZoneTable>,
    /// Health status of probed health checks.
    pub health: health::HealthBook,
}

/// A running server; dropping it stops the refresher, the probers and the listeners.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Address actually bound (UDP and TCP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Shared state, to inspect the zone table or health status.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the server and waits (bounded) for its tasks.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.shared.health.stop();
    }

    /// Waits until the server stops (it only stops on [`ServerHandle::shutdown`] or an error).
    pub async fn wait(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
        self.shared.health.stop();
    }
}

/// Binds UDP and TCP on the same port (retrying a few ports when asked for port 0).
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let err = |source| Error::Bind { addr, source };
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr).await.map_err(err)?;
        let bound = udp.local_addr().map_err(err)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(err(
        last.unwrap_or_else(|| std::io::Error::other("bind failed"))
    ))
}

/// Starts the DNS server: loads the zones once, then serves UDP and TCP and keeps refreshing.
///
/// A failed first load is logged and retried by the refresher; until zones load, every query
/// is refused.
pub async fn serve(route53: Route53, config: Config) -> Result<ServerHandle, Error> {
    let shared = Arc::new(Shared {
        table: ArcSwap::from_pointee(zones::ZoneTable::default()),
        health: health::HealthBook::default(),
    });
    let (udp, tcp) = bind(config.listen).await?;
    let local_addr = udp.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let (shutdown, shutdown_rx) = watch::channel(false);

    let mut refresher = refresh::Refresher::new(route53, shared.clone(), config.clone());
    refresher.refresh_once().await;
    let mut rx = shutdown_rx.clone();
    let refresh_task = tokio::spawn(async move { refresher.run(&mut rx).await });

    let mut server = ServerFuture::new(server::Handler::new(shared.clone()));
    server.register_socket(udp);
    server.register_listener(tcp, config.tcp_timeout);
    let mut rx = shutdown_rx;
    let server_task = tokio::spawn(async move {
        let _ = rx.wait_for(|stop| *stop).await;
        let _ = server.shutdown_gracefully().await;
    });
    info!(%local_addr, "DNS server listening (UDP and TCP)");
    Ok(ServerHandle {
        local_addr,
        shared,
        shutdown,
        tasks: vec![refresh_task, server_task],
    })
}
