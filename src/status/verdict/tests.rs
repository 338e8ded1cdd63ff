use super::*;
use crate::config;
use crate::probes::dns::Resolution;
use crate::probes::gateway::GatewayProbe;
use crate::probes::redis::{CanaryProbe, RedisProbe};
use crate::status::{DnsStatus, RegionStatus};

fn config() -> Config {
    config::parse("t.toml", include_str!("../../../examples/local.toml"))
        .unwrap()
        .config
}

fn gateway(url: &str) -> GatewayProbe {
    GatewayProbe {
        url: url.into(),
        reachable: true,
        hello: Some("pass".into()),
        redis: Some("pass".into()),
        ready: true,
        ..Default::default()
    }
}

fn redis_primary(addr: &str) -> RedisProbe {
    RedisProbe {
        addr: addr.into(),
        reachable: true,
        role: Some("master".into()),
        offset: Some(100),
        replicas: Some(2),
        ..Default::default()
    }
}

fn redis_replica(addr: &str, of: &str) -> RedisProbe {
    RedisProbe {
        addr: addr.into(),
        reachable: true,
        role: Some("slave".into()),
        primary: Some(of.into()),
        link_up: Some(true),
        last_io_secs: Some(0),
        offset: Some(100),
        ..Default::default()
    }
}

fn resolved(name: &str) -> Resolution {
    Resolution {
        name: name.into(),
        addresses: vec!["127.0.1.10".parse().unwrap()],
        ..Default::default()
    }
}

/// A status in which everything is as it should be.
fn healthy() -> Status {
    Status {
        project: "local".into(),
        taken_at_ms: 0,
        duration_ms: 1,
        regions: vec![
            RegionStatus {
                side: Side::Active,
                region: "us-east-1".into(),
                gateways: vec![gateway("http://127.0.1.21:8080")],
                redis: vec![redis_primary("127.0.1.10:6379")],
                mongo: Vec::new(),
            },
            RegionStatus {
                side: Side::Passive,
                region: "us-west-2".into(),
                gateways: vec![
                    gateway("http://127.0.2.21:8080"),
                    gateway("http://127.0.2.22:8080"),
                ],
                redis: vec![redis_replica("127.0.2.10:6379", "127.0.1.10:6379")],
                mongo: Vec::new(),
            },
        ],
        canary: CanaryProbe {
            written_ms: Some(1000),
            passive_ms: Some(1000),
            age_ms: Some(3),
            error: None,
        },
        dns: DnsStatus {
            redis: resolved("redis.tyk-dr.internal"),
            redis_points_to: Some(Side::Active),
            global: resolved("api.tyk-dr.test"),
            global_points_to: Some(Side::Active),
        },
        serving: Side::Active,
        epoch: None,
        verdict: Verdict::default(),
    }
}

fn reasons(s: &Status) -> Vec<String> {
    judge(&config(), s).reasons
}

#[test]
fn healthy_pair_is_ready() {
    let v = judge(&config(), &healthy());
    assert!(v.ready, "{v:?}");
    assert!(v.notes.is_empty(), "{v:?}");
}

#[test]
fn broken_replication_link_is_named() {
    let mut s = healthy();
    s.regions[1].redis[0].link_up = Some(false);
    s.regions[1].redis[0].last_io_secs = Some(42);
    assert_eq!(
        reasons(&s),
        ["passive Redis 127.0.2.10:6379 has lost its replication link from 127.0.1.10:6379, last contact 42 s ago"]
    );
}

fn member(host: &str, role: Option<&str>) -> crate::probes::mongo::MongoProbe {
    crate::probes::mongo::MongoProbe {
        host: host.into(),
        reachable: role.is_some(),
        role: role.map(str::to_owned),
        error: role.is_none().then(|| "connection refused".into()),
        ..Default::default()
    }
}

#[test]
fn silent_standby_mongo_members_block_readiness_and_no_primary_is_noted() {
    let mut s = healthy();
    s.regions[0].mongo = vec![member("10.10.1.30:27017", Some("primary"))];
    s.regions[1].mongo = vec![member("10.20.1.30:27017", Some("secondary"))];
    assert!(judge(&config(), &s).ready);
    s.regions[1].mongo = vec![member("10.20.1.30:27017", None)];
    assert_eq!(
        reasons(&s),
        ["no passive MongoDB member answers (10.20.1.30:27017: connection refused)"]
    );
    s.regions[0].mongo = vec![member("10.10.1.30:27017", Some("secondary"))];
    let v = judge(&config(), &s);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("no MongoDB member is primary")),
        "{v:?}"
    );
}

#[test]
fn stale_canary_exceeds_rpo() {
    let mut s = healthy();
    s.canary.age_ms = Some(4_200);
    let r = reasons(&s);
    assert_eq!(r.len(), 1);
    assert!(
        r[0].starts_with("the passive side's canary is 4.2 s old, above max_rpo 1.0 s"),
        "{r:?}"
    );
}

#[test]
fn unreachable_passive_redis_and_gateways_are_each_reported() {
    let mut s = healthy();
    s.regions[1].redis[0] = RedisProbe {
        addr: "127.0.2.10:6379".into(),
        error: Some("Connection refused".into()),
        ..Default::default()
    };
    for g in &mut s.regions[1].gateways {
        g.ready = false;
        g.reachable = false;
        g.error = Some("Connection refused".into());
    }
    let r = reasons(&s);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].contains("http://127.0.2.21:8080: Connection refused; http://127.0.2.22:8080: Connection refused"), "{r:?}");
    assert_eq!(
        r[1],
        "passive Redis primary 127.0.2.10:6379 is unreachable: Connection refused"
    );
}

#[test]
fn one_ready_passive_gateway_is_enough() {
    let mut s = healthy();
    s.regions[1].gateways[0].ready = false;
    s.regions[1].gateways[0].reasons = vec!["redis unreachable".into()];
    assert!(judge(&config(), &s).ready);
}

#[test]
fn already_promoted_passive_is_not_ready() {
    let mut s = healthy();
    s.regions[1].redis[0] = redis_primary("127.0.2.10:6379");
    assert!(reasons(&s)[0].contains("is a primary, not a replica of the active region"));
}

#[test]
fn replicating_from_the_wrong_primary_is_not_ready() {
    let mut s = healthy();
    s.regions[1].redis[0].primary = Some("127.0.9.9:6379".into());
    assert!(reasons(&s)[0].contains("not from the active primary 127.0.1.10:6379"));
}

#[test]
fn unresolvable_names_are_not_ready_and_active_trouble_is_a_note() {
    let mut s = healthy();
    s.dns.global.error = Some("no record found".into());
    s.regions[0].gateways[0].ready = false;
    let v = judge(&config(), &s);
    assert_eq!(
        v.reasons,
        ["the global name api.tyk-dr.test does not resolve: no record found"]
    );
    assert_eq!(
        v.notes,
        ["no active gateway is ready: consider `tyk-dr failover`"]
    );
}

#[test]
fn human_durations() {
    assert_eq!(human_ms(850), "850 ms");
    assert_eq!(human_ms(4_200), "4.2 s");
    assert_eq!(human_ms(600_000), "10 min");
}

#[test]
fn fenced_standby_gateways_are_fine_but_fenced_with_redis_down_is_not() {
    let mut s = healthy();
    for g in &mut s.regions[1].gateways {
        g.ready = false;
        g.fenced = true;
        g.reasons = vec!["fenced".into()];
    }
    let v = judge(&config(), &s);
    assert!(v.ready, "{v:?}");
    assert_eq!(v.notes.len(), 1);
    for g in &mut s.regions[1].gateways {
        g.reasons.push("redis unreachable".into());
    }
    assert!(
        reasons(&s)[0].contains("fenced, redis unreachable"),
        "{:?}",
        reasons(&s)
    );
}

#[test]
fn after_a_failover_the_original_active_region_is_the_standby() {
    // us-west-2 serves (epoch 2); us-east-1's Redis replicates from it; its gateways are fenced.
    let mut s = healthy();
    s.serving = Side::Passive;
    s.epoch = Some(crate::playbook::epoch::Epoch {
        active: "us-west-2".into(),
        number: 2,
    });
    s.regions[1].redis = vec![redis_primary("127.0.2.10:6379")];
    s.regions[0].redis = vec![redis_replica("127.0.1.10:6379", "127.0.2.10:6379")];
    for g in &mut s.regions[0].gateways {
        g.ready = false;
        g.fenced = true;
        g.reasons = vec!["fenced".into()];
    }
    let v = judge(&config(), &s);
    assert!(v.ready, "{v:?}");
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("us-west-2 serves since a failover (epoch 2)")),
        "{v:?}"
    );

    // The standby's replication breaks: the reason names it as the standby, with its region.
    s.regions[0].redis[0].link_up = Some(false);
    s.regions[0].redis[0].last_io_secs = None;
    assert_eq!(
        reasons(&s),
        ["standby (us-east-1) Redis 127.0.1.10:6379 has lost its replication link from 127.0.2.10:6379"]
    );
}

fn standby_gateway(url: &str, active: &str, number: u64) -> GatewayProbe {
    GatewayProbe {
        ready: false,
        fenced: true,
        standby: true,
        takeover_ready: Some(true),
        reasons: vec![format!("standby: epoch {number} names {active}")],
        ..gateway(url)
    }
}

#[test]
fn standby_gateways_fenced_by_the_epoch_are_ready_to_take_over_and_broken_ones_are_not() {
    let mut s = healthy();
    s.epoch = Some(crate::playbook::epoch::Epoch {
        active: "us-east-1".into(),
        number: 1,
    });
    s.regions[1].gateways = vec![
        standby_gateway("http://127.0.2.21:8080", "us-east-1", 1),
        standby_gateway("http://127.0.2.22:8080", "us-east-1", 1),
    ];
    let v = judge(&config(), &s);
    assert!(v.ready, "{v:?}");

    // Broken standbys: Redis unreachable behind the fence.
    for g in &mut s.regions[1].gateways {
        g.takeover_ready = Some(false);
        g.reasons.push("redis unreachable".into());
    }
    let r = reasons(&s);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("no passive gateway is ready (http://127.0.2.21:8080: standby: epoch 1 names us-east-1, redis unreachable"),
        "{r:?}"
    );
}

#[test]
fn a_ready_standby_gateway_and_two_primaries_are_reasons_and_metrics() {
    let mut s = healthy();
    s.epoch = Some(crate::playbook::epoch::Epoch {
        active: "us-east-1".into(),
        number: 1,
    });
    // The passive gateways answer ready although the epoch names us-east-1 (no epoch fencing).
    let r = reasons(&s);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("passive gateway(s) http://127.0.2.21:8080, http://127.0.2.22:8080 are ready although epoch 1 names us-east-1"),
        "{r:?}"
    );
    assert_eq!(super::standby_gateways_ready(&s), 2);

    // Split brain: after a failover during a hang, us-east-1's old primary came back as a primary.
    let mut s = healthy();
    s.serving = Side::Passive;
    s.epoch = Some(crate::playbook::epoch::Epoch {
        active: "us-west-2".into(),
        number: 2,
    });
    s.regions[1].redis = vec![redis_primary("127.0.2.10:6379")];
    s.regions[0].gateways = vec![standby_gateway("http://127.0.1.21:8080", "us-west-2", 2)];
    let r = reasons(&s);
    assert!(
        r.iter().any(|r| r.starts_with(
            "two Redis primaries take writes: 127.0.1.10:6379 and 127.0.2.10:6379; 127.0.1.10:6379 (us-east-1) is not the one the epoch names"
        )),
        "{r:?}"
    );
    s.verdict = judge(&config(), &s);
    let text = crate::status::metrics::render(&s);
    assert!(text.contains("tyk_dr_redis_split_brain 1"), "{text}");
    assert!(text.contains("tyk_dr_standby_gateways_ready 0"), "{text}");
}
