//! `monitor`'s Prometheus exposition, rebuilt from each status pass so a
//! component that disappears from the config also disappears from the metrics.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::Status;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The OpenMetrics text for one status pass.
pub fn render(s: &Status) -> String {
    let mut reg = Registry::with_prefix("tyk_dr");
    let ready = Gauge::<i64>::default();
    ready.set(flag(s.verdict.ready));
    reg.register(
        "passive_ready",
        "1 when the passive region could take over now",
        ready,
    );

    let split = Gauge::<i64>::default();
    split.set(flag(super::verdict::two_primaries(s).is_some()));
    reg.register(
        "redis_split_brain",
        "1 when both regions' Redis primaries accept writes (two primaries)",
        split,
    );
    let standby_ready = Gauge::<i64>::default();
    standby_ready.set(super::verdict::standby_gateways_ready(s) as i64);
    reg.register(
        "standby_gateways_ready",
        "Gateways of the region the epoch does not name that answer ready (fencing does not hold)",
        standby_ready,
    );

    let gw_up = Family::<Labels, Gauge>::default();
    let gw_ready = Family::<Labels, Gauge>::default();
    let gw_fenced = Family::<Labels, Gauge>::default();
    let redis_up = Family::<Labels, Gauge>::default();
    let redis_primary = Family::<Labels, Gauge>::default();
    let redis_link = Family::<Labels, Gauge>::default();
    let redis_offset = Family::<Labels, Gauge>::default();
    let mongo_up = Family::<Labels, Gauge>::default();
    let mongo_primary = Family::<Labels, Gauge>::default();
    for r in &s.regions {
        for m in &r.mongo {
            let l = labels(&[
                ("side", r.side.key()),
                ("region", &r.region),
                ("host", &m.host),
            ]);
            mongo_up.get_or_create(&l).set(flag(m.reachable));
            mongo_primary.get_or_create(&l).set(flag(m.is_primary()));
        }
        let side = r.side.key();
        for g in &r.gateways {
            let l = labels(&[("side", side), ("region", &r.region), ("url", &g.url)]);
            gw_up.get_or_create(&l).set(flag(g.reachable));
            gw_ready.get_or_create(&l).set(flag(g.ready));
            gw_fenced.get_or_create(&l).set(flag(g.fenced));
        }
        for n in &r.redis {
            let l = labels(&[("side", side), ("region", &r.region), ("addr", &n.addr)]);
            redis_up.get_or_create(&l).set(flag(n.reachable));
            redis_primary.get_or_create(&l).set(flag(n.is_primary()));
            if let Some(link) = n.link_up {
                redis_link.get_or_create(&l).set(flag(link));
            }
            if let Some(offset) = n.offset {
                redis_offset.get_or_create(&l).set(offset);
            }
        }
    }
    reg.register("gateway_up", "1 when the gateway answers /hello", gw_up);
    reg.register(
        "gateway_ready",
        "1 when the gateway's readiness path answers 200",
        gw_ready,
    );
    reg.register(
        "gateway_fenced",
        "1 when the gateway reports itself fenced",
        gw_fenced,
    );
    reg.register("redis_up", "1 when the Redis server answers", redis_up);
    reg.register(
        "redis_primary",
        "1 when the Redis server is a primary",
        redis_primary,
    );
    reg.register(
        "redis_link_up",
        "1 when a replica's link to its primary is up",
        redis_link,
    );
    reg.register(
        "redis_replication_offset",
        "Replication offset reached",
        redis_offset,
    );
    reg.register(
        "mongo_up",
        "1 when the MongoDB member answers hello",
        mongo_up,
    );
    reg.register(
        "mongo_primary",
        "1 when the MongoDB member is the writable primary",
        mongo_primary,
    );

    let canary = FloatGauge::default();
    canary.set(s.canary.age_ms.map_or(f64::NAN, |ms| ms as f64 / 1000.0));
    reg.register(
        "canary_age_seconds",
        "Age of the newest canary on the passive side (the RPO now)",
        canary,
    );
    let duration = FloatGauge::default();
    duration.set(s.duration_ms as f64 / 1000.0);
    reg.register(
        "status_duration_seconds",
        "Time one status pass took",
        duration,
    );
    let points = Family::<Labels, Gauge>::default();
    for (name, side) in [
        (&s.dns.redis.name, s.dns.redis_points_to),
        (&s.dns.global.name, s.dns.global_points_to),
    ] {
        let value = match side {
            Some(crate::config::Side::Passive) => 1,
            Some(crate::config::Side::Active) => 0,
            None => -1,
        };
        points.get_or_create(&labels(&[("name", name)])).set(value);
    }
    reg.register(
        "dns_points_to_passive",
        "1 passive, 0 active, -1 unresolved or unknown",
        points,
    );

    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Side;
    use crate::probes::mongo::MongoProbe;
    use crate::status::{DnsStatus, RegionStatus};

    #[test]
    fn mongo_members_are_exported_per_side_and_host() {
        let member = |host: &str, role: Option<&str>| MongoProbe {
            host: host.into(),
            reachable: role.is_some(),
            role: role.map(str::to_owned),
            ..Default::default()
        };
        let region = |side, name: &str, mongo| RegionStatus {
            side,
            region: name.into(),
            gateways: Vec::new(),
            redis: Vec::new(),
            mongo,
        };
        let s = Status {
            project: "t".into(),
            taken_at_ms: 0,
            duration_ms: 1,
            regions: vec![
                region(
                    Side::Active,
                    "us-east-1",
                    vec![member("a1:27017", Some("primary"))],
                ),
                region(Side::Passive, "us-west-2", vec![member("b1:27017", None)]),
            ],
            canary: Default::default(),
            dns: DnsStatus {
                redis: Default::default(),
                redis_points_to: None,
                global: Default::default(),
                global_points_to: None,
            },
            serving: Side::Active,
            epoch: None,
            verdict: Default::default(),
        };
        let text = render(&s);
        for line in [
            r#"tyk_dr_mongo_up{side="active",region="us-east-1",host="a1:27017"} 1"#,
            r#"tyk_dr_mongo_primary{side="active",region="us-east-1",host="a1:27017"} 1"#,
            r#"tyk_dr_mongo_up{side="passive",region="us-west-2",host="b1:27017"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
