//! Unit tests of the generated templates' behaviour (security, Redis HA, secrets, DNS, tags).

use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use super::security::LB_PORTS;
use super::tags::{COMPONENT, PROJECT, REGION};
use super::{generate, mongo, render, userdata, Template};
use crate::config::{Config, FlipMode, Side};

const FULL: &str = include_str!("../../examples/full.toml");
const MINIMAL: &str = include_str!("../../examples/minimal.toml");

fn cfg(text: &str) -> Config {
    toml::from_str(text).expect("example parses")
}

fn configs() -> Vec<Config> {
    let mut upsert = cfg(MINIMAL);
    upsert.dns.flip_mode = FlipMode::Upsert;
    upsert.mongo.enabled = false;
    upsert.redis.elasticache.global_datastore = false;
    vec![cfg(FULL), cfg(MINIMAL), upsert]
}

fn resources(t: &Template) -> Vec<(&String, &Value)> {
    t.body["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .collect()
}

fn of_type<'a>(t: &'a Template, ty: &str) -> Vec<(&'a String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

#[test]
fn sections_in_conventional_order() {
    for c in configs() {
        for t in generate(&c) {
            let keys: Vec<&str> = t
                .body
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            let order = [
                "AWSTemplateFormatVersion",
                "Description",
                "Metadata",
                "Parameters",
                "Conditions",
                "Resources",
                "Outputs",
            ];
            let positions: Vec<usize> = keys
                .iter()
                .map(|k| order.iter().position(|o| o == k).expect("known section"))
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{}: {keys:?}",
                t.file_name
            );
        }
    }
}

#[test]
fn file_names_and_order() {
    let names: Vec<String> = generate(&cfg(FULL))
        .into_iter()
        .map(|t| t.file_name)
        .collect();
    assert_eq!(
        names,
        [
            "payments-gw-active-eu-west-1.json",
            "payments-gw-passive-eu-central-1.json",
            "payments-gw-global.json"
        ]
    );
}

#[test]
fn template_subnets_are_inside_the_vpc_and_disjoint() {
    let c = cfg(FULL);
    for (side, t) in Side::BOTH.iter().zip(generate(&c)) {
        let vpc = c.region(*side).vpc_cidr;
        assert_eq!(
            t.body["Resources"]["Vpc"]["Properties"]["CidrBlock"],
            vpc.to_string()
        );
        let nets: Vec<Ipv4Net> = of_type(&t, "AWS::EC2::Subnet")
            .iter()
            .map(|(_, r)| {
                r["Properties"]["CidrBlock"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(nets.len(), 2 * c.region(*side).effective_azs().len());
        for (i, a) in nets.iter().enumerate() {
            assert!(vpc.contains(a));
            for b in &nets[i + 1..] {
                assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
            }
        }
    }
}

/// Every ingress rule (inline or standalone) as (group logical id, rule).
fn ingress_rules(t: &Template) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (id, r) in resources(t) {
        match r["Type"].as_str() {
            Some("AWS::EC2::SecurityGroup") => {
                for rule in r["Properties"]["SecurityGroupIngress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.push((id.clone(), rule.clone()));
                }
            }
            Some("AWS::EC2::SecurityGroupIngress") => {
                let group = r["Properties"]["GroupId"]["Fn::GetAtt"][0]
                    .as_str()
                    .unwrap()
                    .to_string();
                out.push((group, r["Properties"].clone()));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn only_the_load_balancer_listener_is_open_to_the_world() {
    for c in configs() {
        let closed = [c.gateway.port, c.redis.port, super::security::MONGO_PORT];
        for t in generate(&c).iter().take(2) {
            let rules = ingress_rules(t);
            assert!(!rules.is_empty());
            for (group, rule) in rules {
                let world = rule["CidrIp"] == "0.0.0.0/0" || rule["CidrIpv6"] == "::/0";
                let from = rule["FromPort"].as_u64().unwrap() as u16;
                let to = rule["ToPort"].as_u64().unwrap() as u16;
                assert_eq!(rule["IpProtocol"], "tcp", "{group}: only TCP, no -1");
                assert_eq!(from, to, "{group}: single ports only");
                if world {
                    assert_eq!(group, super::security::LB_SG, "{}: {rule}", t.file_name);
                    assert!(LB_PORTS.contains(&from));
                    assert!(!closed.contains(&from), "{group} opens {from} to the world");
                } else if group == super::security::LB_SG {
                    panic!("load balancer rule that is not a listener: {rule}");
                }
            }
        }
    }
}

#[test]
fn ports_are_open_only_to_their_clients() {
    let c = cfg(FULL);
    let t = &generate(&c)[0];
    let rules = ingress_rules(t);
    let src = |r: &Value| {
        r["SourceSecurityGroupId"]["Fn::GetAtt"][0]
            .as_str()
            .map(str::to_string)
    };
    for (group, rule) in &rules {
        match group.as_str() {
            "GatewaySecurityGroup" => {
                assert_eq!(src(rule).as_deref(), Some("LoadBalancerSecurityGroup"));
                assert_eq!(rule["FromPort"], c.gateway.port);
            }
            "RedisSecurityGroup" => {
                assert_eq!(src(rule).as_deref(), Some("GatewaySecurityGroup"));
                assert_eq!(rule["FromPort"], c.redis.port);
            }
            "MongoSecurityGroup" => {
                assert_eq!(rule["FromPort"], 27017);
                let ok = matches!(
                    src(rule).as_deref(),
                    Some("GatewaySecurityGroup" | "MongoSecurityGroup")
                ) || rule["CidrIp"] == c.regions.passive.vpc_cidr.to_string();
                assert!(ok, "unexpected Mongo rule {rule}");
            }
            _ => {}
        }
    }
}

#[test]
fn replication_group_is_multi_az_encrypted_with_failover() {
    let c = cfg(FULL);
    let nodes = c.redis.elasticache.nodes_per_region(3);
    assert_eq!(nodes, 4);
    for t in generate(&c).iter().take(2) {
        let groups = of_type(t, "AWS::ElastiCache::ReplicationGroup");
        assert_eq!(groups.len(), 1);
        let p = &groups[0].1["Properties"];
        assert_eq!(p["AutomaticFailoverEnabled"], true);
        assert_eq!(p["MultiAZEnabled"], true);
        assert_eq!(p["AtRestEncryptionEnabled"], true);
        assert_eq!(p["TransitEncryptionEnabled"], true);
        assert_eq!(p["NumCacheClusters"], nodes);
        assert_eq!(
            p["PreferredCacheClusterAZs"].as_array().unwrap().len(),
            nodes as usize
        );
        assert_eq!(p["SnapshotRetentionLimit"], 7);
        assert_eq!(
            p["AuthToken"],
            "{{resolve:secretsmanager:payments-gw/redis-auth}}"
        );
    }
}

#[test]
fn global_datastore_lives_in_the_active_stack_and_the_passive_joins_it() {
    let ts = generate(&cfg(FULL));
    let active = &ts[0];
    let passive = &ts[1];
    let g = of_type(active, "AWS::ElastiCache::GlobalReplicationGroup");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].1["Properties"]["Members"][0]["Role"], "PRIMARY");
    assert!(active.body["Outputs"]["GlobalReplicationGroupId"].is_object());
    let p = &passive.body["Resources"]["RedisReplicationGroup"]["Properties"];
    assert_eq!(
        p["GlobalReplicationGroupId"]["Ref"],
        "GlobalReplicationGroupId"
    );
    assert!(p.get("Engine").is_none() && p.get("CacheNodeType").is_none());
    assert!(of_type(passive, "AWS::ElastiCache::GlobalReplicationGroup").is_empty());

    let mut solo = cfg(FULL);
    solo.redis.elasticache.global_datastore = false;
    for t in generate(&solo) {
        assert!(of_type(&t, "AWS::ElastiCache::GlobalReplicationGroup").is_empty());
        assert!(!render(&t).contains("\"GlobalReplicationGroupId\""));
    }
}

#[test]
fn no_secret_value_ever_reaches_a_template() {
    let sentinel = "S3cr3t-Sentinel-Value";
    let mut c = cfg(FULL);
    // Whatever the token is, the generator only ever sees the secret's name.
    c.redis.auth_token_secret = "payments-gw/redis-auth".into();
    for t in generate(&c) {
        let text = render(&t);
        assert!(!text.contains(sentinel));
        for (id, p) in t.body["Parameters"].as_object().into_iter().flatten() {
            let lower = id.to_lowercase();
            if ["secret", "password", "token", "auth"]
                .iter()
                .any(|w| lower.contains(w))
            {
                assert!(p.get("Default").is_none(), "{id} has a default");
            }
        }
        for (_, r) in of_type(&t, "AWS::ElastiCache::ReplicationGroup") {
            let tok = r["Properties"]["AuthToken"].as_str().unwrap();
            assert!(tok.starts_with("{{resolve:secretsmanager:") && tok.ends_with("}}"));
        }
        // Secrets are read at boot by name; nothing looks like an inline password assignment.
        assert!(!text.contains("password = \\\""), "{}", t.file_name);
        assert!(!text.contains("secret = \\\""), "{}", t.file_name);
        assert!(!text.contains("node_secret = \\\""), "{}", t.file_name);
        assert!(!text.contains("requirepass"));
    }
    let ud = userdata::gateway(&c, Side::Active);
    assert!(ud.contains("--secret-id \"$1\""));
    assert!(ud.contains("REDIS_PASSWORD=$(secret 'payments-gw/redis-auth')"));
    assert!(ud.contains("--config /run/tyk-dr-gateway/gateway.toml"));
}

#[test]
fn auth_off_means_no_token() {
    let mut c = cfg(FULL);
    c.redis.auth = false;
    for t in generate(&c) {
        let text = render(&t);
        assert!(!text.contains("AuthToken") && !text.contains("resolve:secretsmanager"));
        assert!(!text.contains("payments-gw/redis-auth"));
    }
}

#[test]
fn health_mode_has_primary_and_secondary_failover_records() {
    let c = cfg(FULL);
    let g = &generate(&c)[2];
    let records = of_type(g, "AWS::Route53::RecordSet");
    let failover: Vec<(&str, &Value)> = records
        .iter()
        .filter(|(_, r)| r["Properties"]["Name"] == "api.payments.example.")
        .filter_map(|(_, r)| {
            r["Properties"]["Failover"]
                .as_str()
                .map(|f| (f, &r["Properties"]))
        })
        .collect();
    assert_eq!(failover.len(), 2);
    let get = |k: &str| failover.iter().find(|(f, _)| *f == k).expect(k).1;
    let (p, s) = (get("PRIMARY"), get("SECONDARY"));
    assert_eq!(p["Name"], "api.payments.example.");
    assert_eq!(p["ResourceRecords"][0]["Ref"], "ActiveLoadBalancerDnsName");
    assert_eq!(s["ResourceRecords"][0]["Ref"], "PassiveLoadBalancerDnsName");
    assert_eq!(p["HealthCheckId"]["Ref"], "ActiveHealthCheck");
    assert_eq!(s["HealthCheckId"]["Ref"], "PassiveHealthCheck");
    assert_eq!(p["TTL"], "20");
    for (_, hc) in of_type(g, "AWS::Route53::HealthCheck") {
        let h = &hc["Properties"]["HealthCheckConfig"];
        assert_eq!(h["ResourcePath"], "/ready");
        assert_eq!(h["RequestInterval"], 10);
        assert_eq!(h["FailureThreshold"], 3);
    }
    // No stack owns the epoch record (a stack update must never rewrite it): only named.
    assert!(of_type(g, "AWS::Route53::RecordSet")
        .iter()
        .all(|(_, r)| !r["Properties"]["Name"]
            .as_str()
            .unwrap_or_default()
            .contains("_tyk-dr-epoch")));
    let out = &g.body["Outputs"];
    assert_eq!(
        out["EpochRecordName"]["Value"],
        "_tyk-dr-epoch.api.payments.example"
    );
    assert_eq!(
        out["EpochRecordInitialValue"]["Value"],
        "\"active=eu-west-1 epoch=1\""
    );
}

#[test]
fn the_shadow_stack_gets_its_own_names_health_checks_and_epoch() {
    let c = cfg(FULL);
    let t = generate(&c);
    let g = &t[2];
    let res = &g.body["Resources"];
    let (p, s) = (
        &res["ShadowActiveRecord"]["Properties"],
        &res["ShadowPassiveRecord"]["Properties"],
    );
    assert_eq!(p["Name"], "drill-api.payments.example.");
    assert_eq!(
        (&p["Failover"], &s["Failover"]),
        (&json!("PRIMARY"), &json!("SECONDARY"))
    );
    assert_eq!(p["ResourceRecords"], json!(["10.10.1.50"]));
    assert_eq!(s["ResourceRecords"], json!(["10.20.1.50"]));
    let hc = &res["ShadowPassiveHealthCheck"]["Properties"]["HealthCheckConfig"];
    assert_eq!(
        (&hc["IPAddress"], &hc["Port"]),
        (&json!("10.20.1.50"), &json!(8080))
    );
    assert!(
        res.get("ShadowEpochRecord").is_none(),
        "no stack owns an epoch record"
    );
    // Each region's private zone: the shadow CNAME targets that side's shadow Redis.
    for (regional, target) in [
        (&t[0], "redis-drill-a.tyk-dr.internal"),
        (&t[1], "redis-drill-b.tyk-dr.internal"),
    ] {
        let r = &regional.body["Resources"]["ShadowRedisRecord"]["Properties"];
        assert_eq!(r["Name"], "redis-drill.tyk-dr.internal.");
        assert_eq!(r["ResourceRecords"], json!([target]));
    }
    // Without a shadow stack, none of it.
    let mut plain = cfg(FULL);
    plain.drills.shadow_stack = None;
    plain.drills.shadow = false;
    for t in generate(&plain) {
        assert!(
            !t.body["Resources"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("Shadow")),
            "{}",
            t.file_name
        );
    }
}

#[test]
fn upsert_mode_has_a_simple_record() {
    let mut c = cfg(FULL);
    c.dns.flip_mode = FlipMode::Upsert;
    let g = &generate(&c)[2];
    assert!(of_type(g, "AWS::Route53::HealthCheck").is_empty());
    let rec = &g.body["Resources"]["GlobalRecord"]["Properties"];
    assert!(rec.get("Failover").is_none() && rec.get("SetIdentifier").is_none());
    assert_eq!(
        rec["ResourceRecords"][0]["Ref"],
        "ActiveLoadBalancerDnsName"
    );
}

#[test]
fn redis_cname_targets_the_local_primary_endpoint() {
    let c = cfg(FULL);
    for t in generate(&c).iter().take(2) {
        let r = &t.body["Resources"]["RedisRecord"]["Properties"];
        assert_eq!(r["Name"], "redis.tyk-dr.internal.");
        assert_eq!(r["Type"], "CNAME");
        assert_eq!(r["TTL"], "5");
        assert_eq!(
            r["ResourceRecords"][0]["Fn::GetAtt"][1],
            "PrimaryEndPoint.Address"
        );
        let zone = &t.body["Resources"]["PrivateHostedZone"]["Properties"];
        assert_eq!(zone["Name"], "tyk-dr.internal.");
        assert_eq!(zone["VPCs"][0]["VPCId"]["Ref"], "Vpc");
    }
}

/// Resource types and the property their tags live in; everything else must be listed as untaggable.
const TAGGABLE: &[(&str, &str)] = &[
    ("AWS::EC2::VPC", "Tags"),
    ("AWS::EC2::Subnet", "Tags"),
    ("AWS::EC2::InternetGateway", "Tags"),
    ("AWS::EC2::RouteTable", "Tags"),
    ("AWS::EC2::EIP", "Tags"),
    ("AWS::EC2::NatGateway", "Tags"),
    ("AWS::EC2::SecurityGroup", "Tags"),
    ("AWS::EC2::Instance", "Tags"),
    ("AWS::EC2::LaunchTemplate", "TagSpecifications"),
    ("AWS::ElastiCache::SubnetGroup", "Tags"),
    ("AWS::ElastiCache::ReplicationGroup", "Tags"),
    ("AWS::IAM::Role", "Tags"),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "Tags"),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "Tags"),
    ("AWS::AutoScaling::AutoScalingGroup", "Tags"),
    ("AWS::Route53::HostedZone", "HostedZoneTags"),
    ("AWS::Route53::HealthCheck", "HealthCheckTags"),
];
/// Types CloudFormation cannot tag.
const UNTAGGABLE: &[&str] = &[
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::IAM::InstanceProfile",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::Route53::RecordSet",
    "AWS::ElastiCache::GlobalReplicationGroup",
    // EventBridge Scheduler schedules take no tags (their schedule group could).
    "AWS::Scheduler::Schedule",
];

fn tag_map(list: &Value) -> BTreeSet<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().to_string(),
                t["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_taggable_resource_has_the_three_tags() {
    for c in configs() {
        for (i, t) in generate(&c).iter().enumerate() {
            for (id, r) in resources(t) {
                let ty = r["Type"].as_str().unwrap();
                let Some((_, prop)) = TAGGABLE.iter().find(|(k, _)| *k == ty) else {
                    assert!(
                        UNTAGGABLE.contains(&ty),
                        "{id}: classify {ty} as taggable or not"
                    );
                    continue;
                };
                let p = &r["Properties"];
                let lists: Vec<&Value> = if *prop == "TagSpecifications" {
                    let mut v: Vec<&Value> = p["TagSpecifications"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| &s["Tags"])
                        .collect();
                    v.extend(
                        p["LaunchTemplateData"]["TagSpecifications"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|s| &s["Tags"]),
                    );
                    v
                } else {
                    vec![&p[*prop]]
                };
                for list in lists {
                    let tags = tag_map(list);
                    let get =
                        |k: &str| tags.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
                    assert_eq!(
                        get(PROJECT),
                        Some(c.project.as_str()),
                        "{}: {id}",
                        t.file_name
                    );
                    let region = get(REGION).unwrap_or_else(|| panic!("{id}: no {REGION}"));
                    if i < 2 {
                        assert_eq!(region, Side::BOTH[i].key(), "{id}");
                    } else {
                        assert!(region == "active" || region == "passive");
                    }
                    let comp = get(COMPONENT).unwrap_or_else(|| panic!("{id}: no {COMPONENT}"));
                    assert!(
                        ["network", "redis", "mongo", "gateway", "dns", "drill"].contains(&comp),
                        "{id}: {comp}"
                    );
                }
            }
        }
    }
}

#[test]
fn mongo_members_have_fixed_ips_in_their_private_subnets() {
    let c = cfg(FULL);
    let all = mongo::members(&c);
    assert_eq!(all.len(), 3 + 2);
    assert_eq!(all.iter().filter(|m| m.side == Side::Active).count(), 3);
    let ips: BTreeSet<_> = all.iter().map(|m| m.ip).collect();
    assert_eq!(ips.len(), all.len(), "unique IPs");
    for m in &all {
        let r = c.region(m.side);
        let nets = super::subnets::carve(r.vpc_cidr, &r.effective_azs());
        assert!(nets[m.az_index].private.contains(&m.ip));
    }
    // Passive members are spread over distinct AZs first.
    let passive_azs: Vec<usize> = all
        .iter()
        .filter(|m| m.side == Side::Passive)
        .map(|m| m.az_index)
        .collect();
    assert_eq!(passive_azs, [0, 1]);
    let ts = generate(&c);
    for (side, t) in Side::BOTH.iter().zip(&ts) {
        let inst = of_type(t, "AWS::EC2::Instance");
        assert_eq!(inst.len(), all.iter().filter(|m| m.side == *side).count());
        for (_, r) in inst {
            let p = &r["Properties"];
            let ebs = &p["BlockDeviceMappings"][0]["Ebs"];
            assert_eq!(ebs["VolumeSize"], 200);
            assert_eq!(ebs["VolumeType"], "gp3");
            assert_eq!(ebs["Encrypted"], true);
        }
    }
    // Only the first active member initiates, with every active member's priority and votes,
    // then adds the passive members with theirs.
    let first = userdata::mongo(&c, &all[0], &all);
    assert!(first.contains("rs.initiate(config)"));
    assert!(first.contains("{ _id: 2, host: \"10.40.160.10:27017\", priority: 2, votes: 1 }"));
    assert!(first.contains("{ _id: 4, host: \"10.50.144.10:27017\", priority: 1, votes: 1 }"));
    assert!(first.contains("replSetName: \"tyk\""));
    assert!(first.contains("mongodb-org/7.0"));
    assert!(!userdata::mongo(&c, &all[1], &all).contains("rs.initiate"));
}

#[test]
fn gateways_one_group_per_az_with_the_configured_size() {
    let c = cfg(FULL);
    let t = &generate(&c)[0];
    let groups = of_type(t, "AWS::AutoScaling::AutoScalingGroup");
    assert_eq!(groups.len(), 3);
    for (_, g) in groups {
        let p = &g["Properties"];
        assert_eq!(p["DesiredCapacity"], "2");
        assert_eq!(p["MinSize"], "2");
        assert_eq!(p["VPCZoneIdentifier"].as_array().unwrap().len(), 1);
    }
    let tg = &t.body["Resources"]["GatewayTargetGroup"]["Properties"];
    assert_eq!(tg["HealthCheckPath"], "/ready");
    assert_eq!(tg["Port"], 8080);
    let ami = &t.body["Parameters"]["GatewayAmiId"];
    assert_eq!(
        ami["Type"],
        "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    );
    assert_eq!(
        ami["Default"],
        "/aws/service/debian/release/12/latest/arm64"
    );
    let ud = userdata::gateway(&c, Side::Active);
    assert!(ud.contains(
        "\"https://artifacts.payments.example/tyk-dr-gateway/0.1.0/tyk-dr-gateway-$ARCH-linux\""
    ));
    assert!(ud.contains("host = \"redis.tyk-dr.internal\"\nport = 6379\ntls = true\n"));
    assert!(ud.contains("systemctl enable --now tyk-dr-gateway"));
}

#[test]
fn shell_quoting() {
    assert_eq!(userdata::sh_quote("a'b"), r"'a'\''b'");
    let mut c = cfg(FULL);
    c.gateway.artifact_url = "https://x/$HOME/`id`/{version}/{arch}".into();
    assert_eq!(
        userdata::artifact_url_word(&c),
        r#""https://x/\$HOME/\`id\`/0.1.0/$ARCH""#
    );
}

#[test]
fn gateway_config_is_valid_toml_with_known_keys_and_takes_the_boot_secrets() {
    let c = cfg(FULL);
    let base = super::gateway_config::render(&c, Side::Passive);
    // What the start script writes at boot: `secret` first, `password` appended to [redis].
    let full = format!("secret = \"s\"\nnode_secret = \"n\"\n{base}password = \"p\"\n");
    let v: toml::Table = toml::from_str(&full).expect("valid TOML");
    // Keys the gateway accepts (gateway/src/config.rs denies unknown fields).
    let top = [
        "listen",
        "region",
        "app_path",
        "ready_path",
        "fence_file",
        "epoch",
        "secret",
        "node_secret",
        "redis",
    ];
    for k in v.keys() {
        assert!(top.contains(&k.as_str()), "unknown top-level key {k}");
    }
    let redis = v["redis"].as_table().unwrap();
    for k in redis.keys() {
        assert!(
            ["host", "port", "tls", "password"].contains(&k.as_str()),
            "unknown redis key {k}"
        );
    }
    assert_eq!(redis["host"].as_str(), Some("redis.tyk-dr.internal"));
    assert_eq!(
        v["epoch"]["record"].as_str(),
        Some("_tyk-dr-epoch.api.payments.example")
    );
    assert_eq!(redis["password"].as_str(), Some("p"));
    assert_eq!(v["region"].as_str(), Some("eu-central-1"));
    assert_eq!(v["secret"].as_str(), Some("s"));
}

#[test]
fn self_managed_redis_record_points_at_the_sides_first_server() {
    let mut c = cfg(FULL);
    c.redis.backend = crate::config::RedisBackend::SelfManaged;
    c.redis.self_managed = Some(crate::config::SelfManagedRedis {
        active: vec!["10.40.128.50:6379".into(), "10.40.144.50:6379".into()],
        passive: vec!["redis-b.example.internal:6379".into()],
        sentinels: vec![],
        master_name: "tyk".into(),
        active_name: None,
        passive_name: None,
    });
    let ts = generate(&c);
    let rec = |t: &Template| t.body["Resources"]["RedisRecord"]["Properties"].clone();
    let (a, p) = (rec(&ts[0]), rec(&ts[1]));
    assert_eq!(
        (a["Type"].as_str(), a["ResourceRecords"][0].as_str()),
        (Some("A"), Some("10.40.128.50"))
    );
    assert_eq!(
        (p["Type"].as_str(), p["ResourceRecords"][0].as_str()),
        (Some("CNAME"), Some("redis-b.example.internal"))
    );
    for t in &ts[..2] {
        assert!(t.body["Resources"].get("RedisSecurityGroup").is_none());
        assert!(t.body["Outputs"].get("RedisPrimaryEndpoint").is_none());
    }
}
