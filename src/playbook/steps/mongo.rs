//! `mongo`: move the MongoDB replica set's primary to the target region.
//!
//! Observe reads the set (`hello` on every member listed in `[mongo.endpoints]`,
//! `replSetGetConfig` from the primary) and lists every move still needed, which is all
//! `--dry-run` prints. Act re-reads the set before each move and sends one command at a
//! time until a target member is primary with the wanted priorities:
//!
//! - a majority of votes answers: `replSetReconfig` on the primary (target members at
//!   `mongo.priority`, source members at `mongo.passive_priority`, version + 1), then
//!   `replSetStepDown` on the old primary if it still is one, then wait for the election;
//! - no majority answers (the source region is lost): `replSetReconfig` with `force: true`
//!   on a target member, keeping only the members that answer, and only with
//!   `--confirm-force-reconfig` (MongoDB: a forced reconfig must never run unattended);
//! - failback after a forced reconfig: the members it removed are added back from
//!   `[mongo.endpoints]` (one voting member per reconfig, MongoDB's limit), each with a
//!   fresh `_id`. The list is the source of truth rather than the failover's journal, which
//!   belongs to another run and may be on another machine; the removed members' old config
//!   is superseded by the higher version, and they resync (or roll back) as MongoDB decides.
//!
//! The decisions are made in `tyk_dr_mongo::plan`; this file adds the configuration, the
//! operator's consent and the waiting.

use std::time::Duration;

use serde_json::{json, Value};
use tyk_dr_mongo::{next_step, plan_all, survey, MongoAdmin, Step, Topology, View};

use super::{unit_steps, Observation, Step as PlaybookStep, StepError};
use crate::config::{Mongo, Side};
use crate::playbook::context::{RunContext, Transition};
use crate::playbook::facts::RunFacts;

/// How often act re-reads the set while waiting for an election.
const POLL: Duration = Duration::from_millis(500);

unit_steps! {
    /// `mongo`: move the MongoDB replica set's primary to the target region.
    MoveMongo,
}

impl PlaybookStep for MoveMongo {
    /// The replica set as the journal records it (act reads the set again before each move).
    type Seen = Value;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation, StepError> {
        Move::new(ctx).observe().await
    }

    async fn act(&self, ctx: &RunContext, _obs: &Observation) -> Result<RunFacts, StepError> {
        Move::new(ctx).act().await
    }

    fn default_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// One run of the step: what it needs from the context, so tests can build it with a fake.
struct Move<'a> {
    admin: &'a dyn MongoAdmin,
    mongo: &'a Mongo,
    transition: Transition,
    confirm_force: bool,
    poll: Duration,
}

impl<'a> Move<'a> {
    fn new(ctx: &'a RunContext) -> Self {
        Self {
            admin: ctx.mongo.as_ref(),
            mongo: &ctx.config.mongo,
            transition: ctx.transition,
            confirm_force: ctx.confirm_force_reconfig,
            poll: POLL,
        }
    }

    fn topology(&self) -> Result<Topology, StepError> {
        let m = self.mongo;
        if m.endpoints.is_empty() {
            return Err(StepError::Failed(
                "mongo is enabled but [mongo.endpoints] lists no members: set `active = [\"host:port\", ...]` and `passive = [...]` as the replica set names them (discovery through EC2 tags is not supported yet), or set `mongo.enabled = false`".into(),
            ));
        }
        let Transition { from, to } = self.transition;
        Ok(Topology {
            replica_set: m.replica_set.clone(),
            target: m.endpoints.of(to).to_vec(),
            source: m.endpoints.of(from).to_vec(),
            target_priority: m.priority,
            source_priority: m.passive_priority,
            target_votes: i64::from(match to {
                Side::Active => m.votes,
                Side::Passive => m.passive_votes,
            }),
        })
    }

    async fn look(&self, topo: &Topology) -> Result<View, StepError> {
        let hosts: Vec<String> = topo.source.iter().chain(&topo.target).cloned().collect();
        survey(self.admin, &hosts)
            .await
            .map_err(|e| StepError::Failed(format!("MongoDB: {e}")))
    }

    async fn observe(&self) -> Result<Observation, StepError> {
        if !self.mongo.enabled {
            return Ok(Observation::new(
                json!({"mongo": "disabled in tyk-dr.toml"}),
                Vec::new(),
            ));
        }
        let topo = self.topology()?;
        let view = self.look(&topo).await?;
        let steps = plan_all(&view, &topo).map_err(|e| StepError::Failed(e.to_string()))?;
        let actions = steps
            .iter()
            .map(|s| match s {
                Step::ForceReconfig { .. } if !self.confirm_force => {
                    format!(
                        "{} (refused without --confirm-force-reconfig)",
                        s.describe()
                    )
                }
                _ => s.describe(),
            })
            .collect();
        Ok(Observation::new(observed(&view), actions))
    }

    async fn act(&self) -> Result<RunFacts, StepError> {
        let topo = self.topology()?;
        let mut facts = RunFacts::default();
        let mut stepped_down = false;
        let mut writes = 0;
        let write_limit = 2 * (topo.source.len() + topo.target.len()) + 4;
        loop {
            let view = self.look(&topo).await?;
            let step = next_step(&view, &topo).map_err(|e| StepError::Failed(e.to_string()))?;
            match step {
                Step::Done { primary } => {
                    facts.mongo_primary = Some(primary);
                    facts.mongo_config_version = Some(view.config.version);
                    return Ok(facts);
                }
                Step::AwaitPrimary { .. } => tokio::time::sleep(self.poll).await,
                Step::StepDown { .. } if stepped_down => {
                    // Stepped down once already: the target wins once it has caught up
                    // (priority takeover); asking again would only restart the clock.
                    tokio::time::sleep(self.poll).await;
                }
                Step::StepDown { host, command } => {
                    stepped_down = true;
                    writes += 1;
                    if let Err(e) = self.admin.run_command(&host, "admin", command).await {
                        tracing::warn!(
                            "MongoDB: {e}; waiting for the target to catch up and take over"
                        );
                    }
                }
                Step::Reconfig {
                    host,
                    command,
                    summary,
                } => {
                    tracing::info!("MongoDB: {summary}");
                    writes += 1;
                    self.send(&host, command).await?;
                }
                Step::ForceReconfig {
                    host,
                    command,
                    summary,
                    removed,
                    ..
                } => {
                    if !self.confirm_force {
                        return Err(StepError::Failed(format!(
                            "refused: {summary}. A forced reconfig can roll back writes the removed members acknowledged, and MongoDB says it must never run unattended: confirm the {} region is lost, then re-run with --confirm-force-reconfig",
                            self.transition.from
                        )));
                    }
                    tracing::warn!("MongoDB: {summary}");
                    writes += 1;
                    self.send(&host, command).await?;
                    facts.mongo_forced_reconfig = Some(true);
                    facts.mongo_removed_members = Some(removed);
                }
            }
            if writes > write_limit {
                return Err(StepError::Failed(format!(
                    "MongoDB: still not converged after {writes} commands; check rs.status()"
                )));
            }
        }
    }

    async fn send(
        &self,
        host: &str,
        command: tyk_dr_mongo::bson::Document,
    ) -> Result<(), StepError> {
        self.admin
            .run_command(host, "admin", command)
            .await
            .map(|_| ())
            .map_err(|e| StepError::Failed(format!("MongoDB: {e}")))
    }
}

/// The journal's record of what the set looked like.
fn observed(view: &View) -> Value {
    let c = &view.config;
    json!({
        "replica_set": c.id,
        "config_version": c.version,
        "config_from": view.config_from,
        "primary": view.primary,
        "members": c.members.iter().map(|m| json!({
            "host": m.host,
            "priority": m.priority,
            "votes": m.votes,
            "reachable": view.is_reachable(&m.host),
        })).collect::<Vec<_>>(),
        "votes": {
            "total": c.total_votes(),
            "majority": c.majority(),
            "reachable": c.votes_of(|h| view.is_reachable(h)),
        },
        "unreachable": view.unreachable,
    })
}

#[cfg(test)]
mod tests;
