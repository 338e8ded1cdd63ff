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
use std::sync::{Arc, Mutex};
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
    /// Of `pending`, the requests refused (Tyk counts them too).
    refused: i64,
    /// Unix ms the counter expires in Redis (Tyk's `quota_renews`); 0 = not known yet.
    renews_at_ms: u64,
    /// The session this counter belongs to, for writing `quota_remaining` back (Tyk does).
    owner: Option<Arc<QuotaOwner>>,
    /// Unix ms of the last write-back (at most one a second per counter).
    written_ms: u64,
    /// The count changed since the last write-back.
    write_due: bool,
}

/// Which session (storage name) and allowance scope a quota counter belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaOwner {
    /// Storage name: the session lives at `apikey-<name>`.
    pub name: Box<str>,
    /// Allowance scope ("" = the key's own quota).
    pub scope: Box<str>,
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
    /// The `X-RateLimit-Reset` value: seconds until the window resets for a rate limit; for a quota the
    /// Unix time it renews (Tyk's `quota_renews`, which Tyk sends there), 0 when it never renews.
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

    /// Seed a quota counter with what Redis holds: its value (only ever raises the local view; a missing
    /// counter, `pttl_ms` -2, starts a new period) and its time to live.
    pub fn seed_quota(
        &self,
        key: &str,
        owner: Option<QuotaOwner>,
        used: Option<i64>,
        pttl_ms: i64,
        now: Now,
    ) {
        self.with_entry(key, now.mono, |e| {
            let q = e.quota.get_or_insert_with(Quota::default);
            if q.owner.as_deref() != owner.as_ref() {
                q.owner = owner.map(Arc::new);
            }
            match used {
                Some(used) => q.used_global = q.used_global.max(used),
                None if pttl_ms == -2 => {
                    q.used_global = 0;
                    q.renews_at_ms = 0;
                }
                None => {}
            }
            if pttl_ms > 0 {
                q.renews_at_ms = now.unix_ms + pttl_ms as u64;
            }
        })
    }

    /// Forget a quota counter's state (the management API reset it in Redis).
    pub fn forget_quota(&self, key: &str) {
        self.apply(key, |e| e.quota = None);
    }

    /// Count one request at `now` against a quota of `max` per `renewal_secs` for `key`, as Tyk's
    /// `RedisQuotaExceeded` does: every request is counted, the refused ones too, and the request that
    /// brings the counter to `n` is allowed while `n <= max`.
    pub fn check_quota(&self, key: &str, max: i64, renewal_secs: i64, now: Now) -> Decision {
        self.with_entry(key, now.mono, |e| {
            let q = e.quota.get_or_insert_with(Quota::default);
            q.renewal_ms = renewal_secs.max(0) * 1000;
            q.max = max;
            if q.renews_at_ms != 0 && now.unix_ms >= q.renews_at_ms {
                // The counter has expired in Redis: a new period (the next sync confirms it).
                q.used_global = 0;
                q.renews_at_ms = 0;
            }
            if q.renews_at_ms == 0 && q.renewal_ms > 0 {
                q.renews_at_ms = now.unix_ms + q.renewal_ms as u64;
            }
            q.pending += 1;
            let count = q.used_global + q.pending;
            q.refused += i64::from(count > max);
            Decision {
                allowed: count <= max,
                limit: max,
                remaining: (max - count).max(0),
                reset_secs: q.renews_at_ms.div_ceil(1000),
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
            Rate {
                key: String,
                window: u64,
                sent: u64,
            },
            QuotaIncr {
                key: String,
                sent: i64,
                refused: i64,
                before: i64,
            },
            QuotaGet {
                key: String,
            },
        }
        let mut ops = Vec::new();
        let mut slots = Vec::new();
        let recent = Duration::from_secs(2);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut write_back: Vec<(Arc<QuotaOwner>, i64, u64)> = Vec::new();
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
                            want_ttl: false,
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
                    if let Some(o) = q
                        .owner
                        .as_ref()
                        .filter(|_| q.write_due && now_ms >= q.written_ms + 1000)
                    {
                        let remaining = (q.max - q.used_global - q.pending).max(0);
                        write_back.push((o.clone(), remaining, q.renews_at_ms.div_ceil(1000)));
                        q.written_ms = now_ms;
                        q.write_due = false;
                    }
                    if q.pending != 0 {
                        ops.push(CounterOp::IncrWithExpire {
                            key: format!("quota-{k}"),
                            by: q.pending,
                            ttl_ms: q.renewal_ms,
                            want_ttl: true,
                        });
                        slots.push(Slot::QuotaIncr {
                            key: k.clone(),
                            sent: q.pending,
                            refused: q.refused,
                            before: q.used_global,
                        });
                        q.pending = 0;
                        q.refused = 0;
                    } else if idle < recent && q.max > 0 && q.used_global >= q.max {
                        // Exhausted keys called again send increments; poll idle ones so a renewal is noticed.
                        ops.push(CounterOp::Get {
                            key: format!("quota-{k}"),
                        });
                        slots.push(Slot::QuotaGet { key: k.clone() });
                    }
                }
                let dirty = e.rate.as_ref().is_some_and(|w| w.pending > 0)
                    || e.quota
                        .as_ref()
                        .is_some_and(|q| q.pending != 0 || q.write_due);
                dirty || idle < Duration::from_secs(120)
            });
        }
        if ops.is_empty() {
            if !write_back.is_empty() {
                if let Err(e) = write_quota_back(store, &write_back).await {
                    tracing::debug!(error = %e, "could not write quota_remaining back");
                }
            }
            return;
        }
        let result = store.sync_counters(&ops).await;
        let renews = |q: &mut Quota, pttl: i64| {
            if pttl > 0 {
                q.renews_at_ms = now_ms + pttl as u64;
            }
        };
        for (i, slot) in slots.into_iter().enumerate() {
            match (slot, &result) {
                (Slot::Rate { key, window, sent }, Ok(values)) => self.apply(&key, |e| {
                    let total = values.get(i).map_or(-1, |v| v.0);
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
                (
                    Slot::QuotaIncr {
                        key,
                        sent,
                        refused,
                        before,
                    },
                    Ok(values),
                ) => self.apply(&key, |e| {
                    let (total, pttl) = values.get(i).copied().unwrap_or((-1, -3));
                    if let Some(q) = e.quota.as_mut() {
                        renews(q, pttl);
                        if total >= 0 && total < before + sent && refused > 0 {
                            // The counter was reset or expired meanwhile (a renewal, or a key update
                            // elsewhere): the requests refused on the old count belong to no period.
                            // Take them back (the next round sends the negative increment).
                            q.used_global = total - refused;
                            q.pending -= refused;
                        } else {
                            // A counter Redis rejected (-1) keeps counting locally.
                            q.used_global = if total >= 0 {
                                total
                            } else {
                                q.used_global + sent
                            };
                        }
                        // Written back at the next round's scan (at most once a second).
                        q.write_due = true;
                    }
                }),
                (Slot::QuotaGet { key }, Ok(values)) => self.apply(&key, |e| {
                    if let (Some(q), Some(&(total, pttl))) = (e.quota.as_mut(), values.get(i)) {
                        renews(q, pttl);
                        if total >= 0 {
                            q.used_global = total;
                        }
                    }
                }),
                (
                    Slot::QuotaIncr {
                        key, sent, refused, ..
                    },
                    Err(_),
                ) => self.apply(&key, |e| {
                    if let Some(q) = e.quota.as_mut() {
                        q.pending += sent;
                        q.refused += refused;
                    }
                }),
                (Slot::QuotaGet { .. }, Err(_)) => {}
            }
        }
        if let Err(e) = result {
            tracing::debug!(error = %e, "limiter sync failed; keeping local counts");
        }
        if !write_back.is_empty() {
            if let Err(e) = write_quota_back(store, &write_back).await {
                tracing::debug!(error = %e, "could not write quota_remaining back");
            }
        }
    }
}

/// Tyk's `updateSessionQuota` plus the session save after the request: write `quota_remaining` and
/// `quota_renews` into the stored sessions (the key's own quota at the top level, a scoped one into the
/// access rights it belongs to). Read-modify-write guarded by a compare-and-set, so a concurrent key
/// update always wins; one pipelined read for all keys of the round.
async fn write_quota_back(
    store: &RedisStore,
    updates: &[(Arc<QuotaOwner>, i64, u64)],
) -> Result<(), crate::store::StoreError> {
    let mut by_name: std::collections::BTreeMap<&str, Vec<(&str, i64, u64)>> = Default::default();
    for (o, remaining, renews) in updates {
        by_name
            .entry(&o.name)
            .or_default()
            .push((&o.scope, *remaining, *renews));
    }
    let keys: Vec<String> = by_name.keys().map(|n| format!("apikey-{n}")).collect();
    let (values, _) = store.read_keys(&keys, &[]).await?;
    let mut writes = Vec::new();
    for ((key, list), raw) in keys.iter().zip(by_name.values()).zip(values) {
        let Some(raw) = raw else { continue };
        let Some(new) = with_quota(&raw, list) else {
            continue;
        };
        if new != raw {
            writes.push((key.clone(), raw, new));
        }
    }
    store.replace_many_if_unchanged(&writes).await
}

/// The session JSON `raw` with `(scope, quota_remaining, quota_renews)` written in; `None` if it is not
/// a JSON object.
fn with_quota(raw: &[u8], updates: &[(&str, i64, u64)]) -> Option<Vec<u8>> {
    use serde_json::{json, Value};
    let mut v: Value = serde_json::from_slice(raw).ok()?;
    let has_policies = v["apply_policies"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
        || v["apply_policy_id"].as_str().is_some_and(|s| !s.is_empty());
    let obj = v.as_object_mut()?;
    for &(scope, remaining, renews) in updates {
        if scope.is_empty() {
            obj.insert("quota_remaining".into(), json!(remaining));
            obj.insert("quota_renews".into(), json!(renews));
            continue;
        }
        let Some(rights) = obj.get_mut("access_rights").and_then(Value::as_object_mut) else {
            continue;
        };
        for (api, right) in rights.iter_mut() {
            let scoped =
                right["allowance_scope"].as_str() == Some(scope) || (!has_policies && api == scope);
            if let Some(limit) = right
                .get_mut("limit")
                .and_then(Value::as_object_mut)
                .filter(|_| scoped)
            {
                limit.insert("quota_remaining".into(), json!(remaining));
                limit.insert("quota_renews".into(), json!(renews));
            }
        }
    }
    serde_json::to_vec(&v).ok()
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
    fn quota_written_back_where_tyk_writes_it() {
        let raw =
            br#"{"quota_max":5,"access_rights":{"a":{"limit":{"quota_max":2}},"b":{}},"x":[1]}"#;
        let out = with_quota(raw, &[("", 3, 100), ("a", 1, 200)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["quota_remaining"].as_i64(), v["quota_renews"].as_i64()),
            (Some(3), Some(100))
        );
        assert_eq!(v["access_rights"]["a"]["limit"]["quota_remaining"], 1);
        assert_eq!(v["access_rights"]["a"]["limit"]["quota_renews"], 200);
        assert!(v["access_rights"]["b"].get("limit").is_none());
        assert_eq!(v["x"], serde_json::json!([1]));
        assert_eq!(with_quota(b"[1]", &[("", 1, 1)]), None);
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
    fn quota_counts_seeded_usage_and_refused_requests() {
        let l = Limiter::default();
        let now = at(1_000_000_000);
        l.seed_quota("q", None, Some(8), 30_000, now);
        assert!(l.check_quota("q", 10, 60, now).allowed);
        let d = l.check_quota("q", 10, 60, now);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        // Reset is the Unix time the counter expires (Tyk's quota_renews).
        assert_eq!(d.reset_secs, 1_000_030);
        assert!(!l.check_quota("q", 10, 60, now).allowed);
        // Tyk counts refused requests too.
        let pending = l.with_entry("q", now.mono, |e| e.quota.as_ref().unwrap().pending);
        assert_eq!(pending, 3);
        // Past the renewal time a new period starts locally.
        assert!(l.check_quota("q", 10, 60, at(1_000_031_000)).allowed);
    }
}
