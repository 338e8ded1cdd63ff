//! Redis steps for self-managed servers: `promote-redis` (and the demotion of
//! the old primary) and `resync-redis` (failback's first move). The ElastiCache
//! backend's versions are in [`super::elasticache`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{unit_steps, Observation, Step, StepError};
use crate::playbook::context::RunContext;
use crate::playbook::facts::{Resync, RunFacts};
use crate::probes::redis::{self as redis_probe, RedisProbe, CANARY_KEY};

unit_steps! {
    /// `resync-redis`: make the returning region's Redis a replica of the current primary and
    /// wait until it caught up (failback's first move).
    ResyncRedis,
}

/// What promote-redis found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PromoteSeen {
    /// Self-managed: both primaries, as probed.
    SelfManaged {
        /// The source's primary.
        source: Box<RedisProbe>,
        /// The target's primary.
        target: Box<RedisProbe>,
    },
    /// ElastiCache: the Global Datastore and the decision (see [`super::elasticache`]).
    ElastiCache(Value),
}

impl Step for PromoteParams {
    type Seen = PromoteSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<PromoteSeen>, StepError> {
        if ctx.self_managed() {
            observe_promote(ctx).await
        } else {
            let obs = super::elasticache::observe_promote(ctx).await?;
            Ok(Observation::new(
                PromoteSeen::ElastiCache(obs.observed),
                obs.actions,
            ))
        }
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<PromoteSeen>,
    ) -> Result<RunFacts, StepError> {
        match &obs.observed {
            PromoteSeen::SelfManaged { source, target } => promote(ctx, self, source, target).await,
            PromoteSeen::ElastiCache(_) => super::elasticache::promote(ctx).await,
        }
    }

    /// Promoting a Global Datastore takes AWS minutes, not the seconds a self-managed one takes.
    fn timeout_floor(&self, ctx: &RunContext) -> Option<Duration> {
        (!ctx.self_managed()).then_some(super::PROMOTION_TIMEOUT)
    }
}

/// What resync-redis found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ResyncSeen {
    /// Self-managed: the returning primary, as probed.
    SelfManaged {
        /// The returning region's primary.
        returning: RedisProbe,
        /// It serves customers (a shadow drill) and was never demoted.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        protected: bool,
    },
    /// ElastiCache: the returning group's datastore.
    ElastiCache(Value),
}

impl Step for ResyncRedis {
    type Seen = ResyncSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<ResyncSeen>, StepError> {
        if ctx.self_managed() {
            observe_resync(ctx).await
        } else {
            let obs = super::elasticache::observe_resync(ctx).await?;
            Ok(Observation::new(
                ResyncSeen::ElastiCache(obs.observed),
                obs.actions,
            ))
        }
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<ResyncSeen>,
    ) -> Result<RunFacts, StepError> {
        match &obs.observed {
            ResyncSeen::SelfManaged {
                returning,
                protected,
            } => resync(ctx, returning, *protected).await,
            // ElastiCache observes nothing to do or fails: AWS keeps the secondary in sync.
            ResyncSeen::ElastiCache(_) => Ok(RunFacts::default()),
        }
    }

    fn default_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

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
fn uses_sentinel(ctx: &RunContext) -> bool {
    ctx.config
        .redis
        .self_managed
        .as_ref()
        .is_some_and(|sm| !sm.sentinels.is_empty())
}

fn host_port(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap_or((addr, "6379"))
}

async fn run(addr: &str, ctx: &RunContext, cmd: &mut redis::Cmd) -> Result<(), StepError> {
    let mut con = redis_probe::connect(addr, &ctx.redis)
        .await
        .map_err(StepError::Failed)?;
    cmd.query_async::<()>(&mut con)
        .await
        .map_err(|e| StepError::Failed(format!("{addr}: {e}")))
}

async fn replicaof(ctx: &RunContext, addr: &str, primary: Option<&str>) -> Result<(), StepError> {
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
    ctx: &RunContext,
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

async fn observe_promote(ctx: &RunContext) -> Result<Observation<PromoteSeen>, StepError> {
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
        PromoteSeen::SelfManaged {
            source: Box::new(source),
            target: Box::new(target),
        },
        actions,
    ))
}

async fn promote(
    ctx: &RunContext,
    p: &PromoteParams,
    source: &RedisProbe,
    target: &RedisProbe,
) -> Result<RunFacts, StepError> {
    let (s, t) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    let mut facts = RunFacts::default();
    if !target.is_primary() {
        if let Some(offset) = ctx.facts.source_offset {
            // Planned failover: the source is paused; let the target drain its stream first (RPO 0).
            let caught = wait_until(ctx, t, p.catch_up_timeout, |r| {
                r.offset.is_some_and(|o| o >= offset)
            })
            .await;
            facts.caught_up = Some(caught.is_some());
        }
        if uses_sentinel(ctx) {
            facts.merge(super::sentinel::failover(ctx, t).await?);
        } else {
            replicaof(ctx, t, None).await?;
        }
        facts.promoted_at_ms = Some(crate::probes::now_ms());
    }
    // The newest canary the new primary holds bounds the data this failover lost.
    if let Ok(mut con) = redis_probe::connect(t, &ctx.redis).await {
        let canary: Option<i64> = redis::AsyncCommands::get(&mut con, CANARY_KEY)
            .await
            .ok()
            .flatten();
        facts.canary_ms = canary;
    }
    if source.reachable && source.is_primary() && !ctx.is_protected(s) {
        replicaof(ctx, s, Some(t)).await?;
        run(s, ctx, redis::cmd("CLIENT").arg("UNPAUSE")).await?;
        facts.source_demoted = Some(true);
    }
    Ok(facts)
}

async fn observe_resync(ctx: &RunContext) -> Result<Observation<ResyncSeen>, StepError> {
    let (current, returning) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    let probe = redis_probe::probe(returning, &ctx.redis).await;
    if ctx.is_protected(returning) && probe.is_primary() {
        // A shadow drill never demoted the customers' primary: it has nothing to catch up on.
        return Ok(Observation::new(
            ResyncSeen::SelfManaged {
                returning: probe,
                protected: true,
            },
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
    Ok(Observation::new(
        ResyncSeen::SelfManaged {
            returning: probe,
            protected: false,
        },
        actions,
    ))
}

async fn resync(
    ctx: &RunContext,
    seen: &RedisProbe,
    protected: bool,
) -> Result<RunFacts, StepError> {
    let (current, returning) = (
        ctx.redis_primary(ctx.transition.from)?,
        ctx.redis_primary(ctx.transition.to)?,
    );
    if protected {
        return Ok(RunFacts {
            resynced: Some(Resync::NotNeeded("not needed: never demoted".into())),
            ..Default::default()
        });
    }
    if seen.primary.as_deref() != Some(current) {
        replicaof(ctx, returning, Some(current)).await?;
    }
    // Bounded by the step's timeout, which the engine enforces around this call.
    let synced = wait_until(ctx, returning, Duration::from_secs(3600), |r| {
        r.link_up == Some(true) && r.primary.as_deref() == Some(current)
    })
    .await;
    Ok(RunFacts {
        resynced: Some(Resync::Synced(synced.is_some())),
        ..Default::default()
    })
}
