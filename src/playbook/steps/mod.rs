//! The step kinds a playbook can use. Each is a [`Step`]: it first observes the
//! world ([`Step::observe`], read-only; all `--dry-run` calls) and then acts only
//! on what the observation says still needs doing ([`Step::act`]), so a step
//! re-run after a crash converges instead of repeating itself. [`StepKind`] is
//! the compiled playbook's list of them.

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

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::context::RunContext;
use super::facts::RunFacts;
use super::model::params;

pub use dns::{FlipCname, FlipDns};
pub use elasticache::{Caches, PROMOTION_TIMEOUT};
pub use extras::{confirm, ApprovalParams, Summary, WebhookParams};
pub use fence::Fence;
pub use gateways::RecycleGateways;
pub use mongo::MoveMongo;
pub use preflight::PreflightParams;
pub use redis::{PromoteParams, ResyncRedis};
pub use verify::VerifyParams;

/// One kind of playbook step: it observes the world without changing it, then acts only on
/// what the observation says still needs doing, so a step re-run after a crash converges.
/// The engine journals what it observed and merges the facts it returns into the run's.
pub trait Step {
    /// What the step observed: typed for its `act`, journaled (and printed by `--dry-run`) as JSON.
    type Seen: Serialize;

    /// Reads the world; never changes it.
    fn observe(
        &self,
        ctx: &RunContext,
    ) -> impl Future<Output = Result<Observation<Self::Seen>, StepError>>;

    /// Makes the changes `obs` calls for; returns the facts learned, for later steps and the report.
    fn act(
        &self,
        ctx: &RunContext,
        obs: &Observation<Self::Seen>,
    ) -> impl Future<Output = Result<RunFacts, StepError>>;

    /// The time limit when the playbook gives none.
    fn default_timeout(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// A longer time limit than the playbook's that this step needs with this topology.
    fn timeout_floor(&self, _ctx: &RunContext) -> Option<Duration> {
        None
    }

    /// Whether `act` runs even when the observation lists nothing to do (steps whose act
    /// records facts or checks the result, rather than changing the world).
    fn acts_when_idle(&self) -> bool {
        false
    }
}

/// Observes, then acts when the observation (or the step's nature) calls for it.
async fn observe_then_act<S: Step>(
    step: &S,
    ctx: &RunContext,
) -> Result<(Observation, RunFacts), StepError> {
    let obs = step.observe(ctx).await?;
    let facts = if obs.actions.is_empty() && !step.acts_when_idle() {
        RunFacts::default()
    } else {
        step.act(ctx, &obs).await?
    };
    Ok((obs.into_json(), facts))
}

/// Declares steps that take no parameters (and so reject any `with:` keys).
macro_rules! unit_steps {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {}
    )*};
}
pub(crate) use unit_steps;

/// Every step kind, with its parameters.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", content = "with", rename_all = "kebab-case")]
pub enum StepKind {
    /// Is the target healthy, and how much data would be lost (canary age)? Refuses unless `--force`.
    Preflight(PreflightParams),
    /// Failback: make the returning region's Redis a replica of the current primary and wait until it caught up.
    ResyncRedis(ResyncRedis),
    /// Take the epoch, fence the source gateways, pause writes on the source Redis.
    Fence(Fence),
    /// Promote the target Redis (after it caught up when the source is reachable); demote the source.
    PromoteRedis(PromoteParams),
    /// Point the Redis CNAME at the target's primary and wait for INSYNC.
    FlipCname(FlipCname),
    /// Unfence the target gateways and make every gateway drop and re-resolve its Redis connections.
    RecycleGateways(RecycleGateways),
    /// Move the MongoDB primary: reconfig priorities and step down; forced reconfig only when confirmed.
    Mongo(MoveMongo),
    /// Move the global name: an UPSERT (`upsert` mode) or waiting for Route 53 failover (`health` mode).
    FlipDns(FlipDns),
    /// Resolve the global name and require authenticated answers from the target region.
    Verify(VerifyParams),
    /// Summarise the run (the report is also written at the end of every run).
    Report(Summary),
    /// POST a JSON notification.
    Webhook(WebhookParams),
    /// Wait for an operator's confirmation.
    Approval(ApprovalParams),
}

/// Runs `$body` with `$s` bound to the step inside any [`StepKind`].
macro_rules! each_step {
    ($kind:expr, $s:ident => $body:expr) => {
        match $kind {
            StepKind::Preflight($s) => $body,
            StepKind::ResyncRedis($s) => $body,
            StepKind::Fence($s) => $body,
            StepKind::PromoteRedis($s) => $body,
            StepKind::FlipCname($s) => $body,
            StepKind::RecycleGateways($s) => $body,
            StepKind::Mongo($s) => $body,
            StepKind::FlipDns($s) => $body,
            StepKind::Verify($s) => $body,
            StepKind::Report($s) => $body,
            StepKind::Webhook($s) => $body,
            StepKind::Approval($s) => $body,
        }
    };
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
pub struct Observation<T = Value> {
    /// The relevant state of the world, for the step's `act` and the journal.
    pub observed: T,
    /// Changes still needed, one sentence each; empty when the step has nothing to do.
    pub actions: Vec<String>,
}

impl<T: Serialize> Observation<T> {
    fn new(observed: T, actions: Vec<String>) -> Self {
        Self { observed, actions }
    }

    /// The observation with what was seen as JSON, for the journal and `--dry-run`.
    pub fn into_json(self) -> Observation {
        Observation {
            observed: serde_json::to_value(&self.observed).expect("observations serialise"),
            actions: self.actions,
        }
    }
}

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
    pub fn default_timeout(&self) -> Duration {
        each_step!(self, s => s.default_timeout())
    }

    /// The time limit for this topology: the playbook's, raised to what the step needs here
    /// (promoting a Global Datastore takes AWS minutes, not the seconds a self-managed one takes).
    pub fn timeout(&self, ctx: &RunContext, playbook: Duration) -> Duration {
        each_step!(self, s => s.timeout_floor(ctx)).map_or(playbook, |floor| floor.max(playbook))
    }

    /// Reads the world; never changes it (all `--dry-run` does).
    pub async fn observe(&self, ctx: &RunContext) -> Result<Observation, StepError> {
        each_step!(self, s => s.observe(ctx).await.map(Observation::into_json))
    }

    /// Observes, then makes the changes the observation calls for; returns what was observed
    /// (for the journal) and the facts learned.
    pub async fn run(&self, ctx: &RunContext) -> Result<(Observation, RunFacts), StepError> {
        each_step!(self, s => observe_then_act(s, ctx).await)
    }
}
