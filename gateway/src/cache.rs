//! Local session cache: the hot path's answer to "who is this key?", and the fallback while Redis is down.
//!
//! Sharded `RwLock<HashMap>` keyed by the hash of the presented token (one hash per request). An entry is
//! *fresh* for `session_ttl_ms` (used without asking Redis) and *usable while Redis is down* for
//! `stale_max_age_secs` after it was last confirmed by Redis. A key found under another storage name (a
//! custom key Tyk stores under the hash of `org + id`) is cached under the presented token's hash and
//! remembered as an alias of its storage name, so dropping the storage name (a key update or a
//! `KeySpaceUpdateNotification`) drops it too.

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
    /// Storage name of the session (`apikey-<name>`): the hash of the token it was found under.
    pub name: Box<str>,
    /// The API organisation the name was resolved for; `None` when it does not depend on it (the
    /// presented token was looked up as itself only).
    pub org: Option<Box<str>>,
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
    /// Counter id of the per-API limits when they have a scope: `<scope>-<name>`, so the quota counter is
    /// Tyk's `quota-<scope>-<hash>`; `None` = the key's own counters (`quota-<name>`).
    pub counter: Option<Box<str>>,
}

/// The allowance scope of an access right, as Tyk decides it (`policy.Service.Apply`): without policies
/// an API with its own limits is counted apart under its id; with policies, what they set.
pub fn allowance_scope<'a>(
    had_policies: bool,
    api_id: &'a str,
    a: &'a tyk_model::AccessDefinition,
) -> Option<&'a str> {
    if had_policies {
        Some(a.allowance_scope.as_str()).filter(|s| !s.is_empty())
    } else {
        a.limit
            .as_ref()
            .is_some_and(|l| !l.is_empty())
            .then_some(api_id)
    }
}

impl KeyInfo {
    /// The hot-path view of `s` (policies applied; `had_policies` = the stored session named any),
    /// stored as `apikey-<name>`.
    pub fn new(s: &Session, had_policies: bool, name: &str, org: Option<&str>) -> Self {
        let rights = s
            .access_rights
            .iter()
            .map(|(api, a)| {
                let limits = s.api_limits(api);
                Right {
                    api_id: api.as_str().into(),
                    limits,
                    versions: a.versions.iter().map(|v| v.as_str().into()).collect(),
                    counter: limits
                        .and(allowance_scope(had_policies, api, a))
                        .map(|scope| format!("{scope}-{name}").into()),
                }
            })
            .collect();
        Self {
            inactive: s.is_inactive,
            expires: s.expires,
            limits: s.key_limits(),
            rights,
            name: name.into(),
            org: org.map(Into::into),
        }
    }

    /// The counter ids of this key's quotas (its own and every scoped one), for seeding from Redis.
    pub fn counters(&self) -> Vec<&str> {
        let mut out = vec![&*self.name];
        for r in self.rights.iter() {
            if let Some(c) = r.counter.as_deref() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

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

    /// Limits for a call to `api_id`, and the id of the counters they use (`quota-<id>` in Redis).
    pub fn limits_for(&self, api_id: &str) -> (EffectiveLimits, &str) {
        match self.rights.iter().find(|r| &*r.api_id == api_id) {
            Some(Right {
                limits: Some(l),
                counter,
                ..
            }) => (*l, counter.as_deref().unwrap_or(&self.name)),
            _ => (self.limits, &self.name),
        }
    }

    /// Whether this entry may answer for a request to an API of organisation `org`.
    pub fn serves_org(&self, org: &str) -> bool {
        self.org.as_deref().is_none_or(|o| o == org)
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
    /// Storage name → presented-token hashes cached for it, when they differ (custom keys).
    aliases: std::sync::Mutex<HashMap<String, Vec<String>>>,
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
            aliases: Default::default(),
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

    /// Store a session just read from Redis under `hash` (the presented token's hash).
    pub fn put(&self, hash: &str, session: Arc<KeyInfo>) {
        if *session.name != *hash {
            let mut aliases = self.aliases.lock().unwrap_or_else(|e| e.into_inner());
            if aliases.len() >= self.per_shard_max * SHARDS {
                aliases.clear();
            }
            let list = aliases.entry(session.name.to_string()).or_default();
            if !list.iter().any(|h| h == hash) {
                list.push(hash.to_string());
            }
        }
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

    /// Forget a key by its storage name or presented-token hash (deleted, updated, or named by a
    /// `KeySpaceUpdateNotification`), with every alias cached for that storage name.
    pub fn remove(&self, hash: &str) {
        let aliases = self
            .aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash)
            .unwrap_or_default();
        for h in aliases.iter().map(String::as_str).chain([hash]) {
            self.shard(h)
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(h);
        }
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
        let k = KeyInfo::new(&full, false, "h", None);
        assert!(k.may_call("1", None) && !k.may_call("2", None));
        assert_eq!(k.limits_for("1").0, full.limits_for("1"));
        let s = Session::from_json(
            br#"{"rate":5,"per":1,"access_rights":{"a":{"limit":{"rate":9,"per":2}},"b":{}}}"#,
        )
        .unwrap();
        let k = KeyInfo::new(&s, false, "h", None);
        assert_eq!(k.limits_for("a").0.rate, 9.0);
        // Without policies an API with its own limits counts under `<api_id>-<hash>` (Tyk's scope).
        assert_eq!(k.limits_for("a").1, "a-h");
        assert_eq!(k.limits_for("b").0.rate, 5.0);
        assert_eq!(k.limits_for("b").1, "h");
        assert_eq!(k.counters(), vec!["h", "a-h"]);
        assert!(KeyInfo::new(&Session::default(), false, "h", None).may_call("anything", None));
    }

    #[test]
    fn versions_are_checked_only_when_asked() {
        let s = Session::from_json(
            br#"{"access_rights":{"a":{"versions":["v1"]},"b":{"versions":[]}}}"#,
        )
        .unwrap();
        let k = KeyInfo::new(&s, false, "h", None);
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
        assert!(KeyInfo::new(&Session::default(), false, "h", None).may_call("x", v("v9", None)));
    }

    #[test]
    fn fresh_stale_miss() {
        let c = SessionCache::new(Duration::from_secs(1), Duration::from_secs(60), 10);
        c.put(
            "a",
            Arc::new(KeyInfo::new(&Session::default(), false, "h", None)),
        );
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
        // A custom key cached under the presented token's hash goes with its storage name.
        c.put(
            "raw",
            Arc::new(KeyInfo::new(
                &Session::default(),
                false,
                "stored",
                Some("o"),
            )),
        );
        assert!(matches!(c.get("raw", t), Lookup::Fresh(_)));
        c.remove("stored");
        assert!(matches!(c.get("raw", t), Lookup::Miss));
    }

    #[test]
    fn bounded() {
        let c = SessionCache::new(Duration::from_secs(60), Duration::from_secs(60), 64);
        for i in 0..1000 {
            c.put(
                &i.to_string(),
                Arc::new(KeyInfo::new(&Session::default(), false, "h", None)),
            );
        }
        assert!(c.len() <= 64, "{}", c.len());
    }
}
