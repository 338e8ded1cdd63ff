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

impl Session {
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
    fn expiry() {
        let s = Session {
            expires: 100,
            ..Default::default()
        };
        assert!(s.is_expired(100));
        assert!(!s.is_expired(99));
    }
}
