//! Runs every probe of a status pass concurrently, so one pass costs about one round trip.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{verdict, DnsStatus, RegionStatus, Status};
use crate::config::{Config, Side};
use crate::probes::dns::{self, Resolution};
use crate::probes::redis::{self as redis_probe, RedisAccess};
use crate::probes::{gateway, now_ms};

/// Long-lived clients reused across passes (`monitor` runs many).
pub struct Probes {
    http: reqwest::Client,
    resolver: hickory_resolver::TokioResolver,
    redis: RedisAccess,
    mongo: std::sync::Arc<dyn tyk_dr_mongo::MongoAdmin>,
}

impl Probes {
    /// Clients for this topology; the Redis password comes from `TYK_DR_REDIS_PASSWORD` when AUTH is on.
    pub fn new(config: &Config) -> Self {
        let nameserver = config
            .dns
            .nameserver
            .as_deref()
            .and_then(|s| s.parse::<SocketAddr>().ok());
        let password = if config.redis.auth {
            std::env::var("TYK_DR_REDIS_PASSWORD").ok()
        } else {
            None
        };
        Self {
            http: crate::probes::http_client(),
            resolver: dns::resolver(nameserver),
            redis: RedisAccess { password },
            mongo: std::sync::Arc::new(tyk_dr_mongo::DriverAdmin::from_env()),
        }
    }

    /// The same clients with another MongoDB client (tests use a simulated replica set).
    pub fn with_mongo(mut self, admin: std::sync::Arc<dyn tyk_dr_mongo::MongoAdmin>) -> Self {
        self.mongo = admin;
        self
    }
}

/// One full pass over both regions and DNS.
pub async fn collect(config: &Config, probes: &Probes) -> Status {
    let started = Instant::now();
    let taken_at_ms = now_ms();
    let ready_path = config.dns.health_check_path.as_str();
    let region = |side: Side| async move {
        let gateways = join_all(
            config
                .gateway
                .endpoints
                .of(side)
                .iter()
                .map(|url| gateway::probe(&probes.http, url, ready_path)),
        );
        let redis = join_all(
            config
                .redis
                .self_managed_addresses(side)
                .iter()
                .map(|addr| redis_probe::probe(addr, &probes.redis)),
        );
        let members: &[String] = if config.mongo.enabled {
            config.mongo.endpoints.of(side)
        } else {
            &[]
        };
        let mongo = join_all(
            members
                .iter()
                .map(|host| crate::probes::mongo::probe(probes.mongo.as_ref(), host)),
        );
        let (gateways, redis, mongo) = tokio::join!(gateways, redis, mongo);
        RegionStatus {
            side,
            region: config.region(side).name.clone(),
            gateways,
            redis,
            mongo,
        }
    };
    let names = async {
        tokio::join!(
            dns::resolve(&probes.resolver, &config.dns.redis_cname),
            dns::resolve(&probes.resolver, &config.dns.global_name)
        )
    };
    let epoch_name = crate::playbook::epoch::record_name(&config.dns.global_name);
    let epoch = async {
        dns::txt(&probes.resolver, &epoch_name)
            .await
            .and_then(|v| crate::playbook::epoch::Epoch::parse(&v))
    };
    let (active, passive, (redis_name, global_name), epoch) =
        tokio::join!(region(Side::Active), region(Side::Passive), names, epoch);
    let serving = epoch
        .as_ref()
        .and_then(|e| {
            Side::BOTH
                .into_iter()
                .find(|s| config.region(*s).name == e.active)
        })
        .unwrap_or(Side::Active);
    // The canary goes to whichever primary takes writes now (the passive one after a failover)
    // and is read back on the other side.
    let passive_primary = passive.redis.first().is_some_and(|r| r.is_primary());
    let active_primary = active.redis.first().is_some_and(|r| r.is_primary());
    // Two primaries (a region came back undemoted): the canary goes to the one the epoch names,
    // never to the stale one.
    let (writer, reader) = if passive_primary && active_primary {
        (serving, serving.other())
    } else if passive_primary {
        (Side::Passive, Side::Active)
    } else {
        (Side::Active, Side::Passive)
    };
    let canary = match (
        config.redis.self_managed_addresses(writer).first(),
        config.redis.self_managed_addresses(reader).first(),
    ) {
        (Some(w), Some(r)) => {
            let writer_up = match writer {
                Side::Active => &active,
                Side::Passive => &passive,
            }
            .redis
            .first()
            .is_some_and(|p| p.reachable);
            redis_probe::canary(w, writer_up, r, &probes.redis, Duration::from_secs(1)).await
        }
        _ => redis_probe::CanaryProbe {
            error: Some("no self-managed Redis addresses to place a canary on".into()),
            ..Default::default()
        },
    };
    let dns = DnsStatus {
        redis_points_to: side_of(&redis_name, |side| {
            hosts(config.redis.self_managed_addresses(side))
        }),
        global_points_to: side_of(&global_name, |side| {
            hosts(config.gateway.endpoints.of(side))
        }),
        redis: redis_name,
        global: global_name,
    };
    let mut status = Status {
        project: config.project.clone(),
        taken_at_ms,
        duration_ms: 0,
        regions: vec![active, passive],
        canary,
        dns,
        serving,
        epoch,
        verdict: verdict::Verdict::default(),
    };
    status.verdict = verdict::judge(config, &status);
    status.duration_ms = started.elapsed().as_millis() as u64;
    status
}

/// IP addresses named in `host:port` or `scheme://host:port` strings.
fn hosts(list: &[String]) -> Vec<IpAddr> {
    list.iter()
        .filter_map(|s| crate::probes::ip_of(s))
        .collect()
}

/// The side whose addresses contain every address the name resolved to.
fn side_of(r: &Resolution, addresses: impl Fn(Side) -> Vec<IpAddr>) -> Option<Side> {
    if r.addresses.is_empty() {
        return None;
    }
    Side::BOTH.into_iter().find(|side| {
        let known = addresses(*side);
        r.addresses.iter().all(|a| known.contains(a))
    })
}
