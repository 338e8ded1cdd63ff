//! Tyk security policies (`policies.json`: a map of policy id → policy) and applying them to a session.
//!
//! Semantics (a subset of Tyk's `ApplyPolicies`, `internal/policy/apply.go`): a missing policy refuses the
//! key when it is the only one and is skipped among several (none found refuses the key); with no partition enabled a policy sets access rights, rate limit and quota; with partitions
//! only the enabled parts apply. Across several policies access rights are merged, the highest rate
//! (requests per second) and the largest quota win (-1 = unlimited wins), and any inactive policy makes the
//! key inactive. APIs granted by a policy that sets limits carry those limits as per-API limits. When
//! the APIs were granted by more than one policy, each API's `allowance_scope` is the policy that
//! granted it; `per_api` policies scope each API by its id (own limits) or the policy id (the policy's),
//! so the quota counters are named `quota-<scope>-<hash>`, as Tyk names them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::session::{AccessDefinition, Session, SessionLimit};
use crate::util::null_default;

/// Which parts of a policy apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Partitions {
    /// Apply the quota.
    #[serde(deserialize_with = "null_default")]
    pub quota: bool,
    /// Apply the rate limit.
    #[serde(deserialize_with = "null_default")]
    pub rate_limit: bool,
    /// Apply the access rights.
    #[serde(deserialize_with = "null_default")]
    pub acl: bool,
    /// Tyk's `per_api`: every API carries its own limits (the API's, else the policy's), counted apart.
    #[serde(deserialize_with = "null_default")]
    pub per_api: bool,
}

/// A Tyk policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Policy id (when stored in its own file).
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    /// Organisation id.
    #[serde(deserialize_with = "null_default")]
    pub org_id: String,
    /// Requests per `per` seconds.
    #[serde(deserialize_with = "null_default")]
    pub rate: f64,
    /// Rate window in seconds.
    #[serde(deserialize_with = "null_default")]
    pub per: f64,
    /// Quota size (-1 = unlimited).
    #[serde(deserialize_with = "null_default")]
    pub quota_max: i64,
    /// Quota period in seconds.
    #[serde(deserialize_with = "null_default")]
    pub quota_renewal_rate: i64,
    /// Granted APIs.
    #[serde(deserialize_with = "null_default")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// Keys using an inactive policy are inactive.
    #[serde(deserialize_with = "null_default")]
    pub is_inactive: bool,
    /// Which parts apply (none enabled = all).
    #[serde(deserialize_with = "null_default")]
    pub partitions: Partitions,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Policies by id.
pub type Policies = BTreeMap<String, Policy>;

/// Parse a policies document: either a map id → policy (`policies.json`) or one policy with an `id`.
pub fn parse_policies(raw: &[u8]) -> Result<Policies, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_slice(raw)?;
    let single = v
        .get("id")
        .or_else(|| v.get("_id"))
        .and_then(|i| i.as_str())
        .map(str::to_string);
    match single {
        Some(id) if v.get("access_rights").is_some() || v.get("rate").is_some() => {
            let mut p: Policy = serde_json::from_value(v)?;
            p.id = id.clone();
            Ok(BTreeMap::from([(id, p)]))
        }
        _ => {
            let mut map: Policies = serde_json::from_value(v)?;
            for (id, p) in map.iter_mut() {
                if p.id.is_empty() {
                    p.id = id.clone();
                }
            }
            Ok(map)
        }
    }
}

/// Why policies could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// The policy's id, or the id it is stored under when the document leaves `id` empty.
    fn id_or(&self, key: &str) -> String {
        if self.id.is_empty() {
            key.to_string()
        } else {
            self.id.clone()
        }
    }
}

fn per_second(rate: f64, per: f64) -> f64 {
    if per > 0.0 {
        rate / per
    } else {
        0.0
    }
}

impl Session {
    /// The session with its `apply_policies` applied (unchanged when it has none).
    pub fn with_policies(&self, policies: &Policies) -> Result<Session, PolicyError> {
        if self.apply_policies.is_empty() {
            // Tyk's `PolicyIDs`: the older single `apply_policy_id` when `apply_policies` is empty.
            return match self.extra.get("apply_policy_id").and_then(|v| v.as_str()) {
                Some(id) if !id.is_empty() => {
                    let mut s = self.clone();
                    s.apply_policies = vec![id.to_string()];
                    s.with_policies(policies)
                }
                _ => Ok(self.clone()),
            };
        }
        let mut out = self.clone();
        let mut rights: BTreeMap<String, AccessDefinition> = BTreeMap::new();
        let mut rate: Option<(f64, f64)> = None;
        let mut quota: Option<(i64, i64)> = None;
        let mut any_acl = false;
        // Which policy granted each API (Tyk's `Limit.SetBy`); several distinct ones make every API's
        // counters their own (`allowance_scope` = that policy), as in Tyk's `policy.Service.Apply`.
        let mut set_by: BTreeMap<String, String> = BTreeMap::new();
        let several = self.apply_policies.len() > 1;
        let mut found = 0;
        for id in &self.apply_policies {
            let Some(p) = policies.get(id) else {
                // Tyk skips a missing policy when the key has several, and refuses the key otherwise.
                if several {
                    continue;
                }
                return Err(PolicyError(format!("policy `{id}` not found")));
            };
            found += 1;
            if !p.org_id.is_empty() && !self.org_id.is_empty() && p.org_id != self.org_id {
                return Err(PolicyError(format!(
                    "policy `{id}` belongs to another organisation"
                )));
            }
            out.is_inactive |= p.is_inactive;
            if p.partitions.per_api {
                any_acl = true;
                for (api, ar) in &p.access_rights {
                    let mut ar = ar.clone();
                    if ar.api_id.is_empty() {
                        ar.api_id = api.clone();
                    }
                    let own = ar.limit.as_ref().is_some_and(|l| !l.is_empty());
                    if !own {
                        ar.limit = Some(SessionLimit {
                            rate: p.rate,
                            per: p.per,
                            quota_max: p.quota_max,
                            quota_renewal_rate: p.quota_renewal_rate,
                            ..Default::default()
                        });
                    }
                    ar.allowance_scope = if own { api.clone() } else { p.id_or(id) };
                    rights.insert(api.clone(), ar);
                }
                continue;
            }
            let all = !(p.partitions.quota || p.partitions.rate_limit || p.partitions.acl);
            if all || p.partitions.rate_limit {
                let better =
                    rate.is_none_or(|(r, per)| per_second(p.rate, p.per) > per_second(r, per));
                if better {
                    rate = Some((p.rate, p.per));
                }
            }
            if all || p.partitions.quota {
                let better =
                    quota.is_none_or(|(q, _)| q != -1 && (p.quota_max == -1 || p.quota_max > q));
                if better {
                    quota = Some((p.quota_max, p.quota_renewal_rate));
                }
            }
            if all || p.partitions.acl {
                any_acl = true;
                let sets_limits = all && (p.rate > 0.0 || p.quota_max != 0);
                for (api, ar) in &p.access_rights {
                    let mut ar = ar.clone();
                    if ar.api_id.is_empty() {
                        ar.api_id = api.clone();
                    }
                    if sets_limits && ar.limit.is_none() {
                        ar.limit = Some(SessionLimit {
                            rate: p.rate,
                            per: p.per,
                            quota_max: p.quota_max,
                            quota_renewal_rate: p.quota_renewal_rate,
                            ..Default::default()
                        });
                    }
                    set_by.insert(api.clone(), p.id_or(id));
                    rights.entry(api.clone()).or_insert(ar);
                }
            }
        }
        if found == 0 {
            return Err(PolicyError(
                "key has no valid policies to be applied".into(),
            ));
        }
        let distinct: std::collections::BTreeSet<&String> = set_by.values().collect();
        if distinct.len() > 1 {
            for (api, by) in &set_by {
                if let Some(ar) = rights.get_mut(api) {
                    if ar.allowance_scope.is_empty() {
                        ar.allowance_scope = by.clone();
                    }
                }
            }
        }
        if let Some((r, per)) = rate {
            out.rate = r;
            out.per = per;
        }
        if let Some((q, renew)) = quota {
            out.quota_max = q;
            out.quota_renewal_rate = renew;
        }
        if any_acl {
            out.access_rights = rights;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICIES: &str = r#"{
        "gold": {"rate": 100, "per": 1, "quota_max": -1, "access_rights": {"1": {"api_id": "1", "versions": ["Default"]}}},
        "silver": {"rate": 10, "per": 1, "quota_max": 1000, "quota_renewal_rate": 60, "access_rights": {"2": {}}},
        "acl-only": {"access_rights": {"3": {}}, "partitions": {"acl": true}},
        "off": {"is_inactive": true, "partitions": {"quota": true}}
    }"#;

    #[test]
    fn apply_merges_rights_and_takes_the_best_limits() {
        let p = parse_policies(POLICIES.as_bytes()).unwrap();
        let s = Session {
            apply_policies: vec!["gold".into(), "silver".into()],
            rate: 1.0,
            per: 1.0,
            ..Default::default()
        };
        let a = s.with_policies(&p).unwrap();
        assert_eq!((a.rate, a.per, a.quota_max), (100.0, 1.0, -1));
        assert_eq!(a.access_rights.keys().collect::<Vec<_>>(), vec!["1", "2"]);
        assert_eq!(a.limits_for("2").rate, 10.0);
        assert_eq!(a.limits_for("2").quota_max, 1000);
    }

    #[test]
    fn allowance_scopes_name_the_counters_as_tyk() {
        let p = parse_policies(POLICIES.as_bytes()).unwrap();
        let one = Session {
            apply_policies: vec!["silver".into()],
            ..Default::default()
        };
        // One policy: the key's own counters.
        assert_eq!(
            one.with_policies(&p).unwrap().access_rights["2"].allowance_scope,
            ""
        );
        let two = Session {
            apply_policies: vec!["gold".into(), "silver".into()],
            ..Default::default()
        };
        let a = two.with_policies(&p).unwrap();
        assert_eq!(a.access_rights["1"].allowance_scope, "gold");
        assert_eq!(a.access_rights["2"].allowance_scope, "silver");
        let per_api = parse_policies(
            br#"{"pa": {"rate": 5, "per": 1, "quota_max": 10, "partitions": {"per_api": true},
                 "access_rights": {"x": {"limit": {"rate": 1, "per": 1, "quota_max": 3}}, "y": {}}}}"#,
        )
        .unwrap();
        let s = Session {
            apply_policies: vec!["pa".into()],
            ..Default::default()
        };
        let a = s.with_policies(&per_api).unwrap();
        assert_eq!(a.access_rights["x"].allowance_scope, "x");
        assert_eq!(a.access_rights["y"].allowance_scope, "pa");
        assert_eq!(a.limits_for("y").quota_max, 10);
        assert_eq!(a.limits_for("x").quota_max, 3);
    }

    #[test]
    fn partitions_and_errors() {
        let p = parse_policies(POLICIES.as_bytes()).unwrap();
        let s = Session {
            apply_policies: vec!["acl-only".into()],
            rate: 5.0,
            per: 1.0,
            ..Default::default()
        };
        let a = s.with_policies(&p).unwrap();
        assert_eq!(a.rate, 5.0);
        assert!(a.access_for("3").is_some());
        let s = Session {
            apply_policies: vec!["off".into()],
            ..Default::default()
        };
        assert!(s.with_policies(&p).unwrap().is_inactive);
        let s = Session {
            apply_policies: vec!["nope".into()],
            ..Default::default()
        };
        assert!(s.with_policies(&p).unwrap_err().0.contains("nope"));
        // Among several, a missing policy is skipped (Tyk); all missing still refuses the key.
        let s = Session {
            apply_policies: vec!["nope".into(), "acl-only".into()],
            ..Default::default()
        };
        assert!(s.with_policies(&p).unwrap().access_for("3").is_some());
        let s = Session {
            apply_policies: vec!["nope".into(), "gone".into()],
            ..Default::default()
        };
        assert!(s.with_policies(&p).is_err());
        // The older `apply_policy_id` applies when `apply_policies` is empty.
        let old = Session::from_json(br#"{"apply_policy_id":"acl-only"}"#).unwrap();
        assert!(old.with_policies(&p).unwrap().access_for("3").is_some());
        let single = parse_policies(br#"{"id":"x","rate":1,"per":1}"#).unwrap();
        assert!(single.contains_key("x"));
        assert!(parse_policies(b"[oops").is_err());
    }
}
