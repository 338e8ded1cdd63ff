//! The account of a run: a timeline of steps with durations, the measured RTO
//! and RPO, and the epoch; printed as a table and written as JSON.

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::Style;

use super::facts::RunFacts;
use super::journal::{Entry, Event};
use super::model::OnFailure;
use crate::status::verdict::human_ms;

/// One row of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Step name.
    pub step: String,
    /// Start, ms after the run started.
    pub at_ms: i64,
    /// Duration.
    pub duration_ms: u64,
    /// `done`, `nothing to do`, `failed`.
    pub result: String,
    /// What it did, or why it failed.
    pub detail: String,
}

/// The account of one playbook run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Playbook name.
    pub playbook: String,
    /// Region giving up traffic.
    pub from: String,
    /// Region taking over.
    pub to: String,
    /// True when every step succeeded (or failed with `continue`).
    pub ok: bool,
    /// Step rows in order (including steps of earlier attempts resumed from).
    pub timeline: Vec<Row>,
    /// Failure (or command start) to the first verified request served by the new region.
    pub rto_ms: Option<i64>,
    /// Upper bound of lost writes: when writes stopped minus the newest canary on the new primary.
    pub rpo_ms: Option<i64>,
    /// The canary's bound on lost writes, whatever `caught_up` says (a cross-check).
    pub rpo_canary_bound_ms: Option<i64>,
    /// The target caught up with the paused source before promotion (planned failover, no data lost).
    pub caught_up: Option<bool>,
    /// Epoch now held.
    pub epoch: Option<i64>,
    /// Failed requests seen by a load running during the window, when one ran.
    pub failed_requests: Option<u64>,
    /// The facts the steps learned.
    pub facts: RunFacts,
}

impl RunReport {
    /// Builds the report from the run's events (earlier attempts' included) and its facts.
    pub fn build(
        run_id: &str,
        playbook: &str,
        from: &str,
        to: &str,
        origin_ms: i64,
        entries: &[Entry],
        facts: &RunFacts,
    ) -> Self {
        let started = entries.first().map_or(origin_ms, |e| e.ts_ms);
        let mut timeline = Vec::new();
        // A step's last outcome counts: a failure retried by `--resume` and then done is fine.
        let mut last = std::collections::BTreeMap::new();
        for e in entries {
            let (index, step, duration_ms, ok, result, detail) = match &e.event {
                Event::StepDone(d) => (
                    d.index,
                    &d.step,
                    d.duration_ms,
                    true,
                    if d.actions.is_empty() {
                        "nothing to do"
                    } else {
                        "done"
                    },
                    d.actions.join("; "),
                ),
                Event::StepFailed(f) => (
                    f.index,
                    &f.step,
                    f.duration_ms,
                    f.policy.on_failure == OnFailure::Continue,
                    "failed",
                    f.error.clone(),
                ),
                _ => continue,
            };
            last.insert(index, ok);
            timeline.push(Row {
                step: step.clone(),
                at_ms: e.ts_ms - duration_ms as i64 - started,
                duration_ms,
                result: result.into(),
                detail,
            });
        }
        let finished = entries
            .iter()
            .any(|e| matches!(e.event, Event::RunEnd { .. }));
        let ok = finished && last.values().all(|ok| *ok);
        let writes_stopped = facts
            .failed_at_ms
            .or(facts.fenced_at_ms)
            .unwrap_or(origin_ms);
        let canary_bound = facts.canary_ms.map(|c| (writes_stopped - c).max(0));
        Self {
            run_id: run_id.into(),
            playbook: playbook.into(),
            from: from.into(),
            to: to.into(),
            ok,
            timeline,
            rto_ms: facts.first_verified_ms.map(|t| t - origin_ms),
            // Caught up = the target had every write the paused source acknowledged: nothing lost,
            // exactly. Otherwise the canary bounds the loss (to within the canary's interval).
            rpo_ms: match facts.caught_up {
                Some(true) => Some(0),
                _ => canary_bound,
            },
            rpo_canary_bound_ms: canary_bound,
            caught_up: facts.caught_up,
            epoch: facts.epoch.map(|e| e as i64),
            failed_requests: facts.failed_requests,
            facts: facts.clone(),
        }
    }

    /// The timeline table and the measured figures.
    pub fn table(&self) -> String {
        let mut b = Builder::default();
        b.push_record(["STEP", "AT", "TOOK", "RESULT", "DETAIL"]);
        for r in &self.timeline {
            b.push_record([
                r.step.clone(),
                human_ms(r.at_ms),
                human_ms(r.duration_ms as i64),
                r.result.clone(),
                r.detail.clone(),
            ]);
        }
        let mut out = format!(
            "{} {} → {} ({})\n",
            self.playbook, self.from, self.to, self.run_id
        );
        out.push_str(&b.build().with(Style::sharp()).to_string());
        out.push('\n');
        let fig = |v: Option<i64>| v.map_or("not measured".to_owned(), human_ms);
        out.push_str(&format!(
            "RTO {}  RPO {}  epoch {}  result {}\n",
            fig(self.rto_ms),
            if self.caught_up == Some(true) {
                format!(
                    "0 (the target caught up with the paused source before promotion; canary bound {})",
                    fig(self.rpo_canary_bound_ms)
                )
            } else {
                format!("≤ {} (canary)", fig(self.rpo_ms))
            },
            self.epoch.map_or("-".into(), |e| e.to_string()),
            if self.ok { "OK" } else { "FAILED" }
        ));
        out
    }
}
