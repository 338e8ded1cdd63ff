//! `tyk-dr drill`: run a drill (default), show the history, or schedule drills.

use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::{DrillAction, DrillArgs, OutputFormat, ScheduleArgs};
use crate::drill::run::{DrillError, DrillOptions};
use crate::drill::{history, schedule};
use crate::error::{exit, Error};

fn tyk_dr_dir(ctx: &Context) -> PathBuf {
    ctx.config_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(".tyk-dr")
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        reason: format!("{what}: {e}"),
    }
}

/// Dispatches `drill`, `drill history` and `drill schedule`.
pub fn run(ctx: &Context, args: &DrillArgs) -> Result<u8, Error> {
    match &args.action {
        Some(DrillAction::History) => Ok(show_history(ctx)),
        Some(DrillAction::Schedule(s)) => schedule_drills(ctx, s),
        None => drill(ctx, args),
    }
}

fn drill(ctx: &Context, args: &DrillArgs) -> Result<u8, Error> {
    let config = ctx.load_config()?.config;
    let shadow = args.shadow || (config.drills.shadow && !args.full);
    if shadow && config.drills.shadow_stack.is_none() {
        return Err(Error::Runtime {
            what: "a shadow drill".into(),
            reason: format!(
                "{} has no [drills.shadow_stack]: add one (see examples/full.toml) or run a full drill without --shadow",
                ctx.config_path.display()
            ),
        });
    }
    let question = match config.drills.shadow_stack.as_ref().filter(|_| shadow) {
        Some(s) => format!(
            "this shadow drill moves {} and {} (drill traffic only) to {} and back; go ahead?",
            s.global_name, s.redis_cname, config.regions.passive.name
        ),
        None => format!(
            "this drill moves real traffic (the global name {} and the Redis CNAME) to {} and back; go ahead?",
            config.dns.global_name, config.regions.passive.name
        ),
    };
    match crate::playbook::steps::confirm(&question, args.yes) {
        Ok(true) => {}
        Ok(false) => return Ok(exit::FAILURE),
        Err(e) => {
            return Err(Error::Runtime {
                what: "confirmation".into(),
                reason: e.to_string(),
            })
        }
    }
    let base = tyk_dr_dir(ctx);
    let opts = DrillOptions {
        state_dir: args.state_dir.clone().unwrap_or_else(|| base.join("runs")),
        hold: args.hold,
        force: args.force,
        shadow,
    };
    let report = match crate::runtime()?.block_on(crate::drill::run::run(&config, &opts)) {
        Ok(r) => r,
        Err(DrillError::NotReady(why)) => {
            eprintln!("error: the passive region is not ready, no drill ran: {why}");
            eprintln!("  hint: `tyk-dr status` shows the details; --force drills anyway");
            return Ok(exit::NOT_READY);
        }
        Err(e) => {
            return Err(Error::Runtime {
                what: "the drill".into(),
                reason: e.to_string(),
            })
        }
    };
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| base.join("drills").join(&report.id));
    let paths = crate::drill::run::write_reports(&report, &dir)
        .map_err(|e| io("writing the drill reports", &dir, e))?;
    let history_file = base.join("drills").join("history.jsonl");
    history::append(&history_file, &history::Entry::from(&report))
        .map_err(|e| io("appending to the history", &history_file, e))?;
    match ctx.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
        OutputFormat::Table => {
            print!("{}", report.summary());
            for p in &paths {
                println!("  report: {}", p.display());
            }
        }
    }
    Ok(if report.passed {
        exit::OK
    } else {
        exit::DRILL_FAILED
    })
}

fn show_history(ctx: &Context) -> u8 {
    let entries = history::read(&tyk_dr_dir(ctx).join("drills").join("history.jsonl"));
    match ctx.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&entries).expect("JSON")),
        OutputFormat::Table => print!("{}", history::table(&entries)),
    }
    exit::OK
}

fn schedule_drills(ctx: &Context, args: &ScheduleArgs) -> Result<u8, Error> {
    let config = ctx.load_config()?.config;
    let expr = config.drills.schedule.trim();
    if expr.is_empty() {
        eprintln!(
            "drills.schedule is empty in {}: nothing to schedule",
            ctx.config_path.display()
        );
        return Ok(exit::FAILURE);
    }
    let exe = std::env::current_exe().map_or_else(|_| "tyk-dr".into(), |p| p.display().to_string());
    let config_path =
        std::fs::canonicalize(&ctx.config_path).unwrap_or_else(|_| ctx.config_path.clone());
    let command = format!("{exe} -c {} drill --yes", config_path.display());
    match &args.systemd {
        None => print!("{}", schedule::crontab_line(expr, &command)),
        Some(dir) => {
            let calendar = schedule::on_calendar(expr).map_err(|e| Error::Runtime {
                what: "drills.schedule".into(),
                reason: e.to_string(),
            })?;
            let (service, timer) = schedule::systemd_units(&calendar, &command);
            std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
            for (name, body) in [
                ("tyk-dr-drill.service", service),
                ("tyk-dr-drill.timer", timer),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, body).map_err(|e| io("writing", &path, e))?;
                println!("wrote {}", path.display());
            }
            println!("OnCalendar={calendar}\nthen: systemctl daemon-reload && systemctl enable --now tyk-dr-drill.timer");
        }
    }
    Ok(exit::OK)
}
