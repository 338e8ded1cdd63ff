//! The only module that talks to Redis.
//!
//! One multiplexed connection (pipelining every concurrent command over one socket) behind an `ArcSwap`, so
//! the hot path never takes a lock. Failover handling, the reason this gateway exists:
//! - a `READONLY` reply, a dropped connection or a timeout invalidates the connection; the next use
//!   re-resolves the DNS name and reconnects (one retry for the command that saw the error);
//! - a watcher pings every `health_interval_ms` and re-resolves the name; a changed answer reconnects
//!   at once, so a CNAME flip is followed within max(TTL, interval);
//! - [`RedisStore::force_reconnect`] drops the connection and the pub/sub subscription together, and
//!   forgets the cached DNS answer;
//! - with epoch fencing ([`crate::epoch`]), no command is sent while the epoch check is overdue (this
//!   process was stopped): the connection it held may reach a primary the epoch no longer names.
//!
//! While Redis is down, callers fail fast (no connect storm): only the watcher and at most one caller per
//! backoff period try to connect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::dns::Dns;
use crate::config::Settings;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis cannot be reached right now (connection, timeout, READONLY, DNS): answer 503, use caches.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error for this command.
    #[error("redis command failed: {0}")]
    Command(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Live {
    conn: MultiplexedConnection,
    addr: SocketAddr,
    generation: u64,
}

/// Metric handles the store updates.
#[derive(Clone, Default)]
pub struct StoreMetrics {
    /// 1 when the last Redis interaction succeeded.
    pub up: Gauge,
    /// Number of (re)connections made.
    pub reconnects: Counter,
}

/// A reconnecting Redis client that follows DNS changes.
pub struct RedisStore {
    dns: Dns,
    info: RedisConnectionInfo,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    command_timeout: Duration,
    health_interval: Duration,
    live: ArcSwapOption<Live>,
    connect_lock: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<Instant>>,
    generation: AtomicU64,
    up: AtomicBool,
    last_ping: Mutex<Option<Duration>>,
    resub: watch::Sender<u64>,
    metrics: StoreMetrics,
    /// Epoch fencing: Redis is used only while the epoch check is current.
    epoch: std::sync::OnceLock<Arc<crate::epoch::EpochWatch>>,
}

/// What a session lookup returns: the session JSON and the quota counter for the same key.
#[derive(Debug, Default)]
pub struct SessionRecord {
    /// Raw `apikey-<hash>` value.
    pub session: Option<Vec<u8>>,
    /// Current `quota-<hash>` value.
    pub quota_used: Option<i64>,
}

/// One counter update in a sync round.
#[derive(Debug, Clone)]
pub enum CounterOp {
    /// `INCRBY key by` then `PEXPIRE key ttl NX` (the expiry is set on first hit only), then, with
    /// `want_ttl`, `PTTL key`.
    IncrWithExpire {
        /// Redis key.
        key: String,
        /// Increment.
        by: i64,
        /// Expiry in milliseconds set when the key has none (0 = none).
        ttl_ms: i64,
        /// Also read the remaining time to live.
        want_ttl: bool,
    },
    /// `GET key` (0 when missing) and `PTTL key`.
    Get {
        /// Redis key.
        key: String,
    },
}

const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || e.kind() == redis::ErrorKind::ReadOnly
}

impl RedisStore {
    /// Build the store (no I/O yet).
    pub fn new(s: &Settings, metrics: StoreMetrics) -> Result<Arc<Self>, String> {
        let r = &s.raw.redis;
        let tls = if r.tls {
            Some(crate::tls::connector(match r.tls_ca_file.as_deref() {
                Some(ca) => crate::tls::Trust::Only(ca),
                None => crate::tls::Trust::WebPki(None),
            })?)
        } else {
            None
        };
        let info = RedisConnectionInfo {
            db: r.db,
            username: r.username.clone(),
            password: r.password.clone(),
            ..Default::default()
        };
        let (resub, _) = watch::channel(0);
        Ok(Arc::new(Self {
            dns: Dns::new(&r.host, r.port, s.nameserver, s.connect_timeout()),
            info,
            tls,
            connect_timeout: s.connect_timeout(),
            command_timeout: s.command_timeout(),
            health_interval: Duration::from_millis(r.health_interval_ms),
            live: ArcSwapOption::empty(),
            connect_lock: tokio::sync::Mutex::new(()),
            last_attempt: Mutex::new(None),
            generation: AtomicU64::new(0),
            up: AtomicBool::new(false),
            last_ping: Mutex::new(None),
            resub,
            metrics,
            epoch: std::sync::OnceLock::new(),
        }))
    }

    /// Use Redis only while `epoch` says its check is current (set once, at start-up).
    pub fn set_epoch_gate(&self, epoch: Arc<crate::epoch::EpochWatch>) {
        let _ = self.epoch.set(epoch);
    }

    /// `Err` when the epoch check is overdue: the connection is dropped and nothing is sent.
    fn gate(&self) -> Result<(), StoreError> {
        match self.epoch.get().and_then(|e| e.overdue_ms()) {
            None => Ok(()),
            Some(ms) => {
                self.invalidate(None, "epoch check overdue");
                Err(StoreError::Unavailable(format!(
                    "no epoch check completed for {ms} ms (was this process stopped?): Redis unused until the next one"
                )))
            }
        }
    }

    /// Whether the last interaction with Redis succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Round-trip time of the last successful PING.
    pub fn last_ping(&self) -> Option<Duration> {
        *self.last_ping.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Address of the current connection, if any.
    pub fn current_addr(&self) -> Option<SocketAddr> {
        self.live.load().as_ref().map(|l| l.addr)
    }

    /// Changes whenever the pub/sub subscription should be re-established.
    pub fn resubscribe_signal(&self) -> watch::Receiver<u64> {
        self.resub.subscribe()
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        self.metrics.up.set(i64::from(up));
    }

    /// Drop the connection (if it is still generation `generation`, or any when `None`).
    fn invalidate(&self, generation: Option<u64>, why: &str) {
        let cur = self.live.load();
        if let Some(l) = cur.as_ref() {
            if generation.is_none_or(|g| g == l.generation) {
                tracing::warn!(addr = %l.addr, reason = why, "dropping redis connection");
                self.live.store(None);
            }
        }
        self.set_up(false);
    }

    /// Drop every connection (commands and pub/sub) now; used by the DR tool after a promotion.
    pub fn force_reconnect(&self) {
        self.invalidate(None, "forced reconnect");
        self.dns.forget();
        *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.resub.send_modify(|g| *g += 1);
    }

    async fn open_stream(&self, addr: SocketAddr) -> Result<Box<dyn Io>, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.dns.host().to_string())
                    .map_err(|e| format!("tls server name: {e}"))?;
                let s = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("tls handshake with {addr}: {e}"))?;
                Ok(Box::new(s))
            }
        }
    }

    /// Resolve and connect a new multiplexed connection.
    async fn connect(&self) -> Result<Arc<Live>, StoreError> {
        let fut = async {
            let addr = self.dns.resolve().await?;
            let stream = self.open_stream(addr).await?;
            let cfg = AsyncConnectionConfig::new().set_response_timeout(self.command_timeout);
            let (conn, driver) = MultiplexedConnection::new_with_config(&self.info, stream, cfg)
                .await
                .map_err(|e| format!("redis handshake with {addr}: {e}"))?;
            tokio::spawn(driver);
            Ok::<_, String>((conn, addr))
        };
        let (conn, addr) = tokio::time::timeout(self.connect_timeout, fut)
            .await
            .map_err(|_| StoreError::Unavailable("connect timed out".into()))?
            .map_err(StoreError::Unavailable)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let live = Arc::new(Live {
            conn,
            addr,
            generation,
        });
        self.live.store(Some(live.clone()));
        self.metrics.reconnects.inc();
        self.set_up(true);
        self.resub.send_modify(|g| *g += 1);
        tracing::info!(%addr, generation, "connected to redis");
        Ok(live)
    }

    /// The current connection, connecting if there is none (rate-limited while Redis is down).
    async fn live(&self, force: bool) -> Result<Arc<Live>, StoreError> {
        if let Some(l) = self.live.load_full() {
            return Ok(l);
        }
        let _g = self.connect_lock.lock().await;
        if let Some(l) = self.live.load_full() {
            return Ok(l);
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF) {
                return Err(StoreError::Unavailable(
                    "redis is down (reconnect pending)".into(),
                ));
            }
            *last = Some(Instant::now());
        }
        self.connect().await
    }

    /// Run one command (or pipeline) with the store's timeout, reconnect-and-retry once on connection errors.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut last_err = StoreError::Unavailable("not attempted".into());
        for attempt in 0..2 {
            self.gate()?;
            let live = self.live(attempt > 0).await?;
            match tokio::time::timeout(self.command_timeout, f(live.conn.clone())).await {
                Ok(Ok(v)) => {
                    if !self.is_up() {
                        self.set_up(true);
                    }
                    return Ok(v);
                }
                Ok(Err(e)) if is_connection_error(&e) => {
                    self.invalidate(Some(live.generation), &e.to_string());
                    last_err = StoreError::Unavailable(e.to_string());
                }
                Ok(Err(e)) => return Err(StoreError::Command(e.to_string())),
                Err(_) => {
                    self.invalidate(Some(live.generation), "command timed out");
                    // A hung server: do not wait a second time.
                    return Err(StoreError::Unavailable("command timed out".into()));
                }
            }
        }
        Err(last_err)
    }

    /// Session JSON and quota counter in one round trip.
    pub async fn get_session(
        &self,
        session_key: &str,
        quota_key: &str,
    ) -> Result<SessionRecord, StoreError> {
        let (session, quota_raw): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .run(|mut c| async move {
                redis::pipe()
                    .get(session_key)
                    .get(quota_key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        // A counter that is not an integer is ignored here (the limiter skips it too), never fatal.
        let quota_used = quota_raw.and_then(|q| std::str::from_utf8(&q).ok()?.trim().parse().ok());
        Ok(SessionRecord {
            session,
            quota_used,
        })
    }

    /// One round trip: `GET` each of `gets`, then `GET` + `PTTL` each of `counters`. Returns the values,
    /// and per counter its integer value (`None` when missing or not an integer) and its `PTTL` in
    /// milliseconds (-2 missing, -1 no expiry, as Redis answers).
    pub async fn read_keys(
        &self,
        gets: &[String],
        counters: &[String],
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<(Option<i64>, i64)>), StoreError> {
        let mut p = redis::pipe();
        for k in gets {
            p.cmd("GET").arg(k);
        }
        for k in counters {
            p.cmd("GET").arg(k);
            p.cmd("PTTL").arg(k);
        }
        let count = p.len();
        let p = &p;
        let replies: Vec<redis::Value> = self
            .run(|mut c| async move { c.send_packed_commands(p, 0, count).await })
            .await?;
        let bytes = |v: Option<&redis::Value>| match v {
            Some(redis::Value::BulkString(b)) => Some(b.clone()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone().into_bytes()),
            _ => None,
        };
        let values = (0..gets.len()).map(|i| bytes(replies.get(i))).collect();
        let counters = (0..counters.len())
            .map(|i| {
                let at = gets.len() + 2 * i;
                let used = bytes(replies.get(at))
                    .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok());
                let pttl = match replies.get(at + 1) {
                    Some(redis::Value::Int(n)) => *n,
                    _ => -2,
                };
                (used, pttl)
            })
            .collect();
        Ok((values, counters))
    }

    /// For each `(key, expected, value)`: `SET key value KEEPTTL` only while `key` still holds
    /// `expected` (one atomic script each, all in one pipeline): read-modify-writes that never overwrite a
    /// concurrent change. A script Redis refuses fails only its own write.
    pub async fn replace_many_if_unchanged(
        &self,
        writes: &[(String, Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
            redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0";
        if writes.is_empty() {
            return Ok(());
        }
        let mut p = redis::pipe();
        for (key, expected, value) in writes {
            p.cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(key)
                .arg(expected)
                .arg(value);
        }
        let count = p.len();
        let p = &p;
        self.run(|mut c| async move { c.send_packed_commands(p, 0, count).await })
            .await
            .map(|_: Vec<redis::Value>| ())
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }

    /// `SET key value [EX ttl]`.
    pub async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: Option<u64>,
    ) -> Result<(), StoreError> {
        self.run(|mut c| async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(value);
            if let Some(t) = ttl_secs {
                cmd.arg("EX").arg(t.max(1));
            }
            cmd.query_async::<()>(&mut c).await
        })
        .await
    }

    /// `DEL keys...`; returns how many existed.
    pub async fn del(&self, keys: &[String]) -> Result<i64, StoreError> {
        self.run(|mut c| async move { redis::cmd("DEL").arg(keys).query_async(&mut c).await })
            .await
    }

    /// `SCAN` for keys matching `pattern`, at most `limit` of them.
    pub async fn scan(&self, pattern: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: u64 = 0;
        // Bounded: at most 10_000 SCAN calls.
        for _ in 0..10_000 {
            let (next, batch): (u64, Vec<String>) = self
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            out.extend(batch);
            cursor = next;
            if cursor == 0 || out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// `PUBLISH channel message`.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<i64, StoreError> {
        self.run(|mut c| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async(&mut c)
                .await
        })
        .await
    }

    /// Apply counter operations in one pipeline; returns one value per op (the counter after the op, or
    /// -1 for an op Redis rejected, e.g. a non-integer value under that key) and its `PTTL` in milliseconds
    /// when asked for (else -3). Per-command errors do not fail the round: a pipeline is not a
    /// transaction, the other commands were applied, so their replies are kept.
    pub async fn sync_counters(&self, ops: &[CounterOp]) -> Result<Vec<(i64, i64)>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = redis::pipe();
        let mut reply_index = Vec::with_capacity(ops.len());
        for op in ops {
            let at = p.len();
            let ttl_at = match op {
                CounterOp::IncrWithExpire {
                    key,
                    by,
                    ttl_ms,
                    want_ttl,
                } => {
                    p.cmd("INCRBY").arg(key).arg(*by);
                    if *ttl_ms > 0 {
                        p.cmd("PEXPIRE").arg(key).arg(*ttl_ms).arg("NX");
                    }
                    want_ttl.then(|| {
                        p.cmd("PTTL").arg(key);
                        p.len() - 1
                    })
                }
                CounterOp::Get { key } => {
                    p.cmd("GET").arg(key);
                    p.cmd("PTTL").arg(key);
                    Some(at + 1)
                }
            };
            reply_index.push((at, ttl_at));
        }
        let count = p.len();
        let p = &p;
        let replies: Vec<redis::Value> = self
            .run(|mut c| async move { c.send_packed_commands(p, 0, count).await })
            .await?;
        Ok(reply_index
            .into_iter()
            .map(|(i, ttl_at)| {
                let value = match replies.get(i) {
                    Some(redis::Value::Int(n)) => *n,
                    Some(redis::Value::Nil) => 0,
                    Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(-1),
                    _ => -1,
                };
                let ttl = match ttl_at.and_then(|t| replies.get(t)) {
                    Some(redis::Value::Int(n)) => *n,
                    _ => -3,
                };
                (value, ttl)
            })
            .collect())
    }

    /// PING now; updates the up/down state.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let t = Instant::now();
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await?;
        let rtt = t.elapsed();
        *self.last_ping.lock().unwrap_or_else(|e| e.into_inner()) = Some(rtt);
        Ok(rtt)
    }

    /// Open a dedicated pub/sub connection to the current address.
    pub async fn open_pubsub(&self) -> Result<PubSub, StoreError> {
        self.gate()?;
        let fut = async {
            let addr = self.dns.resolve().await?;
            let stream = self.open_stream(addr).await?;
            PubSub::new(&self.info, stream)
                .await
                .map_err(|e| format!("pubsub handshake with {addr}: {e}"))
        };
        tokio::time::timeout(self.connect_timeout, fut)
            .await
            .map_err(|_| StoreError::Unavailable("pubsub connect timed out".into()))?
            .map_err(StoreError::Unavailable)
    }

    /// Background watcher: PING and re-resolve every `health_interval_ms`; follow DNS changes.
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.health_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let (Ok(resolved), Some(cur)) = (self.dns.resolve().await, self.current_addr()) {
                if resolved != cur {
                    tracing::warn!(old = %cur, new = %resolved, "redis DNS answer changed; reconnecting");
                    self.invalidate(None, "dns answer changed");
                    *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
            }
            if self.live.load().is_none() {
                *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            if let Err(e) = self.ping().await {
                tracing::debug!(error = %e, "redis health check failed");
                self.set_up(false);
            }
        }
    }
}
