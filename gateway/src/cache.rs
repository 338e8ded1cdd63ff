//! Local session cache: the hot path's answer to "who is this key?", and the fallback while Redis is down.
//!
//! Sharded `RwLock<HashMap>` keyed by key hash. An entry is *fresh* for `session_ttl_ms` (used without asking
//! Redis) and *usable while Redis is down* for `stale_max_age_secs` after it was last confirmed by Redis.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tyk_model::session::EffectiveLimits;
use tyk_model::Session;

use crate::versions::VersionAccess;

/// The part of a session the hot path needs, in a compact form (a full `Session` with its maps costs
/// kilobytes; this is a few dozen bytes plus one entry per API right).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// `is_inactive`.
    pub inactive: bool,
    /// `expires` (0 = never).
    pub expires: i64,
    /// Key-level limits.
    pub limits: EffectiveLimits,
    /// API ids this key may call, with per-API limits when set; empty = every API (Tyk semantics).
    pub rights: Box<[Right]>,
}

/// One access right in [`KeyInfo`].
#[derive(Debug, Clone, PartialEq)]
pub struct Right {
    /// The API id.
    pub api_id: Box<str>,
    /// Per-API limits, when the right sets them.
    pub limits: Option<EffectiveLimits>,
    /// Versions granted (checked on versioned APIs only; there an empty list grants none, as in Tyk).
    pub versions: Box<[Box<str>]>,
}

impl From<&Session> for KeyInfo {
    fn from(s: &Session) -> Self {
        let rights = s
            .access_rights
            .iter()
            .map(|(api, a)| Right {
                api_id: api.as_str().into(),
                limits: s.api_limits(api),
                versions: a.versions.iter().map(|v| v.as_str().into()).collect(),
            })
            .collect();
        Self {
            inactive: s.is_inactive,
            expires: s.expires,
            limits: s.key_limits(),
            rights,
        }
    }
}

impl KeyInfo {
    /// True when `expires` is set and in the past.
    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.expires > 0 && self.expires <= now_unix
    }

    /// Whether the key may call `api_id` (and, on a versioned API, `version`): Tyk's AccessRightsCheck.
    pub fn may_call(&self, api_id: &str, version: Option<VersionAccess<'_>>) -> bool {
        if self.rights.is_empty() {
            return true;
        }
        self.rights
            .iter()
            .find(|r| &*r.api_id == api_id)
            .is_some_and(|r| version.is_none_or(|v| v.granted_by(&r.versions)))
    }

    /// Limits for a call to `api_id`, and whether they are the API's own (counted separately per API).
    pub fn limits_for(&self, api_id: &str) -> (EffectiveLimits, bool) {
        match self
            .rights
            .iter()
            .find(|r| &*r.api_id == api_id)
            .and_then(|r| r.limits)
        {
            Some(l) => (l, true),
            None => (self.limits, false),
        }
    }
}

const SHARDS: usize = 32;

/// A cached session and when Redis last confirmed it.
#[derive(Clone)]
pub struct Cached {
    /// The key's hot-path view.
    pub session: Arc<KeyInfo>,
    /// When it was read from Redis.
    pub fetched: Instant,
}

/// What the cache knows about a key.
pub enum Lookup {
    /// Fresh: use it without asking Redis.
    Fresh(Arc<KeyInfo>),
    /// Too old to skip Redis, but usable if Redis cannot be reached.
    Stale(Arc<KeyInfo>),
    /// Nothing usable.
    Miss,
}

/// The session cache.
pub struct SessionCache {
    shards: Vec<RwLock<HashMap<String, Cached, foldhash::fast::RandomState>>>,
    hasher: foldhash::fast::RandomState,
    ttl: Duration,
    stale_max: Duration,
    per_shard_max: usize,
}

impl SessionCache {
    /// A cache with the given freshness, outage grace and capacity.
    pub fn new(ttl: Duration, stale_max: Duration, max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            hasher: Default::default(),
            ttl,
            stale_max,
            per_shard_max: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &str) -> &RwLock<HashMap<String, Cached, foldhash::fast::RandomState>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Look a key hash up, as of `now`.
    pub fn get(&self, hash: &str, now: Instant) -> Lookup {
        let shard = self.shard(hash).read().unwrap_or_else(|e| e.into_inner());
        match shard.get(hash) {
            Some(c) => {
                let age = now.saturating_duration_since(c.fetched);
                if age < self.ttl {
                    Lookup::Fresh(c.session.clone())
                } else if age < self.stale_max {
                    Lookup::Stale(c.session.clone())
                } else {
                    Lookup::Miss
                }
            }
            None => Lookup::Miss,
        }
    }

    /// Store a session just read from Redis.
    pub fn put(&self, hash: &str, session: Arc<KeyInfo>) {
        let mut shard = self.shard(hash).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard_max && !shard.contains_key(hash) {
            let stale_max = self.stale_max;
            shard.retain(|_, c| c.fetched.elapsed() < stale_max);
            if shard.len() >= self.per_shard_max {
                if let Some(k) = shard.keys().next().cloned() {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            hash.to_string(),
            Cached {
                session,
                fetched: Instant::now(),
            },
        );
    }

    /// Forget a key (deleted, updated, or named by a `KeySpaceUpdateNotification`).
    pub fn remove(&self, hash: &str) {
        self.shard(hash)
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
    }

    /// Number of cached sessions.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_info_matches_session_semantics() {
        let full = Session::from_json(include_bytes!(
            "../../crates/tyk-model/tests/fixtures/session_full.json"
        ))
        .unwrap();
        let k = KeyInfo::from(&full);
        assert!(k.may_call("1", None) && !k.may_call("2", None));
        assert_eq!(k.limits_for("1"), (full.limits_for("1"), true));
        let s = Session::from_json(
            br#"{"rate":5,"per":1,"access_rights":{"a":{"limit":{"rate":9,"per":2}},"b":{}}}"#,
        )
        .unwrap();
        let k = KeyInfo::from(&s);
        assert_eq!(k.limits_for("a").0.rate, 9.0);
        assert!(k.limits_for("a").1);
        assert_eq!(k.limits_for("b").0.rate, 5.0);
        assert!(!k.limits_for("b").1);
        assert!(KeyInfo::from(&Session::default()).may_call("anything", None));
    }

    #[test]
    fn versions_are_checked_only_when_asked() {
        let s = Session::from_json(
            br#"{"access_rights":{"a":{"versions":["v1"]},"b":{"versions":[]}}}"#,
        )
        .unwrap();
        let k = KeyInfo::from(&s);
        let v = |name, or_default| Some(VersionAccess { name, or_default });
        // (api, version asked, allowed)
        let cases = [
            ("a", None, true),
            ("a", v("v1", None), true),
            ("a", v("v2", None), false),
            ("a", v("v2", Some("v1")), true),
            ("b", None, true),
            ("b", v("v1", None), false),
            ("c", None, false),
        ];
        for (api, version, want) in cases {
            assert_eq!(k.may_call(api, version), want, "{api} {version:?}");
        }
        // An empty access_rights map grants every API and version.
        assert!(KeyInfo::from(&Session::default()).may_call("x", v("v9", None)));
    }

    #[test]
    fn fresh_stale_miss() {
        let c = SessionCache::new(Duration::from_secs(1), Duration::from_secs(60), 10);
        c.put("a", Arc::new(KeyInfo::from(&Session::default())));
        let t = Instant::now();
        let cases = [
            ("a", Duration::ZERO, "fresh"),
            ("a", Duration::from_secs(2), "stale"),
            ("a", Duration::from_secs(61), "miss"),
            ("b", Duration::ZERO, "miss"),
        ];
        for (key, later, want) in cases {
            let got = match c.get(key, t + later) {
                Lookup::Fresh(_) => "fresh",
                Lookup::Stale(_) => "stale",
                Lookup::Miss => "miss",
            };
            assert_eq!(got, want, "{key} after {later:?}");
        }
        c.remove("a");
        assert!(matches!(c.get("a", t), Lookup::Miss));
    }

    #[test]
    fn bounded() {
        let c = SessionCache::new(Duration::from_secs(60), Duration::from_secs(60), 64);
        for i in 0..1000 {
            c.put(&i.to_string(), Arc::new(KeyInfo::from(&Session::default())));
        }
        assert!(c.len() <= 64, "{}", c.len());
    }
}
