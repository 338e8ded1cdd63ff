//! Every way `tyk-dr.toml` can be wrong: each case asserts the rule, the field
//! and the line the message points at, so a regression in positions or wording
//! of the field shows up here.

use tyk_dr::config::{self, Severity};

/// A minimal valid base; each case appends or replaces lines.
const BASE: &str = r#"project = "acme"

[dns]
public_zone = "acme.example"
global_name = "api.acme.example"
"#;

struct Case {
    name: &'static str,
    toml: &'static str,
    code: &'static str,
    field: &'static str,
    line: usize,
}

const CASES: &[Case] = &[
    Case { name: "malformed toml", toml: "project = \"acme\n", code: "syntax", field: "(top level)", line: 1 },
    Case { name: "missing project", toml: "[dns]\nglobal_name = \"api.example.com\"\n", code: "missing-field", field: "project", line: 0 },
    Case { name: "wrong type", toml: "project = \"acme\"\n[redis.elasticache]\nreplicas_per_az = \"two\"\n", code: "type", field: "redis.elasticache.replicas_per_az", line: 3 },
    Case { name: "negative number", toml: "project = \"acme\"\n[gateway]\ninstances_per_az = -1\n", code: "type", field: "gateway.instances_per_az", line: 3 },
    Case { name: "unknown key with suggestion", toml: "project = \"acme\"\n[mongo]\ninstnace_type = \"r6i.large\"\n", code: "unknown-key", field: "mongo.instnace_type", line: 3 },
    Case { name: "unknown top-level table", toml: "project = \"acme\"\n[redsi]\nport = 1\n", code: "unknown-key", field: "redsi", line: 2 },
    Case { name: "bad enum", toml: "project = \"acme\"\n[dns]\nflip_mode = \"dns\"\n", code: "type", field: "dns.flip_mode", line: 3 },
    Case { name: "bad project name", toml: "project = \"Acme Corp\"\n", code: "project-name", field: "project", line: 1 },
    Case { name: "unknown region", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east1\"\nvpc_cidr = \"10.1.0.0/16\"\n", code: "unknown-region", field: "regions.active.name", line: 3 },
    Case { name: "active == passive", toml: "project = \"acme\"\n[regions.active]\nname = \"eu-west-1\"\nvpc_cidr = \"10.1.0.0/16\"\n[regions.passive]\nname = \"eu-west-1\"\nvpc_cidr = \"10.2.0.0/16\"\n", code: "same-region", field: "regions.passive.name", line: 6 },
    Case { name: "az outside region", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east-1\"\nazs = [\"us-east-1a\", \"us-west-2b\"]\nvpc_cidr = \"10.1.0.0/16\"\n", code: "az-region", field: "regions.active.azs[1]", line: 4 },
    Case { name: "duplicate az", toml: "project = \"acme\"\n[regions.passive]\nname = \"us-west-2\"\nazs = [\"us-west-2a\", \"us-west-2a\"]\nvpc_cidr = \"10.2.0.0/16\"\n", code: "duplicate-az", field: "regions.passive.azs[1]", line: 4 },
    Case { name: "single az", toml: "project = \"acme\"\n[regions.passive]\nname = \"us-west-2\"\nazs = [\"us-west-2a\"]\nvpc_cidr = \"10.2.0.0/16\"\n", code: "too-few-azs", field: "regions.passive.azs", line: 4 },
    Case { name: "overlapping cidrs", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east-1\"\nvpc_cidr = \"10.0.0.0/16\"\n[regions.passive]\nname = \"us-west-2\"\nvpc_cidr = \"10.0.64.0/18\"\n", code: "cidr-overlap", field: "regions.passive.vpc_cidr", line: 7 },
    Case { name: "malformed cidr", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east-1\"\nvpc_cidr = \"10.0.0.0/33\"\n", code: "type", field: "regions.active.vpc_cidr", line: 4 },
    Case { name: "cidr too small", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east-1\"\nvpc_cidr = \"10.0.0.0/26\"\n", code: "cidr-size", field: "regions.active.vpc_cidr", line: 4 },
    Case { name: "cidr host bits", toml: "project = \"acme\"\n[regions.active]\nname = \"us-east-1\"\nvpc_cidr = \"10.0.0.1/16\"\n", code: "cidr-host-bits", field: "regions.active.vpc_cidr", line: 4 },
    Case { name: "auth without tls", toml: "project = \"acme\"\n[redis]\nauth = true\ntls = false\n", code: "auth-needs-tls", field: "redis.tls", line: 4 },
    Case { name: "no replicas", toml: "project = \"acme\"\n[redis.elasticache]\nreplicas_per_az = 0\n", code: "no-replicas", field: "redis.elasticache.replicas_per_az", line: 3 },
    Case { name: "too many nodes", toml: "project = \"acme\"\n[redis.elasticache]\nreplicas_per_az = 2\n", code: "too-many-nodes", field: "redis.elasticache.replicas_per_az", line: 3 },
    Case { name: "burstable global datastore", toml: "project = \"acme\"\n[redis.elasticache]\nnode_type = \"cache.t4g.small\"\n", code: "global-datastore-node", field: "redis.elasticache.node_type", line: 3 },
    Case { name: "old engine for global datastore", toml: "project = \"acme\"\n[redis.elasticache]\nengine_version = \"5.0.0\"\n", code: "engine-version", field: "redis.elasticache.engine_version", line: 3 },
    Case { name: "self-managed without addresses", toml: "project = \"acme\"\n[redis]\nbackend = \"self-managed\"\n", code: "self-managed-missing", field: "redis.backend", line: 3 },
    Case { name: "self-managed bad address", toml: "project = \"acme\"\n[redis]\nbackend = \"self-managed\"\n[redis.self_managed]\nactive = [\"10.0.0.1\"]\npassive = [\"10.1.0.1:6379\"]\n", code: "address", field: "redis.self_managed.active[0]", line: 5 },
    Case { name: "even sentinels", toml: "project = \"acme\"\n[redis]\nbackend = \"self-managed\"\n[redis.self_managed]\nactive = [\"a:1\"]\npassive = [\"b:1\"]\nsentinels = [\"s1:26379\", \"s2:26379\"]\n", code: "sentinel-quorum", field: "redis.self_managed.sentinels", line: 7 },
    Case { name: "even vote count", toml: "project = \"acme\"\n[mongo]\npassive_members = 1\n", code: "even-votes", field: "mongo.passive_members", line: 3 },
    Case { name: "votes above one", toml: "project = \"acme\"\n[mongo]\nvotes = 2\n", code: "votes", field: "mongo.votes", line: 3 },
    Case { name: "no active majority", toml: "project = \"acme\"\n[mongo]\npassive_members = 3\npassive_votes = 1\nmembers_per_az = 1\n[regions.active]\nname = \"us-east-1\"\nazs = [\"us-east-1a\", \"us-east-1b\"]\nvpc_cidr = \"10.10.0.0/16\"\n", code: "active-majority", field: "mongo.passive_members", line: 3 },
    Case { name: "passive priority not lower", toml: "project = \"acme\"\n[mongo]\npriority = 1.0\npassive_priority = 1.0\n", code: "passive-priority", field: "mongo.passive_priority", line: 4 },
    Case { name: "shadow drill without a shadow stack", toml: "project = \"acme\"\n[drills]\nshadow = true\n", code: "shadow-stack-missing", field: "drills.shadow", line: 3 },
    Case { name: "shadow stack reuses the global name", toml: "project = \"acme\"\n[drills.shadow_stack]\nglobal_name = \"api.example.com\"\nredis_cname = \"redis-drill.tyk-dr.internal\"\n[drills.shadow_stack.gateways]\nactive = [\"http://10.10.1.50:8080\"]\npassive = [\"http://10.20.1.50:8080\"]\n[drills.shadow_stack.redis]\nactive = \"10.10.1.60:6379\"\npassive = \"10.20.1.60:6379\"\nactive_name = \"redis-drill-a.tyk-dr.internal\"\npassive_name = \"redis-drill-b.tyk-dr.internal\"\n", code: "shadow-shares-name", field: "drills.shadow_stack.global_name", line: 3 },
    Case { name: "shadow stack promotes the customers' replica", toml: "project = \"acme\"\n[redis]\nbackend = \"self-managed\"\n[redis.self_managed]\nactive = [\"10.10.1.10:6379\"]\npassive = [\"10.20.1.10:6379\"]\n[drills.shadow_stack]\nglobal_name = \"drill-api.example.com\"\nredis_cname = \"redis-drill.tyk-dr.internal\"\n[drills.shadow_stack.gateways]\nactive = [\"http://10.10.1.50:8080\"]\npassive = [\"http://10.20.1.50:8080\"]\n[drills.shadow_stack.redis]\nactive = \"10.10.1.60:6379\"\npassive = \"10.20.1.10:6379\"\nactive_name = \"redis-drill-a.tyk-dr.internal\"\npassive_name = \"redis-drill-b.tyk-dr.internal\"\n", code: "shadow-shares-redis", field: "drills.shadow_stack.redis.passive", line: 15 },
    Case { name: "graviton mongo", toml: "project = \"acme\"\n[mongo]\ninstance_type = \"r7g.large\"\n", code: "mongo-arch", field: "mongo.instance_type", line: 3 },
    Case { name: "mongo endpoint without port", toml: "project = \"acme\"\n[mongo.endpoints]\nactive = [\"10.10.1.30\"]\n", code: "mongo-endpoint", field: "mongo.endpoints.active[0]", line: 3 },
    Case { name: "mongo endpoint on both sides", toml: "project = \"acme\"\n[mongo.endpoints]\nactive = [\"10.10.1.30:27017\"]\npassive = [\"10.20.1.30:27017\", \"10.10.1.30:27017\"]\n", code: "mongo-endpoint-both", field: "mongo.endpoints.passive[1]", line: 4 },
    Case { name: "bad instance type", toml: "project = \"acme\"\n[gateway]\ninstance_type = \"cache.c7g.large\"\n", code: "instance-type", field: "gateway.instance_type", line: 3 },
    Case { name: "http artifact", toml: "project = \"acme\"\n[gateway]\nartifact_url = \"http://example.com/gw\"\n", code: "artifact-url", field: "gateway.artifact_url", line: 3 },
    Case { name: "global name outside zone", toml: "project = \"acme\"\n[dns]\npublic_zone = \"acme.example\"\nglobal_name = \"api.other.example\"\n", code: "name-outside-zone", field: "dns.global_name", line: 4 },
    Case { name: "redis cname at apex", toml: "project = \"acme\"\n[dns]\nprivate_zone = \"tyk.internal\"\nredis_cname = \"tyk.internal\"\n", code: "name-outside-zone", field: "dns.redis_cname", line: 4 },
    Case { name: "ttl above health window", toml: "project = \"acme\"\n[dns]\nglobal_ttl = 300\n", code: "ttl-above-window", field: "dns.global_ttl", line: 3 },
    Case { name: "health interval", toml: "project = \"acme\"\n[dns]\nhealth_check_interval = 20\n", code: "hc-interval", field: "dns.health_check_interval", line: 3 },
    Case { name: "health threshold", toml: "project = \"acme\"\n[dns]\nhealth_check_failure_threshold = 11\n", code: "hc-threshold", field: "dns.health_check_failure_threshold", line: 3 },
    Case { name: "relative health path", toml: "project = \"acme\"\n[dns]\nhealth_check_path = \"ready\"\n", code: "hc-path", field: "dns.health_check_path", line: 3 },
    Case { name: "bad cron", toml: "project = \"acme\"\n[drills]\nschedule = \"every tuesday\"\n", code: "cron", field: "drills.schedule", line: 3 },
    Case { name: "bad duration", toml: "project = \"acme\"\n[drills]\nmax_rto = \"thirty seconds\"\n", code: "type", field: "drills.max_rto", line: 3 },
    Case { name: "zero load", toml: "project = \"acme\"\n[drills]\nload_rps = 0\n", code: "load", field: "drills.load_rps", line: 3 },
];

#[test]
fn every_bad_config_names_its_rule_field_and_line() {
    let mut failures = Vec::new();
    for case in CASES {
        let err = match config::parse("tyk-dr.toml", case.toml) {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.name));
                continue;
            }
            Err(e) => e,
        };
        let found = err
            .diagnostics
            .iter()
            .find(|d| d.code == case.code && d.field.to_string() == case.field);
        let Some(d) = found else {
            let got: Vec<String> = err
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.field))
                .collect();
            failures.push(format!(
                "{}: no {} on {}; got {got:?}",
                case.name, case.code, case.field
            ));
            continue;
        };
        let line = d.location.as_ref().map_or(0, |l| l.line);
        if line != case.line {
            failures.push(format!("{}: line {line}, want {}", case.name, case.line));
        }
        if d.severity != Severity::Error || d.message.is_empty() || d.help.is_empty() {
            failures.push(format!("{}: incomplete diagnostic {d:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn examples_are_valid_without_warnings() {
    for file in ["examples/minimal.toml", "examples/full.toml"] {
        let loaded =
            config::load(std::path::Path::new(file)).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert!(loaded.warnings.is_empty(), "{file}: {:?}", loaded.warnings);
    }
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let c = config::parse("t.toml", BASE).unwrap().config;
    assert_eq!(c.regions.active.name, "us-east-1");
    assert_eq!(
        c.regions.passive.effective_azs(),
        ["us-west-2a", "us-west-2b", "us-west-2c"]
    );
    assert_eq!(c.redis.elasticache.nodes_per_region(3), 4);
    assert_eq!(c.mongo.voting_members(3), 5);
    assert_eq!(c.dns.health_check_window(), 30);
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let text = "project = \"acme\"\n[redis.elasticache]\nreplicas_per_az = \"x\"\nnode_tpye = \"cache.r7g.large\"\n[mongo]\nvotes = \"one\"\npassive_members = 1\n[dns]\nglobal_ttl = 300\n";
    let err = config::parse("t.toml", text).unwrap_err();
    let codes: Vec<&str> = err.diagnostics.iter().map(|d| d.code).collect();
    // Two type errors, one unknown key and two semantic errors, in file order.
    assert_eq!(
        codes,
        [
            "type",
            "unknown-key",
            "type",
            "even-votes",
            "ttl-above-window"
        ],
        "{:?}",
        err.diagnostics
    );
    let lines: Vec<usize> = err
        .diagnostics
        .iter()
        .map(|d| d.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, [3, 4, 6, 7, 9]);
}

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    let err =
        config::parse("t.toml", "project = \"acme\"\n[dns]\nglobal_nmae = \"x\"\n").unwrap_err();
    assert_eq!(err.diagnostics[0].help, "did you mean `global_name`?");
    let err = config::parse(
        "t.toml",
        "project = \"acme\"\n[redis]\nbackend = \"elasticcache\"\n",
    )
    .unwrap_err();
    assert_eq!(err.diagnostics[0].help, "did you mean `\"elasticache\"`?");
    let err = config::parse(
        "t.toml",
        "project = \"acme\"\n[mongo.endpoints]\npasive = [\"10.20.1.30:27017\"]\n",
    )
    .unwrap_err();
    assert_eq!(err.diagnostics[0].help, "did you mean `passive`?");
}

#[test]
fn empty_and_whitespace_files_explain_where_to_start() {
    for text in ["", "  \n\n# only a comment\n"] {
        let err = config::parse("t.toml", text).unwrap_err();
        assert_eq!(err.diagnostics.len(), 1, "{text:?}");
        let d = &err.diagnostics[0];
        assert!(d.code == "empty-file" || d.code == "missing-field", "{d:?}");
        assert!(
            d.help.contains("examples/minimal.toml") || d.help.contains("project"),
            "{d:?}"
        );
    }
}

#[test]
fn warnings_do_not_fail_loading() {
    let text = format!("{BASE}\n[gateway]\nport = 80\n");
    let loaded = config::parse("t.toml", text).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].code, "privileged-port");
}

#[test]
fn garbage_never_panics() {
    // Arbitrary byte soup and truncations of a real file: errors, never panics.
    let full = std::fs::read_to_string("examples/full.toml").unwrap();
    for cut in (0..full.len()).step_by(37) {
        if full.is_char_boundary(cut) {
            let _ = config::parse("t.toml", &full[..cut]);
        }
    }
    for text in [
        "[[[",
        "a = [1, \"x\"]",
        "project = 1e999",
        "[regions]\nactive = 3",
        "project = \"acme\"\nregions = []",
        "\u{0}",
    ] {
        assert!(config::parse("t.toml", text).is_err(), "{text:?}");
    }
}
