//! Runs a playbook: each step observed, then acted on only if needed, inside
//! its time limit, with a journal line before and after; failures handled as
//! the step's `on_failure` says.

use std::time::Instant;

use serde_json::{json, Value};

use super::context::Ctx;
use super::journal::{Entry, Journal};
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
    ctx: &Ctx,
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
    ctx: &mut Ctx,
    journal: &mut Journal,
    start: usize,
) -> std::io::Result<Outcome> {
    let crash_after: Option<usize> = std::env::var("TYK_DR_TEST_CRASH_AFTER_STEP")
        .ok()
        .and_then(|v| v.parse().ok());
    let total = playbook.steps.len();
    for (index, step) in playbook.steps.iter().enumerate().skip(start) {
        let started = Instant::now();
        eprintln!("[{}/{total}] {} …", index + 1, step.name);
        journal.write(Entry {
            run_id: ctx.run_id.clone(),
            event: "step-start".into(),
            index: Some(index),
            step: Some(step.name.clone()),
            ..Default::default()
        })?;
        let timeout = step
            .kind
            .timeout_floor(ctx)
            .map_or(step.timeout, |floor| floor.max(step.timeout));
        if timeout > step.timeout {
            eprintln!(
                "      time limit raised to {} for this topology",
                humantime::format_duration(timeout)
            );
        }
        let result = tokio::time::timeout(timeout, async {
            let obs = step.kind.observe(ctx).await?;
            let facts = if obs.actions.is_empty()
                && !matches!(
                    step.kind,
                    steps::StepKind::Verify(_) | steps::StepKind::Preflight(_)
                ) {
                steps::Facts::new()
            } else {
                step.kind.act(ctx, &obs).await?
            };
            Ok::<_, StepError>((obs, facts))
        })
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
                ctx.facts.remove("retrying_step");
                ctx.facts.extend(facts.clone());
                let summary = if obs.actions.is_empty() {
                    "nothing to do".to_owned()
                } else {
                    obs.actions.join("; ")
                };
                eprintln!("      done in {duration_ms} ms: {summary}");
                journal.write(Entry {
                    run_id: ctx.run_id.clone(),
                    event: "step-done".into(),
                    index: Some(index),
                    step: Some(step.name.clone()),
                    observed: obs.observed,
                    actions: obs.actions,
                    facts,
                    duration_ms: Some(duration_ms),
                    ..Default::default()
                })?;
                if crash_after == Some(index + 1) {
                    // Test hook: die like a killed process, right after a step was journaled.
                    std::process::abort();
                }
            }
            Err(e) => {
                eprintln!("      FAILED after {duration_ms} ms: {e}");
                journal.write(Entry {
                    run_id: ctx.run_id.clone(),
                    event: "step-failed".into(),
                    index: Some(index),
                    step: Some(step.name.clone()),
                    duration_ms: Some(duration_ms),
                    error: Some(e.to_string()),
                    run: json!({"on_failure": step.on_failure}),
                    ..Default::default()
                })?;
                let go_on = match (step.on_failure, &e) {
                    (_, StepError::LostEpoch(_)) => false,
                    (OnFailure::Continue, _) => true,
                    (OnFailure::Pause, _) => steps::extras_confirm(
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
    journal.write(Entry {
        run_id: ctx.run_id.clone(),
        event: "run-end".into(),
        run: Value::Bool(true),
        ..Default::default()
    })?;
    Ok(Outcome::Completed)
}
