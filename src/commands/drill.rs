//! `tyk-dr drill`: run a drill (default), show the history, or schedule drills.

use std::path::Path;

use super::CommandContext;
use crate::cli::{DrillAction, DrillArgs, OutputFormat, ScheduleArgs};
use crate::drill::run::{DrillError, DrillOptions};
use crate::drill::{history, schedule};
use crate::error::{exit, Error};
use crate::prompt::{self, Accept};

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        reason: format!("{what}: {e}"),
    }
}

/// Dispatches `drill`, `drill history` and `drill schedule`.
pub fn run(ctx: &CommandContext, args: &DrillArgs) -> Result<u8, Error> {
    match &args.action {
        Some(DrillAction::History) => Ok(show_history(ctx)),
        Some(DrillAction::Schedule(s)) => schedule_drills(ctx, s),
        None => drill(ctx, args),
    }
}

fn drill(ctx: &CommandContext, args: &DrillArgs) -> Result<u8, Error> {
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
    prompt::confirm_command(
        "drill",
        "moves traffic",
        &question,
        args.yes,
        Accept::YesOrY,
    )?;
    let opts = DrillOptions {
        state_dir: crate::state_dir::runs(args.state_dir.as_deref(), &ctx.config_path),
        hold: args.hold,
        force: args.force,
        shadow,
    };
    let report = match crate::runtime()?.block_on(crate::drill::run::run(&config, &opts)) {
        Ok(r) => r,
        Err(DrillError::NotReady(why)) => return Err(Error::DrillNotReady(why)),
        Err(e) => {
            return Err(Error::Runtime {
                what: "the drill".into(),
                reason: e.to_string(),
            })
        }
    };
    let drills = crate::state_dir::drills(&ctx.config_path);
    let dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| drills.join(&report.id));
    let paths = crate::drill::run::write_reports(&report, &dir)
        .map_err(|e| io("writing the drill reports", &dir, e))?;
    let history_file = drills.join("history.jsonl");
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

fn show_history(ctx: &CommandContext) -> u8 {
    let entries = history::read(&crate::state_dir::drills(&ctx.config_path).join("history.jsonl"));
    match ctx.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&entries).expect("JSON")),
        OutputFormat::Table => print!("{}", history::table(&entries)),
    }
    exit::OK
}

fn schedule_drills(ctx: &CommandContext, args: &ScheduleArgs) -> Result<u8, Error> {
    let config = ctx.load_config()?.config;
    let expr = config.drills.schedule.trim();
    if expr.is_empty() {
        return Err(Error::Runtime {
            what: "drills.schedule".into(),
            reason: format!(
                "empty in {}: nothing to schedule",
                ctx.config_path.display()
            ),
        });
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
