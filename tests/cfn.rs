//! `tyk-dr cfn` templates: cfn-lint clean for every example and edge-case config,
//! deterministic, and the committed `cloudformation/examples/full/` up to date.
//!
//! cfn-lint is required: set `TYK_DR_CFN_LINT` to its path or put `cfn-lint` on PATH
//! (CI installs it into a venv). Regenerate the committed examples with
//! `TYK_DR_UPDATE_CFN_EXAMPLES=1 cargo test -p tyk-dr --test cfn`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tyk_dr::cfn::{generate, render, Template};
use tyk_dr::config::Config;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(text: &str) -> Config {
    toml::from_str::<Config>(text).expect("config parses")
}

fn load(path: &Path) -> Config {
    parse(&std::fs::read_to_string(path).expect("readable example"))
}

/// `examples/*.toml`, sorted.
fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no examples/*.toml found");
    v
}

fn cfn_lint() -> PathBuf {
    if let Some(p) = std::env::var_os("TYK_DR_CFN_LINT") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("cfn-lint"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "cfn-lint not found: set TYK_DR_CFN_LINT or put cfn-lint on PATH \
                 (run the set-up: python3 -m venv .venv && .venv/bin/pip install cfn-lint, \
                 then add .venv/bin to PATH, as CI does). These tests never pass without it."
            )
        })
}

/// Writes the templates to a temp dir and runs cfn-lint on each, in the region it deploys to.
/// Warnings (exit bit 4) and informational findings (bit 8, enabled with `--include-checks I`)
/// fail too, except two that the design makes on purpose:
/// - W3010 "avoid hardcoding availability zones": the config names its AZs explicitly
///   (validated to belong to the region) and subnet CIDRs and MongoDB member IPs are bound to
///   that AZ order; `Fn::GetAZs` could silently pick other zones than the validated config.
/// - I3037 "non-unique elements" in `PreferredCacheClusterAZs`: with more cache nodes than AZs
///   (1 primary + `replicas_per_az` per AZ) an AZ necessarily appears more than once.
fn lint(cfg: &Config, label: &str) {
    let lint = cfn_lint();
    let dir = tempfile::tempdir().expect("temp dir");
    let templates = generate(cfg);
    assert_eq!(templates.len(), 3, "{label}: active, passive, global");
    for (t, region) in templates.iter().zip([
        &cfg.regions.active.name,
        &cfg.regions.passive.name,
        &cfg.regions.active.name,
    ]) {
        let path = dir.path().join(&t.file_name);
        std::fs::write(&path, render(t)).expect("write template");
        let out = Command::new(&lint)
            .arg("--regions")
            .arg(region)
            .arg("--include-checks")
            .arg("I")
            .arg("--ignore-checks")
            .arg("W3010")
            .arg("I3037")
            .arg("--")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", lint.display()));
        assert!(
            out.status.success(),
            "{label}: cfn-lint failed on {} ({}):\n{}{}",
            t.file_name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_example_passes_cfn_lint() {
    for path in examples() {
        lint(&load(&path), &path.display().to_string());
    }
}

const SELF_MANAGED: &str = r#"
project = "selfm"
[redis]
backend = "self-managed"
auth = true
auth_token_secret = "selfm/redis"
[redis.self_managed]
active = ["10.10.128.50:6379", "10.10.144.50:6379"]
passive = ["redis-b.selfm.internal:6379"]
[dns]
public_zone = "selfm.example"
global_name = "api.selfm.example"
"#;

const UPSERT_NO_MONGO: &str = r#"
project = "ups"
[regions.active]
name = "us-east-2"
azs = ["us-east-2a", "us-east-2b"]
vpc_cidr = "10.60.0.0/20"
[redis]
auth = false
tls = true
[redis.elasticache]
global_datastore = false
snapshot_retention_days = 0
[mongo]
enabled = false
[dns]
public_zone = "ups.example"
global_name = "api.ups.example"
flip_mode = "upsert"
"#;

#[test]
fn self_managed_redis_passes_cfn_lint() {
    let cfg = parse(SELF_MANAGED);
    for t in generate(&cfg) {
        let types: Vec<&str> = t.body["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|r| r["Type"].as_str())
            .collect();
        assert!(
            !types.iter().any(|ty| ty.starts_with("AWS::ElastiCache::")),
            "{}: self-managed Redis must not create ElastiCache resources",
            t.file_name
        );
    }
    lint(&cfg, "self-managed redis");
}

#[test]
fn upsert_without_mongo_passes_cfn_lint() {
    let cfg = parse(UPSERT_NO_MONGO);
    let templates = generate(&cfg);
    let global = &templates[2].body["Resources"];
    assert!(global.get("GlobalRecord").is_some());
    assert!(global.get("ActiveHealthCheck").is_none());
    for t in &templates[..2] {
        assert!(
            !render(t).contains("AWS::EC2::Instance"),
            "no Mongo members"
        );
    }
    lint(&cfg, "upsert, no mongo");
}

/// Every `UserData` script in a template (plain `Fn::Base64` strings).
fn user_data(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.get("Fn::Base64").and_then(|s| s.as_str())) {
                    ("UserData", Some(script)) => out.push(script.to_string()),
                    _ => user_data(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| user_data(x, out)),
        _ => {}
    }
}

#[test]
fn user_data_scripts_are_valid_bash() {
    let mut configs: Vec<Config> = examples().iter().map(|p| load(p)).collect();
    configs.push(parse(SELF_MANAGED));
    configs.push(parse(UPSERT_NO_MONGO));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    for cfg in &configs {
        for t in generate(cfg) {
            let mut scripts = Vec::new();
            user_data(&t.body, &mut scripts);
            for s in scripts {
                n += 1;
                assert!(s.starts_with("#!/bin/bash\n"), "{}", t.file_name);
                let path = dir.path().join(format!("ud{n}.sh"));
                std::fs::write(&path, &s).unwrap();
                let out = Command::new("bash")
                    .arg("-n")
                    .arg(&path)
                    .output()
                    .expect("bash runs");
                assert!(
                    out.status.success(),
                    "{}: bash -n failed: {}\n{s}",
                    t.file_name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    assert!(
        n >= 8,
        "expected gateway and Mongo user data, found {n} scripts"
    );
}

#[test]
fn generation_is_deterministic() {
    for path in examples() {
        let cfg = load(&path);
        let a: Vec<(String, String)> = generate(&cfg)
            .iter()
            .map(|t| (t.file_name.clone(), render(t)))
            .collect();
        let b: Vec<(String, String)> = generate(&load(&path))
            .iter()
            .map(|t| (t.file_name.clone(), render(t)))
            .collect();
        assert_eq!(a, b, "{}", path.display());
        for (_, text) in &a {
            assert!(text.ends_with("}\n"));
            assert!(text.starts_with("{\n  \"AWSTemplateFormatVersion\""));
        }
    }
}

#[test]
fn committed_full_example_is_up_to_date() {
    let dir = root().join("cloudformation/examples/full");
    let templates: Vec<Template> = generate(&load(&root().join("examples/full.toml")));
    if std::env::var_os("TYK_DR_UPDATE_CFN_EXAMPLES").is_some() {
        std::fs::create_dir_all(&dir).expect("create dir");
        for t in &templates {
            std::fs::write(dir.join(&t.file_name), render(t)).expect("write");
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    committed.sort();
    let mut expected: Vec<String> = templates.iter().map(|t| t.file_name.clone()).collect();
    expected.sort();
    assert_eq!(
        committed,
        expected,
        "stale or extra files in {}",
        dir.display()
    );
    for t in &templates {
        let on_disk = std::fs::read_to_string(dir.join(&t.file_name)).unwrap();
        assert!(
            on_disk == render(t),
            "{} is stale: run TYK_DR_UPDATE_CFN_EXAMPLES=1 cargo test -p tyk-dr --test cfn",
            t.file_name
        );
    }
}
