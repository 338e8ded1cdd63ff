//! What a run has learned so far, as one typed record: each step returns the
//! facts it found ([`RunFacts`] with only its own fields set), the engine merges
//! them into the run's facts, and later steps and the report read the fields.
//!
//! The journal stores the same record as a JSON object under `facts`. Every field
//! is optional and defaulted, and unknown keys are ignored, so a journal written
//! by an older (or newer) tyk-dr still replays with `--resume`.

use serde::{Deserialize, Serialize};

/// Declares [`RunFacts`]: every field an `Option` that is left out of JSON when unset, and a
/// `merge` that takes every field the newer record sets.
macro_rules! run_facts {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// Everything the steps of a run have learned, field by field (see the module docs).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct RunFacts {
            $(
                $(#[$doc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl RunFacts {
            /// Takes every fact `newer` sets; facts it leaves unset are kept.
            pub fn merge(&mut self, newer: RunFacts) {
                $(
                    if newer.$field.is_some() {
                        self.$field = newer.$field;
                    }
                )*
            }

            /// True when no fact is set.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())*
            }
        }
    };
}

run_facts! {
    // --- given on the command line
    /// The failure time given with `--failed-at` (ms since the epoch).
    failed_at_ms: i64,

    // --- preflight
    /// The source's Redis (or its region's ElastiCache API) answered at preflight.
    source_reachable: bool,
    /// The target's canary age at preflight: the data a failover would have lost then.
    expected_rpo_ms: i64,
    /// Source gateways that did not answer `/hello` at preflight (fence skips them).
    source_gateways_down: Vec<String>,

    // --- fence
    /// The epoch this run holds.
    epoch: u64,
    /// When the source was fenced (ms since the epoch): writes stopped then.
    fenced_at_ms: i64,
    /// Source gateways that could not be fenced, with why.
    source_gateways_unreachable: Vec<String>,
    /// The source primary's replication offset once its writes were paused.
    source_offset: i64,
    /// Why the source primary's writes could not be paused.
    source_redis_error: String,

    // --- promote-redis
    /// The target reached the paused source's offset before it was promoted (RPO 0).
    caught_up: bool,
    /// When the target became the primary (ms since the epoch).
    promoted_at_ms: i64,
    /// The newest canary on the new primary (ms since the epoch): bounds the data lost.
    canary_ms: i64,
    /// The old primary was made a replica of the new one.
    source_demoted: bool,
    /// The Sentinel that carried out the promotion.
    sentinel: String,
    /// The master Sentinel named before the promotion.
    sentinel_failover_from: String,
    /// The Global Datastore the target group was detached from (regional outage path).
    elasticache_detached: String,
    /// The ElastiCache replication group that is primary now.
    elasticache_primary: String,

    // --- resync-redis
    /// Whether the returning Redis caught up with the current primary.
    resynced: Resync,

    // --- flip-cname, recycle-gateways, flip-dns
    /// When resolvers answered the Redis CNAME with the target (ms since the epoch).
    cname_flipped_at_ms: i64,
    /// When every target gateway was unfenced and on the new primary (ms since the epoch).
    gateways_ready_at_ms: i64,
    /// The target gateways that reconnected, with the attempts each took.
    reconnected: Vec<Reconnected>,
    /// When resolvers answered the global name with the target (ms since the epoch).
    dns_flipped_at_ms: i64,

    // --- mongo
    /// The replica set member that is primary now.
    mongo_primary: String,
    /// The replica set's configuration version afterwards.
    mongo_config_version: i64,
    /// A forced reconfig ran (the source region was lost).
    mongo_forced_reconfig: bool,
    /// Members the forced reconfig removed.
    mongo_removed_members: Vec<String>,

    // --- verify, webhook, approval
    /// When the first request of the final streak was served by the target (ms since the epoch).
    first_verified_ms: i64,
    /// Requests in a row the target served.
    verified_requests: u32,
    /// The webhook receiver's HTTP status.
    webhook_status: u16,
    /// The operator approved.
    approved: bool,
    /// Failed requests seen by a load running during the window, when one ran.
    failed_requests: u64,
}

/// The outcome of `resync-redis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Resync {
    /// The returning Redis replicates from the current primary with its link up (or not, in time).
    Synced(bool),
    /// Nothing to resynchronise, and why.
    NotNeeded(String),
}

/// One target gateway that reconnected to the new primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconnected {
    /// The gateway's base URL.
    pub gateway: String,
    /// Unfence-and-reconnect rounds it took.
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_facts_the_newer_record_leaves_unset() {
        let mut facts = RunFacts {
            epoch: Some(3),
            source_reachable: Some(true),
            ..Default::default()
        };
        facts.merge(RunFacts {
            source_reachable: Some(false),
            canary_ms: Some(10),
            ..Default::default()
        });
        assert_eq!(facts.epoch, Some(3));
        assert_eq!(facts.source_reachable, Some(false));
        assert_eq!(facts.canary_ms, Some(10));
    }

    #[test]
    fn unset_facts_are_left_out_of_json_and_unknown_keys_are_ignored() {
        let facts = RunFacts {
            epoch: Some(2),
            resynced: Some(Resync::NotNeeded("never demoted".into())),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&facts).unwrap(),
            r#"{"epoch":2,"resynced":"never demoted"}"#
        );
        let read: RunFacts =
            serde_json::from_str(r#"{"epoch":2,"resynced":true,"from_the_future":1}"#).unwrap();
        assert_eq!(read.resynced, Some(Resync::Synced(true)));
        assert!(RunFacts::default().is_empty());
    }
}
