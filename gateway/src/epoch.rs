//! Fencing from the epoch record: the gateway derives for itself whether its region may serve.
//!
//! `tyk-dr failover`/`failback` move one TXT record, `_tyk-dr-epoch.<global name>` = `"active=<region>
//! epoch=<n>"`, by a Route 53 compare-and-swap. That record is the single source of truth: every
//! gateway reads it through DNS (the resolver path it uses for the Redis CNAME) at start-up and every
//! `epoch.interval_ms`. The gateway is fenced (readiness 503, proxied traffic refused when
//! `fence_blocks_traffic`) while:
//! - no read has succeeded yet (fail closed at start-up: a replaced instance never serves blind);
//! - the record names another region (`standby`: the gateway is otherwise healthy and says whether
//!   it could take over);
//! - no read has *completed* for [`crate::config::EpochConfig::overdue_after`]: the process was not
//!   running (SIGSTOP, a suspended VM, a healed partition of a frozen host). Redis is not used either
//!   until the next read, so a gateway waking up cannot write to the primary it held before.
//!
//! A read that fails after a good one keeps the last epoch (fail static) and says so in readiness
//! and in `tyk_gw_epoch_stale`. Whenever the epoch number changes the gateway drops its Redis
//! connections and re-resolves the Redis name, so a fenced gateway follows the CNAME to the new
//! primary instead of writing to the old one. `POST /tyk/dr/fence` remains a manual accelerator.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::config::Settings;
use crate::store::RedisStore;

/// Which region is active, at which epoch (the value of the epoch TXT record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// Region code of the active region.
    pub active: String,
    /// Increases by one with every failover or failback.
    pub number: u64,
}

impl Epoch {
    /// Parses `active=us-east-1 epoch=3` (quotes allowed; other `k=v` words are ignored, so the
    /// record may grow fields without breaking older gateways).
    pub fn parse(value: &str) -> Option<Self> {
        let mut active = None;
        let mut number = None;
        for part in value.trim().trim_matches('"').split_whitespace() {
            match part.split_once('=') {
                Some(("active", v)) if !v.is_empty() => active = Some(v.to_owned()),
                Some(("epoch", v)) => number = v.parse().ok(),
                _ => {}
            }
        }
        Some(Self {
            active: active?,
            number: number?,
        })
    }
}

/// Why reading the epoch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// No answer in time (DNS unreachable or hung).
    #[error("no answer for {record} within {timeout_ms} ms")]
    Timeout {
        /// The record asked for.
        record: String,
        /// The time allowed.
        timeout_ms: u64,
    },
    /// The resolver failed (refused, NXDOMAIN, no TXT data, network error).
    #[error("resolving {record} (TXT): {message}")]
    Resolve {
        /// The record asked for.
        record: String,
        /// The resolver's message.
        message: String,
    },
    /// The record exists but no value has the epoch format.
    #[error("{record} holds no `active=<region> epoch=<n>` value (got {values:?})")]
    Malformed {
        /// The record asked for.
        record: String,
        /// The TXT strings found.
        values: Vec<String>,
    },
}

/// What the gateway knows of the epoch.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last epoch read successfully.
    pub epoch: Option<Epoch>,
    /// When that read completed.
    pub read_at: Option<Instant>,
    /// The error of the last attempt, when it failed (the epoch above is then kept: fail static).
    pub error: Option<String>,
}

/// The gateway's standing under the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The epoch names this gateway's region.
    Serving,
    /// The epoch names another region: this gateway is a standby.
    Standby {
        /// The region the epoch names.
        active: String,
        /// The epoch number.
        number: u64,
    },
    /// No epoch read has succeeded yet (fail closed).
    Unknown {
        /// Why (the last error, or "not read yet").
        reason: String,
    },
    /// No read completed for this long: this process was not running; Redis is not used until
    /// the next read.
    Overdue {
        /// Milliseconds since the last completed read.
        since_ms: u64,
    },
}

impl Standing {
    /// The readiness reason for a standing that fences, `None` for [`Standing::Serving`].
    pub fn reason(&self) -> Option<String> {
        match self {
            Standing::Serving => None,
            Standing::Standby { active, number } => {
                Some(format!("standby: epoch {number} names {active}"))
            }
            Standing::Unknown { reason } => Some(format!("epoch unknown: {reason}")),
            Standing::Overdue { since_ms } => Some(format!(
                "epoch check overdue: none completed for {since_ms} ms (was this process stopped?)"
            )),
        }
    }
}

/// Epoch metrics (registered in [`crate::metrics::Metrics`]).
#[derive(Debug, Clone, Default)]
pub struct EpochMetrics {
    /// The epoch number last read (0 before the first read).
    pub number: Gauge,
    /// 1 when the epoch names another region.
    pub standby: Gauge,
    /// 1 when the last read failed and the last good epoch is kept (fail static).
    pub stale: Gauge,
    /// Failed reads.
    pub read_failures: Counter,
    /// Epoch changes seen (each one drops the Redis connections).
    pub changes: Counter,
}

/// Watches the epoch record and answers "may this gateway serve?".
pub struct EpochWatch {
    record: String,
    region: String,
    resolver: TokioResolver,
    interval: Duration,
    timeout: Duration,
    overdue: Duration,
    origin: Instant,
    /// Milliseconds since `origin` at which the last read completed (success or failure).
    last_check_ms: AtomicU64,
    /// Whether the snapshot says "fenced" (standby or unknown); overdue is computed per call.
    fenced: AtomicBool,
    snapshot: ArcSwap<Snapshot>,
    poke: tokio::sync::Notify,
    metrics: EpochMetrics,
}

impl EpochWatch {
    /// A watcher for `epoch.record`, or `None` when no record is configured.
    pub fn new(settings: &Settings, metrics: EpochMetrics) -> Option<Arc<Self>> {
        let cfg = &settings.raw.epoch;
        let record = cfg.record.as_ref()?.trim_end_matches('.').to_owned() + ".";
        let mut opts = ResolverOpts::default();
        opts.timeout = cfg.timeout();
        opts.attempts = 1;
        opts.cache_size = 4;
        let resolver = match settings.epoch_nameserver {
            Some(ns) => TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], nameservers(ns)),
                TokioConnectionProvider::default(),
            )
            .with_options(opts)
            .build(),
            None => match TokioResolver::builder_tokio() {
                Ok(b) => b.with_options(opts).build(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the system resolver configuration; the epoch cannot be read");
                    TokioResolver::builder_with_config(
                        ResolverConfig::default(),
                        TokioConnectionProvider::default(),
                    )
                    .with_options(opts)
                    .build()
                }
            },
        };
        let w = Self {
            record,
            region: settings.raw.region.clone(),
            resolver,
            interval: cfg.interval(),
            timeout: cfg.timeout(),
            overdue: cfg.overdue_after(),
            origin: Instant::now(),
            last_check_ms: AtomicU64::new(0),
            fenced: AtomicBool::new(true),
            snapshot: ArcSwap::from_pointee(Snapshot {
                error: Some("not read yet".into()),
                ..Default::default()
            }),
            poke: tokio::sync::Notify::new(),
            metrics,
        };
        Some(Arc::new(w))
    }

    /// The record read (fully qualified).
    pub fn record(&self) -> &str {
        &self.record
    }

    /// What is known now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn elapsed_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Milliseconds since the last read completed, when more than the overdue limit.
    pub fn overdue_ms(&self) -> Option<u64> {
        let since = self
            .elapsed_ms()
            .saturating_sub(self.last_check_ms.load(Ordering::Relaxed));
        (since > self.overdue.as_millis() as u64).then_some(since)
    }

    /// Whether Redis may be used: reads keep completing (this process has been running).
    pub fn redis_allowed(&self) -> bool {
        self.overdue_ms().is_none()
    }

    /// Fenced by the epoch: not read yet, names another region, or overdue.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed) || self.overdue_ms().is_some()
    }

    /// The gateway's standing now.
    pub fn standing(&self) -> Standing {
        if let Some(since_ms) = self.overdue_ms() {
            return Standing::Overdue { since_ms };
        }
        let snap = self.snapshot.load();
        match &snap.epoch {
            None => Standing::Unknown {
                reason: snap.error.clone().unwrap_or_else(|| "not read yet".into()),
            },
            Some(e) if e.active != self.region => Standing::Standby {
                active: e.active.clone(),
                number: e.number,
            },
            Some(_) => Standing::Serving,
        }
    }

    /// Ask the watcher to read now (e.g. after `POST`/`DELETE /tyk/dr/fence`).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// One read of the record, bypassing the resolver cache.
    pub async fn read(&self) -> Result<Epoch, ReadError> {
        self.resolver.clear_cache();
        let lookup = tokio::time::timeout(self.timeout, self.resolver.txt_lookup(&self.record))
            .await
            .map_err(|_| ReadError::Timeout {
                record: self.record.clone(),
                timeout_ms: self.timeout.as_millis() as u64,
            })?
            .map_err(|e| ReadError::Resolve {
                record: self.record.clone(),
                message: e.to_string(),
            })?;
        let values: Vec<String> = lookup
            .iter()
            .map(|txt| {
                txt.txt_data()
                    .iter()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect::<String>()
            })
            .collect();
        values
            .iter()
            .find_map(|v| Epoch::parse(v))
            .ok_or_else(|| ReadError::Malformed {
                record: self.record.clone(),
                values,
            })
    }

    /// Read once and update the standing; returns whether the epoch number changed.
    pub async fn refresh(&self) -> bool {
        let result = self.read().await;
        let prev = self.snapshot.load_full();
        let (next, changed) = match result {
            Ok(epoch) => {
                let changed = prev.epoch.as_ref().map(|e| e.number) != Some(epoch.number);
                if changed {
                    tracing::warn!(
                        record = %self.record,
                        active = %epoch.active,
                        epoch = epoch.number,
                        serving = epoch.active == self.region,
                        "epoch read"
                    );
                } else if prev.error.is_some() && prev.epoch.is_some() {
                    tracing::info!(record = %self.record, "epoch readable again");
                }
                (
                    Snapshot {
                        epoch: Some(epoch),
                        read_at: Some(Instant::now()),
                        error: None,
                    },
                    changed,
                )
            }
            Err(e) => {
                self.metrics.read_failures.inc();
                if prev.epoch.is_some() {
                    tracing::warn!(error = %e, "cannot read the epoch; keeping the last one (fail static)");
                } else {
                    tracing::warn!(error = %e, "cannot read the epoch; not ready until it is read");
                }
                (
                    Snapshot {
                        epoch: prev.epoch.clone(),
                        read_at: prev.read_at,
                        error: Some(e.to_string()),
                    },
                    false,
                )
            }
        };
        let fenced = next.epoch.as_ref().is_none_or(|e| e.active != self.region);
        self.metrics
            .number
            .set(next.epoch.as_ref().map_or(0, |e| e.number as i64));
        self.metrics.standby.set(i64::from(
            next.epoch.as_ref().is_some_and(|e| e.active != self.region),
        ));
        self.metrics
            .stale
            .set(i64::from(next.epoch.is_some() && next.error.is_some()));
        if changed {
            self.metrics.changes.inc();
        }
        self.snapshot.store(Arc::new(next));
        self.fenced.store(fenced, Ordering::Relaxed);
        // Last: Redis becomes usable again only once the standing above is current.
        self.last_check_ms
            .store(self.elapsed_ms(), Ordering::Relaxed);
        changed
    }

    /// Background loop: read every interval (or when poked); on every epoch change drop the Redis
    /// connections so the next command re-resolves the Redis name.
    pub async fn run(self: Arc<Self>, store: Arc<RedisStore>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.poke.notified() => {}
            }
            let was_overdue = self.overdue_ms();
            if self.refresh().await || was_overdue.is_some() {
                // A new epoch, or this process was not running: whatever connection it holds may
                // reach a primary the epoch no longer names.
                store.force_reconnect();
            }
        }
    }
}

fn nameservers(ns: SocketAddr) -> NameServerConfigGroup {
    NameServerConfigGroup::from_ips_clear(&[ns.ip()], ns.port(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_record_tyk_dr_writes() {
        assert_eq!(
            Epoch::parse("\"active=us-west-2 epoch=7\""),
            Some(Epoch {
                active: "us-west-2".into(),
                number: 7
            })
        );
        assert_eq!(
            Epoch::parse("active=a epoch=2 claim=xyz").map(|e| e.number),
            Some(2)
        );
        assert_eq!(Epoch::parse("active=x"), None);
        assert_eq!(Epoch::parse("active= epoch=1"), None);
        assert_eq!(Epoch::parse("epoch=one active=x"), None);
    }

    #[test]
    fn reasons_name_the_region_and_epoch() {
        let s = Standing::Standby {
            active: "us-east-1".into(),
            number: 4,
        };
        assert_eq!(s.reason().unwrap(), "standby: epoch 4 names us-east-1");
        assert_eq!(Standing::Serving.reason(), None);
    }
}
