//! `tyk-dr validate`: check the topology file and summarise what it describes.

use serde_json::json;

use super::{diagnostics_json, CommandContext};
use crate::cli::{OutputFormat, ValidateArgs};
use crate::config::{Config, FlipMode, RedisBackend, Side};
use crate::error::{exit, Error};

/// Loads the file (errors are printed by the loader) and prints a summary of the topology.
pub fn run(ctx: &CommandContext, args: &ValidateArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let file = loaded.source.name.clone();
    let failed = args.strict && !loaded.warnings.is_empty();
    match ctx.output {
        OutputFormat::Json => {
            let doc = json!({
                "file": file,
                "valid": !failed,
                "errors": 0,
                "warnings": loaded.warnings.len(),
                "diagnostics": diagnostics_json(&file, &loaded.warnings),
                "config": loaded.config,
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        OutputFormat::Table => {
            if failed {
                eprintln!(
                    "error: {file} has {} warning(s) and --strict is set",
                    loaded.warnings.len()
                );
            } else {
                println!("{file} is valid ({} warning(s))", loaded.warnings.len());
                for (k, v) in summary(&loaded.config) {
                    println!("  {k:<9} {v}");
                }
            }
        }
    }
    Ok(if failed {
        exit::INVALID_CONFIG
    } else {
        exit::OK
    })
}

/// One line per component: what `apply` or `cfn` would build from this file.
pub fn summary(c: &Config) -> Vec<(&'static str, String)> {
    let mut rows = vec![("project", c.project.clone())];
    for side in Side::BOTH {
        let r = c.region(side);
        rows.push((
            side.key(),
            format!(
                "{} ({}; {})",
                r.name,
                r.effective_azs().join(", "),
                r.vpc_cidr
            ),
        ));
    }
    let azs = c.regions.active.effective_azs().len();
    let security = match (c.redis.auth, c.redis.tls) {
        (true, true) => "AUTH + TLS",
        (true, false) => "AUTH",
        (false, true) => "TLS",
        (false, false) => "no AUTH, no TLS",
    };
    rows.push((
        "redis",
        match c.redis.backend {
            RedisBackend::Elasticache => {
                let e = &c.redis.elasticache;
                format!(
                    "ElastiCache {} × {} nodes per region, Redis {}, {}, {}",
                    e.node_type,
                    e.nodes_per_region(azs),
                    e.engine_version,
                    if e.global_datastore {
                        "Global Datastore"
                    } else {
                        "replicated by tyk-dr"
                    },
                    security
                )
            }
            RedisBackend::SelfManaged => {
                let sm = c.redis.self_managed.as_ref();
                format!(
                    "self-managed: {} active, {} passive server(s), {}",
                    sm.map_or(0, |s| s.active.len()),
                    sm.map_or(0, |s| s.passive.len()),
                    security
                )
            }
        },
    ));
    let m = &c.mongo;
    rows.push((
        "mongo",
        if m.enabled {
            format!(
                "replica set `{}` (MongoDB {}): {} active + {} passive members, {} votes",
                m.replica_set,
                m.version,
                m.members_per_az * azs as u32,
                m.passive_members,
                m.voting_members(azs)
            )
        } else {
            "not provisioned".into()
        },
    ));
    let g = &c.gateway;
    rows.push((
        "gateways",
        format!(
            "{} × {} per AZ ({} per region), tyk-dr-gateway {} on port {}",
            g.instances_per_az,
            g.instance_type,
            g.instances_per_az * azs as u32,
            g.version,
            g.port
        ),
    ));
    let d = &c.dns;
    rows.push((
        "dns",
        format!(
            "{} ({} flip, TTL {} s, detection {} s); Redis via {}",
            d.global_name,
            match d.flip_mode {
                FlipMode::Health => "health-check",
                FlipMode::Upsert => "upsert",
            },
            d.global_ttl,
            d.health_check_window(),
            d.redis_cname
        ),
    ));
    let dr = &c.drills;
    rows.push((
        "drills",
        format!(
            "{}{}; max RTO {}, max RPO {}, max {} failed requests",
            if dr.schedule.is_empty() {
                "unscheduled".to_owned()
            } else {
                format!("`{}` UTC", dr.schedule)
            },
            if dr.shadow { " (shadow)" } else { "" },
            humantime::format_duration(dr.max_rto),
            humantime::format_duration(dr.max_rpo),
            dr.max_failed_requests
        ),
    ));
    if let Some(s) = &dr.shadow_stack {
        rows.push((
            "shadow",
            format!(
                "{} and {} → {} / {} ({} + {} gateways)",
                s.global_name,
                s.redis_cname,
                s.redis.active,
                s.redis.passive,
                s.gateways.active.len(),
                s.gateways.passive.len()
            ),
        ));
    }
    rows
}
