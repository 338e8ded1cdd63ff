//! The Redis steps for the ElastiCache backend, where the two regions' replication groups are
//! joined by a Global Datastore and the operator's machine usually cannot reach Redis itself
//! (ElastiCache lives inside the VPCs): everything goes through the ElastiCache API.
//!
//! - `promote-redis`: a planned move is `FailoverGlobalReplicationGroup` (AWS demotes the old
//!   primary group to a secondary and keeps it replicating), then polling until the target group
//!   is the primary and the datastore is `available`. When preflight found the source region's
//!   API unreachable, AWS's documented regional-outage path is used instead: disassociate the
//!   target group from the datastore, which promotes it to a standalone primary.
//! - `resync-redis` (failback): after a planned failover the returning group is already a
//!   secondary that AWS keeps in sync; after a regional-outage detach it has to be re-joined,
//!   which `tyk-dr apply` does, so the step stops with that instruction.
//! - `fence` pauses nothing (AWS's failover makes the old primary read-only itself) and
//!   `flip-cname` changes nothing: each region's private zone points the Redis CNAME at its own
//!   group's primary endpoint, which becomes writable on promotion.
//!
//! No emulator implements the Global Datastore calls: the decisions below are pure functions with
//! unit tests, and the exact requests are tested in the adapter with the SDK's capture client.

use std::time::Duration;

use serde_json::json;
use tyk_dr_aws::elasticache::{ElastiCache, GlobalGroup};

use super::{Observation, StepError};
use crate::config::Side;
use crate::plan::desired::cache_name;
use crate::playbook::context::RunContext;
use crate::playbook::facts::RunFacts;

/// How often promotion polls the datastore (AWS takes minutes; faster polls only cost calls).
const POLL: Duration = Duration::from_secs(5);

/// How long a Global Datastore promotion may take before the step gives up: the engine raises a
/// playbook's shorter `promote-redis` timeout to this for ElastiCache.
pub const PROMOTION_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// What promotion has to do, decided from the datastore as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Promotion {
    /// The target group already takes writes.
    Done(String),
    /// Planned: make the target group the datastore's primary.
    Failover {
        /// Global Datastore id.
        global_id: String,
        /// The target region.
        region: String,
        /// The target replication group.
        group: String,
    },
    /// Regional outage: detach the target group, which becomes a standalone primary.
    Detach {
        /// Global Datastore id.
        global_id: String,
        /// The target replication group.
        group: String,
        /// The target region.
        region: String,
    },
}

/// Decides the promotion. `global` is the datastore holding `group` (None once it was detached);
/// `source_lost` is preflight's finding that the source region's ElastiCache API did not answer.
pub(super) fn decide(
    global: Option<&GlobalGroup>,
    group: &str,
    region: &str,
    source_lost: bool,
) -> Result<Promotion, String> {
    let Some(g) = global else {
        return Ok(Promotion::Done(format!(
            "{group} is not in a Global Datastore: it is a standalone primary"
        )));
    };
    let role = g
        .members
        .iter()
        .find(|(id, r, _)| id == group && r == region)
        .map(|(_, _, role)| role.as_str());
    match role {
        None => Err(format!(
            "Global Datastore {} has no member {group} in {region}: run `tyk-dr plan` to see what differs",
            g.id
        )),
        Some("primary") if g.status == "available" => Ok(Promotion::Done(format!(
            "{group} is the primary of {}",
            g.id
        ))),
        Some(_) if source_lost => Ok(Promotion::Detach {
            global_id: g.id.clone(),
            group: group.to_owned(),
            region: region.to_owned(),
        }),
        Some("primary") => Err(format!(
            "{group} is already the primary of {} but the datastore is {}: waiting for AWS",
            g.id, g.status
        )),
        Some(_) if g.status != "available" => Err(format!(
            "Global Datastore {} is {} (not available): AWS refuses a failover now; wait, then --resume",
            g.id, g.status
        )),
        Some(_) => Ok(Promotion::Failover {
            global_id: g.id.clone(),
            region: region.to_owned(),
            group: group.to_owned(),
        }),
    }
}

/// The datastore that holds `group` in `region`, as that region's API reports it.
async fn datastore_of(
    cache: &ElastiCache,
    project: &str,
    group: &str,
) -> Result<Option<GlobalGroup>, StepError> {
    let groups = cache
        .global_groups(project)
        .await
        .map_err(|e| StepError::Failed(e.to_string()))?;
    Ok(groups
        .into_iter()
        .find(|g| g.members.iter().any(|(id, _, _)| id == group)))
}

fn target(ctx: &RunContext) -> Result<(&ElastiCache, String, String), StepError> {
    let side = ctx.transition.to;
    Ok((
        ctx.cache(side)?,
        cache_name(&ctx.config, side),
        ctx.region(side).to_owned(),
    ))
}

fn source_lost(ctx: &RunContext) -> bool {
    ctx.facts.source_reachable == Some(false)
}

pub(super) async fn observe_promote(ctx: &RunContext) -> Result<Observation, StepError> {
    let (cache, group, region) = target(ctx)?;
    let global = datastore_of(cache, &ctx.config.project, &group).await?;
    let decision = decide(global.as_ref(), &group, &region, source_lost(ctx));
    let actions = match &decision {
        Ok(Promotion::Done(_)) => Vec::new(),
        Ok(Promotion::Failover { global_id, .. }) => vec![format!(
            "FailoverGlobalReplicationGroup {global_id}: make {group} ({region}) the primary, and wait until available"
        )],
        Ok(Promotion::Detach { global_id, .. }) => vec![format!(
            "the source region is lost: DisassociateGlobalReplicationGroup {group} ({region}) from {global_id}, promoting it to a standalone primary"
        )],
        Err(e) => vec![format!("stop: {e}")],
    };
    Ok(Observation::new(
        json!({
            "group": group,
            "region": region,
            "datastore": global.as_ref().map(|g| json!({"id": g.id, "status": g.status, "members": g.members})),
            "decision": decision.as_ref().map(|d| format!("{d:?}")).map_err(String::clone),
        }),
        actions,
    ))
}

pub(super) async fn promote(ctx: &RunContext) -> Result<RunFacts, StepError> {
    let (cache, group, region) = target(ctx)?;
    // Decide again on fresh state: the observation may be minutes old after a pause.
    let global = datastore_of(cache, &ctx.config.project, &group).await?;
    let decision =
        decide(global.as_ref(), &group, &region, source_lost(ctx)).map_err(StepError::Failed)?;
    let mut facts = RunFacts::default();
    match &decision {
        Promotion::Done(_) => {}
        Promotion::Failover {
            global_id,
            region,
            group,
        } => {
            cache
                .failover_global_group(global_id, region, group)
                .await
                .map_err(|e| StepError::Failed(e.to_string()))?;
        }
        Promotion::Detach {
            global_id,
            group,
            region,
        } => {
            cache
                .disassociate_global_group(global_id, group, region)
                .await
                .map_err(|e| StepError::Failed(e.to_string()))?;
            facts.elasticache_detached = Some(global_id.clone());
        }
    }
    // Bounded by the step's timeout, which the engine enforces around this call.
    loop {
        let now = datastore_of(cache, &ctx.config.project, &group).await?;
        let promoted = match (&decision, &now) {
            (Promotion::Failover { global_id, .. }, None) => {
                return Err(StepError::Failed(format!(
                    "{group} left Global Datastore {global_id} during the failover: check the ElastiCache console"
                )))
            }
            (_, None) => true,
            (_, Some(g)) => matches!(
                decide(Some(g), &group, &region, false),
                Ok(Promotion::Done(_))
            ),
        };
        if promoted {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    facts.promoted_at_ms = Some(crate::probes::now_ms());
    facts.elasticache_primary = Some(group);
    Ok(facts)
}

pub(super) async fn observe_resync(ctx: &RunContext) -> Result<Observation, StepError> {
    let side = ctx.transition.to;
    let group = cache_name(&ctx.config, side);
    let global = datastore_of(ctx.cache(side)?, &ctx.config.project, &group).await?;
    match &global {
        Some(g) if g.status == "available" => Ok(Observation::new(
            json!({"group": group, "datastore": g.id, "members": g.members}),
            Vec::new(),
        )),
        Some(g) => Err(StepError::Failed(format!(
            "Global Datastore {} is {}: wait until AWS reports it available, then --resume",
            g.id, g.status
        ))),
        None => Err(StepError::Failed(format!(
            "{group} left the Global Datastore during a regional-outage failover: run `tyk-dr plan` and `tyk-dr apply` to re-create it as a secondary of the serving region's group, then fail back"
        ))),
    }
}

/// The ElastiCache clients of both regions, built only for the ElastiCache backend.
#[derive(Debug, Clone)]
pub struct Caches {
    /// The active region's client.
    pub active: ElastiCache,
    /// The passive region's client.
    pub passive: ElastiCache,
}

impl Caches {
    /// The client of one side.
    pub fn of(&self, side: Side) -> &ElastiCache {
        match side {
            Side::Active => &self.active,
            Side::Passive => &self.passive,
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::config::Config;
    use crate::playbook::context::Transition;
    use crate::playbook::steps::{FlipCname, PromoteParams, Step, StepKind};

    const NS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

    fn describe(passive_role: &str, status: &str) -> String {
        let active_role = if passive_role == "primary" {
            "secondary"
        } else {
            "primary"
        };
        format!(
            "<DescribeGlobalReplicationGroupsResponse xmlns=\"{NS}\"><DescribeGlobalReplicationGroupsResult><GlobalReplicationGroups><GlobalReplicationGroup>\
             <GlobalReplicationGroupId>ldgnf-pay</GlobalReplicationGroupId><Status>{status}</Status><Members>\
             <GlobalReplicationGroupMember><ReplicationGroupId>pay-active</ReplicationGroupId><ReplicationGroupRegion>us-east-1</ReplicationGroupRegion><Role>{active_role}</Role></GlobalReplicationGroupMember>\
             <GlobalReplicationGroupMember><ReplicationGroupId>pay-passive</ReplicationGroupId><ReplicationGroupRegion>us-west-2</ReplicationGroupRegion><Role>{passive_role}</Role></GlobalReplicationGroupMember>\
             </Members></GlobalReplicationGroup></GlobalReplicationGroups></DescribeGlobalReplicationGroupsResult></DescribeGlobalReplicationGroupsResponse>"
        )
    }

    fn event(response: String) -> ReplayEvent {
        ReplayEvent::new(
            http::Request::builder()
                .uri("https://elasticache.us-west-2.amazonaws.com/")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(200)
                .body(SdkBody::from(response))
                .unwrap(),
        )
    }

    /// A context for `project = "pay"` on ElastiCache whose passive-region client replays `answers`.
    async fn ctx_with(answers: Vec<String>) -> (RunContext, StaticReplayClient) {
        let config: Config = toml::from_str("project = \"pay\"").unwrap();
        let replay = StaticReplayClient::new(answers.into_iter().map(event).collect());
        // Static test credentials; the replay client answers instead of any endpoint.
        let sdk = tyk_dr_aws::emulator_config("http://127.0.0.1:9", "us-west-2")
            .await
            .to_builder()
            .http_client(replay.clone())
            .build();
        let mut ctx = RunContext::new(
            config,
            Transition {
                from: Side::Active,
                to: Side::Passive,
            },
            "test".into(),
            0,
        )
        .await;
        let cache = ElastiCache::new(&sdk);
        ctx.caches = Some(Caches {
            active: cache.clone(),
            passive: cache,
        });
        (ctx, replay)
    }

    /// The `Action` and the parameters that matter of every request sent, in order.
    fn sent(replay: &StaticReplayClient) -> Vec<String> {
        replay
            .actual_requests()
            .map(|r| {
                let body = std::str::from_utf8(r.body().bytes().unwrap()).unwrap();
                let mut p: Vec<&str> = body
                    .split('&')
                    .filter(|p| !p.starts_with("Version=") && !p.starts_with("ShowMemberInfo="))
                    .collect();
                p.sort();
                p.join("&")
            })
            .collect()
    }

    #[tokio::test]
    async fn promote_redis_fails_the_datastore_over_and_waits_until_the_target_is_primary() {
        let (mut ctx, replay) = ctx_with(vec![
            describe("secondary", "available"), // observe
            describe("secondary", "available"), // act decides again on fresh state
            format!("<FailoverGlobalReplicationGroupResponse xmlns=\"{NS}\"><FailoverGlobalReplicationGroupResult><GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-pay</GlobalReplicationGroupId><Status>modifying</Status></GlobalReplicationGroup></FailoverGlobalReplicationGroupResult></FailoverGlobalReplicationGroupResponse>"),
            describe("primary", "available"), // the wait sees the promotion
        ])
        .await;
        ctx.facts.source_reachable = Some(true);
        let step = PromoteParams::default();
        assert_eq!(step.timeout_floor(&ctx), Some(PROMOTION_TIMEOUT));
        assert_eq!(
            StepKind::PromoteRedis(step.clone()).timeout(&ctx, Duration::from_secs(20)),
            PROMOTION_TIMEOUT
        );
        let obs = step.observe(&ctx).await.unwrap();
        assert_eq!(obs.actions.len(), 1, "{:?}", obs.actions);
        assert!(obs.actions[0].starts_with("FailoverGlobalReplicationGroup ldgnf-pay"));
        let facts = step.act(&ctx, &obs).await.unwrap();
        assert_eq!(facts.elasticache_primary.as_deref(), Some("pay-passive"));
        assert_eq!(
            sent(&replay),
            [
                "Action=DescribeGlobalReplicationGroups",
                "Action=DescribeGlobalReplicationGroups",
                "Action=FailoverGlobalReplicationGroup&GlobalReplicationGroupId=ldgnf-pay&PrimaryRegion=us-west-2&PrimaryReplicationGroupId=pay-passive",
                "Action=DescribeGlobalReplicationGroups",
            ]
        );
    }

    #[tokio::test]
    async fn a_lost_source_region_detaches_the_target_group() {
        let (mut ctx, replay) = ctx_with(vec![
            describe("secondary", "available"),
            format!("<DisassociateGlobalReplicationGroupResponse xmlns=\"{NS}\"><DisassociateGlobalReplicationGroupResult><GlobalReplicationGroup><GlobalReplicationGroupId>ldgnf-pay</GlobalReplicationGroupId></GlobalReplicationGroup></DisassociateGlobalReplicationGroupResult></DisassociateGlobalReplicationGroupResponse>"),
            format!("<DescribeGlobalReplicationGroupsResponse xmlns=\"{NS}\"><DescribeGlobalReplicationGroupsResult><GlobalReplicationGroups/></DescribeGlobalReplicationGroupsResult></DescribeGlobalReplicationGroupsResponse>"),
        ])
        .await;
        ctx.facts.source_reachable = Some(false);
        let facts = promote(&ctx).await.unwrap();
        assert_eq!(facts.elasticache_detached.as_deref(), Some("ldgnf-pay"));
        assert_eq!(
            sent(&replay),
            [
                "Action=DescribeGlobalReplicationGroups",
                "Action=DisassociateGlobalReplicationGroup&GlobalReplicationGroupId=ldgnf-pay&ReplicationGroupId=pay-passive&ReplicationGroupRegion=us-west-2",
                "Action=DescribeGlobalReplicationGroups",
            ]
        );
    }

    #[tokio::test]
    async fn an_already_promoted_target_sends_no_change_and_the_cname_stays() {
        let (ctx, replay) = ctx_with(vec![describe("primary", "available")]).await;
        let obs = StepKind::PromoteRedis(PromoteParams::default())
            .observe(&ctx)
            .await
            .unwrap();
        assert!(obs.actions.is_empty(), "{:?}", obs.actions);
        assert_eq!(sent(&replay), ["Action=DescribeGlobalReplicationGroups"]);
        let cname = StepKind::FlipCname(FlipCname {})
            .observe(&ctx)
            .await
            .unwrap();
        assert!(cname.actions.is_empty(), "{:?}", cname.actions);
    }

    fn datastore(status: &str, active_role: &str, passive_role: &str) -> GlobalGroup {
        GlobalGroup {
            id: "ldgnf-pay".into(),
            status: status.into(),
            members: vec![
                ("pay-active".into(), "eu-west-1".into(), active_role.into()),
                (
                    "pay-passive".into(),
                    "eu-central-1".into(),
                    passive_role.into(),
                ),
            ],
        }
    }

    #[test]
    fn a_healthy_datastore_is_failed_over_to_the_target_group() {
        let g = datastore("available", "primary", "secondary");
        assert_eq!(
            decide(Some(&g), "pay-passive", "eu-central-1", false),
            Ok(Promotion::Failover {
                global_id: "ldgnf-pay".into(),
                region: "eu-central-1".into(),
                group: "pay-passive".into()
            })
        );
    }

    #[test]
    fn a_target_that_is_already_primary_needs_nothing() {
        let g = datastore("available", "secondary", "primary");
        assert!(matches!(
            decide(Some(&g), "pay-passive", "eu-central-1", false),
            Ok(Promotion::Done(_))
        ));
    }

    #[test]
    fn a_lost_source_region_detaches_the_target_instead() {
        let g = datastore("available", "primary", "secondary");
        assert_eq!(
            decide(Some(&g), "pay-passive", "eu-central-1", true),
            Ok(Promotion::Detach {
                global_id: "ldgnf-pay".into(),
                group: "pay-passive".into(),
                region: "eu-central-1".into()
            })
        );
        // Detaching is allowed while AWS shows the datastore as anything: the primary is gone.
        let g = datastore("modifying", "primary", "secondary");
        assert!(matches!(
            decide(Some(&g), "pay-passive", "eu-central-1", true),
            Ok(Promotion::Detach { .. })
        ));
    }

    #[test]
    fn a_busy_datastore_is_not_failed_over_and_the_message_says_resume() {
        let g = datastore("modifying", "primary", "secondary");
        let e = decide(Some(&g), "pay-passive", "eu-central-1", false).unwrap_err();
        assert!(e.contains("modifying") && e.contains("--resume"), "{e}");
        // A failover AWS is still finishing is waited on, not repeated.
        let g = datastore("modifying", "secondary", "primary");
        let e = decide(Some(&g), "pay-passive", "eu-central-1", false).unwrap_err();
        assert!(e.contains("waiting for AWS"), "{e}");
    }

    #[test]
    fn a_detached_group_is_a_standalone_primary_and_a_missing_member_is_an_error() {
        assert!(matches!(
            decide(None, "pay-passive", "eu-central-1", false),
            Ok(Promotion::Done(_))
        ));
        let g = datastore("available", "primary", "secondary");
        let e = decide(Some(&g), "pay-passive", "us-east-1", false).unwrap_err();
        assert!(e.contains("no member pay-passive in us-east-1"), "{e}");
    }
}
