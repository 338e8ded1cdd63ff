//! One playbook run from start to report: journal opened (or continued),
//! steps executed, report built and written. Shared by `failover`,
//! `failback` and `drill`, which differ only in how they present it.

use std::path::Path;

use super::context::RunContext;
use super::engine::{self, Outcome};
use super::facts::RunFacts;
use super::journal::{self, Event, RunJournal, RunStart};
use super::model::Playbook;
use super::report::RunReport;

/// A finished (or stopped) run.
pub struct Finished {
    /// The account of the run.
    pub report: RunReport,
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
/// journaling into `state_dir`; a new run (no journal yet) gets a run-start line.
pub async fn run(
    playbook: &Playbook,
    ctx: &mut RunContext,
    state_dir: &Path,
    start: usize,
) -> std::io::Result<Finished> {
    let (from, to) = (
        ctx.region(ctx.transition.from).to_owned(),
        ctx.region(ctx.transition.to).to_owned(),
    );
    let mut journal = RunJournal::open(state_dir, &ctx.run_id)?;
    if journal.entries().is_empty() {
        journal.write(
            &ctx.run_id,
            Event::RunStart {
                run: RunStart {
                    playbook: playbook.name.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    origin_ms: ctx.origin_ms,
                },
            },
        )?;
    }
    eprintln!(
        "{} {from} → {to}: run {} (journal {})",
        playbook.name,
        ctx.run_id,
        journal.file().display()
    );
    let outcome = engine::execute(playbook, ctx, &mut journal, start).await?;
    let report = RunReport::build(
        &ctx.run_id,
        &playbook.name,
        &from,
        &to,
        ctx.origin_ms,
        journal.entries(),
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
    /// Facts the finished steps learned.
    pub facts: RunFacts,
    /// The first step not done yet.
    pub next: usize,
    /// That step was started before and may have acted.
    pub retrying: bool,
}

/// The origin, facts and next step recorded in a run's journal, for `--resume`.
pub fn resume_state(state_dir: &Path, run_id: &str) -> std::io::Result<Option<Resume>> {
    let entries = journal::read(state_dir, run_id)?;
    let Some(origin_ms) = entries.iter().find_map(|e| match &e.event {
        Event::RunStart { run } => Some(run.origin_ms),
        _ => None,
    }) else {
        return Ok(None);
    };
    let (facts, next) = journal::resume_point(&entries);
    // The step we restart may have acted before the crash; steps use this to own their effects.
    let retrying = entries
        .iter()
        .any(|e| matches!(e.event, Event::StepStart { index, .. } if index == next));
    Ok(Some(Resume {
        origin_ms,
        facts,
        next,
        retrying,
    }))
}
