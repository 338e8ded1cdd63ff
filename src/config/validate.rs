//! The semantic rules of `tyk-dr.toml`: everything a type cannot say.
//!
//! Each rule adds [`Diagnostic`]s and never stops at the first, so one run of
//! `tyk-dr validate` lists every problem. Positions are attached by the loader.

use std::net::SocketAddr;

use super::diagnostic::Diagnostic;
use super::model::*;
use super::path::FieldPath;
use super::regions::AWS_REGIONS;
use super::schema;

/// Checks a decoded config against every rule; returns errors and warnings.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    project(config, &mut out);
    regions(config, &mut out);
    redis(config, &mut out);
    mongo(config, &mut out);
    gateway(config, &mut out);
    dns(config, &mut out);
    drills(config, &mut out);
    sync(config, &mut out);
    out
}

fn sync(c: &Config, out: &mut Vec<Diagnostic>) {
    let s = &c.sync;
    let base = f("sync");
    if s.definitions == DefinitionTransport::Files && s.app_path.is_none() {
        out.push(
            Diagnostic::error("sync-app-path", base.key("definitions"), "`definitions = \"files\"` needs each side's directory")
                .expected("a `[sync.app_path]` table with `active` and `passive`")
                .help("add `[sync.app_path]` with `active = \"/opt/tyk/apps\"` and the passive region's directory, or use `definitions = \"api\"`"),
        );
    }
    if !(1..=10_000).contains(&s.keys.batch_size) {
        out.push(
            Diagnostic::error(
                "sync-batch",
                base.key("keys").key("batch_size"),
                format!("{} keys per batch is outside 1..=10000", s.keys.batch_size),
            )
            .expected("a batch size between 1 and 10000")
            .help("`batch_size = 1000` pipelines well without large replies"),
        );
    }
    for (i, r) in s.rewrites.iter().enumerate() {
        if r.from.is_empty() {
            out.push(
                Diagnostic::error(
                    "sync-rewrite",
                    base.key("rewrites").index(i).key("from"),
                    "an empty prefix would rewrite every target URL",
                )
                .expected("the active region's URL prefix, e.g. `http://orders.us-east-1.internal`")
                .help("name the region-specific part of `proxy.target_url`"),
            );
        }
    }
}

fn f(path: &str) -> FieldPath {
    FieldPath::parse(path)
}

fn project(c: &Config, out: &mut Vec<Diagnostic>) {
    let p = &c.project;
    let ok = (3..=24).contains(&p.len())
        && p.starts_with(|ch: char| ch.is_ascii_lowercase())
        && !p.ends_with('-')
        && !p.contains("--")
        && p.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !ok {
        out.push(
            Diagnostic::error("project-name", f("project"), format!("`{p}` cannot prefix AWS resource names"))
                .expected("3 to 24 lowercase letters, digits or single hyphens, starting with a letter")
                .help("use a short name such as `payments-gw`; ElastiCache and ELB names are built from it"),
        );
    }
}

fn regions(c: &Config, out: &mut Vec<Diagnostic>) {
    for side in Side::BOTH {
        let region = c.region(side);
        let base = f("regions").key(side.key());
        if !AWS_REGIONS.contains(&region.name.as_str()) {
            let known: Vec<String> = AWS_REGIONS.iter().map(|s| s.to_string()).collect();
            let help = match schema::suggest(&region.name, &known) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use an AWS region code such as `us-east-1` or `eu-west-1`".into(),
            };
            out.push(
                Diagnostic::error(
                    "unknown-region",
                    base.key("name"),
                    format!("`{}` is not an AWS region", region.name),
                )
                .expected("an AWS region code")
                .help(help),
            );
        }
        azs(region, &base, out);
        vpc_cidr(region, &base, out);
    }
    let (a, p) = (&c.regions.active, &c.regions.passive);
    if a.name == p.name {
        out.push(
            Diagnostic::error(
                "same-region",
                f("regions.passive.name"),
                format!("the passive region is the active region (`{}`)", a.name),
            )
            .expected("a second region, different from `regions.active.name`")
            .help("disaster recovery needs two regions; pick the nearest other region, e.g. `us-west-2` for `us-east-1`")
            .related(f("regions.active.name"), "the active region"),
        );
    }
    if a.vpc_cidr.contains(&p.vpc_cidr.network()) || p.vpc_cidr.contains(&a.vpc_cidr.network()) {
        out.push(
            Diagnostic::error(
                "cidr-overlap",
                f("regions.passive.vpc_cidr"),
                format!("{} overlaps the active VPC {}", p.vpc_cidr, a.vpc_cidr),
            )
            .expected("a CIDR disjoint from `regions.active.vpc_cidr`")
            .help("the VPCs are peered for Mongo replication, so their ranges must not overlap: e.g. 10.10.0.0/16 and 10.20.0.0/16")
            .related(f("regions.active.vpc_cidr"), "overlaps this range"),
        );
    }
}

fn azs(region: &Region, base: &FieldPath, out: &mut Vec<Diagnostic>) {
    let azs = region.effective_azs();
    if azs.len() < 2 {
        out.push(
            Diagnostic::error(
                "too-few-azs",
                base.key("azs"),
                format!(
                    "{} availability zone(s) cannot survive a zone loss",
                    azs.len()
                ),
            )
            .expected("at least 2 availability zones")
            .help(format!(
                "list two or three zones, e.g. [\"{0}a\", \"{0}b\", \"{0}c\"]",
                region.name
            )),
        );
    }
    for (i, az) in region.azs.iter().enumerate() {
        let path = base.key("azs").index(i);
        let suffix = az.strip_prefix(region.name.as_str());
        let well_formed = matches!(suffix, Some(s) if s.len() == 1 && s.chars().all(|ch| ch.is_ascii_lowercase()));
        if !well_formed {
            out.push(
                Diagnostic::error(
                    "az-region",
                    path.clone(),
                    format!("`{az}` is not a zone of region `{}`", region.name),
                )
                .expected(format!(
                    "the region code followed by a zone letter, e.g. `{}a`",
                    region.name
                ))
                .help(format!(
                    "use a zone of {} or move this entry to the other region",
                    region.name
                )),
            );
        }
        if region.azs[..i].contains(az) {
            out.push(
                Diagnostic::error("duplicate-az", path, format!("`{az}` is listed twice"))
                    .expected("distinct availability zones")
                    .help("remove the repeated zone"),
            );
        }
    }
}

fn vpc_cidr(region: &Region, base: &FieldPath, out: &mut Vec<Diagnostic>) {
    let cidr = region.vpc_cidr;
    let path = base.key("vpc_cidr");
    if !(16..=24).contains(&cidr.prefix_len()) {
        out.push(
            Diagnostic::error(
                "cidr-size",
                path.clone(),
                format!(
                    "/{} is outside the VPC sizes tyk-dr can carve",
                    cidr.prefix_len()
                ),
            )
            .expected(
                "a prefix between /16 and /24 (room for a public and a private subnet per AZ)",
            )
            .help(format!("use e.g. {}/16", cidr.network())),
        );
    }
    if cidr.network() != cidr.addr() {
        out.push(
            Diagnostic::error(
                "cidr-host-bits",
                path.clone(),
                format!("{cidr} has host bits set"),
            )
            .expected(format!("the network address, {}", cidr.trunc()))
            .help(format!("write `{}`", cidr.trunc())),
        );
    }
    if !cidr.addr().is_private() {
        out.push(
            Diagnostic::warning(
                "cidr-public",
                path,
                format!("{cidr} is not a private (RFC 1918) range"),
            )
            .expected("10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
            .help("public ranges in a VPC shadow real internet addresses"),
        );
    }
}

fn redis(c: &Config, out: &mut Vec<Diagnostic>) {
    let r = &c.redis;
    match r.backend {
        RedisBackend::Elasticache => elasticache(c, out),
        RedisBackend::SelfManaged => self_managed(r, out),
    }
    if r.backend == RedisBackend::Elasticache && r.auth && !r.tls {
        out.push(
            Diagnostic::error(
                "auth-needs-tls",
                f("redis.tls"),
                "ElastiCache accepts an AUTH token only with in-transit encryption",
            )
            .expected("`tls = true` when `auth = true`")
            .help("set `tls = true` (the gateway speaks TLS to Redis), or `auth = false`"),
        );
    }
    if r.auth && r.auth_token_secret.trim().is_empty() {
        out.push(
            Diagnostic::error("auth-secret", f("redis.auth_token_secret"), "AUTH is on but no secret is named")
                .expected("the Secrets Manager secret name holding the token")
                .help("set `auth_token_secret = \"<project>/redis-auth\"`; never put the token itself in this file"),
        );
    }
}

fn elasticache(c: &Config, out: &mut Vec<Diagnostic>) {
    let e = &c.redis.elasticache;
    let base = f("redis.elasticache");
    let parts: Vec<&str> = e.node_type.split('.').collect();
    if parts.len() != 3 || parts[0] != "cache" {
        out.push(
            Diagnostic::error(
                "node-type",
                base.key("node_type"),
                format!("`{}` is not an ElastiCache node type", e.node_type),
            )
            .expected("`cache.<family>.<size>`")
            .help("e.g. `cache.r7g.large`"),
        );
    } else if e.global_datastore && parts[1].starts_with('t') {
        out.push(
            Diagnostic::error(
                "global-datastore-node",
                base.key("node_type"),
                format!(
                    "Global Datastore does not support burstable `{}` nodes",
                    e.node_type
                ),
            )
            .expected("an M or R family node (e.g. `cache.r7g.large`)")
            .help(
                "pick an m/r node type, or set `global_datastore = false` and let tyk-dr replicate",
            ),
        );
    }
    if e.replicas_per_az == 0 {
        out.push(
            Diagnostic::error(
                "no-replicas",
                base.key("replicas_per_az"),
                "automatic failover needs at least one replica",
            )
            .expected("1 or more")
            .help("set `replicas_per_az = 1`"),
        );
    }
    let azs = c
        .regions
        .active
        .effective_azs()
        .len()
        .max(c.regions.passive.effective_azs().len());
    let nodes = e.nodes_per_region(azs);
    if nodes > 6 {
        out.push(
            Diagnostic::error(
                "too-many-nodes",
                base.key("replicas_per_az"),
                format!("{nodes} nodes per region exceed ElastiCache's 6 (1 primary + 5 replicas)"),
            )
            .expected(format!("replicas_per_az × {azs} AZs + 1 ≤ 6"))
            .help("lower `replicas_per_az` or use fewer AZs"),
        );
    }
    let version: Vec<u32> = e
        .engine_version
        .split('.')
        .map_while(|s| s.parse().ok())
        .collect();
    if version.is_empty() {
        out.push(
            Diagnostic::error(
                "engine-version",
                base.key("engine_version"),
                format!("`{}` is not a version", e.engine_version),
            )
            .expected("`major.minor`, e.g. `7.1`")
            .help("set `engine_version = \"7.1\"`"),
        );
    } else if e.global_datastore && version < vec![5, 0, 6] {
        out.push(
            Diagnostic::error(
                "engine-version",
                base.key("engine_version"),
                format!(
                    "Global Datastore needs Redis 5.0.6 or newer, not {}",
                    e.engine_version
                ),
            )
            .expected("5.0.6 or newer")
            .help("set `engine_version = \"7.1\"`"),
        );
    }
    if c.redis.self_managed.is_some() {
        out.push(
            Diagnostic::warning(
                "ignored-section",
                f("redis.self_managed"),
                "this section is ignored with `backend = \"elasticache\"`",
            )
            .expected("`backend = \"self-managed\"` to use it")
            .help("remove the section or change `redis.backend`"),
        );
    }
}

fn self_managed(r: &Redis, out: &mut Vec<Diagnostic>) {
    let Some(sm) = &r.self_managed else {
        out.push(
            Diagnostic::error("self-managed-missing", f("redis.backend"), "`self-managed` needs the servers' addresses")
                .expected("a `[redis.self_managed]` table with `active` and `passive` address lists")
                .help("add [redis.self_managed] with active = [\"10.10.1.10:6379\"] and passive = [\"10.20.1.10:6379\"]"),
        );
        return;
    };
    let base = f("redis.self_managed");
    for (key, list) in [
        ("active", &sm.active),
        ("passive", &sm.passive),
        ("sentinels", &sm.sentinels),
    ] {
        if list.is_empty() && key != "sentinels" {
            out.push(
                Diagnostic::error(
                    "no-addresses",
                    base.key(key),
                    format!("no {key} Redis servers listed"),
                )
                .expected("at least one `host:port`, primary first")
                .help(format!(
                    "list the {key} region's servers, e.g. [\"10.10.1.10:6379\"]"
                )),
            );
        }
        for (i, addr) in list.iter().enumerate() {
            if !is_host_port(addr) {
                out.push(
                    Diagnostic::error(
                        "address",
                        base.key(key).index(i),
                        format!("`{addr}` is not `host:port`"),
                    )
                    .expected("`host:port`, e.g. `10.10.1.10:6379` or `redis-a.internal:6379`")
                    .help("add the port after a colon"),
                );
            }
        }
    }
    for side in Side::BOTH {
        if let Some(name) = sm.name(side) {
            if !is_dns_name(name) {
                out.push(
                    Diagnostic::error(
                        "dns-name",
                        base.key(&format!("{side}_name")),
                        format!("`{name}` is not a DNS name"),
                    )
                    .expected(
                        "the DNS name of this side's Redis primary, e.g. `redis-a.tyk-dr.internal`",
                    )
                    .help("a CNAME must point at a name, not an IP address"),
                );
            }
        }
    }
    if !sm.sentinels.is_empty() && sm.sentinels.len() % 2 == 0 {
        out.push(
            Diagnostic::error(
                "sentinel-quorum",
                base.key("sentinels"),
                format!("{} Sentinels cannot break a tie", sm.sentinels.len()),
            )
            .expected("an odd number of Sentinels (3 or 5)")
            .help("add or remove one Sentinel"),
        );
    }
}

fn is_host_port(addr: &str) -> bool {
    if addr.parse::<SocketAddr>().is_ok() {
        return true;
    }
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok_and(|p| p > 0)
                && !host.is_empty()
                && host.split('.').all(is_dns_label)
        }
        None => false,
    }
}

fn mongo(c: &Config, out: &mut Vec<Diagnostic>) {
    let m = &c.mongo;
    if !m.enabled {
        return;
    }
    let base = f("mongo");
    for (key, votes) in [("votes", m.votes), ("passive_votes", m.passive_votes)] {
        if votes > 1 {
            out.push(
                Diagnostic::error(
                    "votes",
                    base.key(key),
                    format!("a member has 0 or 1 vote, not {votes}"),
                )
                .expected("0 or 1")
                .help(format!("set `{key} = 1`")),
            );
        }
    }
    let active_azs = c.regions.active.effective_azs().len() as u32;
    let active_votes = m.members_per_az * active_azs * m.votes.min(1);
    let total = active_votes + m.passive_members * m.passive_votes.min(1);
    if m.members_per_az == 0 {
        out.push(
            Diagnostic::error(
                "no-members",
                base.key("members_per_az"),
                "the active region has no Mongo members",
            )
            .expected("1 or more")
            .help("set `members_per_az = 1`"),
        );
    } else if total % 2 == 0 {
        out.push(
            Diagnostic::error("even-votes", base.key("passive_members"), format!("{total} voting members ({active_votes} active + {} passive) can tie an election", total - active_votes))
                .expected("an odd number of voting members")
                .help(format!("set `passive_members = {}` or `{}`, or give one passive member no vote", m.passive_members + 1, m.passive_members.saturating_sub(1))),
        );
    }
    if total > 7 {
        out.push(
            Diagnostic::error(
                "too-many-votes",
                base.key("members_per_az"),
                format!("{total} voting members; MongoDB allows at most 7"),
            )
            .expected("7 or fewer voting members")
            .help("set `passive_votes = 0` or lower `members_per_az`"),
        );
    }
    if m.members_per_az > 0 && active_votes * 2 <= total {
        out.push(
            Diagnostic::error("active-majority", base.key("passive_members"), format!("the active region holds {active_votes} of {total} votes, no majority"))
                .expected("more than half the votes in the active region")
                .help("with no majority in the active region, losing the passive region stops writes; lower `passive_members` or `passive_votes`"),
        );
    }
    if !(0.0..=1000.0).contains(&m.priority) || m.priority == 0.0 {
        out.push(
            Diagnostic::error(
                "priority",
                base.key("priority"),
                format!("priority {} cannot make a member primary", m.priority),
            )
            .expected("a number above 0 and at most 1000")
            .help("set `priority = 2`"),
        );
    }
    if m.passive_priority >= m.priority {
        out.push(
            Diagnostic::error("passive-priority", base.key("passive_priority"), format!("passive priority {} is not below the active priority {}", m.passive_priority, m.priority))
                .expected(format!("a value below {}", m.priority))
                .help("passive members must lose elections while the active region is up; set `passive_priority = 1`")
                .related(base.key("priority"), "the active members' priority"),
        );
    }
    if !is_version(&m.version) {
        out.push(
            Diagnostic::error(
                "mongo-version",
                base.key("version"),
                format!("`{}` is not a MongoDB version", m.version),
            )
            .expected("`major.minor`, e.g. `7.0`")
            .help("set `version = \"7.0\"`"),
        );
    }
    mongo_endpoints(m, &base.key("endpoints"), out);
    instance_type(&m.instance_type, base.key("instance_type"), out);
    if is_graviton(&m.instance_type) {
        out.push(
            Diagnostic::error("mongo-arch", base.key("instance_type"), format!("`{}` is an ARM (Graviton) type; MongoDB publishes Debian packages for x86-64 only", m.instance_type))
                .expected("an x86-64 instance type")
                .help("use the Intel or AMD equivalent, e.g. `r6i.large` or `r7a.large`"),
        );
    }
}

fn mongo_endpoints(m: &Mongo, base: &FieldPath, out: &mut Vec<Diagnostic>) {
    for side in Side::BOTH {
        for (i, host) in m.endpoints.of(side).iter().enumerate() {
            let at = base.key(side.key()).index(i);
            if !is_host_port(host) {
                out.push(
                    Diagnostic::error("mongo-endpoint", at, format!("`{host}` is not `host:port`"))
                        .expected("`host:port` as the replica set config names the member, e.g. `10.10.1.30:27017`")
                        .help("add the port after a colon (mongod listens on 27017 by default)"),
                );
            } else if side == Side::Passive
                && m.endpoints
                    .active
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(host))
            {
                out.push(
                    Diagnostic::error(
                        "mongo-endpoint-both",
                        at,
                        format!("`{host}` is listed as both active and passive"),
                    )
                    .expected("each member in the list of the region it runs in")
                    .help("remove it from the list of the region it does not run in"),
                );
            }
        }
    }
}

/// Graviton families carry a `g` after the generation digit (`r6g`, `c7gn`, `m6gd`, `t4g`, `x2gd`).
fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or("");
    family
        .find(|c: char| c.is_ascii_digit())
        .is_some_and(|i| family[i + 1..].contains('g'))
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()))
}

fn instance_type(t: &str, path: FieldPath, out: &mut Vec<Diagnostic>) {
    let parts: Vec<&str> = t.split('.').collect();
    let ok = parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        });
    if !ok {
        out.push(
            Diagnostic::error(
                "instance-type",
                path,
                format!("`{t}` is not an EC2 instance type"),
            )
            .expected("`<family>.<size>`, e.g. `c7g.large`")
            .help("drop any `cache.`/`db.` prefix; EC2 types look like `r6i.large`"),
        );
    }
}

fn gateway(c: &Config, out: &mut Vec<Diagnostic>) {
    let g = &c.gateway;
    let base = f("gateway");
    if g.instances_per_az == 0 {
        out.push(
            Diagnostic::error(
                "no-gateways",
                base.key("instances_per_az"),
                "a region with no gateways cannot take over",
            )
            .expected("1 or more")
            .help("set `instances_per_az = 1`"),
        );
    }
    instance_type(&g.instance_type, base.key("instance_type"), out);
    if !is_version(&g.version) {
        out.push(
            Diagnostic::error(
                "gateway-version",
                base.key("version"),
                format!("`{}` is not a release version", g.version),
            )
            .expected("`major.minor.patch`, e.g. `0.1.0`")
            .help(format!("set `version = \"{}\"`", env!("CARGO_PKG_VERSION"))),
        );
    }
    if !g.artifact_url.starts_with("https://") {
        out.push(
            Diagnostic::error(
                "artifact-url",
                base.key("artifact_url"),
                "the gateway binary must be downloaded over HTTPS",
            )
            .expected("an `https://` URL")
            .help("host the binary on HTTPS (S3, a release page)"),
        );
    }
    for side in Side::BOTH {
        for (i, url) in g.endpoints.of(side).iter().enumerate() {
            let host_port = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if !host_port.is_some_and(|hp| is_host_port(hp.trim_end_matches('/'))) {
                out.push(
                    Diagnostic::error("endpoint", base.key("endpoints").key(side.key()).index(i), format!("`{url}` is not a gateway base URL"))
                        .expected("`http://host:port`, e.g. `http://10.10.1.21:8080`")
                        .help("list each gateway's own address (not the load balancer), with scheme and port"),
                );
            }
        }
    }
    if !g.verify_path.starts_with('/') {
        out.push(
            Diagnostic::error(
                "verify-path",
                base.key("verify_path"),
                format!("`{}` is not an absolute path", g.verify_path),
            )
            .expected("a path starting with `/`")
            .help("use an API's listen path, e.g. `/payments/health`"),
        );
    }
    if g.port < 1024 {
        out.push(
            Diagnostic::warning(
                "privileged-port",
                base.key("port"),
                format!("port {} needs root; the gateway runs unprivileged", g.port),
            )
            .expected("a port of 1024 or above")
            .help("let the load balancer listen on 443 and forward to e.g. 8080"),
        );
    }
}

fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

fn within(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    name == zone || name.ends_with(&format!(".{zone}"))
}

fn dns(c: &Config, out: &mut Vec<Diagnostic>) {
    let d = &c.dns;
    let base = f("dns");
    for key in ["public_zone", "global_name", "private_zone", "redis_cname"] {
        let value = match key {
            "public_zone" => &d.public_zone,
            "global_name" => &d.global_name,
            "private_zone" => &d.private_zone,
            _ => &d.redis_cname,
        };
        if !is_dns_name(value) {
            out.push(
                Diagnostic::error(
                    "dns-name",
                    base.key(key),
                    format!("`{value}` is not a DNS name"),
                )
                .expected("dot-separated labels of letters, digits and hyphens")
                .help("e.g. `api.example.com`"),
            );
        }
    }
    if !within(&d.global_name, &d.public_zone) {
        out.push(
            Diagnostic::error(
                "name-outside-zone",
                base.key("global_name"),
                format!(
                    "`{}` is not inside the public zone `{}`",
                    d.global_name, d.public_zone
                ),
            )
            .expected(format!("a name ending in `.{}`", d.public_zone))
            .help(format!(
                "e.g. `api.{}`, or change `public_zone`",
                d.public_zone
            ))
            .related(base.key("public_zone"), "the public zone"),
        );
    }
    if !within(&d.redis_cname, &d.private_zone)
        || d.redis_cname.trim_end_matches('.') == d.private_zone.trim_end_matches('.')
    {
        out.push(
            Diagnostic::error(
                "name-outside-zone",
                base.key("redis_cname"),
                format!(
                    "`{}` is not a name below the private zone `{}`",
                    d.redis_cname, d.private_zone
                ),
            )
            .expected(format!(
                "a name ending in `.{}` (a CNAME cannot sit at the zone apex)",
                d.private_zone
            ))
            .help(format!("e.g. `redis.{}`", d.private_zone))
            .related(base.key("private_zone"), "the private zone"),
        );
    }
    if d.public_zone.trim_end_matches('.') == d.private_zone.trim_end_matches('.') {
        out.push(
            Diagnostic::error("same-zone", base.key("private_zone"), "the private zone has the public zone's name")
                .expected("a separate internal name, e.g. `tyk-dr.internal`")
                .help("split-horizon zones make the global name resolve differently inside the VPCs; use `tyk-dr.internal`"),
        );
    }
    if ![10, 30].contains(&d.health_check_interval) {
        out.push(
            Diagnostic::error(
                "hc-interval",
                base.key("health_check_interval"),
                format!(
                    "Route 53 checks every 10 or 30 seconds, not {}",
                    d.health_check_interval
                ),
            )
            .expected("10 or 30")
            .help("set `health_check_interval = 10` (fast) or `30` (standard)"),
        );
    }
    if !(1..=10).contains(&d.health_check_failure_threshold) {
        out.push(
            Diagnostic::error(
                "hc-threshold",
                base.key("health_check_failure_threshold"),
                format!(
                    "{} is outside Route 53's range",
                    d.health_check_failure_threshold
                ),
            )
            .expected("1 to 10")
            .help("set `health_check_failure_threshold = 3`"),
        );
    }
    if d.flip_mode == FlipMode::Health && d.global_ttl > d.health_check_window() {
        out.push(
            Diagnostic::error("ttl-above-window", base.key("global_ttl"), format!("TTL {} s is longer than the health-check window {} s ({} s × {})", d.global_ttl, d.health_check_window(), d.health_check_interval, d.health_check_failure_threshold))
                .expected(format!("at most {} s", d.health_check_window()))
                .help(format!("clients would keep the failed region's address after Route 53 has flipped; set `global_ttl = {}` or lower", d.health_check_window())),
        );
    }
    if d.global_ttl == 0 || d.redis_ttl == 0 {
        let key = if d.global_ttl == 0 {
            "global_ttl"
        } else {
            "redis_ttl"
        };
        out.push(
            Diagnostic::warning(
                "ttl-zero",
                base.key(key),
                "a TTL of 0 disables caching and multiplies DNS queries",
            )
            .expected("1 second or more")
            .help("use 5 for the Redis CNAME and 20-60 for the global name"),
        );
    }
    if d.redis_ttl > 60 {
        out.push(
            Diagnostic::warning("redis-ttl", base.key("redis_ttl"), format!("gateways may keep the old Redis address for {} s after a flip", d.redis_ttl))
                .expected("60 s or less")
                .help("set `redis_ttl = 5`; failover also recycles gateway pools, but resolvers hold the TTL"),
        );
    }
    if let Some(ns) = &d.nameserver {
        if ns.parse::<SocketAddr>().is_err() {
            out.push(
                Diagnostic::error(
                    "nameserver",
                    base.key("nameserver"),
                    format!("`{ns}` is not `ip:port`"),
                )
                .expected("an IP address and port, e.g. `127.0.0.1:5353`")
                .help("remove it to use the system resolver"),
            );
        }
    }
    if !d.health_check_path.starts_with('/') {
        out.push(
            Diagnostic::error(
                "hc-path",
                base.key("health_check_path"),
                format!("`{}` is not an absolute path", d.health_check_path),
            )
            .expected("a path starting with `/`")
            .help("set `health_check_path = \"/ready\"`"),
        );
    }
}

fn drills(c: &Config, out: &mut Vec<Diagnostic>) {
    let d = &c.drills;
    let base = f("drills");
    if !d.schedule.trim().is_empty() {
        if let Err(e) = d.schedule.parse::<croner::Cron>() {
            out.push(
                Diagnostic::error("cron", base.key("schedule"), format!("`{}` is not a cron expression: {e}", d.schedule))
                    .expected("5 fields: minute hour day-of-month month day-of-week (UTC)")
                    .help("e.g. `30 3 * * 2` for Tuesdays at 03:30 UTC; an empty string disables scheduling"),
            );
        }
    }
    if d.max_rto.is_zero() {
        out.push(
            Diagnostic::error(
                "threshold",
                base.key("max_rto"),
                "a zero RTO can never be met",
            )
            .expected("a duration such as \"30s\"")
            .help("set `max_rto = \"30s\"`"),
        );
    }
    if d.load_rps == 0 || d.load_rps > 10_000 {
        out.push(
            Diagnostic::error(
                "load",
                base.key("load_rps"),
                format!(
                    "{} requests per second is outside the drill's range",
                    d.load_rps
                ),
            )
            .expected("1 to 10000")
            .help("drills measure failover, not capacity: 50 to 500 is plenty"),
        );
    }
    if d.load_keys == 0 {
        out.push(
            Diagnostic::error(
                "load",
                base.key("load_keys"),
                "the drill needs at least one API key to send traffic with",
            )
            .expected("1 or more")
            .help("set `load_keys = 20`"),
        );
    }
    match &d.shadow_stack {
        Some(stack) => shadow_stack(c, stack, out),
        None if d.shadow => out.push(
            Diagnostic::error(
                "shadow-stack-missing",
                base.key("shadow"),
                "a shadow drill needs a shadow stack to fail over",
            )
            .expected("a `[drills.shadow_stack]` table (global_name, redis_cname, gateways, redis)")
            .help("add [drills.shadow_stack] (see examples/full.toml), or set `shadow = false` for full drills"),
        ),
        None => {}
    }
}

/// The shadow stack must be a separate path: if it shared a name, a gateway or the customers'
/// passive Redis with production, a "non-disruptive" drill would move customer traffic.
fn shadow_stack(c: &Config, s: &ShadowStack, out: &mut Vec<Diagnostic>) {
    let base = f("drills.shadow_stack");
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    for (key, name, zone, customer) in [
        (
            "global_name",
            &s.global_name,
            &c.dns.public_zone,
            &c.dns.global_name,
        ),
        (
            "redis_cname",
            &s.redis_cname,
            &c.dns.private_zone,
            &c.dns.redis_cname,
        ),
    ] {
        if !is_dns_name(name) || !within(name, zone) || same(name, zone) {
            out.push(
                Diagnostic::error(
                    "name-outside-zone",
                    base.key(key),
                    format!("`{name}` is not a name below `{zone}`"),
                )
                .expected(format!("a name ending in `.{zone}`"))
                .help(format!("e.g. `drill-{customer}`")),
            );
        } else if same(name, customer) {
            out.push(
                Diagnostic::error(
                    "shadow-shares-name",
                    base.key(key),
                    format!("`{name}` is the customers' name"),
                )
                .expected("a name only the drill uses")
                .help(format!("e.g. `drill-{customer}`")),
            );
        }
    }
    for side in Side::BOTH {
        let path = base.key("gateways").key(side.key());
        let list = s.gateways.of(side);
        if list.is_empty() {
            out.push(
                Diagnostic::error(
                    "no-gateways",
                    path.clone(),
                    format!("no {side} shadow gateways listed"),
                )
                .expected("at least one gateway base URL, e.g. `http://10.10.1.24:8080`")
                .help("run one small gateway per region whose Redis address is the shadow CNAME"),
            );
        }
        for (i, url) in list.iter().enumerate() {
            if c.gateway.endpoints.of(side).contains(url) {
                out.push(
                    Diagnostic::error(
                        "shadow-shares-gateway",
                        path.index(i),
                        format!("`{url}` also serves customers (gateway.endpoints.{side})"),
                    )
                    .expected("a gateway only the drill uses")
                    .help("a shadow drill fences its gateways; list dedicated drill gateways here"),
                );
            }
        }
    }
    let rbase = base.key("redis");
    for (key, addr) in [("active", &s.redis.active), ("passive", &s.redis.passive)] {
        if !is_host_port(addr) {
            out.push(
                Diagnostic::error(
                    "address",
                    rbase.key(key),
                    format!("`{addr}` is not `host:port`"),
                )
                .expected("`host:port`, e.g. `10.20.1.12:6379`")
                .help("add the port after a colon"),
            );
        }
    }
    if c.customer_redis().contains(&s.redis.passive) {
        out.push(
            Diagnostic::error("shadow-shares-redis", rbase.key("passive"), format!("`{}` is one of the customers' Redis servers", s.redis.passive))
                .expected("a separate replica of the active primary that only the drill promotes")
                .help("start another replica in the passive region, e.g. `redis-server --replicaof <active primary>`"),
        );
    }
    for key in ["active_name", "passive_name"] {
        let name = if key == "active_name" {
            &s.redis.active_name
        } else {
            &s.redis.passive_name
        };
        if !is_dns_name(name) {
            out.push(
                Diagnostic::error(
                    "dns-name",
                    rbase.key(key),
                    format!("`{name}` is not a DNS name"),
                )
                .expected("the DNS name of that Redis server, e.g. `redis-drill-b.tyk-dr.internal`")
                .help("a CNAME must point at a name, not an IP address"),
            );
        }
    }
}
