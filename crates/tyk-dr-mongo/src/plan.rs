//! Deciding the next move from one [`View`] of the set: pure, so every case is a unit test.
//!
//! The moves, in the order a run meets them:
//! 1. No majority of votes answers (the source region is lost): a forced reconfig that keeps
//!    only the members that answered, sent to a member of the target side.
//! 2. Priorities not yet right, or target members missing from the config (failback after a
//!    forced reconfig removed them): a normal reconfig on the primary, version + 1, adding at
//!    most one voting member each time (MongoDB allows no more per reconfig).
//! 3. The primary is not on the target side: step it down; the higher-priority target
//!    members win the election.
//! 4. Otherwise there is nothing to do.

use mongodb::bson::Document;

use crate::{command, Member, ReplSetConfig, View};

/// Which members belong to which side of this move, and what they should look like after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The replica set name the members must report.
    pub replica_set: String,
    /// `host:port` of the side taking over, as the config names them.
    pub target: Vec<String>,
    /// `host:port` of the side giving up the primary.
    pub source: Vec<String>,
    /// Priority of the target's members afterwards (the higher one).
    pub target_priority: f64,
    /// Priority of the source's members afterwards (the lower one).
    pub source_priority: f64,
    /// Votes of a target member that has to be added back to the config.
    pub target_votes: i64,
}

impl Topology {
    fn in_list(list: &[String], host: &str) -> bool {
        list.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `host` is a target member.
    pub fn is_target(&self, host: &str) -> bool {
        Self::in_list(&self.target, host)
    }

    /// Whether `host` is a source member.
    pub fn is_source(&self, host: &str) -> bool {
        Self::in_list(&self.source, host)
    }

    fn wanted_priority(&self, host: &str) -> Option<f64> {
        if self.is_target(host) {
            Some(self.target_priority)
        } else if self.is_source(host) {
            Some(self.source_priority)
        } else {
            None
        }
    }
}

/// The next move.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The primary is on the target side and the config is as wanted.
    Done {
        /// The primary.
        primary: String,
    },
    /// A normal reconfig, sent to the primary.
    Reconfig {
        /// The primary.
        host: String,
        /// The `replSetReconfig` command.
        command: Document,
        /// One line for people.
        summary: String,
    },
    /// A forced reconfig keeping only the members that answered; needs an operator's consent.
    ForceReconfig {
        /// The target member it is sent to.
        host: String,
        /// The `replSetReconfig` command with `force: true`.
        command: Document,
        /// One line for people.
        summary: String,
        /// Members dropped from the config.
        removed: Vec<String>,
        /// Votes in the new config.
        votes: i64,
        /// Majority of the new config.
        majority: i64,
    },
    /// Ask the source-side primary to step down.
    StepDown {
        /// The primary.
        host: String,
        /// The `replSetStepDown` command.
        command: Document,
    },
    /// Nothing to send now: wait for an election.
    AwaitPrimary {
        /// Why.
        reason: String,
    },
}

impl Step {
    /// One line for people (dry-run output, journal).
    pub fn describe(&self) -> String {
        match self {
            Step::Done { primary } => format!("nothing to do: {primary} is primary"),
            Step::Reconfig { summary, .. } | Step::ForceReconfig { summary, .. } => summary.clone(),
            Step::StepDown { host, .. } => format!(
                "replSetStepDown on {host} ({} s, secondaries get {} s to catch up)",
                command::STEP_DOWN_SECS,
                command::CATCH_UP_SECS
            ),
            Step::AwaitPrimary { reason } => reason.clone(),
        }
    }
}

/// Why no move can be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The members belong to another replica set.
    #[error("the members belong to replica set `{found}`, not `{expected}` (mongo.replica_set)")]
    WrongSet {
        /// The configured name.
        expected: String,
        /// The config's `_id`.
        found: String,
    },
    /// A data-bearing member is in neither endpoint list, so its side is unknown.
    #[error("replica set member {host} is in neither [mongo.endpoints] list; add it to `active` or `passive` as the set names it")]
    Unlisted {
        /// The member.
        host: String,
    },
    /// A forced reconfig needs a target member that answers.
    #[error("only {reachable} of {total} votes answer and no target-side member does: nothing can become primary")]
    NoTargetMember {
        /// Votes that answered.
        reachable: i64,
        /// All votes.
        total: i64,
    },
    /// The members that answered have no vote between them.
    #[error("none of the members that answer has a vote: a forced reconfig would leave nobody to elect a primary")]
    NoVotes,
}

const EPSILON: f64 = 1e-9;

fn fmt_priority(p: f64) -> String {
    format!("{p}")
}

/// The config as wanted (priorities, plus at most one missing target member), and what
/// changed, one phrase each.
fn desired(config: &ReplSetConfig, topo: &Topology, view: &View) -> (ReplSetConfig, Vec<String>) {
    let mut next = config.clone();
    let mut changes = Vec::new();
    for m in next.members.iter_mut().filter(|m| m.priority_adjustable()) {
        if let Some(p) = topo.wanted_priority(&m.host) {
            if (m.priority - p).abs() > EPSILON {
                changes.push(format!(
                    "{} priority {} → {}",
                    m.host,
                    fmt_priority(m.priority),
                    fmt_priority(p)
                ));
                m.priority = p;
            }
        }
    }
    let missing = topo
        .target
        .iter()
        .find(|h| config.member(h).is_none() && view.is_reachable(h));
    if let Some(host) = missing {
        let id = next.next_member_id();
        changes.push(format!(
            "add {host} (_id {id}, priority {}, votes {})",
            fmt_priority(topo.target_priority),
            topo.target_votes
        ));
        next.members.push(Member::new(
            id,
            host,
            topo.target_priority,
            topo.target_votes,
        ));
    }
    (next, changes)
}

/// The next move for the set as `view` shows it.
pub fn next_step(view: &View, topo: &Topology) -> Result<Step, PlanError> {
    let config = &view.config;
    if config.id != topo.replica_set {
        return Err(PlanError::WrongSet {
            expected: topo.replica_set.clone(),
            found: config.id.clone(),
        });
    }
    if let Some(m) = config
        .members
        .iter()
        .find(|m| !m.arbiter_only && topo.wanted_priority(&m.host).is_none())
    {
        return Err(PlanError::Unlisted {
            host: m.host.clone(),
        });
    }
    let total = config.total_votes();
    let up = config.votes_of(|h| view.is_reachable(h));
    if up * 2 <= total {
        return forced(view, topo, up, total);
    }
    let Some(primary) = &view.primary else {
        return Ok(Step::AwaitPrimary {
            reason: format!(
                "wait for an election: {up} of {total} votes answer but no member is primary yet"
            ),
        });
    };
    let (mut next, changes) = desired(config, topo, view);
    if !changes.is_empty() {
        next.version = config.version + 1;
        return Ok(Step::Reconfig {
            host: primary.clone(),
            summary: format!(
                "replSetReconfig on {primary} (version {} → {}): {}",
                config.version,
                next.version,
                changes.join(", ")
            ),
            command: command::reconfig(next.to_document(), false),
        });
    }
    if !topo.is_target(primary) {
        return Ok(Step::StepDown {
            host: primary.clone(),
            command: command::step_down(),
        });
    }
    Ok(Step::Done {
        primary: primary.clone(),
    })
}

fn forced(view: &View, topo: &Topology, up: i64, total: i64) -> Result<Step, PlanError> {
    let config = &view.config;
    let host = topo
        .target
        .iter()
        .find(|h| view.is_reachable(h) && config.member(h).is_some_and(|m| !m.arbiter_only))
        .ok_or(PlanError::NoTargetMember {
            reachable: up,
            total,
        })?;
    let mut next = config.clone();
    let removed: Vec<String> = config
        .members
        .iter()
        .filter(|m| !view.is_reachable(&m.host))
        .map(|m| m.host.clone())
        .collect();
    next.members.retain(|m| view.is_reachable(&m.host));
    for m in next.members.iter_mut().filter(|m| m.priority_adjustable()) {
        if let Some(p) = topo.wanted_priority(&m.host) {
            m.priority = p;
        }
    }
    let votes = next.total_votes();
    if votes == 0 {
        return Err(PlanError::NoVotes);
    }
    next.version = config.version + 1;
    let majority = next.majority();
    let kept: Vec<&str> = next.members.iter().map(|m| m.host.as_str()).collect();
    Ok(Step::ForceReconfig {
        host: host.clone(),
        summary: format!(
            "forced replSetReconfig on {host}: only {up} of {total} votes answer (majority {}); keep {} ({votes} votes, majority {majority}), remove {}",
            config.majority(),
            kept.join(", "),
            removed.join(", ")
        ),
        command: command::reconfig(next.to_document(), true),
        removed,
        votes,
        majority,
    })
}

/// Every move from `view` on, as far as it can be foreseen: reconfigs are applied to a copy
/// of the view, and the list ends at the first election to wait for. Empty when there is
/// nothing to do. This is what `--dry-run` prints; the step itself re-reads the set before
/// each move.
pub fn plan_all(view: &View, topo: &Topology) -> Result<Vec<Step>, PlanError> {
    let mut v = view.clone();
    let mut out = Vec::new();
    let await_target = || Step::AwaitPrimary {
        reason: format!(
            "wait until a member of {} is primary",
            topo.target.join(", ")
        ),
    };
    for _ in 0..(v.config.members.len() + topo.target.len() + 2) {
        let step = next_step(&v, topo)?;
        match &step {
            Step::Done { .. } => break,
            Step::Reconfig { command, .. } => {
                if let Ok(Some(next)) = command
                    .get_document("replSetReconfig")
                    .map(|d| ReplSetConfig::from_document(d).ok())
                {
                    v.config = next;
                }
                out.push(step);
            }
            Step::ForceReconfig { .. } | Step::StepDown { .. } => {
                out.push(step);
                out.push(await_target());
                break;
            }
            Step::AwaitPrimary { .. } => {
                out.push(step);
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{mongo7_config, FakeSet};
    use crate::{survey, MongoAdmin};

    const A: [&str; 3] = ["10.10.1.30:27017", "10.10.2.30:27017", "10.10.3.30:27017"];
    const P: [&str; 2] = ["10.20.1.30:27017", "10.20.2.30:27017"];

    fn strings(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    /// Failover: the passive side (P) takes over.
    fn failover() -> Topology {
        Topology {
            replica_set: "tyk".into(),
            target: strings(&P),
            source: strings(&A),
            target_priority: 2.0,
            source_priority: 1.0,
            target_votes: 1,
        }
    }

    fn set() -> FakeSet {
        FakeSet::new(mongo7_config("tyk", 5, &A, &P, 2.0, 1.0), A[0])
    }

    async fn view(set: &FakeSet) -> View {
        let mut hosts = strings(&A);
        hosts.extend(strings(&P));
        survey(set, &hosts).await.unwrap()
    }

    #[tokio::test]
    async fn planned_failover_raises_the_target_then_steps_down() {
        let set = set();
        let v = view(&set).await;
        assert_eq!(v.primary.as_deref(), Some(A[0]));
        assert_eq!(v.config_from, A[0]);
        let steps = plan_all(&v, &failover()).unwrap();
        let lines: Vec<String> = steps.iter().map(Step::describe).collect();
        assert_eq!(
            lines,
            [
                "replSetReconfig on 10.10.1.30:27017 (version 5 → 6): 10.10.1.30:27017 priority 2 → 1, 10.10.2.30:27017 priority 2 → 1, 10.10.3.30:27017 priority 2 → 1, 10.20.1.30:27017 priority 1 → 2, 10.20.2.30:27017 priority 1 → 2",
                "replSetStepDown on 10.10.1.30:27017 (60 s, secondaries get 10 s to catch up)",
                "wait until a member of 10.20.1.30:27017, 10.20.2.30:27017 is primary",
            ]
        );
        // Only reads so far.
        assert!(set.writes().is_empty());
    }

    #[tokio::test]
    async fn lost_source_needs_a_forced_reconfig_on_a_target_member() {
        let set = set();
        set.take_down(&A);
        let v = view(&set).await;
        assert_eq!(v.primary, None);
        let Step::ForceReconfig {
            host,
            command,
            removed,
            votes,
            majority,
            ..
        } = next_step(&v, &failover()).unwrap()
        else {
            panic!("expected a forced reconfig");
        };
        assert_eq!(host, P[0]);
        assert_eq!(removed, strings(&A));
        assert_eq!((votes, majority), (2, 2));
        assert_eq!(command.get_bool("force"), Ok(true));
        let cfg =
            ReplSetConfig::from_document(command.get_document("replSetReconfig").unwrap()).unwrap();
        assert_eq!(cfg.version, 6);
        let hosts: Vec<&str> = cfg.members.iter().map(|m| m.host.as_str()).collect();
        assert_eq!(hosts, P);
    }

    #[tokio::test]
    async fn no_target_member_answering_is_an_error() {
        let set = set();
        set.take_down(&[A[0], A[1], P[0], P[1]]);
        let err = next_step(&view(&set).await, &failover()).unwrap_err();
        assert_eq!(
            err,
            PlanError::NoTargetMember {
                reachable: 1,
                total: 5
            }
        );
    }

    #[tokio::test]
    async fn unlisted_members_and_wrong_sets_are_refused() {
        let set = set();
        let v = view(&set).await;
        let mut topo = failover();
        topo.source.pop();
        assert_eq!(
            next_step(&v, &topo).unwrap_err(),
            PlanError::Unlisted { host: A[2].into() }
        );
        let mut topo = failover();
        topo.replica_set = "other".into();
        assert!(matches!(
            next_step(&v, &topo),
            Err(PlanError::WrongSet { .. })
        ));
    }

    #[tokio::test]
    async fn no_primary_with_a_majority_waits_for_the_election() {
        let set = set();
        set.take_down(&[A[0]]);
        // The fake re-elected at once; a real set takes ~10 s: simulate the gap.
        let mut v = view(&set).await;
        v.primary = None;
        assert!(matches!(
            next_step(&v, &failover()),
            Ok(Step::AwaitPrimary { .. })
        ));
    }

    #[tokio::test]
    async fn survey_prefers_the_newest_config_when_nobody_is_primary() {
        let set = set();
        set.take_down(&A);
        let topo = failover();
        let Step::ForceReconfig { host, command, .. } =
            next_step(&view(&set).await, &topo).unwrap()
        else {
            panic!()
        };
        set.run_command(&host, "admin", command).await.unwrap();
        // The old active members come back holding the old config (version 5).
        set.bring_up(&A);
        let v = view(&set).await;
        assert_eq!(v.config.version, 5 + crate::fake::FORCE_VERSION_BUMP);
        assert_eq!(v.config.members.len(), 2);
    }
}
