//! The step kinds a playbook can use. Each step first observes the world
//! ([`StepKind::observe`], read-only; all `--dry-run` calls) and then acts only
//! on what the observation says still needs doing ([`StepKind::act`]), so a
//! step re-run after a crash converges instead of repeating itself.

mod dns;
mod elasticache;
mod extras;
mod fence;
mod gateways;
mod mongo;
mod preflight;
mod redis;
mod sentinel;
mod verify;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::context::Ctx;
use super::model::params;

pub use elasticache::{Caches, PROMOTION_TIMEOUT};
pub use extras::{confirm as extras_confirm, ApprovalParams, WebhookParams};
pub use preflight::PreflightParams;
pub use redis::PromoteParams;
pub use verify::VerifyParams;

/// Steps that take no parameters reject any `with:` keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Every step kind, with its parameters.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", content = "with", rename_all = "kebab-case")]
pub enum StepKind {
    /// Is the target healthy, and how much data would be lost (canary age)? Refuses unless `--force`.
    Preflight(PreflightParams),
    /// Failback: make the returning region's Redis a replica of the current primary and wait until it caught up.
    ResyncRedis(NoParams),
    /// Take the epoch, fence the source gateways, pause writes on the source Redis.
    Fence(NoParams),
    /// Promote the target Redis (after it caught up when the source is reachable); demote the source.
    PromoteRedis(PromoteParams),
    /// Point the Redis CNAME at the target's primary and wait for INSYNC.
    FlipCname(NoParams),
    /// Unfence the target gateways and make every gateway drop and re-resolve its Redis connections.
    RecycleGateways(NoParams),
    /// Move the MongoDB primary: reconfig priorities and step down; forced reconfig only when confirmed.
    Mongo(NoParams),
    /// Move the global name: an UPSERT (`upsert` mode) or waiting for Route 53 failover (`health` mode).
    FlipDns(NoParams),
    /// Resolve the global name and require authenticated answers from the target region.
    Verify(VerifyParams),
    /// Summarise the run (the report is also written at the end of every run).
    Report(NoParams),
    /// POST a JSON notification.
    Webhook(WebhookParams),
    /// Wait for an operator's confirmation.
    Approval(ApprovalParams),
}

const KINDS: &[&str] = &[
    "preflight",
    "resync-redis",
    "fence",
    "promote-redis",
    "flip-cname",
    "recycle-gateways",
    "mongo",
    "flip-dns",
    "verify",
    "report",
    "webhook",
    "approval",
];

/// Why a step failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// The step could not do its job.
    #[error("{0}")]
    Failed(String),
    /// Preflight found the target unfit; `--force` overrides.
    #[error("refused: {0}; pass --force to fail over anyway")]
    Refused(String),
    /// Another run holds the epoch: this run must stop without touching anything.
    #[error("{0}")]
    LostEpoch(String),
}

/// What a step saw, and what it would do about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observation {
    /// The relevant state of the world, for the journal.
    pub observed: Value,
    /// Changes still needed, one sentence each; empty when the step has nothing to do.
    pub actions: Vec<String>,
}

impl Observation {
    fn new(observed: Value, actions: Vec<String>) -> Self {
        Self { observed, actions }
    }
}

/// Facts a step hands to later steps.
pub type Facts = Map<String, Value>;

impl StepKind {
    /// Builds a step from its YAML name and `with:` block.
    pub fn compile(name: &str, with: serde_norway::Value) -> Result<Self, String> {
        Ok(match name {
            "preflight" => Self::Preflight(params(with)?),
            "resync-redis" => Self::ResyncRedis(params(with)?),
            "fence" => Self::Fence(params(with)?),
            "promote-redis" => Self::PromoteRedis(params(with)?),
            "flip-cname" => Self::FlipCname(params(with)?),
            "recycle-gateways" => Self::RecycleGateways(params(with)?),
            "mongo" => Self::Mongo(params(with)?),
            "flip-dns" => Self::FlipDns(params(with)?),
            "verify" => Self::Verify(params(with)?),
            "report" => Self::Report(params(with)?),
            "webhook" => Self::Webhook(params(with)?),
            "approval" => Self::Approval(params(with)?),
            other => {
                let close = KINDS
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(other, k))
                    .filter(|k| strsim::levenshtein(other, k) <= 3);
                let hint = close
                    .map(|k| format!("did you mean `{k}`? "))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown step `{other}`; {hint}known steps: {}",
                    KINDS.join(", ")
                ));
            }
        })
    }

    /// The time limit when the playbook gives none.
    pub fn default_timeout(name: &str) -> Duration {
        Duration::from_secs(match name {
            "verify" | "flip-dns" | "resync-redis" | "mongo" => 60,
            "approval" => 3600,
            _ => 30,
        })
    }

    /// A longer time limit than the playbook's that this step needs with this topology: promoting
    /// a Global Datastore takes AWS minutes, not the seconds a self-managed promotion takes.
    pub fn timeout_floor(&self, ctx: &Ctx) -> Option<Duration> {
        match self {
            Self::PromoteRedis(_) if !ctx.self_managed() => Some(PROMOTION_TIMEOUT),
            _ => None,
        }
    }

    /// Reads the world; never changes it.
    pub async fn observe(&self, ctx: &Ctx) -> Result<Observation, StepError> {
        match self {
            Self::Preflight(p) => preflight::observe(ctx, p).await,
            Self::ResyncRedis(_) if !ctx.self_managed() => elasticache::observe_resync(ctx).await,
            Self::ResyncRedis(_) => redis::observe_resync(ctx).await,
            Self::Fence(_) => fence::observe(ctx).await,
            Self::PromoteRedis(_) if !ctx.self_managed() => elasticache::observe_promote(ctx).await,
            Self::PromoteRedis(_) => redis::observe_promote(ctx).await,
            Self::FlipCname(_) => dns::observe_cname(ctx).await,
            Self::RecycleGateways(_) => gateways::observe(ctx).await,
            Self::Mongo(_) => mongo::observe(ctx).await,
            Self::FlipDns(_) => dns::observe_global(ctx).await,
            Self::Verify(_) => Ok(Observation::new(
                Value::Null,
                vec!["send authenticated requests through the global name".into()],
            )),
            Self::Report(_) => Ok(Observation::new(
                Value::Null,
                vec!["summarise the run".into()],
            )),
            Self::Webhook(p) => Ok(Observation::new(
                Value::Null,
                vec![format!("POST a notification to {}", p.url)],
            )),
            Self::Approval(p) => Ok(Observation::new(
                Value::Null,
                vec![format!("ask: {}", p.message)],
            )),
        }
    }

    /// Makes the changes the observation calls for; returns facts for later steps.
    pub async fn act(&self, ctx: &Ctx, obs: &Observation) -> Result<Facts, StepError> {
        match self {
            Self::Preflight(p) => preflight::act(ctx, p, obs),
            Self::ResyncRedis(_) => redis::resync(ctx, obs).await,
            Self::Fence(_) => fence::act(ctx, obs).await,
            Self::PromoteRedis(_) if !ctx.self_managed() => elasticache::promote(ctx).await,
            Self::PromoteRedis(p) => redis::promote(ctx, p, obs).await,
            Self::FlipCname(_) => dns::flip_cname(ctx, obs).await,
            Self::RecycleGateways(_) => gateways::recycle(ctx).await,
            Self::Mongo(_) => mongo::act(ctx).await,
            Self::FlipDns(_) => dns::flip_global(ctx, obs).await,
            Self::Verify(p) => verify::run(ctx, p).await,
            Self::Report(_) => Ok(Facts::new()),
            Self::Webhook(p) => extras::webhook(ctx, p).await,
            Self::Approval(p) => extras::approval(ctx, p),
        }
    }
}

/// `{"key": value}` as facts.
fn fact(key: &str, value: impl Into<Value>) -> Facts {
    let mut f = Facts::new();
    f.insert(key.to_owned(), value.into());
    f
}
