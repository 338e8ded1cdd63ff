//! The observed state: what exists in both regions and Route 53, found by this project's tags
//! (or, for ElastiCache, by its deterministic names plus tags), read with calls in parallel
//! across regions and services.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use tyk_dr_aws::ec2::Snapshot;
use tyk_dr_aws::route53::{normalize_name, Failover, RecordSet, TagTarget, Zone};

use super::clients::Clients;
use super::desired::{cache_name, KEY_TAG, USER_DATA_TAG};
use super::model::{Addr, Kind, Observed, Scope, World, SET_SEP};
use crate::cfn::tags::{PROJECT, REGION};
use crate::config::{Config, RedisBackend, Side};
use crate::error::Error;

type Tags = BTreeMap<String, String>;

fn ours<'a>(cfg: &Config, tags: &'a Tags) -> Option<(Scope, &'a str)> {
    if tags.get(PROJECT)? != &cfg.project {
        return None;
    }
    Some((
        Scope::from_key(tags.get(REGION)?)?,
        tags.get(KEY_TAG)?.as_str(),
    ))
}

struct Collector<'a> {
    cfg: &'a Config,
    world: World,
}

impl Collector<'_> {
    fn put(&mut self, addr: Addr, kind: Kind, id: &str, fields: Vec<(&str, String)>) {
        let mut addr = addr;
        if self.world.resources.contains_key(&addr) {
            // A duplicate (say, launched twice by hand): keyed apart so the plan deletes it.
            addr.key = format!("{}#{id}", addr.key);
        }
        self.world.resources.insert(
            addr.clone(),
            Observed {
                addr,
                kind,
                id: id.to_owned(),
                fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                adopted: false,
            },
        );
    }

    fn ec2(&mut self, side: Side, snap: Snapshot) {
        let want = Scope::from(side);
        let cfg = self.cfg;
        let mine = |tags: &Tags| {
            ours(cfg, tags)
                .filter(|(s, _)| *s == want)
                .map(|(s, k)| Addr::new(s, k))
        };
        for v in &snap.vpcs {
            if let Some(a) = mine(&v.tags) {
                self.put(a, Kind::Vpc, &v.id, vec![("cidr", v.cidr.clone())]);
            }
        }
        for s in &snap.subnets {
            if let Some(a) = mine(&s.tags) {
                self.put(
                    a,
                    Kind::Subnet,
                    &s.id,
                    vec![
                        ("vpc", s.vpc_id.clone()),
                        ("cidr", s.cidr.clone()),
                        ("az", s.az.clone()),
                    ],
                );
            }
        }
        for g in &snap.security_groups {
            if let Some(a) = mine(&g.tags) {
                let mut rules: Vec<String> = g.rules.iter().map(ToString::to_string).collect();
                rules.sort();
                self.put(
                    a,
                    Kind::SecurityGroup,
                    &g.id,
                    vec![
                        ("vpc", g.vpc_id.clone()),
                        ("name", g.name.clone()),
                        ("rules", rules.join(SET_SEP)),
                    ],
                );
            }
        }
        for i in &snap.instances {
            if let Some(a) = mine(&i.tags) {
                let mut sgs = i.security_groups.clone();
                sgs.sort();
                let mut fields = vec![
                    ("instance_type", i.instance_type.clone()),
                    ("subnet", i.subnet_id.clone()),
                    ("security_groups", sgs.join(SET_SEP)),
                    (
                        "user_data",
                        i.tags.get(USER_DATA_TAG).cloned().unwrap_or_default(),
                    ),
                    ("state", i.state.clone()),
                ];
                fields.push(("private_ip", i.private_ip.clone().unwrap_or_default()));
                self.put(a, Kind::Instance, &i.id, fields);
            }
        }
    }

    fn records(&mut self, zone_scope: Scope, zone_id: &str, records: &[RecordSet]) {
        let cfg = self.cfg;
        for r in records {
            let key =
                if zone_scope != Scope::Global && r.name == normalize_name(&cfg.dns.redis_cname) {
                    "record/redis".to_owned()
                } else if zone_scope == Scope::Global
                    && r.name == normalize_name(&cfg.dns.global_name)
                    && r.rtype == "A"
                {
                    match &r.set_identifier {
                        Some(id) => format!("record/global/{id}"),
                        None => "record/global".to_owned(),
                    }
                } else {
                    continue;
                };
            let mut values = r.values.clone();
            values.sort();
            let mut fields = vec![
                ("zone", zone_id.to_owned()),
                ("name", r.name.clone()),
                ("type", r.rtype.clone()),
                ("ttl", r.ttl.map(|t| t.to_string()).unwrap_or_default()),
                ("values", values.join(SET_SEP)),
            ];
            if let Some(s) = &r.set_identifier {
                fields.push(("set_id", s.clone()));
            }
            if let Some(f) = r.failover {
                fields.push((
                    "failover",
                    match f {
                        Failover::Primary => "PRIMARY",
                        Failover::Secondary => "SECONDARY",
                    }
                    .to_owned(),
                ));
            }
            if let Some(h) = &r.health_check_id {
                fields.push(("health_check", h.clone()));
            }
            let id = format!(
                "{}|{}|{}",
                r.name,
                r.rtype,
                r.set_identifier.clone().unwrap_or_default()
            );
            self.put(Addr::new(zone_scope, key), Kind::Record, &id, fields);
        }
    }
}

async fn cache_side(
    cfg: &Config,
    c: &Clients,
    side: Side,
) -> Result<Vec<(Addr, Kind, String, Vec<(&'static str, String)>)>, Error> {
    if cfg.redis.backend != RedisBackend::Elasticache {
        return Ok(Vec::new());
    }
    let cache = &c.side(side).cache;
    let name = cache_name(cfg, side);
    let (groups, rgs) =
        tokio::try_join!(cache.subnet_groups(&name), cache.replication_groups(&name))?;
    let scope = Scope::from(side);
    let mine = |tags: &Tags| ours(cfg, tags).is_some_and(|(s, _)| s == scope);
    let mut out = Vec::new();
    let sg = groups.into_iter().find(|g| g.name == name);
    // A group being deleted is gone as far as plans go (moto keeps such groups forever).
    let rg = rgs
        .into_iter()
        .find(|g| g.id == name && g.status != "deleting");
    let (sg_tags, rg_tags) = tokio::try_join!(
        async {
            match &sg {
                Some(g) => cache.tags(&g.arn).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &rg {
                Some(g) => cache.tags(&g.arn).await.map(Some),
                None => Ok(None),
            }
        }
    )?;
    if let (Some(g), Some(tags)) = (sg, sg_tags) {
        if mine(&tags) {
            out.push((
                Addr::new(scope, "cache-subnet-group"),
                Kind::CacheSubnetGroup,
                g.name,
                vec![("subnets", g.subnet_ids.join(SET_SEP))],
            ));
        }
    }
    if let (Some(g), Some(tags)) = (rg, rg_tags) {
        if mine(&tags) {
            out.push((
                Addr::new(scope, "replication-group"),
                Kind::ReplicationGroup,
                g.id.clone(),
                vec![
                    ("status", g.status.clone()),
                    ("node_type", g.node_type.clone()),
                    ("snapshot_retention", g.snapshot_retention.to_string()),
                    ("transit_encryption", g.transit_encryption.to_string()),
                    ("endpoint", g.primary_endpoint.clone().unwrap_or_default()),
                    (
                        "global",
                        g.global
                            .as_ref()
                            .map(|(id, _)| id.clone())
                            .unwrap_or_default(),
                    ),
                    (
                        "global_role",
                        g.global
                            .as_ref()
                            .map(|(_, r)| r.clone())
                            .unwrap_or_default(),
                    ),
                ],
            ));
        }
    }
    Ok(out)
}

/// Reads the whole world for `cfg`'s project.
pub async fn observe(cfg: &Config, c: &Clients) -> Result<World, Error> {
    let tag = PROJECT;
    let global_ds =
        cfg.redis.backend == RedisBackend::Elasticache && cfg.redis.elasticache.global_datastore;
    let (snap_a, snap_p, cache_a, cache_p, zones, checks, globals) = tokio::try_join!(
        async {
            c.active
                .ec2
                .snapshot(tag, &cfg.project)
                .await
                .map_err(Error::from)
        },
        async {
            c.passive
                .ec2
                .snapshot(tag, &cfg.project)
                .await
                .map_err(Error::from)
        },
        cache_side(cfg, c, Side::Active),
        cache_side(cfg, c, Side::Passive),
        async { c.route53.list_zones().await.map_err(Error::from) },
        async { c.route53.list_health_checks().await.map_err(Error::from) },
        async {
            if global_ds {
                c.active
                    .cache
                    .global_groups(&cfg.project)
                    .await
                    .map_err(Error::from)
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    let mut col = Collector {
        cfg,
        world: World::default(),
    };
    col.ec2(Side::Active, snap_a);
    col.ec2(Side::Passive, snap_p);
    for (addr, kind, id, fields) in cache_a.into_iter().chain(cache_p) {
        col.put(addr, kind, &id, fields);
    }
    for g in globals {
        let primary = g
            .members
            .iter()
            .find(|m| m.2 == "primary")
            .map(|m| m.0.clone())
            .unwrap_or_default();
        col.put(
            Addr::new(Scope::Global, "global-datastore"),
            Kind::GlobalDatastore,
            &g.id,
            vec![("primary", primary), ("status", g.status.clone())],
        );
    }

    // Route 53: zones and health checks by tags (zones named like ours only).
    let private = normalize_name(&cfg.dns.private_zone);
    let public = normalize_name(&cfg.dns.public_zone);
    let candidates: Vec<&Zone> = zones
        .iter()
        .filter(|z| z.name == private || z.name == public)
        .collect();
    let zone_ids: Vec<String> = candidates.iter().map(|z| z.id.clone()).collect();
    let check_ids: Vec<String> = checks.iter().map(|h| h.id.clone()).collect();
    let (zone_tags, check_tags) = tokio::try_join!(
        async {
            c.route53
                .tags(TagTarget::Zone, &zone_ids)
                .await
                .map_err(Error::from)
        },
        async {
            c.route53
                .tags(TagTarget::HealthCheck, &check_ids)
                .await
                .map_err(Error::from)
        },
    )?;
    let none = Tags::new();
    let mut our_zones: Vec<(Scope, String)> = Vec::new();
    for z in &candidates {
        if let Some((scope, key)) = ours(cfg, zone_tags.get(&z.id).unwrap_or(&none)) {
            col.put(
                Addr::new(scope, key),
                Kind::HostedZone,
                &z.id,
                vec![("name", z.name.clone())],
            );
            our_zones.push((scope, z.id.clone()));
        }
    }
    let public_addr = Addr::new(Scope::Global, "zone/public");
    if !col.world.resources.contains_key(&public_addr) {
        // A public zone that exists without our tags (the usual case: the domain's zone) is
        // used but never deleted.
        if let Some(z) = candidates.iter().find(|z| z.name == public && !z.private) {
            col.put(
                public_addr.clone(),
                Kind::HostedZone,
                &z.id,
                vec![("name", z.name.clone())],
            );
            if let Some(o) = col.world.resources.get_mut(&public_addr) {
                o.adopted = true;
            }
            our_zones.push((Scope::Global, z.id.clone()));
        }
    }
    // Private zones need their VPC: it is fixed at creation and lives in the desired state, so
    // a zone found by tags is taken to be attached to the VPC of its side.
    for scope in [Scope::Active, Scope::Passive] {
        let zone = Addr::new(scope, "zone/private");
        let vpc = col
            .world
            .resources
            .get(&Addr::new(scope, "vpc"))
            .map(|v| v.id.clone());
        if let (Some(z), Some(vpc)) = (col.world.resources.get_mut(&zone), vpc) {
            z.fields.insert("vpc".into(), vpc);
        }
    }
    for h in &checks {
        if let Some((scope, key)) = ours(cfg, check_tags.get(&h.id).unwrap_or(&none)) {
            col.put(
                Addr::new(scope, key),
                Kind::HealthCheck,
                &h.id,
                vec![
                    ("ip", h.ip.map(|ip| ip.to_string()).unwrap_or_default()),
                    ("port", h.port.map(|p| p.to_string()).unwrap_or_default()),
                    ("path", h.path.clone().unwrap_or_default()),
                    ("interval", h.interval.as_secs().to_string()),
                    ("failure_threshold", h.failure_threshold.to_string()),
                ],
            );
        }
    }
    let listed = try_join_all(our_zones.iter().map(|(scope, id)| {
        let r53 = c.route53.clone();
        let (scope, id) = (*scope, id.clone());
        async move {
            r53.list_record_sets(&id)
                .await
                .map(|r| (scope, id, r))
                .map_err(Error::from)
        }
    }))
    .await?;
    for (scope, id, records) in listed {
        col.records(scope, &id, &records);
    }
    Ok(col.world)
}
