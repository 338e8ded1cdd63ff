//! The regional private hosted zone and the Redis CNAME gateways connect through.
//!
//! CNAME strategy: each region has its own private zone named `dns.private_zone`, associated
//! with that region's VPC only (split horizon), and `dns.redis_cname` points at that region's
//! replication group primary endpoint. ElastiCache keeps the primary endpoint on the writable
//! node through in-region failovers, and a Global Datastore promotion makes the passive
//! group's primary endpoint writable, so gateways never resolve a cross-region Redis and the
//! record needs no change on failover. The demoted region's gateways see READONLY and
//! reconnect, as the design expects. With self-managed Redis the record points at the
//! side's first `self_managed` server (A record for an IP, CNAME for a host name) and the
//! `flip-cname` step moves it.

use serde_json::json;

use super::intrinsics::{get_att, r};
use super::redis::REPLICATION_GROUP;
use super::tags::{tags, Component};
use super::{Ctx, Fragment};
use crate::config::Side;

/// A name with the trailing dot Route 53 uses.
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// The host part of a `host:port` address.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}

pub(crate) fn add(ctx: &Ctx, f: &mut Fragment) {
    let (cfg, side) = (ctx.cfg, ctx.side);
    let dns = &cfg.dns;
    f.res(
        "PrivateHostedZone",
        "AWS::Route53::HostedZone",
        json!({
            "Name": fqdn(&dns.private_zone),
            "HostedZoneConfig": { "Comment": format!("tyk-dr {} {} private names", cfg.project, side.key()) },
            "VPCs": [{ "VPCId": r("Vpc"), "VPCRegion": r("AWS::Region") }],
            "HostedZoneTags": tags(cfg, side, Component::Dns),
        }),
    );

    let target = if ctx.elasticache() {
        Some((
            "CNAME",
            get_att(REPLICATION_GROUP, "PrimaryEndPoint.Address"),
        ))
    } else {
        cfg.redis.self_managed.as_ref().and_then(|sm| {
            let list = match side {
                Side::Active => &sm.active,
                Side::Passive => &sm.passive,
            };
            list.first().map(|a| {
                let h = host_of(a);
                let ty = if h.parse::<std::net::Ipv4Addr>().is_ok() {
                    "A"
                } else {
                    "CNAME"
                };
                (ty, h.into())
            })
        })
    };
    if let Some((ty, value)) = target {
        f.res(
            "RedisRecord",
            "AWS::Route53::RecordSet",
            json!({
                "HostedZoneId": r("PrivateHostedZone"),
                "Name": fqdn(&dns.redis_cname),
                "Type": ty,
                "TTL": dns.redis_ttl.to_string(),
                "ResourceRecords": [value],
            }),
        );
    }
    f.output(
        "PrivateHostedZoneId",
        "Private hosted zone holding the Redis CNAME",
        r("PrivateHostedZone"),
        Some(ctx.export("PrivateHostedZoneId")),
    );
}
