//! The shadow stack's DNS (`[drills.shadow_stack]`), so shadow drills run on records that exist:
//! the regional Redis CNAME the shadow gateways use, and the shadow global name (the same flip
//! mode as the customers' name, with health checks on the shadow gateways themselves) with its
//! own fencing record. The shadow gateways and the shadow Redis copy are named in `tyk-dr.toml`
//! by address; they are not created here.

use serde_json::{json, Value};

use super::dns::fqdn;
use super::intrinsics::r;
use super::tags::{tags, Component};
use super::{Ctx, Fragment};
use crate::config::{Config, FlipMode, ShadowStack, Side};

/// Host and port of a gateway base URL (`http://10.10.1.50:8080`), and whether it is HTTPS.
fn host_port(url: &str) -> (String, u16, bool) {
    let (rest, tls) = match url.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (url.strip_prefix("http://").unwrap_or(url), false),
    };
    let rest = rest.trim_end_matches('/');
    let default = if tls { 443 } else { 80 };
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(default), tls),
        None => (rest.to_owned(), default, tls),
    }
}

/// `A` for an IPv4 address, `CNAME` for a host name.
fn record_type(host: &str) -> &'static str {
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        "A"
    } else {
        "CNAME"
    }
}

/// The shadow Redis record in a regional stack's private zone.
pub(crate) fn add_regional(ctx: &Ctx, f: &mut Fragment) {
    let Some(s) = &ctx.cfg.drills.shadow_stack else {
        return;
    };
    let name = match ctx.side {
        Side::Active => &s.redis.active_name,
        Side::Passive => &s.redis.passive_name,
    };
    f.res(
        "ShadowRedisRecord",
        "AWS::Route53::RecordSet",
        json!({
            "HostedZoneId": r("PrivateHostedZone"),
            "Name": fqdn(&s.redis_cname),
            "Type": "CNAME",
            "TTL": ctx.cfg.dns.redis_ttl.to_string(),
            "ResourceRecords": [name],
        }),
    );
}

fn gateway_records(s: &ShadowStack, side: Side) -> (&'static str, Vec<Value>) {
    let hosts: Vec<String> = s.gateways.of(side).iter().map(|u| host_port(u).0).collect();
    let ty = hosts.first().map_or("A", |h| record_type(h));
    let values = if ty == "A" {
        hosts.into_iter().map(Value::from).collect()
    } else {
        hosts.into_iter().take(1).map(Value::from).collect()
    };
    (ty, values)
}

/// The shadow global name and its fencing record in the global stack.
pub(crate) fn add_global(cfg: &Config, f: &mut Fragment) {
    let Some(s) = &cfg.drills.shadow_stack else {
        return;
    };
    let dns = &cfg.dns;
    let (zone, name, ttl) = (
        fqdn(&dns.public_zone),
        fqdn(&s.global_name),
        dns.global_ttl.to_string(),
    );
    for side in Side::BOTH {
        let (ty, values) = gateway_records(s, side);
        let cap = match side {
            Side::Active => "Active",
            Side::Passive => "Passive",
        };
        let mut record = json!({
            "HostedZoneName": zone,
            "Name": name,
            "Type": ty,
            "TTL": ttl,
            "ResourceRecords": values,
        });
        match dns.flip_mode {
            FlipMode::Health => {
                let hc = format!("Shadow{cap}HealthCheck");
                let (host, port, tls) = s
                    .gateways
                    .of(side)
                    .first()
                    .map_or_else(|| (String::new(), 80, false), |u| host_port(u));
                let target = if record_type(&host) == "A" {
                    json!({"IPAddress": host})
                } else {
                    json!({"FullyQualifiedDomainName": host})
                };
                let mut config = json!({
                    "Type": if tls { "HTTPS" } else { "HTTP" },
                    "Port": port,
                    "ResourcePath": dns.health_check_path,
                    "RequestInterval": dns.health_check_interval,
                    "FailureThreshold": dns.health_check_failure_threshold,
                });
                config
                    .as_object_mut()
                    .expect("an object")
                    .extend(target.as_object().expect("an object").clone());
                f.res(
                    &hc,
                    "AWS::Route53::HealthCheck",
                    json!({"HealthCheckConfig": config, "HealthCheckTags": tags(cfg, side, Component::Dns)}),
                );
                let extra = record.as_object_mut().expect("an object");
                extra.insert(
                    "SetIdentifier".into(),
                    format!("shadow-{}-{}", side.key(), cfg.region(side).name).into(),
                );
                extra.insert(
                    "Failover".into(),
                    if side == Side::Active {
                        "PRIMARY"
                    } else {
                        "SECONDARY"
                    }
                    .into(),
                );
                extra.insert("HealthCheckId".into(), r(&hc));
            }
            // Upsert mode: one record, on the active side until a drill moves it.
            FlipMode::Upsert if side == Side::Passive => continue,
            FlipMode::Upsert => {}
        }
        f.res(
            &format!("Shadow{cap}Record"),
            "AWS::Route53::RecordSet",
            record,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_become_record_values_and_health_check_targets() {
        assert_eq!(
            host_port("http://10.10.1.50:8080"),
            ("10.10.1.50".into(), 8080, false)
        );
        assert_eq!(
            host_port("https://gw.internal/"),
            ("gw.internal".into(), 443, true)
        );
        assert_eq!(record_type("10.10.1.50"), "A");
        assert_eq!(record_type("gw.internal"), "CNAME");
    }
}
