//! `tyk-dr failover` / `failback`: run a playbook with a journal, resumable,
//! with a dry run that changes nothing, ending with a report of RTO and RPO.

use std::path::Path;

use serde_json::json;

use super::CommandContext;
use crate::cli::{OutputFormat, PlaybookArgs};
use crate::config::Side;
use crate::error::{exit, Error};
use crate::playbook::context::{RunContext, Transition};
use crate::playbook::engine::{self, Outcome};
use crate::playbook::journal::RunJournal;
use crate::playbook::runner;
use crate::playbook::{self, Playbook};
use crate::prompt::{self, Accept};

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

    /// The command that runs this direction.
    fn command(self) -> &'static str {
        match self {
            Direction::Failover => "failover",
            Direction::Failback => "failback",
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

/// Parses `--failed-at`: milliseconds since the epoch or an RFC 3339 time.
fn parse_failed_at(s: &str) -> Result<i64, Error> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(s)
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
        .map_err(|e| Error::BadOption {
            option: "--failed-at".into(),
            value: s.into(),
            reason: format!("{e}; give milliseconds since the epoch or an RFC 3339 time such as 2026-11-21T03:04:05Z"),
        })
}

/// Runs `failover` or `failback`.
pub fn run(ctx: &CommandContext, args: &PlaybookArgs, direction: Direction) -> Result<u8, Error> {
    let config = ctx.load_config()?.config;
    let playbook: Playbook = match &args.playbook {
        Some(path) => playbook::load(path).map_err(playbook_error)?,
        None => {
            let (name, text) = direction.builtin();
            playbook::compile(name, text).map_err(playbook_error)?
        }
    };
    let failed_at = args.failed_at.as_deref().map(parse_failed_at).transpose()?;
    let dir = crate::state_dir::runs(args.state_dir.as_deref(), &ctx.config_path);
    let transition = direction.transition();
    crate::runtime()?.block_on(async {
        // Resuming restores the run id, origin and facts; new runs start clean.
        let (run_id, origin_ms, facts, start, retrying) = match &args.resume {
            Some(run_id) => {
                let state = runner::resume_state(&dir, run_id)
                    .map_err(|e| {
                        io_error("reading the journal", &RunJournal::path(&dir, run_id), e)
                    })?
                    .ok_or_else(|| Error::Runtime {
                        what: format!("resuming {run_id}"),
                        reason: "the journal has no run-start line".into(),
                    })?;
                (
                    run_id.clone(),
                    state.origin_ms,
                    state.facts,
                    state.next,
                    state.retrying,
                )
            }
            None => {
                let origin = failed_at.unwrap_or_else(crate::probes::now_ms);
                (
                    runner::new_run_id(&playbook.name),
                    origin,
                    Default::default(),
                    0,
                    false,
                )
            }
        };
        let mut run_ctx = RunContext::new(config, transition, run_id.clone(), origin_ms).await;
        run_ctx.force = args.force;
        run_ctx.assume_yes = args.yes;
        run_ctx.confirm_force_reconfig = args.confirm_force_reconfig;
        run_ctx.facts = facts;
        run_ctx.retrying = retrying;
        if failed_at.is_some() {
            run_ctx.facts.failed_at_ms = failed_at;
        }
        let (from, to) = (
            run_ctx.region(transition.from).to_owned(),
            run_ctx.region(transition.to).to_owned(),
        );

        if args.dry_run {
            return Ok(print_dry_run(ctx, &playbook, &run_ctx, &from, &to).await);
        }
        if args.resume.is_none() {
            let question = format!(
                "{} {from} → {to}: {} steps; go ahead?",
                playbook.name,
                playbook.steps.len()
            );
            prompt::confirm_command(
                direction.command(),
                "moves traffic",
                &question,
                args.yes,
                Accept::YesOrY,
            )?;
        }
        let finished = runner::run(&playbook, &mut run_ctx, &dir, start)
            .await
            .map_err(|e| io_error("writing the journal or report in", &dir, e))?;
        let (report, outcome) = (finished.report, finished.outcome);
        let json = ctx.output == OutputFormat::Json;
        let stopped = match outcome {
            Outcome::Completed => None,
            Outcome::Stopped(error) => Some(error),
        };
        match (&stopped, json) {
            // A stopped run's JSON report travels in the error's document (one document on stdout).
            (Some(_), true) => {}
            (None, true) => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
            (_, false) => print!("{}", report.table()),
        }
        match stopped {
            None => Ok(exit::OK),
            Some(error) => Err(Error::RunStopped {
                error,
                playbook: direction.command().into(),
                run_id,
                report: json.then(|| Box::new(serde_json::to_value(&report).expect("JSON"))),
            }),
        }
    })
}

async fn print_dry_run(
    ctx: &CommandContext,
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
