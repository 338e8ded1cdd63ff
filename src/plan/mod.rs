//! `plan` / `apply` / `destroy`: converge AWS to `tyk-dr.toml` without a state file.
//!
//! ```text
//! config ──► desired (Vec<Desired>) ─┐
//!                                    ├─► diff ──► Plan (data; --out plan.json) ──► execute ──► journal
//! AWS (by tags) ──► observe (World) ─┘
//! ```
//! Resources are found by their `tyk-dr:project` / `tyk-dr:region` / `tyk-dr:component` /
//! `tyk-dr:key` tags, so there is no state file to lose; a saved plan carries the fingerprint
//! of the world it was computed from and is refused once the world has changed.

pub mod aws_error;
pub mod clients;
pub mod desired;
pub mod diff;
pub mod execute;
pub mod journal;
pub mod model;
pub mod observe;
pub mod render;

use crate::config::Config;
use crate::error::Error;

/// Observes the world and computes the plan for `desired` (the config, or nothing for
/// `destroy`). Returns the plan and the world it was computed from.
pub async fn compute(
    cfg: &Config,
    clients: &clients::Clients,
    desired: &[model::Desired],
) -> Result<(diff::Plan, model::World), Error> {
    let before = clients.calls.get();
    let world = observe::observe(cfg, clients).await?;
    let plan = diff::diff(&cfg.project, desired, &world, clients.calls.get() - before);
    Ok((plan, world))
}
