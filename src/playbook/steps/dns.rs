//! DNS steps: `flip-cname` (the Redis CNAME gateways use) and `flip-dns`
//! (the global name clients use: an UPSERT, or Route 53 failover doing it).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use tyk_dr_aws::route53::RecordSet;

use super::{unit_steps, Observation, Step, StepError};
use crate::config::{FlipMode, RedisBackend, Side};
use crate::playbook::context::RunContext;
use crate::playbook::facts::RunFacts;
use crate::probes::dns;

unit_steps! {
    /// `flip-cname`: point the Redis CNAME at the target's primary and wait until resolvers answer so.
    FlipCname,
    /// `flip-dns`: move the global name (an UPSERT, or waiting for Route 53 failover).
    FlipDns,
}

/// What flip-cname found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CnameSeen {
    /// Self-managed: the CNAME in each private zone, and what it must point at.
    SelfManaged {
        /// One entry per private zone.
        cname: Vec<ZoneCname>,
        /// The target's name.
        target: String,
    },
    /// ElastiCache: nothing moves, and why.
    ElastiCache {
        /// Why nothing moves.
        cname: &'static str,
    },
}

/// The Redis CNAME in one private zone.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneCname {
    /// The hosted zone's id.
    zone: String,
    /// The CNAME's value (none: no record yet).
    value: Option<String>,
}

impl Step for FlipCname {
    type Seen = CnameSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<CnameSeen>, StepError> {
        observe_cname(ctx).await
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<CnameSeen>,
    ) -> Result<RunFacts, StepError> {
        flip_cname(ctx, &obs.observed).await
    }
}

/// What flip-dns found.
#[derive(Debug, Clone, Serialize)]
pub struct GlobalSeen {
    /// How the global name resolves now.
    answer: dns::Resolution,
    /// The target gateways' addresses.
    target_ips: BTreeSet<IpAddr>,
}

impl Step for FlipDns {
    type Seen = GlobalSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<GlobalSeen>, StepError> {
        observe_global(ctx).await
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<GlobalSeen>,
    ) -> Result<RunFacts, StepError> {
        flip_global(ctx, obs).await
    }

    fn default_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

fn cname_target(ctx: &RunContext, side: Side) -> Result<String, StepError> {
    match (&ctx.config.redis.backend, &ctx.config.redis.self_managed) {
        (RedisBackend::SelfManaged, Some(sm)) => sm.name(side).map(str::to_owned).ok_or_else(|| {
            StepError::Failed(format!("set `redis.self_managed.{side}_name`: the DNS name the Redis CNAME points at while {side} is active"))
        }),
        (RedisBackend::SelfManaged, None) => Err(StepError::Failed(
            "add [redis.self_managed] with the servers' addresses and names".into(),
        )),
        (RedisBackend::Elasticache, _) => unreachable!("observe_cname returns early for ElastiCache"),
    }
}

async fn cname_records(ctx: &RunContext) -> Result<Vec<(String, Option<RecordSet>)>, StepError> {
    let name = tyk_dr_aws::route53::normalize_name(&ctx.config.dns.redis_cname);
    let mut out = Vec::new();
    for zone in ctx.zones_named(&ctx.config.dns.private_zone, true).await? {
        let records = ctx
            .route53
            .list_record_sets(&zone.id)
            .await
            .map_err(|e| StepError::Failed(e.to_string()))?;
        out.push((
            zone.id,
            records
                .into_iter()
                .find(|r| r.name == name && r.rtype == "CNAME"),
        ));
    }
    Ok(out)
}

async fn observe_cname(ctx: &RunContext) -> Result<Observation<CnameSeen>, StepError> {
    if !ctx.self_managed() {
        // Each region's private zone points the CNAME at its own group's primary endpoint
        // (see `tyk-dr cfn`); promotion made the target's endpoint writable, so nothing moves.
        return Ok(Observation::new(
            CnameSeen::ElastiCache {
                cname: "ElastiCache: each region's zone already targets its own group's primary endpoint",
            },
            Vec::new(),
        ));
    }
    let target = tyk_dr_aws::route53::normalize_name(&cname_target(ctx, ctx.transition.to)?);
    let records = cname_records(ctx).await?;
    let mut actions = Vec::new();
    let mut now = Vec::new();
    for (zone, record) in &records {
        let value = record
            .as_ref()
            .and_then(|r| r.values.first())
            .map(|v| tyk_dr_aws::route53::normalize_name(v));
        if value.as_deref() != Some(target.as_str()) {
            actions.push(format!(
                "point {} at {target} in zone {zone}",
                ctx.config.dns.redis_cname
            ));
        }
        now.push(ZoneCname {
            zone: zone.clone(),
            value,
        });
    }
    Ok(Observation::new(
        CnameSeen::SelfManaged { cname: now, target },
        actions,
    ))
}

async fn flip_cname(ctx: &RunContext, seen: &CnameSeen) -> Result<RunFacts, StepError> {
    let CnameSeen::SelfManaged { cname: zones, .. } = seen else {
        return Ok(RunFacts::default());
    };
    let target = cname_target(ctx, ctx.transition.to)?;
    let record = RecordSet::simple(
        &ctx.config.dns.redis_cname,
        "CNAME",
        ctx.config.dns.redis_ttl,
        &[&target],
    );
    let mut changes = Vec::new();
    for zone in zones {
        changes.push(
            ctx.route53
                .upsert_record(&zone.zone, &record)
                .await
                .map_err(|e| StepError::Failed(e.to_string()))?,
        );
    }
    wait_in_sync(ctx, &changes).await?;
    // INSYNC is the control plane; done means resolvers answer with the target (the data plane).
    let want = tyk_dr_aws::route53::normalize_name(&target);
    loop {
        let answer = dns::resolve(&ctx.resolver, &ctx.config.dns.redis_cname).await;
        if answer
            .cnames
            .iter()
            .any(|c| tyk_dr_aws::route53::normalize_name(c) == want)
        {
            return Ok(RunFacts {
                cname_flipped_at_ms: Some(crate::probes::now_ms()),
                ..Default::default()
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_in_sync(ctx: &RunContext, changes: &[String]) -> Result<(), StepError> {
    for change in changes {
        // Bounded by the step's timeout, which the engine enforces around this call.
        while !ctx
            .route53
            .change_in_sync(change)
            .await
            .map_err(|e| StepError::Failed(e.to_string()))?
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// IPs of one side's gateways, from `[gateway.endpoints]`.
fn gateway_ips(ctx: &RunContext, side: Side) -> BTreeSet<IpAddr> {
    ctx.config
        .gateway
        .endpoints
        .of(side)
        .iter()
        .filter_map(|u| crate::probes::ip_of(u))
        .collect()
}

async fn observe_global(ctx: &RunContext) -> Result<Observation<GlobalSeen>, StepError> {
    let want = gateway_ips(ctx, ctx.transition.to);
    if want.is_empty() {
        return Err(StepError::Failed(format!(
            "no {} gateway endpoints in [gateway.endpoints]: cannot tell where the global name must point",
            ctx.transition.to
        )));
    }
    let answer = dns::resolve(&ctx.resolver, &ctx.config.dns.global_name).await;
    let points_at_target =
        !answer.addresses.is_empty() && answer.addresses.iter().all(|a| want.contains(a));
    let mut actions = Vec::new();
    if !points_at_target {
        actions.push(match ctx.config.dns.flip_mode {
            FlipMode::Upsert => format!("UPSERT {} to {:?}", ctx.config.dns.global_name, want),
            FlipMode::Health => format!(
                "wait for Route 53 failover to answer {} with the {} gateways",
                ctx.config.dns.global_name, ctx.transition.to
            ),
        });
    }
    Ok(Observation::new(
        GlobalSeen {
            answer,
            target_ips: want,
        },
        actions,
    ))
}

async fn flip_global(
    ctx: &RunContext,
    obs: &Observation<GlobalSeen>,
) -> Result<RunFacts, StepError> {
    let want = gateway_ips(ctx, ctx.transition.to);
    if ctx.config.dns.flip_mode == FlipMode::Upsert && !obs.actions.is_empty() {
        let zone = super::fence::public_zone(ctx).await?;
        let ips: Vec<String> = want.iter().map(ToString::to_string).collect();
        let values: Vec<&str> = ips.iter().map(String::as_str).collect();
        let record = RecordSet::simple(
            &ctx.config.dns.global_name,
            "A",
            ctx.config.dns.global_ttl,
            &values,
        );
        let change = ctx
            .route53
            .upsert_record(&zone, &record)
            .await
            .map_err(|e| StepError::Failed(e.to_string()))?;
        wait_in_sync(ctx, &[change]).await?;
    }
    // Either way, done means resolvers now answer with the target: wait for it (bounded by the step timeout).
    loop {
        let answer = dns::resolve(&ctx.resolver, &ctx.config.dns.global_name).await;
        if !answer.addresses.is_empty() && answer.addresses.iter().all(|a| want.contains(a)) {
            return Ok(RunFacts {
                dns_flipped_at_ms: Some(crate::probes::now_ms()),
                ..Default::default()
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
