//! `tyk-dr apply`: show the plan, ask, then converge both regions to `tyk-dr.toml`.
//! `--plan FILE` applies a saved plan exactly, refusing if the world changed since.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::CommandContext;
use crate::cli::{ApplyArgs, OutputFormat};
use crate::config::Config;
use crate::error::{exit, Error};
use crate::plan::clients::Clients;
use crate::plan::diff::{Plan, FORMAT};
use crate::plan::execute::{progress_bar, step_count, Executor};
use crate::plan::journal::ApplyJournal;
use crate::plan::model::World;
use crate::plan::{self, desired, render};

/// Runs `apply`.
pub fn run(ctx: &CommandContext, args: &ApplyArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let cfg = &loaded.config;
    let state_dir = crate::state_dir::or_base(args.state_dir.as_deref(), &ctx.config_path);
    crate::runtime()?.block_on(async {
        let clients = Clients::new(cfg).await;
        let (fresh, world) = plan::compute(cfg, &clients, &desired::build(cfg)).await?;
        let plan = match &args.plan {
            Some(path) => load_saved(path, cfg, &fresh)?,
            None => fresh,
        };
        execute(
            ctx,
            cfg,
            &clients,
            (plan, world),
            &state_dir,
            args.yes,
            "apply",
        )
        .await
    })
}

fn load_saved(path: &Path, cfg: &Config, fresh: &Plan) -> Result<Plan, Error> {
    let stale = |reason: String| Error::StalePlan {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigUnreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let saved: Plan =
        serde_json::from_str(&text).map_err(|e| stale(format!("not a tyk-dr plan ({e})")))?;
    if saved.format != FORMAT {
        return Err(stale(format!(
            "format {} (this tyk-dr writes {FORMAT})",
            saved.format
        )));
    }
    if saved.project != cfg.project {
        return Err(stale(format!(
            "it is for project `{}`, the config says `{}`",
            saved.project, cfg.project
        )));
    }
    if saved.fingerprint != fresh.fingerprint {
        return Err(stale(format!(
            "the infrastructure changed since it was made (fingerprint {} now {})",
            saved.fingerprint, fresh.fingerprint
        )));
    }
    Ok(saved)
}

/// Shared by `apply` and `destroy`: print, confirm, run with a journal and Ctrl-C handling.
pub(crate) async fn execute(
    ctx: &CommandContext,
    cfg: &Config,
    clients: &Clients,
    (plan, world): (Plan, World),
    state_dir: &Path,
    yes: bool,
    command: &str,
) -> Result<u8, Error> {
    if let Some(prev) = ApplyJournal::previous(state_dir, command).filter(|p| !p.finished) {
        eprintln!(
            "resuming: the last `{command}` ({}) stopped after {} of {} steps; the world was read again and only what is left is planned",
            prev.path.display(),
            prev.done,
            prev.total
        );
    }
    match ctx.output {
        OutputFormat::Table => print!("{}", render::text(cfg, &plan)),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plans serialise")
        ),
    }
    if !plan.has_changes() {
        return Ok(exit::OK);
    }
    crate::prompt::confirm_command(
        command,
        "changes infrastructure",
        &format!("Do you want to {command} these changes?"),
        yes,
        crate::prompt::Accept::Word,
    )?;
    let total = step_count(&plan);
    let mut journal = ApplyJournal::start(state_dir, command, &plan.fingerprint, total)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nCtrl-C: stopping after the current step (run again to resume)");
            flag.store(true, Ordering::SeqCst);
            // A second Ctrl-C stops at once; the next run still resumes from the world.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let mut exec = Executor {
        cfg,
        clients,
        world,
        interrupted,
        progress: progress_bar(total, ctx.output == OutputFormat::Json),
    };
    let result = exec.run(&plan, &mut journal).await;
    watcher.abort();
    let done = result?;
    eprintln!(
        "{command}: {done} steps done (journal: {})",
        journal.path().display()
    );
    Ok(exit::OK)
}
