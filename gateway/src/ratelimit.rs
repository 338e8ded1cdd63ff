//! Rate limits and quotas: decided locally on the hot path, reconciled with Redis in the background.
//!
//! Design (see README "Limiter design"): every gateway keeps, per key (and per API for
//! `global_rate_limit`), a sliding-window estimate (`prev_window × overlap + current window`) and a quota
//! counter. A request is decided from local memory only (no Redis round trip). Every `sync_interval_ms`
//! one pipelined round trip pushes the local increments to Redis (`INCRBY rate-limit-<hash>:<window>`,
//! `INCRBY quota-<hash>` + `PEXPIRE .. NX` = expiry set on first hit) and reads back the totals, so other
//! gateways' traffic is counted within one interval. While Redis is down the local counts keep being
//! enforced and the increments are flushed when it returns.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::Now;
use crate::store::redis::{CounterOp, RedisStore};

const SHARDS: usize = 32;

#[derive(Debug, Default)]
struct RateWin {
    per_ms: u64,
    window: u64,
    local: u64,
    others: u64,
    prev_total: u64,
    pending: u64,
    flushed: u64,
}

#[derive(Debug, Default)]
struct Quota {
    max: i64,
    renewal_ms: i64,
    used_global: i64,
    pending: i64,
}

#[derive(Debug)]
struct Entry {
    rate: Option<RateWin>,
    quota: Option<Quota>,
    last_used: Instant,
}

/// Outcome of a rate check, with values for `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// The request may proceed.
    pub allowed: bool,
    /// The limit (requests per window, or quota size).
    pub limit: i64,
    /// What is left after this request.
    pub remaining: i64,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

/// Local limiter state plus its Redis synchroniser.
pub struct Limiter {
    shards: Vec<Mutex<HashMap<String, Entry, foldhash::fast::RandomState>>>,
    hasher: foldhash::fast::RandomState,
    rate_prefix: &'static str,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new("rate-limit-")
    }
}

impl Limiter {
    /// An empty limiter. Entries are keyed by key hash (or API id); in Redis the rate window lives at
    /// `{rate_prefix}{id}:{window}` and the quota at `quota-{id}`.
    pub fn new(rate_prefix: &'static str) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            hasher: Default::default(),
            rate_prefix,
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Entry, foldhash::fast::RandomState>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    fn with_entry<R>(&self, key: &str, now: Instant, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = shard.get_mut(key) {
            e.last_used = now;
            return f(e);
        }
        let e = shard.entry(key.to_string()).or_insert_with(|| Entry {
            rate: None,
            quota: None,
            last_used: now,
        });
        f(e)
    }

    /// Apply a sync result to an existing entry without marking it as used (so idle entries still expire).
    fn apply(&self, key: &str, f: impl FnOnce(&mut Entry)) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = shard.get_mut(key) {
            f(e);
        }
    }

    /// Count one request at `now` against `rate` per `per` seconds for `key`.
    pub fn check_rate(&self, key: &str, rate: f64, per: f64, now: Now) -> Decision {
        let per_ms = ((per * 1000.0) as u64).max(1);
        let window = now.unix_ms / per_ms;
        let into = now.unix_ms % per_ms;
        self.with_entry(key, now.mono, |e| {
            let w = e.rate.get_or_insert_with(|| RateWin {
                per_ms,
                window,
                ..Default::default()
            });
            if w.per_ms != per_ms {
                *w = RateWin {
                    per_ms,
                    window,
                    ..Default::default()
                };
            }
            if w.window != window {
                w.prev_total = if window == w.window + 1 {
                    w.local + w.others
                } else {
                    0
                };
                w.window = window;
                w.local = 0;
                w.others = 0;
                w.pending = 0;
                w.flushed = 0;
            }
            let overlap = (per_ms - into) as f64 / per_ms as f64;
            let estimate = w.prev_total as f64 * overlap + (w.local + w.others) as f64;
            let allowed = estimate + 1.0 <= rate;
            if allowed {
                w.local += 1;
                w.pending += 1;
            }
            let used = estimate + if allowed { 1.0 } else { 0.0 };
            Decision {
                allowed,
                limit: rate as i64,
                remaining: (rate - used).floor().max(0.0) as i64,
                reset_secs: (per_ms - into).div_ceil(1000),
            }
        })
    }

    /// Seed a quota counter with the value read from Redis (only ever raises the local view).
    pub fn seed_quota(&self, key: &str, used: i64) {
        self.with_entry(key, Instant::now(), |e| {
            let q = e.quota.get_or_insert_with(Quota::default);
            q.used_global = q.used_global.max(used);
        })
    }

    /// Count one request at `now` against a quota of `max` per `renewal_secs` for `key`.
    pub fn check_quota(&self, key: &str, max: i64, renewal_secs: i64, now: Now) -> Decision {
        self.with_entry(key, now.mono, |e| {
            let q = e.quota.get_or_insert_with(Quota::default);
            q.renewal_ms = renewal_secs.max(0) * 1000;
            q.max = max;
            let used = q.used_global + q.pending;
            let allowed = used < max;
            if allowed {
                q.pending += 1;
            }
            let used = used + i64::from(allowed);
            Decision {
                allowed,
                limit: max,
                remaining: (max - used).max(0),
                reset_secs: renewal_secs.max(0) as u64,
            }
        })
    }

    /// Number of tracked keys (for metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One synchronisation round with Redis.
    pub async fn sync_once(&self, store: &RedisStore) {
        enum Slot {
            Rate { key: String, window: u64, sent: u64 },
            QuotaIncr { key: String, sent: i64 },
            QuotaGet { key: String },
        }
        let mut ops = Vec::new();
        let mut slots = Vec::new();
        let recent = Duration::from_secs(2);
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|k, e| {
                let idle = e.last_used.elapsed();
                if let Some(w) = e.rate.as_mut() {
                    if w.pending > 0 {
                        ops.push(CounterOp::IncrWithExpire {
                            key: format!("{}{k}:{}", self.rate_prefix, w.window),
                            by: w.pending as i64,
                            ttl_ms: (w.per_ms * 2) as i64,
                        });
                        slots.push(Slot::Rate {
                            key: k.clone(),
                            window: w.window,
                            sent: w.pending,
                        });
                        w.pending = 0;
                    }
                }
                if let Some(q) = e.quota.as_mut() {
                    if q.pending > 0 {
                        ops.push(CounterOp::IncrWithExpire {
                            key: format!("quota-{k}"),
                            by: q.pending,
                            ttl_ms: q.renewal_ms,
                        });
                        slots.push(Slot::QuotaIncr {
                            key: k.clone(),
                            sent: q.pending,
                        });
                        q.pending = 0;
                    } else if idle < recent && q.used_global >= q.max {
                        // Exhausted keys send no increments; poll so a renewal (key expiry) is noticed.
                        ops.push(CounterOp::Get {
                            key: format!("quota-{k}"),
                        });
                        slots.push(Slot::QuotaGet { key: k.clone() });
                    }
                }
                let dirty = e.rate.as_ref().is_some_and(|w| w.pending > 0)
                    || e.quota.as_ref().is_some_and(|q| q.pending > 0);
                dirty || idle < Duration::from_secs(120)
            });
        }
        if ops.is_empty() {
            return;
        }
        let result = store.sync_counters(&ops).await;
        for (i, slot) in slots.into_iter().enumerate() {
            match (slot, &result) {
                (Slot::Rate { key, window, sent }, Ok(values)) => self.apply(&key, |e| {
                    let total = values.get(i).copied().unwrap_or(-1);
                    if let Some(w) = e.rate.as_mut().filter(|w| w.window == window) {
                        w.flushed += sent;
                        if total >= 0 {
                            w.others = (total as u64).saturating_sub(w.flushed);
                        }
                    }
                }),
                (Slot::Rate { key, window, sent }, Err(_)) => self.apply(&key, |e| {
                    if let Some(w) = e.rate.as_mut().filter(|w| w.window == window) {
                        w.pending += sent;
                    }
                }),
                (Slot::QuotaIncr { key, sent }, Ok(values)) => self.apply(&key, |e| {
                    let total = values.get(i).copied().unwrap_or(-1);
                    if let Some(q) = e.quota.as_mut() {
                        // A counter Redis rejected (-1) keeps counting locally.
                        q.used_global = if total >= 0 {
                            total
                        } else {
                            q.used_global + sent
                        };
                    }
                }),
                (Slot::QuotaGet { key }, Ok(values)) => self.apply(&key, |e| {
                    if let (Some(q), Some(&total)) = (e.quota.as_mut(), values.get(i)) {
                        if total >= 0 {
                            q.used_global = total;
                        }
                    }
                }),
                (Slot::QuotaIncr { key, sent }, Err(_)) => self.apply(&key, |e| {
                    if let Some(q) = e.quota.as_mut() {
                        q.pending += sent;
                    }
                }),
                (Slot::QuotaGet { .. }, Err(_)) => {}
            }
        }
        if let Err(e) = result {
            tracing::debug!(error = %e, "limiter sync failed; keeping local counts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` on the wall clock.
    fn at(ms: u64) -> Now {
        Now {
            mono: Instant::now(),
            unix_ms: ms,
        }
    }

    #[test]
    fn rate_allows_exactly_rate_per_window() {
        let l = Limiter::default();
        let t = 1_000_000_000; // start of a 1 s window
        let allowed = (0..10)
            .filter(|_| l.check_rate("k", 3.0, 1.0, at(t)).allowed)
            .count();
        assert_eq!(allowed, 3);
        let d = l.check_rate("k", 3.0, 1.0, at(t));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        // Two windows later everything is forgotten.
        assert!(l.check_rate("k", 3.0, 1.0, at(t + 2_000)).allowed);
    }

    #[test]
    fn sliding_window_counts_the_previous_window() {
        let l = Limiter::default();
        let t = 1_000_000_000;
        for _ in 0..4 {
            assert!(l.check_rate("k", 4.0, 1.0, at(t)).allowed);
        }
        // 25% into the next window, 75% of the previous 4 still count: 3 + 1 = 4 → the first is allowed.
        assert!(l.check_rate("k", 4.0, 1.0, at(t + 1_250)).allowed);
        assert!(!l.check_rate("k", 4.0, 1.0, at(t + 1_250)).allowed);
    }

    #[test]
    fn quota_counts_seeded_usage() {
        let l = Limiter::default();
        l.seed_quota("q", 8);
        assert!(l.check_quota("q", 10, 60, Now::read()).allowed);
        let d = l.check_quota("q", 10, 60, Now::read());
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!l.check_quota("q", 10, 60, Now::read()).allowed);
    }
}
