//! Session objects, as Tyk stores them under `apikey-<hash>`.
//!
//! Every field is optional on input (newer Tyk omits zero values) and `null` loads as the default.
//! Fields this crate does not model are kept in [`Session::extra`] so a read-modify-write round trip
//! through the gateway or `tyk-dr sync` does not lose them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::util::null_default;

/// Per-API limits inside an access right (Tyk's `APILimit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionLimit {
    /// Requests allowed per `per` seconds.
    #[serde(deserialize_with = "null_default")]
    pub rate: f64,
    /// Rate window in seconds.
    #[serde(deserialize_with = "null_default")]
    pub per: f64,
    /// Quota size; -1 (or 0 when absent) means unlimited.
    #[serde(deserialize_with = "null_default")]
    pub quota_max: i64,
    /// Remaining quota as last written by a gateway.
    #[serde(deserialize_with = "null_default")]
    pub quota_remaining: i64,
    /// Quota period in seconds.
    #[serde(deserialize_with = "null_default")]
    pub quota_renewal_rate: i64,
    /// Unmodelled fields (throttling, smoothing, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One entry of `access_rights`: the key may call this API (and these versions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDefinition {
    /// API id this right grants.
    #[serde(deserialize_with = "null_default")]
    pub api_id: String,
    /// API name (informational).
    #[serde(deserialize_with = "null_default")]
    pub api_name: String,
    /// Allowed version names.
    #[serde(deserialize_with = "null_default")]
    pub versions: Vec<String>,
    /// Per-API limits overriding the session-level ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<SessionLimit>,
    /// Tyk's `allowance_scope`: the counters of this API's limits are named `quota-<scope>-<hash>` (set
    /// when policies are applied; empty = the key's own counter `quota-<hash>`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub allowance_scope: String,
    /// Unmodelled fields (`allowed_urls`, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A Tyk session (key) object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// Current allowance (legacy leaky-bucket field, kept for compatibility).
    #[serde(deserialize_with = "null_default")]
    pub allowance: f64,
    /// Requests allowed per `per` seconds; 0 disables the key rate limit.
    #[serde(deserialize_with = "null_default")]
    pub rate: f64,
    /// Rate window in seconds.
    #[serde(deserialize_with = "null_default")]
    pub per: f64,
    /// Unix time the key expires at; 0 (or negative) means never.
    #[serde(deserialize_with = "null_default")]
    pub expires: i64,
    /// Quota size per renewal period; -1 or 0 means unlimited.
    #[serde(deserialize_with = "null_default")]
    pub quota_max: i64,
    /// Remaining quota as last written by a gateway.
    #[serde(deserialize_with = "null_default")]
    pub quota_remaining: i64,
    /// Unix time the quota renews.
    #[serde(deserialize_with = "null_default")]
    pub quota_renews: i64,
    /// Quota period in seconds.
    #[serde(deserialize_with = "null_default")]
    pub quota_renewal_rate: i64,
    /// API id → access right. Empty means no API may be called with this key.
    #[serde(deserialize_with = "null_default")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// Organisation id.
    #[serde(deserialize_with = "null_default")]
    pub org_id: String,
    /// A disabled key.
    #[serde(deserialize_with = "null_default")]
    pub is_inactive: bool,
    /// Free-form metadata.
    #[serde(deserialize_with = "null_default")]
    pub meta_data: serde_json::Map<String, serde_json::Value>,
    /// Free-form tags.
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// Human-friendly alias.
    #[serde(deserialize_with = "null_default")]
    pub alias: String,
    /// Policies applied to this key.
    #[serde(deserialize_with = "null_default")]
    pub apply_policies: Vec<String>,
    /// Tyk's `post_expiry_action`: `delete` removes the key from Redis when it expires, `retain` (with a
    /// grace period) keeps it that much longer; empty = kept (Tyk's default).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub post_expiry_action: String,
    /// Tyk's `post_expiry_grace_period` in seconds (-1 = never delete).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub post_expiry_grace_period: i64,
    /// Tyk's `session_lifetime` in seconds: the key's Redis TTL (0 = none).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub session_lifetime: i64,
    /// Unmodelled fields (`date_created`, `last_updated`, throttling, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The limits that apply to one API call: per-API limits when the access right has them, else the key's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveLimits {
    /// Requests per `per` seconds (0 = unlimited).
    pub rate: f64,
    /// Rate window in seconds.
    pub per: f64,
    /// Quota size (<= 0 = unlimited).
    pub quota_max: i64,
    /// Quota period in seconds.
    pub quota_renewal_rate: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl SessionLimit {
    /// Tyk's `APILimit.IsEmpty` for the fields modelled here: no rate, quota or renewal data at all.
    pub fn is_empty(&self) -> bool {
        self.rate == 0.0
            && self.per == 0.0
            && self.quota_max == 0
            && self.quota_remaining == 0
            && self.quota_renewal_rate == 0
            && self
                .extra
                .values()
                .all(|v| v.is_null() || v == &serde_json::json!(0) || v == &serde_json::json!(""))
    }
}

impl Session {
    /// The Redis TTL Tyk gives this key when it stores it (`SessionState.Lifetime` in `user/session.go`,
    /// without API-level `session_lifetime` or `force_global_session_lifetime`): `None` = no TTL. By
    /// default an expiring key is kept after `expires` (requests get 401 "Key has expired, please renew"
    /// and the key can be renewed); only `post_expiry_action` or `session_lifetime` give it a TTL.
    pub fn lifetime(&self, now_unix: i64) -> Option<u64> {
        let delete = self.post_expiry_action == "delete";
        let retain = self.post_expiry_action == "retain" && self.post_expiry_grace_period != 0;
        let ttl = if delete || retain {
            if self.expires <= 0 || (!delete && self.post_expiry_grace_period == -1) {
                0
            } else {
                let grace = if delete {
                    0
                } else {
                    self.post_expiry_grace_period
                };
                (self.expires - now_unix + grace).max(1)
            }
        } else {
            self.session_lifetime
        };
        (ttl > 0).then_some(ttl as u64)
    }

    /// Whether the key names policies (`apply_policies`, or the older `apply_policy_id`).
    pub fn has_policies(&self) -> bool {
        !self.apply_policies.is_empty()
            || self
                .extra
                .get("apply_policy_id")
                .and_then(|v| v.as_str())
                .is_some_and(|id| !id.is_empty())
    }

    /// Parse a session from JSON bytes.
    pub fn from_json(raw: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    /// True when the key has an expiry in the past (`expires` > 0 and <= `now`).
    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.expires > 0 && self.expires <= now_unix
    }

    /// The access right for `api_id`, if the key may call it.
    pub fn access_for(&self, api_id: &str) -> Option<&AccessDefinition> {
        self.access_rights.get(api_id)
    }

    /// Limits for a call to `api_id`, honouring per-API limits when set.
    pub fn limits_for(&self, api_id: &str) -> EffectiveLimits {
        self.api_limits(api_id).unwrap_or_else(|| self.key_limits())
    }

    /// The per-API limits of the access right for `api_id`, when it sets a rate or quota.
    pub fn api_limits(&self, api_id: &str) -> Option<EffectiveLimits> {
        self.access_for(api_id)
            .and_then(|a| a.limit.as_ref())
            .filter(|l| l.rate > 0.0 || l.quota_max != 0)
            .map(|l| EffectiveLimits {
                rate: l.rate,
                per: l.per,
                quota_max: l.quota_max,
                quota_renewal_rate: l.quota_renewal_rate,
            })
    }

    /// The key-level limits.
    pub fn key_limits(&self) -> EffectiveLimits {
        EffectiveLimits {
            rate: self.rate,
            per: self.per,
            quota_max: self.quota_max,
            quota_renewal_rate: self.quota_renewal_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = include_str!("../tests/fixtures/session_full.json");
    const MINIMAL: &str = include_str!("../tests/fixtures/session_minimal.json");

    #[test]
    fn full_fixture_loads_and_round_trips() {
        let s = Session::from_json(FULL.as_bytes()).unwrap();
        assert_eq!(s.rate, 1000.0);
        assert_eq!(s.quota_max, 10000);
        assert_eq!(s.alias, "portal-key");
        assert_eq!(s.tags, vec!["edge", "edge-eu"]);
        assert_eq!(
            s.access_for("1").unwrap().limit.as_ref().unwrap().rate,
            1000.0
        );
        assert!(s.extra.contains_key("date_created"));
        let again: Session = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn minimal_fixture_loads_with_defaults() {
        let s = Session::from_json(MINIMAL.as_bytes()).unwrap();
        assert_eq!(s.rate, 5.0);
        assert_eq!(s.quota_max, -1);
        assert_eq!(s.expires, 0);
        assert!(!s.is_inactive);
        assert!(!s.is_expired(1_900_000_000));
        assert!(s.access_for("1").unwrap().limit.is_none());
        assert_eq!(s.limits_for("1").rate, 5.0);
    }

    #[test]
    fn nulls_and_bad_json() {
        let s =
            Session::from_json(br#"{"tags":null,"meta_data":null,"access_rights":null}"#).unwrap();
        assert!(s.tags.is_empty());
        assert!(Session::from_json(b"{not json").is_err());
        assert!(Session::from_json(br#"{"rate":"fast"}"#).is_err());
    }

    #[test]
    fn lifetime_follows_tyk() {
        let s = |json: &str| Session::from_json(json.as_bytes()).unwrap();
        let now = 1_000;
        // (session, ttl)
        let cases = [
            (r#"{"expires":2000}"#, None),
            (r#"{"expires":500}"#, None),
            (
                r#"{"expires":2000,"post_expiry_action":"delete"}"#,
                Some(1000),
            ),
            (r#"{"expires":500,"post_expiry_action":"delete"}"#, Some(1)),
            (r#"{"expires":0,"post_expiry_action":"delete"}"#, None),
            (r#"{"expires":2000,"post_expiry_action":"retain"}"#, None),
            (
                r#"{"expires":2000,"post_expiry_action":"retain","post_expiry_grace_period":60}"#,
                Some(1060),
            ),
            (
                r#"{"expires":2000,"post_expiry_action":"retain","post_expiry_grace_period":-1}"#,
                None,
            ),
            (r#"{"session_lifetime":30}"#, Some(30)),
        ];
        for (json, want) in cases {
            assert_eq!(s(json).lifetime(now), want, "{json}");
        }
        // New fields are written only when set, so older readers see the same JSON as before.
        let out = serde_json::to_string(&s(r#"{"access_rights":{"a":{}}}"#)).unwrap();
        assert!(
            !out.contains("post_expiry") && !out.contains("allowance_scope"),
            "{out}"
        );
    }

    #[test]
    fn expiry() {
        let s = Session {
            expires: 100,
            ..Default::default()
        };
        assert!(s.is_expired(100));
        assert!(!s.is_expired(99));
    }
}
