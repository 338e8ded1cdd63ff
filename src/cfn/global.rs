//! The global template: public DNS for `dns.global_name` and the fencing record.
//!
//! `flip_mode = "health"`: one Route 53 HTTP health check per region on its load balancer's
//! readiness path, and PRIMARY (active) / SECONDARY (passive) failover records. Fencing the
//! active gateways (readiness answers 503) flips traffic on Route 53's data plane.
//! `flip_mode = "upsert"`: a simple record pointing at the active region; tyk-dr UPSERTs it.
//! Records are CNAMEs (not aliases) so `dns.global_ttl` applies. A shadow stack's name gets the
//! same shape ([`super::shadow`]).
//!
//! The fencing record `_tyk-dr-epoch.<global_name>` is deliberately *not* a resource of any stack:
//! `tyk-dr failover`/`failback` move it, and a stack update must never rewrite it (that would hand
//! traffic back to a region the epoch had fenced). It is created once, outside CloudFormation
//! (cloudformation/README.md, "The epoch record"); the outputs below name it and its first value.
//! Regional stacks' outputs arrive as parameters (exports cannot cross regions).

use serde_json::json;

use super::dns::fqdn;
use super::intrinsics::r;
use super::tags::{tags, Component};
use super::Fragment;
use crate::config::{Config, FlipMode, Side};

/// Parameter id carrying one side's load balancer DNS name.
pub fn lb_param(side: Side) -> String {
    format!("{}LoadBalancerDnsName", cap(side))
}

fn cap(side: Side) -> &'static str {
    match side {
        Side::Active => "Active",
        Side::Passive => "Passive",
    }
}

/// The fencing record's name.
pub fn epoch_record_name(cfg: &Config) -> String {
    format!("_tyk-dr-epoch.{}", cfg.dns.global_name)
}

/// The template.
pub fn template(cfg: &Config) -> serde_json::Value {
    let dns = &cfg.dns;
    let mut f = Fragment::default();
    let zone = fqdn(&dns.public_zone);
    let name = fqdn(&dns.global_name);
    let ttl = dns.global_ttl.to_string();

    for side in Side::BOTH {
        f.param(
            &lb_param(side),
            json!({
                "Type": "String",
                "MinLength": 1,
                "Description": format!("The {} stack's LoadBalancerDnsName output ({})", side.key(), cfg.region(side).name),
            }),
        );
    }

    match dns.flip_mode {
        FlipMode::Health => {
            for side in Side::BOTH {
                let hc = format!("{}HealthCheck", cap(side));
                f.res(
                    &hc,
                    "AWS::Route53::HealthCheck",
                    json!({
                        "HealthCheckConfig": {
                            "Type": "HTTP",
                            "FullyQualifiedDomainName": r(&lb_param(side)),
                            "Port": 80,
                            "ResourcePath": dns.health_check_path,
                            "RequestInterval": dns.health_check_interval,
                            "FailureThreshold": dns.health_check_failure_threshold,
                        },
                        "HealthCheckTags": tags(cfg, side, Component::Dns),
                    }),
                );
                let failover = match side {
                    Side::Active => "PRIMARY",
                    Side::Passive => "SECONDARY",
                };
                f.res(
                    &format!("{}Record", cap(side)),
                    "AWS::Route53::RecordSet",
                    json!({
                        "HostedZoneName": zone,
                        "Name": name,
                        "Type": "CNAME",
                        "TTL": ttl,
                        "SetIdentifier": format!("{}-{}", side.key(), cfg.region(side).name),
                        "Failover": failover,
                        "HealthCheckId": r(&hc),
                        "ResourceRecords": [r(&lb_param(side))],
                    }),
                );
                f.output(
                    &hc,
                    &format!("Route 53 health check of the {} region", side.key()),
                    r(&hc),
                    Some(format!("{}-global-{hc}Id", cfg.project)),
                );
            }
        }
        FlipMode::Upsert => {
            f.res(
                "GlobalRecord",
                "AWS::Route53::RecordSet",
                json!({
                    "HostedZoneName": zone,
                    "Name": name,
                    "Type": "CNAME",
                    "TTL": ttl,
                    "ResourceRecords": [r(&lb_param(Side::Active))],
                }),
            );
        }
    }

    super::shadow::add_global(cfg, &mut f);
    let drill_note = super::drill::add(cfg, &mut f);

    f.output(
        "EpochRecordName",
        "Fencing epoch TXT record (not managed by this stack: create it once, see cloudformation/README.md)",
        json!(epoch_record_name(cfg)),
        None,
    );
    f.output(
        "EpochRecordInitialValue",
        "First value of the epoch record, before any failover",
        json!(format!("\"active={} epoch=1\"", cfg.regions.active.name)),
        None,
    );
    for side in Side::BOTH {
        f.output(
            &format!("{}Ingress", cap(side)),
            &format!("Ingress of the {} region (its load balancer)", side.key()),
            r(&lb_param(side)),
            None,
        );
    }
    f.output(
        "GlobalName",
        "The name clients use",
        dns.global_name.clone().into(),
        None,
    );

    let description = format!(
        "tyk-dr {}: global DNS for {} ({} flip) and the fencing record. Deploy after both regional stacks. Generated by `tyk-dr cfn`; do not edit.",
        cfg.project,
        dns.global_name,
        match dns.flip_mode {
            FlipMode::Health => "health-check failover",
            FlipMode::Upsert => "upsert",
        }
    );
    let metadata = json!({
        "tyk-dr": {
            "project": cfg.project,
            "side": "global",
            "active_region": cfg.regions.active.name,
            "passive_region": cfg.regions.passive.name,
            "generated_by": "tyk-dr cfn",
            "drill_schedule": drill_note.unwrap_or_else(|| if cfg.drills.schedule.trim().is_empty() { "none".into() } else { "EventBridge Scheduler".into() }),
        }
    });
    f.into_template(description, metadata)
}
