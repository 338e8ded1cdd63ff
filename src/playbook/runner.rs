//! One playbook run from start to report: journal opened (or continued),
//! steps executed, report built and written. Shared by `failover`,
//! `failback` and `drill`, which differ only in how they present it.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::context::Ctx;
use super::engine::{self, Outcome};
use super::journal::{self, Entry, Journal};
use super::model::Playbook;
use super::report::Report;

/// A finished (or stopped) run.
pub struct Finished {
    /// The account of the run.
    pub report: Report,
    /// How it ended.
    pub outcome: Outcome,
}

/// A fresh run id: the playbook's name, the time and the process.
pub fn new_run_id(playbook: &str) -> String {
    format!(
        "{playbook}-{}-{:04x}",
        crate::probes::now_ms(),
        std::process::id() & 0xffff
    )
}

/// Runs `playbook` from step `start` with `ctx` (its run id, origin and facts already set),
/// journaling into `state_dir`; a new run (`start == 0` and no journal yet) gets a run-start line.
pub async fn run(
    playbook: &Playbook,
    ctx: &mut Ctx,
    state_dir: &Path,
    start: usize,
) -> std::io::Result<Finished> {
    let (from, to) = (
        ctx.region(ctx.transition.from).to_owned(),
        ctx.region(ctx.transition.to).to_owned(),
    );
    let fresh = !Journal::path(state_dir, &ctx.run_id).exists();
    let mut journal = Journal::open(state_dir, &ctx.run_id)?;
    if fresh {
        journal.write(Entry {
            run_id: ctx.run_id.clone(),
            event: "run-start".into(),
            run: json!({"playbook": playbook.name, "from": from, "to": to, "origin_ms": ctx.origin_ms}),
            ..Default::default()
        })?;
    }
    eprintln!(
        "{} {from} → {to}: run {} (journal {})",
        playbook.name,
        ctx.run_id,
        journal.file().display()
    );
    let outcome = engine::execute(playbook, ctx, &mut journal, start).await?;
    let entries = journal::read(state_dir, &ctx.run_id).unwrap_or_default();
    let report = Report::build(
        &ctx.run_id,
        &playbook.name,
        &from,
        &to,
        ctx.origin_ms,
        &entries,
        &ctx.facts,
    );
    let path = state_dir.join(format!("{}.report.json", ctx.run_id));
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).expect("reports serialise"),
    )?;
    Ok(Finished { report, outcome })
}

/// Where an interrupted run stands, from its journal.
pub struct Resume {
    /// The run's RTO origin.
    pub origin_ms: i64,
    /// Facts the finished steps learned (plus `retrying_step`).
    pub facts: Map<String, Value>,
    /// The first step not done yet.
    pub next: usize,
}

/// The origin, facts and next step recorded in a run's journal, for `--resume`.
pub fn resume_state(state_dir: &Path, run_id: &str) -> std::io::Result<Option<Resume>> {
    let entries = journal::read(state_dir, run_id)?;
    let Some(origin) = entries
        .iter()
        .find(|e| e.event == "run-start")
        .and_then(|e| e.run["origin_ms"].as_i64())
    else {
        return Ok(None);
    };
    let (mut facts, next) = journal::resume_point(&entries);
    // The step we restart may have acted before the crash; steps use this to own their effects.
    let retrying = entries
        .iter()
        .any(|e| e.event == "step-start" && e.index == Some(next));
    facts.insert("retrying_step".into(), json!(retrying));
    Ok(Some(Resume {
        origin_ms: origin,
        facts,
        next,
    }))
}
