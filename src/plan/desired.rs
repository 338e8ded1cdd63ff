//! The desired state: `tyk-dr.toml` compiled into a list of [`Desired`] resources.
//!
//! User data and MongoDB member addresses come from the CloudFormation templates
//! [`crate::cfn::generate`] builds, so `apply` launches exactly what `tyk-dr cfn` describes.
//! Scope of this first version: VPC, subnets, security groups, plain tagged instances (no Auto
//! Scaling group, load balancer, NAT or internet gateway), ElastiCache and Route 53.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{fnv1a, Addr, Desired, Kind, Part, Scope, Val};
use crate::cfn::subnets::carve;
use crate::cfn::tags::{Component, COMPONENT, PROJECT, REGION};
use crate::config::{Config, FlipMode, RedisBackend, Side};
use tyk_dr_aws::route53::normalize_name;

/// Tag holding the resource's [`Addr::key`].
pub const KEY_TAG: &str = "tyk-dr:key";
/// Tag holding a hash of an instance's user data (EC2 does not return user data in listings).
pub const USER_DATA_TAG: &str = "tyk-dr:user-data";
/// Image used for MongoDB members (x86-64 Debian 12; the config has no field for it yet).
pub const MONGO_IMAGE: &str = "resolve:ssm:/aws/service/debian/release/12/latest/amd64";

/// Creation order of each kind (deletion runs in reverse).
pub fn order(kind: Kind, scope: Scope) -> u32 {
    match kind {
        Kind::Vpc => 10,
        Kind::Subnet => 20,
        Kind::SecurityGroup => 30,
        Kind::Instance => 40,
        Kind::CacheSubnetGroup => 50,
        // A Global Datastore secondary is created after the datastore itself.
        Kind::ReplicationGroup if scope == Scope::Passive => 80,
        Kind::ReplicationGroup => 60,
        Kind::GlobalDatastore => 70,
        Kind::HostedZone => 90,
        Kind::HealthCheck => 100,
        Kind::Record => 110,
    }
}

/// The tags of a resource: project, region, component, key and a console `Name`.
pub fn tags(cfg: &Config, addr: &Addr, c: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT.to_owned(), cfg.project.clone()),
        (REGION.to_owned(), addr.scope.key().to_owned()),
        (COMPONENT.to_owned(), c.key().to_owned()),
        (KEY_TAG.to_owned(), addr.key.clone()),
        (
            "Name".to_owned(),
            format!(
                "{}-{}-{}",
                cfg.project,
                addr.scope.key(),
                addr.key.replace('/', "-")
            ),
        ),
    ])
}

/// The component a resource belongs to, from its kind and key.
pub fn component(kind: Kind, key: &str) -> Component {
    match kind {
        Kind::Vpc | Kind::Subnet => Component::Network,
        Kind::CacheSubnetGroup | Kind::ReplicationGroup | Kind::GlobalDatastore => Component::Redis,
        Kind::HostedZone | Kind::HealthCheck | Kind::Record => Component::Dns,
        Kind::SecurityGroup | Kind::Instance if key.contains("mongo") => Component::Mongo,
        Kind::SecurityGroup if key.contains("redis") => Component::Redis,
        Kind::SecurityGroup | Kind::Instance => Component::Gateway,
    }
}

/// Name of the ElastiCache subnet group and replication group of one side.
pub fn cache_name(cfg: &Config, side: Side) -> String {
    format!("{}-{}", cfg.project, side.key())
}

/// Hash of user data, as stored in [`USER_DATA_TAG`].
pub fn user_data_hash(script: &str) -> String {
    format!("{:016x}", fnv1a(script.as_bytes()))
}

struct Builder {
    out: Vec<Desired>,
}

impl Builder {
    fn add(
        &mut self,
        addr: Addr,
        kind: Kind,
        fields: Vec<(&str, Val)>,
        force_new: &[&str],
    ) -> &mut Desired {
        self.out.push(Desired {
            order: order(kind, addr.scope),
            addr,
            kind,
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            force_new: force_new.iter().map(|s| (*s).to_owned()).collect(),
            create_only: Vec::new(),
            inputs: BTreeMap::new(),
        });
        self.out.last_mut().expect("just pushed")
    }
}

fn set(items: Vec<Vec<Part>>) -> Val {
    Val::Set(items)
}

fn lit(s: impl Into<String>) -> Part {
    Part::Lit(s.into())
}

fn rf(addr: &Addr, attr: &str) -> Part {
    Part::Ref(addr.clone(), attr.into())
}

/// One MongoDB member as the CloudFormation template defines it.
struct Member {
    key: String,
    az: String,
    ip: String,
    instance_type: String,
    user_data: String,
}

fn template_members(body: &Value) -> (Option<String>, Vec<Member>) {
    let empty = serde_json::Map::new();
    let res = body["Resources"].as_object().unwrap_or(&empty);
    let gateway_ud = res
        .values()
        .find(|r| r["Type"] == "AWS::EC2::LaunchTemplate")
        .and_then(|r| r["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"].as_str())
        .map(str::to_owned);
    let mut members: Vec<Member> = res
        .iter()
        .filter(|(id, r)| id.starts_with("MongoMember") && r["Type"] == "AWS::EC2::Instance")
        .filter_map(|(id, r)| {
            let p = &r["Properties"];
            let subnet = p["SubnetId"]["Ref"].as_str()?;
            Some(Member {
                key: format!("instance/mongo/{}", id.trim_start_matches("MongoMember")),
                az: res.get(subnet)?["Properties"]["AvailabilityZone"]
                    .as_str()?
                    .to_owned(),
                ip: p["PrivateIpAddress"].as_str()?.to_owned(),
                instance_type: p["InstanceType"].as_str()?.to_owned(),
                user_data: p["UserData"]["Fn::Base64"].as_str()?.to_owned(),
            })
        })
        .collect();
    members.sort_by(|a, b| a.key.cmp(&b.key));
    (gateway_ud, members)
}

/// What one instance is launched with.
struct Launch<'a> {
    subnet: &'a Addr,
    sg: &'a Addr,
    instance_type: &'a str,
    ip: Option<&'a str>,
    image: &'a str,
    user_data: &'a str,
}

fn instance(b: &mut Builder, addr: Addr, l: Launch<'_>) {
    let Launch {
        subnet,
        sg,
        instance_type,
        ip,
        image,
        user_data,
    } = l;
    let mut fields = vec![
        ("instance_type", Val::lit(instance_type)),
        ("subnet", Val::r(subnet, "id")),
        ("security_groups", set(vec![vec![rf(sg, "id")]])),
        ("user_data", Val::lit(user_data_hash(user_data))),
    ];
    if let Some(ip) = ip {
        fields.push(("private_ip", Val::lit(ip)));
    }
    let d = b.add(
        addr,
        Kind::Instance,
        fields,
        &[
            "instance_type",
            "subnet",
            "security_groups",
            "user_data",
            "private_ip",
        ],
    );
    d.inputs.insert("image_id".into(), image.into());
    d.inputs.insert("user_data".into(), user_data.into());
}

fn region(cfg: &Config, side: Side, templates: &[Value], b: &mut Builder) -> Vec<Addr> {
    let scope = Scope::from(side);
    let a = |k: &str| Addr::new(scope, k);
    let region = cfg.region(side);
    let other = cfg.region(match side {
        Side::Active => Side::Passive,
        Side::Passive => Side::Active,
    });
    let vpc = a("vpc");
    b.add(
        vpc.clone(),
        Kind::Vpc,
        vec![("cidr", Val::lit(region.vpc_cidr.to_string()))],
        &["cidr"],
    );
    let nets = carve(region.vpc_cidr, &region.effective_azs());
    for n in &nets {
        for (tier, cidr) in [("public", n.public), ("private", n.private)] {
            b.add(
                a(&format!("subnet/{tier}/{}", n.az)),
                Kind::Subnet,
                vec![
                    ("vpc", Val::r(&vpc, "id")),
                    ("cidr", Val::lit(cidr.to_string())),
                    ("az", Val::lit(&n.az)),
                ],
                &["vpc", "cidr", "az"],
            );
        }
    }
    let private = |az: &str| a(&format!("subnet/private/{az}"));
    let sg = |name: &str| a(&format!("sg/{name}"));
    let rule = |port: u16, src: Part| vec![lit(format!("tcp/{port} from ")), src];
    let group = |b: &mut Builder, name: &str, rules: Vec<Vec<Part>>| {
        b.add(
            sg(name),
            Kind::SecurityGroup,
            vec![
                ("vpc", Val::r(&vpc, "id")),
                (
                    "name",
                    Val::lit(format!("{}-{}-{name}", cfg.project, side.key())),
                ),
                ("rules", set(rules)),
            ],
            &["vpc", "name"],
        );
    };
    // No load balancer in this version: the gateway port is open to the VPC only.
    group(
        b,
        "gateway",
        vec![rule(cfg.gateway.port, lit(region.vpc_cidr.to_string()))],
    );
    let elasticache = cfg.redis.backend == RedisBackend::Elasticache;
    if elasticache {
        group(
            b,
            "redis",
            vec![rule(cfg.redis.port, rf(&sg("gateway"), "id"))],
        );
    }
    let (gateway_ud, members) = templates
        .get(side as usize)
        .map(template_members)
        .unwrap_or((None, Vec::new()));
    if cfg.mongo.enabled {
        group(
            b,
            "mongo",
            vec![
                rule(27017, rf(&sg("gateway"), "id")),
                rule(27017, rf(&sg("mongo"), "id")),
                rule(27017, lit(other.vpc_cidr.to_string())),
            ],
        );
        for m in &members {
            instance(
                b,
                a(&m.key),
                Launch {
                    subnet: &private(&m.az),
                    sg: &sg("mongo"),
                    instance_type: &m.instance_type,
                    ip: Some(&m.ip),
                    image: MONGO_IMAGE,
                    user_data: &m.user_data,
                },
            );
        }
    }
    let gateway_ud = gateway_ud.unwrap_or_default();
    let image = format!("resolve:ssm:{}", cfg.gateway.ami_parameter);
    let mut gateways = Vec::new();
    for n in &nets {
        for i in 1..=cfg.gateway.instances_per_az {
            let addr = a(&format!("instance/gateway/{}/{i}", n.az));
            gateways.push(addr.clone());
            instance(
                b,
                addr,
                Launch {
                    subnet: &private(&n.az),
                    sg: &sg("gateway"),
                    instance_type: &cfg.gateway.instance_type,
                    ip: None,
                    image: &image,
                    user_data: &gateway_ud,
                },
            );
        }
    }

    let zone = a("zone/private");
    b.add(
        zone.clone(),
        Kind::HostedZone,
        vec![
            ("name", Val::lit(normalize_name(&cfg.dns.private_zone))),
            ("vpc", Val::r(&vpc, "id")),
        ],
        &["name", "vpc"],
    );
    let (rtype, value) = if elasticache {
        let csg = a("cache-subnet-group");
        let d = b.add(
            csg.clone(),
            Kind::CacheSubnetGroup,
            vec![(
                "subnets",
                set(nets
                    .iter()
                    .map(|n| vec![rf(&private(&n.az), "id")])
                    .collect()),
            )],
            &[],
        );
        d.inputs.insert("name".into(), cache_name(cfg, side));
        let rg = a("replication-group");
        let global = cfg.redis.elasticache.global_datastore;
        let secondary = global && side == Side::Passive;
        let ec = &cfg.redis.elasticache;
        let mut fields = vec![
            ("subnet_group", Val::r(&csg, "id")),
            ("security_groups", set(vec![vec![rf(&sg("redis"), "id")]])),
            (
                "snapshot_retention",
                Val::lit(ec.snapshot_retention_days.to_string()),
            ),
        ];
        if secondary {
            fields.push((
                "global",
                Val::r(&Addr::new(Scope::Global, "global-datastore"), "id"),
            ));
        } else {
            fields.push(("node_type", Val::lit(&ec.node_type)));
            fields.push(("transit_encryption", Val::lit(cfg.redis.tls.to_string())));
        }
        let d = b.add(
            rg.clone(),
            Kind::ReplicationGroup,
            fields,
            &[
                "subnet_group",
                "security_groups",
                "transit_encryption",
                "global",
            ],
        );
        // DescribeReplicationGroups reports neither; they are set at creation only.
        d.create_only = vec!["subnet_group".into(), "security_groups".into()];
        let azs = region.effective_azs();
        let nodes = ec.nodes_per_region(azs.len());
        d.inputs.insert("name".into(), cache_name(cfg, side));
        d.inputs.insert("nodes".into(), nodes.to_string());
        d.inputs.insert(
            "azs".into(),
            (0..nodes as usize)
                .map(|i| azs[i % azs.len()].clone())
                .collect::<Vec<_>>()
                .join(","),
        );
        d.inputs
            .insert("engine_version".into(), ec.engine_version.clone());
        d.inputs.insert("port".into(), cfg.redis.port.to_string());
        ("CNAME", Val::r(&rg, "endpoint"))
    } else {
        let first = cfg
            .redis
            .self_managed_addresses(side)
            .first()
            .cloned()
            .unwrap_or_default();
        let host = first
            .rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or(first);
        if host.parse::<std::net::IpAddr>().is_ok() {
            ("A", Val::lit(host))
        } else {
            ("CNAME", Val::lit(normalize_name(&host)))
        }
    };
    b.add(
        a("record/redis"),
        Kind::Record,
        vec![
            ("zone", Val::r(&zone, "id")),
            ("name", Val::lit(normalize_name(&cfg.dns.redis_cname))),
            ("type", Val::lit(rtype)),
            ("ttl", Val::lit(cfg.dns.redis_ttl.to_string())),
            ("values", value),
        ],
        &["zone", "name", "type"],
    );
    if cfg.dns.flip_mode == FlipMode::Health {
        if let Some(first) = gateways.first() {
            b.add(
                a("health-check"),
                Kind::HealthCheck,
                vec![
                    ("ip", Val::r(first, "private_ip")),
                    ("port", Val::lit(cfg.gateway.port.to_string())),
                    ("path", Val::lit(&cfg.dns.health_check_path)),
                    (
                        "interval",
                        Val::lit(cfg.dns.health_check_interval.to_string()),
                    ),
                    (
                        "failure_threshold",
                        Val::lit(cfg.dns.health_check_failure_threshold.to_string()),
                    ),
                ],
                &["interval"],
            );
        }
    }
    gateways
}

/// Compiles the configuration into the resources `apply` converges to, in creation order.
pub fn build(cfg: &Config) -> Vec<Desired> {
    let templates: Vec<Value> = crate::cfn::generate(cfg)
        .into_iter()
        .map(|t| t.body)
        .collect();
    let mut b = Builder { out: Vec::new() };
    let active = region(cfg, Side::Active, &templates, &mut b);
    let passive = region(cfg, Side::Passive, &templates, &mut b);
    let g = |k: &str| Addr::new(Scope::Global, k);
    if cfg.redis.backend == RedisBackend::Elasticache && cfg.redis.elasticache.global_datastore {
        let d = b.add(
            g("global-datastore"),
            Kind::GlobalDatastore,
            vec![(
                "primary",
                Val::r(&Addr::new(Scope::Active, "replication-group"), "id"),
            )],
            &["primary"],
        );
        d.inputs.insert("suffix".into(), cfg.project.clone());
    }
    let zone = g("zone/public");
    b.add(
        zone.clone(),
        Kind::HostedZone,
        vec![("name", Val::lit(normalize_name(&cfg.dns.public_zone)))],
        &["name"],
    );
    let ips = |gws: &[Addr]| set(gws.iter().map(|a| vec![rf(a, "private_ip")]).collect());
    let name = Val::lit(normalize_name(&cfg.dns.global_name));
    let ttl = Val::lit(cfg.dns.global_ttl.to_string());
    match cfg.dns.flip_mode {
        FlipMode::Health => {
            for (side, gws, role) in [
                (Side::Active, &active, "PRIMARY"),
                (Side::Passive, &passive, "SECONDARY"),
            ] {
                b.add(
                    g(&format!("record/global/{}", side.key())),
                    Kind::Record,
                    vec![
                        ("zone", Val::r(&zone, "id")),
                        ("name", name.clone()),
                        ("type", Val::lit("A")),
                        ("ttl", ttl.clone()),
                        ("set_id", Val::lit(side.key())),
                        ("failover", Val::lit(role)),
                        (
                            "health_check",
                            Val::r(&Addr::new(side, "health-check"), "id"),
                        ),
                        ("values", ips(gws)),
                    ],
                    &["zone", "name", "type", "set_id"],
                );
            }
        }
        FlipMode::Upsert => {
            b.add(
                g("record/global"),
                Kind::Record,
                vec![
                    ("zone", Val::r(&zone, "id")),
                    ("name", name),
                    ("type", Val::lit("A")),
                    ("ttl", ttl),
                    ("values", ips(&active)),
                ],
                &["zone", "name", "type"],
            );
        }
    }
    b.out.sort_by_key(|d| d.order);
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> Config {
        let text =
            std::fs::read_to_string(format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        crate::config::parse(name, text)
            .map_err(|e| e.to_string())
            .unwrap()
            .config
    }

    #[test]
    fn self_managed_redis_provisions_no_elasticache() {
        let cfg = load("local.toml");
        let all = build(&cfg);
        assert!(all.iter().all(|d| !matches!(
            d.kind,
            Kind::CacheSubnetGroup | Kind::ReplicationGroup | Kind::GlobalDatastore
        )));
        assert!(!all.iter().any(|d| d.addr.key == "sg/redis"));
        let record = all
            .iter()
            .find(|d| d.addr == Addr::new(Scope::Active, "record/redis"))
            .unwrap();
        assert_eq!(record.fields["type"], Val::lit("A"));
    }

    #[test]
    fn full_example_has_a_global_datastore_between_the_two_groups() {
        let cfg = load("full.toml");
        let all = build(&cfg);
        let pos = |scope, key: &str| {
            all.iter()
                .position(|d| d.addr == Addr::new(scope, key))
                .unwrap()
        };
        assert!(pos(Scope::Active, "replication-group") < pos(Scope::Global, "global-datastore"));
        assert!(pos(Scope::Global, "global-datastore") < pos(Scope::Passive, "replication-group"));
        let passive = &all[pos(Scope::Passive, "replication-group")];
        assert_eq!(
            passive.fields["global"],
            Val::r(&Addr::new(Scope::Global, "global-datastore"), "id")
        );
        assert!(
            !passive.fields.contains_key("node_type"),
            "a secondary inherits the node type"
        );
        // User data comes from the CloudFormation generator, so both paths launch the same thing.
        let gw = all
            .iter()
            .find(|d| d.addr.key.starts_with("instance/gateway/"))
            .unwrap();
        assert!(gw.inputs["user_data"].contains("tyk-dr-gateway"));
        let mongo = all
            .iter()
            .find(|d| d.addr.key == "instance/mongo/1")
            .unwrap();
        assert!(mongo.fields.contains_key("private_ip"));
    }
}
