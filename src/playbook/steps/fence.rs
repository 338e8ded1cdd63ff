//! `fence`: take the epoch (so a concurrent run stops here), then make the
//! source unable to take writes: its gateways answer 503 and its Redis primary
//! pauses writes. An unreachable source is recorded, never waited on.

use futures_util::future::join_all;
use serde::Serialize;

use super::{unit_steps, Observation, Step, StepError};
use crate::playbook::context::RunContext;
use crate::playbook::epoch::{self, Epoch, EpochError};
use crate::playbook::facts::RunFacts;
use crate::probes::redis::{self as redis_probe, RedisProbe};

unit_steps! {
    /// `fence`: take the epoch, fence the source gateways, pause writes on the source Redis.
    Fence,
}

/// What fence found.
#[derive(Debug, Clone, Serialize)]
pub struct FenceSeen {
    /// The epoch record as it was.
    epoch: Option<Epoch>,
    /// The source's Redis primary.
    source_redis: SourceRedis,
}

/// The source's Redis as fence sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SourceRedis {
    /// Self-managed: the primary, as probed.
    Probed(RedisProbe),
    /// ElastiCache: nothing to probe, and why.
    NotProbed(&'static str),
}

impl Step for Fence {
    type Seen = FenceSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<FenceSeen>, StepError> {
        observe(ctx).await
    }

    async fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<FenceSeen>,
    ) -> Result<RunFacts, StepError> {
        act(ctx, obs).await
    }
}

/// How long the source Redis pauses writes; promote-redis demotes it well before this ends.
const PAUSE_MS: u64 = 120_000;

async fn observe(ctx: &RunContext) -> Result<Observation<FenceSeen>, StepError> {
    let zone = public_zone(ctx).await?;
    let current = epoch::read(&ctx.route53, &zone, &ctx.config.dns.global_name)
        .await
        .map_err(StepError::Failed)?;
    let target_region = ctx.region(ctx.transition.to).to_owned();
    let mut actions = Vec::new();
    // When the epoch already names the target (this run took it before a crash), it is kept.
    if current
        .as_ref()
        .is_none_or(|(e, _)| e.active != target_region)
    {
        let next = current.as_ref().map_or(1, |(e, _)| e.number + 1);
        actions.push(format!("move the epoch to {next} (active={target_region})"));
    }
    let source = ctx.transition.from;
    for url in ctx.config.gateway.endpoints.of(source) {
        actions.push(format!("fence gateway {url}"));
    }
    if !ctx.self_managed() {
        // ElastiCache: AWS's failover makes the old primary group read-only itself.
        return Ok(Observation::new(
            FenceSeen {
                epoch: current.map(|(e, _)| e),
                source_redis: SourceRedis::NotProbed(
                    "ElastiCache: demoted by the Global Datastore failover",
                ),
            },
            actions,
        ));
    }
    let source_primary = ctx.redis_primary(source)?;
    let probe = ctx.probe_source_redis().await?;
    if probe.reachable && probe.is_primary() {
        actions.push(if ctx.is_protected(source_primary) {
            format!("read the replication offset of {source_primary} (serves customers: never paused by a shadow drill)")
        } else {
            format!("pause writes on {source_primary}")
        });
    }
    Ok(Observation::new(
        FenceSeen {
            epoch: current.map(|(e, _)| e),
            source_redis: SourceRedis::Probed(probe),
        },
        actions,
    ))
}

async fn act(ctx: &RunContext, obs: &Observation<FenceSeen>) -> Result<RunFacts, StepError> {
    let mut facts = RunFacts::default();
    let zone = public_zone(ctx).await?;
    let global = &ctx.config.dns.global_name;
    let target_region = ctx.region(ctx.transition.to).to_owned();
    let current = epoch::read(&ctx.route53, &zone, global)
        .await
        .map_err(StepError::Failed)?;
    match &current {
        Some((e, _)) if e.active == target_region => {
            // Ours only if this run took it: recorded by a finished fence step, or this is the
            // retry of a fence step that crashed after moving the epoch.
            let ours = ctx.facts.epoch == Some(e.number)
                || ctx.retrying
                || epoch::read_claim(&ctx.route53, &zone, global, e.number)
                    .await
                    .is_ok_and(|c| c.as_deref() == Some(claim(ctx).as_str()));
            if !ours {
                return Err(StepError::LostEpoch(format!(
                    "epoch {} already names {target_region}: another (or an earlier) run did this failover; this run changed nothing",
                    e.number
                )));
            }
            facts.epoch = Some(e.number);
        }
        _ => {
            let next = Epoch {
                active: target_region.clone(),
                number: current.as_ref().map_or(1, |(e, _)| e.number + 1),
            };
            let claim = claim(ctx);
            match epoch::advance(&ctx.route53, &zone, global, current.as_ref().map(|(_, r)| r), &next, &claim).await {
                Ok(()) => {
                    facts.epoch = Some(next.number);
                }
                Err(EpochError::Lost(n)) => {
                    return Err(StepError::LostEpoch(format!(
                        "another failover took epoch {n} ({claim}) first; this run changed nothing. Watch it with `tyk-dr status`"
                    )))
                }
                Err(EpochError::Api(e)) => return Err(StepError::Failed(format!("moving the epoch: {e}"))),
            }
        }
    }
    facts.fenced_at_ms = Some(crate::probes::now_ms());
    // Every source component at once, each bounded: a dead or hung region costs one timeout,
    // and gateways preflight already found silent cost nothing (they are recorded as unreachable).
    let down: &[String] = ctx
        .facts
        .source_gateways_down
        .as_deref()
        .unwrap_or_default();
    let fences = join_all(
        ctx.config
            .gateway
            .endpoints
            .of(ctx.transition.from)
            .iter()
            .map(|url| {
                let skip = down.contains(url);
                async move {
                    if skip {
                        return (
                            url,
                            Err(format!("{url}: did not answer at preflight; not fenced")),
                        );
                    }
                    (
                        url,
                        ctx.gateway_call(reqwest::Method::POST, url, "/tyk/dr/fence")
                            .await,
                    )
                }
            }),
    );
    let source_primary = if ctx.self_managed() {
        ctx.redis_primary(ctx.transition.from)?
    } else {
        ""
    };
    let pause_wanted = matches!(&obs.observed.source_redis, SourceRedis::Probed(p) if p.reachable && p.is_primary());
    let pause = async {
        if !pause_wanted {
            return None;
        }
        let protected = ctx.is_protected(source_primary);
        Some(
            tokio::time::timeout(
                crate::probes::PROBE_TIMEOUT,
                pause_writes(ctx, source_primary, !protected),
            )
            .await
            .unwrap_or_else(|_| Err(format!("{source_primary}: no answer"))),
        )
    };
    let (fences, paused) = tokio::join!(fences, pause);
    let mut unreachable = Vec::new();
    for (url, result) in fences {
        match result {
            Ok(200..=299) => {}
            Ok(403) => {
                return Err(StepError::Failed(format!(
                    "{url} refused the management secret (TYK_DR_GATEWAY_SECRET)"
                )))
            }
            Ok(code) => unreachable.push(format!("{url}: HTTP {code}")),
            Err(e) => unreachable.push(e),
        }
    }
    facts.source_gateways_unreachable = Some(unreachable);
    match paused {
        Some(Ok(offset)) => facts.source_offset = Some(offset),
        Some(Err(e)) => facts.source_redis_error = Some(e),
        None => {}
    }
    Ok(facts)
}

/// This run's claim on the epoch: the transition and the run id (unique to the run).
fn claim(ctx: &RunContext) -> String {
    format!(
        "{}->{} run={}",
        ctx.region(ctx.transition.from),
        ctx.region(ctx.transition.to),
        ctx.run_id
    )
}

/// `CLIENT PAUSE .. WRITE` on the source primary (unless `pause` is false: a shadow drill only
/// reads the customers' primary); returns its replication offset, read after the pause.
async fn pause_writes(ctx: &RunContext, addr: &str, pause: bool) -> Result<i64, String> {
    let mut con = redis_probe::connect(addr, &ctx.redis).await?;
    if pause {
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(PAUSE_MS)
            .arg("WRITE")
            .query_async::<()>(&mut con)
            .await
            .map_err(|e| e.to_string())?;
    }
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut con)
        .await
        .map_err(|e| e.to_string())?;
    redis_probe::parse_info(&info)
        .get("master_repl_offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no master_repl_offset in INFO".to_owned())
}

/// The public zone holding the global name and the epoch record.
pub(super) async fn public_zone(ctx: &RunContext) -> Result<String, StepError> {
    Ok(ctx
        .zones_named(&ctx.config.dns.public_zone, false)
        .await?
        .remove(0)
        .id)
}
