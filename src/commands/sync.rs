//! `tyk-dr sync`: one pass, `--check`, or `--watch`; prints the report and records it for `status`.

use crate::cli::{OutputFormat, SyncArgs};
use crate::error::{exit, Error};
use crate::sync::state::{self, SyncState};
use crate::sync::watch::{watch, Followed, WatchOptions};
use crate::sync::{Plan, SyncReport};

use super::CommandContext;

/// Runs the command and returns its exit status (0 in sync, 1 failures, 2 drift with `--check`).
pub fn run(ctx: &CommandContext, args: &SyncArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let plan = Plan::new(&loaded.config);
    let state_path = state::path(&loaded.config.sync, &ctx.config_path);
    let rt = crate::runtime()?;
    if args.watch {
        let opts = WatchOptions {
            interval: args.interval,
            count: args.count,
        };
        let mut worst = exit::OK;
        rt.block_on(watch(&plan, opts, |report, followed| match followed {
            None => {
                print(ctx.output, report);
                record(&state_path, report);
                worst = worst.max(code(report));
            }
            Some(f) => print_followed(ctx.output, f),
        }));
        return Ok(worst);
    }
    let report = rt.block_on(plan.run(args.check));
    print(ctx.output, &report);
    record(&state_path, &report);
    Ok(code(&report))
}

fn code(report: &SyncReport) -> u8 {
    if report.failures() > 0 {
        exit::FAILURE
    } else if report.check && report.drift() > 0 {
        exit::DIFFERENCES
    } else {
        exit::OK
    }
}

fn record(path: &std::path::Path, report: &SyncReport) {
    let s = SyncState {
        finished_at_ms: crate::probes::now_ms(),
        kind: if report.check { "check" } else { "sync" }.into(),
        drift_found: report.drift(),
        drift_left: if report.check {
            report.drift()
        } else {
            report.failures()
        },
        ok: report.failures() == 0,
    };
    if let Err(e) = state::write(path, &s) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record the sync state");
    }
}

fn print_followed(output: OutputFormat, f: &Followed) {
    match output {
        OutputFormat::Json => println!("{}", serde_json::json!({ "followed": f })),
        OutputFormat::Table => {
            if f.keys.source_keys + f.keys.deleted > 0 || !f.keys.errors.is_empty() {
                println!(
                    "followed     {}: copied {}, deleted {}, errors {}",
                    f.keys.reason,
                    f.keys.copied,
                    f.keys.deleted,
                    f.keys.errors.len()
                );
            }
            for r in &f.definition_passes {
                println!("followed     a definition/policy notification:");
                print(OutputFormat::Table, r);
            }
        }
    }
}

/// Prints one pass as aligned text or one JSON document.
fn print(output: OutputFormat, r: &SyncReport) {
    if output == OutputFormat::Json {
        let mut doc = serde_json::to_value(r).expect("reports serialise");
        doc["drift"] = r.drift().into();
        doc["failures"] = r.failures().into();
        println!("{}", serde_json::to_string(&doc).expect("JSON"));
        return;
    }
    let verb = if r.check { "to apply" } else { "applied" };
    match (&r.definitions, &r.definitions_skipped) {
        (_, Some(why)) => println!("definitions  skipped: {why}"),
        (Some(d), None) => {
            match &d.error {
                Some(e) => println!("definitions  ERROR {e}"),
                None => println!(
                    "definitions  {}: {} read, {} excluded, {} invalid",
                    d.source,
                    d.source_count,
                    d.excluded.len(),
                    d.invalid_source.len()
                ),
            }
            for (file, why) in &d.invalid_source {
                println!("  invalid on the active side (not copied, not deleted): {file}: {why}");
            }
            for t in &d.targets {
                println!(
                    "  {}  missing {}  different {}  extra {}  {verb} {}  rejected {}  errors {}",
                    t.target,
                    t.drift.missing.len(),
                    t.drift.different.len(),
                    t.drift.extra.len(),
                    if r.check { t.drift.total() } else { t.applied },
                    t.rejected.len(),
                    t.errors.len()
                );
                for (kind, ids) in [
                    ("missing", &t.drift.missing),
                    ("different", &t.drift.different),
                    ("extra", &t.drift.extra),
                ] {
                    for id in ids.iter().take(crate::sync::drift::SAMPLE) {
                        println!("    {kind} {id}");
                    }
                }
                for (id, why) in &t.rejected {
                    println!("    REJECTED {id}: {why}");
                }
                for e in &t.errors {
                    println!("    ERROR {e}");
                }
                for id in &t.deletes_held {
                    println!("    kept {id}: the active side has unreadable definitions");
                }
            }
        }
        (None, None) => {}
    }
    if let Some(p) = &r.policies {
        match &p.error {
            Some(e) => println!("policies     ERROR {e}"),
            None => println!(
                "policies     {} → {}: {} read, missing {}  different {}  extra {}{}",
                p.source,
                p.target,
                p.source_count,
                p.drift.missing.len(),
                p.drift.different.len(),
                p.drift.extra.len(),
                if p.written { " (written)" } else { "" }
            ),
        }
    }
    if let Some(reload) = &r.reload {
        println!("reload       {reload}");
    }
    match (&r.keys, &r.keys_skipped) {
        (_, Some(why)) => println!("keys         skipped: {why}"),
        (Some(k), None) => {
            println!(
                "keys         {} ({}): {} read, missing {}  different {}  extra {}, copied {}, deleted {}, resident {} (in the passive region: {}), unreadable {}, {:.2}s",
                k.mode,
                k.reason,
                k.source_keys,
                k.drift.missing,
                k.drift.different,
                k.drift.extra,
                k.copied,
                k.deleted,
                k.resident,
                k.residency_violations,
                k.unreadable,
                k.seconds
            );
            for s in &k.drift.sample {
                println!("    {s}");
            }
            for e in &k.errors {
                println!("    ERROR {e}");
            }
        }
        (None, None) => {}
    }
    println!(
        "result       drift {}, failures {}",
        r.drift(),
        r.failures()
    );
}
