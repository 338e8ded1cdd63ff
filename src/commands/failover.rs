//! `tyk-dr failover` / `failback`: run a playbook with a journal, resumable,
//! with a dry run that changes nothing, ending with a report of RTO and RPO.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::Context;
use crate::cli::{OutputFormat, PlaybookArgs};
use crate::config::Side;
use crate::error::{exit, Error};
use crate::playbook::context::{RunContext, Transition};
use crate::playbook::engine::{self, Outcome};
use crate::playbook::journal::RunJournal;
use crate::playbook::runner;
use crate::playbook::steps::StepError;
use crate::playbook::{self, Playbook};

/// Which way traffic moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Passive takes over.
    Failover,
    /// The original active returns.
    Failback,
}

impl Direction {
    fn transition(self) -> Transition {
        match self {
            Direction::Failover => Transition {
                from: Side::Active,
                to: Side::Passive,
            },
            Direction::Failback => Transition {
                from: Side::Passive,
                to: Side::Active,
            },
        }
    }

    fn builtin(self) -> (&'static str, &'static str) {
        match self {
            Direction::Failover => ("playbooks/failover.yaml (built in)", playbook::FAILOVER),
            Direction::Failback => ("playbooks/failback.yaml (built in)", playbook::FAILBACK),
        }
    }
}

fn playbook_error(e: playbook::model::PlaybookError) -> Error {
    Error::Runtime {
        what: "the playbook is invalid".into(),
        reason: e.to_string(),
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Runtime {
        what: format!("{what} {}", path.display()),
        reason: e.to_string(),
    }
}

/// The state directory: `--state-dir`, or `.tyk-dr/runs` next to the config file.
fn state_dir(ctx: &Context, args: &PlaybookArgs) -> PathBuf {
    args.state_dir.clone().unwrap_or_else(|| {
        ctx.config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(".tyk-dr")
            .join("runs")
    })
}

/// Parses `--failed-at`: milliseconds since the epoch or an RFC 3339 time.
fn parse_failed_at(s: &str) -> Result<i64, Error> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(s)
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
        .map_err(|e| Error::Runtime {
            what: format!("--failed-at `{s}`"),
            reason: format!("{e}; give milliseconds since the epoch or an RFC 3339 time such as 2026-11-21T03:04:05Z"),
        })
}

/// Runs `failover` or `failback`.
pub fn run(ctx: &Context, args: &PlaybookArgs, direction: Direction) -> Result<u8, Error> {
    let config = ctx.load_config()?.config;
    let playbook: Playbook = match &args.playbook {
        Some(path) => playbook::load(path).map_err(playbook_error)?,
        None => {
            let (name, text) = direction.builtin();
            playbook::compile(name, text).map_err(playbook_error)?
        }
    };
    let dir = state_dir(ctx, args);
    let transition = direction.transition();
    crate::runtime()?.block_on(async {
        // Resuming restores the run id, origin and facts; new runs start clean.
        let (run_id, origin_ms, facts, start, retrying) = match &args.resume {
            Some(run_id) => {
                let state = runner::resume_state(&dir, run_id)
                    .map_err(|e| io_error("reading the journal", &RunJournal::path(&dir, run_id), e))?
                    .ok_or_else(|| Error::Runtime {
                        what: format!("resuming {run_id}"),
                        reason: "the journal has no run-start line".into(),
                    })?;
                (run_id.clone(), state.origin_ms, state.facts, state.next, state.retrying)
            }
            None => {
                let origin = match &args.failed_at {
                    Some(t) => parse_failed_at(t)?,
                    None => crate::probes::now_ms(),
                };
                (runner::new_run_id(&playbook.name), origin, Default::default(), 0, false)
            }
        };
        let mut run_ctx = RunContext::new(config, transition, run_id.clone(), origin_ms).await;
        run_ctx.force = args.force;
        run_ctx.assume_yes = args.yes;
        run_ctx.confirm_force_reconfig = args.confirm_force_reconfig;
        run_ctx.facts = facts;
        run_ctx.retrying = retrying;
        if let Some(t) = &args.failed_at {
            run_ctx.facts.failed_at_ms = Some(parse_failed_at(t)?);
        }
        let (from, to) = (run_ctx.region(transition.from).to_owned(), run_ctx.region(transition.to).to_owned());

        if args.dry_run {
            return Ok(print_dry_run(ctx, &playbook, &run_ctx, &from, &to).await);
        }
        if args.resume.is_none() {
            let question = format!("{} {from} → {to}: {} steps; go ahead?", playbook.name, playbook.steps.len());
            match playbook::steps::confirm(&question, args.yes) {
                Ok(true) => {}
                Ok(false) => return Ok(exit::FAILURE),
                Err(e) => return Err(Error::Runtime { what: "confirmation".into(), reason: e.to_string() }),
            }
        }
        let finished = runner::run(&playbook, &mut run_ctx, &dir, start)
            .await
            .map_err(|e| io_error("writing the journal or report in", &dir, e))?;
        let (report, outcome) = (finished.report, finished.outcome);
        match ctx.output {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
            OutputFormat::Table => print!("{}", report.table()),
        }
        Ok(match outcome {
            Outcome::Completed => exit::OK,
            Outcome::Stopped(e) => {
                eprintln!("error: {e}");
                match e {
                    StepError::Refused(_) => exit::NOT_READY,
                    StepError::LostEpoch(_) => exit::CONFLICT,
                    StepError::Failed(_) => {
                        eprintln!("  hint: fix the cause, then `tyk-dr {} --resume {run_id}` continues from this step", playbook.name);
                        exit::FAILURE
                    }
                }
            }
        })
    })
}

async fn print_dry_run(
    ctx: &Context,
    playbook: &Playbook,
    run_ctx: &RunContext,
    from: &str,
    to: &str,
) -> u8 {
    let plan = engine::dry_run(playbook, run_ctx).await;
    match ctx.output {
        OutputFormat::Json => {
            let steps: Vec<_> = plan
                .iter()
                .map(|(name, obs)| match obs {
                    Ok(o) => json!({"step": name, "would": o.actions, "observed": o.observed}),
                    Err(e) => json!({"step": name, "error": e.to_string()}),
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"dry_run": true, "from": from, "to": to, "steps": steps})
                )
                .expect("JSON")
            );
        }
        OutputFormat::Table => {
            println!(
                "{} {from} → {to} (dry run: nothing is changed)",
                playbook.name
            );
            for (i, (name, obs)) in plan.iter().enumerate() {
                match obs {
                    Ok(o) if o.actions.is_empty() => {
                        println!("{:>2}. {name}: nothing to do", i + 1)
                    }
                    Ok(o) => {
                        println!("{:>2}. {name}:", i + 1);
                        for a in &o.actions {
                            println!("      would {a}");
                        }
                    }
                    Err(e) => println!("{:>2}. {name}: cannot tell: {e}", i + 1),
                }
            }
        }
    }
    exit::OK
}
