//! `tyk-dr status`: one pass over both regions and a verdict; exit 3 when the
//! passive region could not take over now, so it can gate a cron job or CI.

use std::io::IsTerminal;
use std::time::Duration;

use super::CommandContext;
use crate::cli::{OutputFormat, StatusArgs};
use crate::error::{exit, Error};
use crate::status::{self, Probes, Status};

/// Collects and prints one status pass (of the shadow stack with `--shadow`).
pub fn run(ctx: &CommandContext, args: &StatusArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let config = if args.shadow {
        loaded.config.shadow_view().ok_or_else(|| Error::Runtime {
            what: "status --shadow".into(),
            reason: format!(
                "{} has no [drills.shadow_stack] to probe (see examples/full.toml)",
                ctx.config_path.display()
            ),
        })?
    } else {
        loaded.config
    };
    let status = crate::runtime()?.block_on(async {
        let spinner = spinner(ctx, "probing gateways, Redis and DNS in both regions");
        let probes = Probes::new(&config);
        let status = status::collect(&config, &probes).await;
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        status
    });
    // The last `tyk-dr sync` (its state file): age and drift, next to the probes.
    let sync = crate::sync::state::read(&crate::sync::state::path(&config.sync, &ctx.config_path));
    match ctx.output {
        OutputFormat::Json => {
            let mut doc = serde_json::to_value(&status).expect("JSON");
            doc["sync"] = serde_json::to_value(&sync).expect("JSON");
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        OutputFormat::Table => {
            print(ctx, &status);
            let line = crate::sync::state::summary(sync.as_ref(), crate::probes::now_ms());
            println!("last sync: {line}");
        }
    }
    Ok(code(&status))
}

/// The exit status for a pass: 0 ready, 3 not ready.
pub fn code(status: &Status) -> u8 {
    if status.verdict.ready {
        exit::OK
    } else {
        exit::NOT_READY
    }
}

/// Prints a pass as a table or as one JSON document.
pub fn print(ctx: &CommandContext, status: &Status) {
    match ctx.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(status).expect("JSON")),
        OutputFormat::Table => print!("{}", status::render::table(status)),
    }
}

/// A spinner on stderr while probes run, only for people (a terminal, table output).
fn spinner(ctx: &CommandContext, message: &'static str) -> Option<indicatif::ProgressBar> {
    if ctx.output != OutputFormat::Table || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}
