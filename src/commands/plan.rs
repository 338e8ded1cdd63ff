//! `tyk-dr plan`: what `apply` would change in both regions, as tables (or JSON), optionally
//! saved for `apply --plan`. Read-only.

use std::time::Instant;

use super::CommandContext;
use crate::cli::{OutputFormat, PlanArgs};
use crate::error::{exit, Error};
use crate::plan::{self, clients::Clients, desired, render};

/// Computes and prints the plan; exit 2 on changes with `--detailed-exitcode`.
pub fn run(ctx: &CommandContext, args: &PlanArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let cfg = &loaded.config;
    let started = Instant::now();
    let (plan, _) = crate::runtime()?.block_on(async {
        let clients = Clients::new(cfg).await;
        plan::compute(cfg, &clients, &desired::build(cfg)).await
    })?;
    tracing::info!(
        "plan: {} API calls, {} ms",
        plan.api_calls,
        started.elapsed().as_millis()
    );
    let json = serde_json::to_string_pretty(&plan).expect("plans serialise");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{json}\n")).map_err(|e| Error::Write {
            path: out.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    match ctx.output {
        OutputFormat::Json => println!("{json}"),
        OutputFormat::Table => {
            print!("{}", render::text(cfg, &plan));
            if let Some(out) = &args.out {
                println!(
                    "Saved to {}; apply it with `tyk-dr apply --plan {}`.",
                    out.display(),
                    out.display()
                );
            }
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        exit::DIFFERENCES
    } else {
        exit::OK
    })
}
