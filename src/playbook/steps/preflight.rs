//! `preflight`: can the target take over, and what would it cost? Read-only;
//! refuses the run (unless `--force`) when the target cannot serve.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Observation, Step, StepError};
use crate::playbook::context::RunContext;
use crate::playbook::facts::RunFacts;
use crate::status;

/// Parameters of `preflight`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightParams {
    /// Refuse when the canary is older than this while the source is still up (default: `drills.max_rpo`).
    #[serde(default, with = "humantime_serde")]
    pub max_canary_age: Option<std::time::Duration>,
}

/// What preflight found.
#[derive(Debug, Clone, Serialize)]
pub struct PreflightSeen {
    /// The target's Redis primary (self-managed) or replication group (ElastiCache), as probed.
    target_redis: Value,
    /// Target gateways answering `/hello`.
    target_gateways_answering: usize,
    /// The source's Redis (or its region's ElastiCache API) answered.
    source_redis_reachable: bool,
    /// Source gateways answering `/hello`.
    source_gateways_answering: usize,
    /// Source gateways that did not answer.
    source_gateways_down: Vec<String>,
    /// The target's canary age: the data a failover would lose now.
    canary_age_ms: Option<i64>,
    /// Why the target cannot take over (empty: it can).
    problems: Vec<String>,
}

impl Step for PreflightParams {
    type Seen = PreflightSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<PreflightSeen>, StepError> {
        observe(ctx, self).await
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<PreflightSeen>,
    ) -> Result<RunFacts, StepError> {
        let seen = &obs.observed;
        if !seen.problems.is_empty() && !ctx.force {
            return Err(StepError::Refused(seen.problems.join("; ")));
        }
        Ok(RunFacts {
            source_reachable: Some(seen.source_redis_reachable),
            expected_rpo_ms: seen.canary_age_ms,
            source_gateways_down: Some(seen.source_gateways_down.clone()),
            ..Default::default()
        })
    }

    /// Preflight always acts: it records what it found, and refuses unfit targets.
    fn acts_when_idle(&self) -> bool {
        true
    }
}

async fn observe(
    ctx: &RunContext,
    p: &PreflightParams,
) -> Result<Observation<PreflightSeen>, StepError> {
    // A transition that already happened is not this run's to make (unless this run made it).
    let zone = super::fence::public_zone(ctx).await?;
    let epoch = crate::playbook::epoch::read(&ctx.route53, &zone, &ctx.config.dns.global_name)
        .await
        .map_err(StepError::Failed)?;
    if let Some((e, _)) = epoch.filter(|(e, _)| e.active == ctx.region(ctx.transition.to)) {
        if ctx.facts.epoch != Some(e.number) {
            return Err(StepError::LostEpoch(format!(
                "{} is already active (epoch {}): nothing to do; this run changed nothing",
                e.active, e.number
            )));
        }
    }
    let s = status::collect(&ctx.config, &ctx.probes).await;
    let (from, to) = (s.region(ctx.transition.from), s.region(ctx.transition.to));
    let mut problems = Vec::new();
    let (target_redis, source_up, target_is_primary) = if ctx.self_managed() {
        match to.redis.first() {
            None => problems.push(format!("no {} Redis is configured", ctx.transition.to)),
            Some(r) if !r.reachable => problems.push(format!(
                "target Redis {} is unreachable: {}",
                r.addr,
                r.error.as_deref().unwrap_or("no answer")
            )),
            Some(_) => {}
        }
        (
            json!(to.redis.first()),
            from.redis.first().is_some_and(|r| r.reachable),
            to.redis.first().is_some_and(|r| r.is_primary()),
        )
    } else {
        let (target, source) = tokio::join!(
            cache_group(ctx, ctx.transition.to),
            cache_group(ctx, ctx.transition.from)
        );
        match &target {
            Ok(Some(g)) if g.status == "available" => {}
            Ok(Some(g)) => {
                problems.push(format!("target ElastiCache group {} is {}", g.id, g.status))
            }
            Ok(None) => problems.push(format!(
                "no ElastiCache group {} in {}: run `tyk-dr plan`",
                crate::plan::desired::cache_name(&ctx.config, ctx.transition.to),
                ctx.region(ctx.transition.to)
            )),
            Err(e) => problems.push(format!("the target region's ElastiCache API: {e}")),
        }
        let target_is_primary = matches!(&target, Ok(Some(g)) if g.global.as_ref().is_none_or(|(_, role)| role == "primary"));
        (
            json!(target
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|g| json!({"group": g.id, "status": g.status, "global": g.global}))),
            matches!(source, Ok(Some(g)) if g.status == "available"),
            target_is_primary,
        )
    };
    if !to.gateways.iter().any(|g| g.reachable) {
        problems.push(format!("no {} gateway answers /hello", ctx.transition.to));
    }
    let limit = p
        .max_canary_age
        .unwrap_or(ctx.config.drills.max_rpo)
        .as_millis() as i64;
    // The canary flows from the configured active side; after a failover the probe reads it
    // the other way round, so only judge replication lag on a failover with the source up.
    if source_up && !target_is_primary && ctx.transition.from == crate::config::Side::Active {
        if let Some(age) = s.canary.age_ms.filter(|age| *age > limit) {
            problems.push(format!(
                "replication lags: the target's canary is {age} ms old (limit {limit} ms)"
            ));
        }
    }
    let actions = problems.iter().map(|p| format!("refuse: {p}")).collect();
    let observed = PreflightSeen {
        target_redis,
        target_gateways_answering: to.gateways.iter().filter(|g| g.reachable).count(),
        source_redis_reachable: source_up,
        source_gateways_answering: from.gateways.iter().filter(|g| g.reachable).count(),
        source_gateways_down: from
            .gateways
            .iter()
            .filter(|g| !g.reachable)
            .map(|g| g.url.clone())
            .collect(),
        canary_age_ms: s.canary.age_ms,
        problems,
    };
    Ok(Observation::new(observed, actions))
}

/// One side's replication group as its region's API reports it; an API that does not answer
/// within 5 s counts as a lost region (the SDK would otherwise retry for much longer).
async fn cache_group(
    ctx: &RunContext,
    side: crate::config::Side,
) -> Result<Option<tyk_dr_aws::elasticache::ReplicationGroup>, String> {
    let id = crate::plan::desired::cache_name(&ctx.config, side);
    let cache = ctx.cache(side).map_err(|e| e.to_string())?;
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        cache.replication_group(&id),
    )
    .await
    {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer from {} within 5 s", ctx.region(side))),
    }
}
