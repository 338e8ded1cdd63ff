//! Runs a playbook: each step observed, then acted on only if needed, inside
//! its time limit, with a journal line before and after; failures handled as
//! the step's `on_failure` says.

use std::time::Instant;

use super::context::RunContext;
use super::journal::{Event, FailurePolicy, RunJournal, StepDone, StepFailed};
use super::model::{OnFailure, Playbook};
use super::steps::{self, Observation, StepError};

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every step succeeded (or failed with `continue`).
    Completed,
    /// A step failed and the run stopped there; `--resume` retries it.
    Stopped(StepError),
}

/// Prints what every step would change, changing nothing.
pub async fn dry_run(
    playbook: &Playbook,
    ctx: &RunContext,
) -> Vec<(String, Result<Observation, StepError>)> {
    let mut out = Vec::new();
    for step in &playbook.steps {
        let obs = tokio::time::timeout(step.timeout, step.kind.observe(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(StepError::Failed(format!(
                    "observing took longer than {}",
                    humantime::format_duration(step.timeout)
                )))
            });
        out.push((step.name.clone(), obs));
    }
    out
}

/// Executes the steps from `start`, journaling each; facts accumulate in `ctx`.
pub async fn execute(
    playbook: &Playbook,
    ctx: &mut RunContext,
    journal: &mut RunJournal,
    start: usize,
) -> std::io::Result<Outcome> {
    let crash_after: Option<usize> = std::env::var("TYK_DR_TEST_CRASH_AFTER_STEP")
        .ok()
        .and_then(|v| v.parse().ok());
    let total = playbook.steps.len();
    let run_id = ctx.run_id.clone();
    for (index, step) in playbook.steps.iter().enumerate().skip(start) {
        let started = Instant::now();
        eprintln!("[{}/{total}] {} …", index + 1, step.name);
        journal.write(
            &run_id,
            Event::StepStart {
                index,
                step: step.name.clone(),
            },
        )?;
        let timeout = step.kind.timeout(ctx, step.timeout);
        if timeout > step.timeout {
            eprintln!(
                "      time limit raised to {} for this topology",
                humantime::format_duration(timeout)
            );
        }
        let result = tokio::time::timeout(timeout, step.kind.run(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(StepError::Failed(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                )))
            });
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((obs, facts)) => {
                ctx.retrying = false;
                ctx.facts.merge(facts.clone());
                let summary = if obs.actions.is_empty() {
                    "nothing to do".to_owned()
                } else {
                    obs.actions.join("; ")
                };
                eprintln!("      done in {duration_ms} ms: {summary}");
                journal.write(
                    &run_id,
                    Event::StepDone(Box::new(StepDone {
                        index,
                        step: step.name.clone(),
                        observed: obs.observed,
                        actions: obs.actions,
                        facts,
                        duration_ms,
                    })),
                )?;
                if crash_after == Some(index + 1) {
                    // Test hook: die like a killed process, right after a step was journaled.
                    std::process::abort();
                }
            }
            Err(e) => {
                eprintln!("      FAILED after {duration_ms} ms: {e}");
                journal.write(
                    &run_id,
                    Event::StepFailed(StepFailed {
                        index,
                        step: step.name.clone(),
                        duration_ms,
                        error: e.to_string(),
                        policy: FailurePolicy {
                            on_failure: step.on_failure,
                        },
                    }),
                )?;
                let go_on = match (step.on_failure, &e) {
                    (_, StepError::LostEpoch(_)) => false,
                    (OnFailure::Continue, _) => true,
                    (OnFailure::Pause, _) => steps::confirm(
                        &format!("`{}` failed: {e}. Continue with the next step?", step.name),
                        ctx.assume_yes,
                    )
                    .unwrap_or(false),
                    (OnFailure::Abort, _) => false,
                };
                if !go_on {
                    return Ok(Outcome::Stopped(e));
                }
            }
        }
    }
    journal.write(&run_id, Event::RunEnd { run: true })?;
    Ok(Outcome::Completed)
}
