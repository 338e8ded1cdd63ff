//! Redis steps for self-managed servers: `promote-redis` (and the demotion of
//! the old primary) and `resync-redis` (failback's first move). The ElastiCache
//! backend's versions are in [`super::elasticache`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Facts, Observation, StepError};
use crate::playbook::context::Ctx;
use crate::probes::redis::{self as redis_probe, RedisProbe, CANARY_KEY};

/// Parameters of `promote-redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteParams {
    /// When the source is reachable, how long to wait for the target to reach the source's offset.
    #[serde(default = "PromoteParams::default_catch_up", with = "humantime_serde")]
    pub catch_up_timeout: Duration,
}

impl PromoteParams {
    fn default_catch_up() -> Duration {
        Duration::from_secs(5)
    }
}

impl Default for PromoteParams {
    fn default() -> Self {
        Self {
            catch_up_timeout: Self::default_catch_up(),
        }
    }
}

/// Sentinel watches these servers: promotion goes through it so it does not undo ours.
fn uses_sentinel(ctx: &Ctx) -> bool {
    ctx.config
        .redis
        .self_managed
        .as_ref()
        .is_some_and(|sm| !sm.sentinels.is_empty())
}

fn host_port(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap_or((addr, "6379"))
}

async fn run(addr: &str, ctx: &Ctx, cmd: &mut redis::Cmd) -> Result<(), StepError> {
    let mut con = redis_probe::connect(addr, &ctx.redis)
        .await
        .map_err(StepError::Failed)?;
    cmd.query_async::<()>(&mut con)
        .await
        .map_err(|e| StepError::Failed(format!("{addr}: {e}")))
}

async fn replicaof(ctx: &Ctx, addr: &str, primary: Option<&str>) -> Result<(), StepError> {
    let mut cmd = redis::cmd("REPLICAOF");
    match primary {
        Some(p) => {
            let (h, port) = host_port(p);
            cmd.arg(h).arg(port);
        }
        None => {
            cmd.arg("NO").arg("ONE");
        }
    }
    run(addr, ctx, &mut cmd).await
}

/// Polls `addr` until `done` holds for its probe, or `limit` passes.
async fn wait_until(
    ctx: &Ctx,
    addr: &str,
    limit: Duration,
    done: impl Fn(&RedisProbe) -> bool,
) -> Option<RedisProbe> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let p = redis_probe::probe(addr, &ctx.redis).await;
        if done(&p) {
            return Some(p);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(super) async fn observe_promote(ctx: &Ctx) -> Result<Observation, StepError> {
    let (s, t) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    let source = ctx.probe_source_redis();
    let (source, target) = tokio::join!(source, redis_probe::probe(t, &ctx.redis));
    let source = source?;
    let mut actions = Vec::new();
    if !target.is_primary() {
        actions.push(if uses_sentinel(ctx) {
            format!("promote {t} (SENTINEL FAILOVER, {t} the preferred replica)")
        } else {
            format!("promote {t} (REPLICAOF NO ONE)")
        });
    }
    if source.reachable && source.is_primary() && !ctx.is_protected(s) {
        actions.push(format!("demote {s} to a replica of {t}"));
    }
    Ok(Observation::new(
        json!({"source": source, "target": target}),
        actions,
    ))
}

pub(super) async fn promote(
    ctx: &Ctx,
    p: &PromoteParams,
    obs: &Observation,
) -> Result<Facts, StepError> {
    let (s, t) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    let mut facts = Facts::new();
    if obs.observed["target"]["role"] != "master" {
        if let Some(offset) = ctx.fact_i64("source_offset") {
            // Planned failover: the source is paused; let the target drain its stream first (RPO 0).
            let caught = wait_until(ctx, t, p.catch_up_timeout, |r| {
                r.offset.is_some_and(|o| o >= offset)
            })
            .await;
            facts.insert("caught_up".into(), json!(caught.is_some()));
        }
        if uses_sentinel(ctx) {
            facts.extend(super::sentinel::failover(ctx, t).await?);
        } else {
            replicaof(ctx, t, None).await?;
        }
        facts.insert("promoted_at_ms".into(), json!(crate::probes::now_ms()));
    }
    // The newest canary the new primary holds bounds the data this failover lost.
    if let Ok(mut con) = redis_probe::connect(t, &ctx.redis).await {
        let canary: Option<i64> = redis::AsyncCommands::get(&mut con, CANARY_KEY)
            .await
            .ok()
            .flatten();
        facts.insert("canary_ms".into(), json!(canary));
    }
    if obs.observed["source"]["reachable"] == true
        && obs.observed["source"]["role"] == "master"
        && !ctx.is_protected(s)
    {
        replicaof(ctx, s, Some(t)).await?;
        run(s, ctx, redis::cmd("CLIENT").arg("UNPAUSE")).await?;
        facts.insert("source_demoted".into(), json!(true));
    }
    Ok(facts)
}

pub(super) async fn observe_resync(ctx: &Ctx) -> Result<Observation, StepError> {
    let (current, returning) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    let probe = redis_probe::probe(returning, &ctx.redis).await;
    if ctx.is_protected(returning) && probe.is_primary() {
        // A shadow drill never demoted the customers' primary: it has nothing to catch up on.
        return Ok(Observation::new(
            json!({"returning": probe, "protected": true}),
            Vec::new(),
        ));
    }
    let mut actions = Vec::new();
    if !probe.reachable {
        return Err(StepError::Failed(format!(
            "{returning} is unreachable: bring the returning region's Redis back before failing back"
        )));
    }
    if probe.primary.as_deref() != Some(current) {
        actions.push(format!(
            "make {returning} a replica of {current} (full resync)"
        ));
    }
    if probe.link_up != Some(true) {
        actions.push(format!(
            "wait until {returning} has caught up with {current}"
        ));
    }
    Ok(Observation::new(json!({"returning": probe}), actions))
}

pub(super) async fn resync(ctx: &Ctx, obs: &Observation) -> Result<Facts, StepError> {
    let (current, returning) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    if obs.observed["protected"] == true {
        return Ok(super::fact("resynced", json!("not needed: never demoted")));
    }
    if obs.observed["returning"]["primary"] != current {
        replicaof(ctx, returning, Some(current)).await?;
    }
    // Bounded by the step's timeout, which the engine enforces around this call.
    let synced = wait_until(ctx, returning, Duration::from_secs(3600), |r| {
        r.link_up == Some(true) && r.primary.as_deref() == Some(current)
    })
    .await;
    Ok(super::fact("resynced", json!(synced.is_some())))
}
