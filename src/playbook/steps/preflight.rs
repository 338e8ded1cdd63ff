//! `preflight`: can the target take over, and what would it cost? Read-only;
//! refuses the run (unless `--force`) when the target cannot serve.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{fact, Facts, Observation, StepError};
use crate::playbook::context::Ctx;
use crate::status::{self, Probes};

/// Parameters of `preflight`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightParams {
    /// Refuse when the canary is older than this while the source is still up (default: `drills.max_rpo`).
    #[serde(default, with = "humantime_serde")]
    pub max_canary_age: Option<std::time::Duration>,
}

pub(super) async fn observe(ctx: &Ctx, p: &PreflightParams) -> Result<Observation, StepError> {
    // A transition that already happened is not this run's to make (unless this run made it).
    let zone = super::fence::public_zone(ctx).await?;
    let epoch = crate::playbook::epoch::read(&ctx.route53, &zone, &ctx.config.dns.global_name)
        .await
        .map_err(StepError::Failed)?;
    if let Some((e, _)) = epoch.filter(|(e, _)| e.active == ctx.region(ctx.transition.to)) {
        if ctx.fact_i64("epoch") != Some(e.number as i64) {
            return Err(StepError::LostEpoch(format!(
                "{} is already active (epoch {}): nothing to do; this run changed nothing",
                e.active, e.number
            )));
        }
    }
    let s = status::collect(&ctx.config, &Probes::new(&ctx.config)).await;
    let (from, to) = (s.region(ctx.transition.from), s.region(ctx.transition.to));
    let mut problems = Vec::new();
    match to.redis.first() {
        None => problems.push(format!("no {} Redis is configured", ctx.transition.to)),
        Some(r) if !r.reachable => problems.push(format!(
            "target Redis {} is unreachable: {}",
            r.addr,
            r.error.as_deref().unwrap_or("no answer")
        )),
        Some(_) => {}
    }
    if !to.gateways.iter().any(|g| g.reachable) {
        problems.push(format!("no {} gateway answers /hello", ctx.transition.to));
    }
    let source_up = from.redis.first().is_some_and(|r| r.reachable);
    let limit = p
        .max_canary_age
        .unwrap_or(ctx.config.drills.max_rpo)
        .as_millis() as i64;
    // The canary flows from the configured active side; after a failover the probe reads it
    // the other way round, so only judge replication lag on a failover with the source up.
    let target_is_primary = to.redis.first().is_some_and(|r| r.is_primary());
    if source_up && !target_is_primary && ctx.transition.from == crate::config::Side::Active {
        if let Some(age) = s.canary.age_ms.filter(|age| *age > limit) {
            problems.push(format!(
                "replication lags: the target's canary is {age} ms old (limit {limit} ms)"
            ));
        }
    }
    let observed = json!({
        "target_redis": to.redis.first(),
        "target_gateways_answering": to.gateways.iter().filter(|g| g.reachable).count(),
        "source_redis_reachable": source_up,
        "source_gateways_answering": from.gateways.iter().filter(|g| g.reachable).count(),
        "canary_age_ms": s.canary.age_ms,
        "problems": problems,
    });
    let actions = problems.iter().map(|p| format!("refuse: {p}")).collect();
    Ok(Observation::new(observed, actions))
}

pub(super) fn act(ctx: &Ctx, _p: &PreflightParams, obs: &Observation) -> Result<Facts, StepError> {
    let mut facts = fact(
        "source_reachable",
        obs.observed["source_redis_reachable"].clone(),
    );
    facts.insert(
        "expected_rpo_ms".into(),
        obs.observed["canary_age_ms"].clone(),
    );
    if !obs.actions.is_empty() && !ctx.force {
        let reasons: Vec<&str> = obs
            .actions
            .iter()
            .map(|a| a.trim_start_matches("refuse: "))
            .collect();
        return Err(StepError::Refused(reasons.join("; ")));
    }
    Ok(facts)
}
