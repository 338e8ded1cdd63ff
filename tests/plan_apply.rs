//! `tyk-dr plan` / `apply` / `destroy` end to end against the AWS emulator (`moto_server`):
//! the real binary, real SDK calls, two regions.
//!
//! Emulator limits shape the topology used here: no Global Datastore calls (those requests
//! are tested with the SDK's capture client in `crates/tyk-dr-aws/src/elasticache.rs`), and
//! `DeleteCacheSubnetGroup` is not implemented (destroy reports it skipped).

#[path = "common/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use moto::Moto;
use serde_json::Value;

struct Env {
    moto: Moto,
    dir: tempfile::TempDir,
    project: String,
}

fn config(project: &str, redis_ttl: u32, snapshot_days: u32) -> String {
    format!(
        r#"project = "{project}"

[regions.active]
name = "us-east-1"
azs = ["us-east-1a", "us-east-1b"]
vpc_cidr = "10.10.0.0/16"

[regions.passive]
name = "us-west-2"
azs = ["us-west-2a", "us-west-2b"]
vpc_cidr = "10.20.0.0/16"

[redis]
backend = "elasticache"
auth = false
tls = false

[redis.elasticache]
node_type = "cache.t4g.small"
global_datastore = false
snapshot_retention_days = {snapshot_days}

[mongo]
passive_members = 1

[dns]
public_zone = "{project}.test"
global_name = "api.{project}.test"
private_zone = "{project}.internal"
redis_cname = "redis.{project}.internal"
redis_ttl = {redis_ttl}
"#
    )
}

impl Env {
    fn new(project: &str) -> Env {
        let env = Env {
            moto: Moto::start(),
            dir: tempfile::tempdir().unwrap(),
            project: project.into(),
        };
        env.write_config(5, 3);
        // Empty AWS config and credentials files: nothing from the developer's own set-up.
        std::fs::write(env.dir.path().join("aws-config"), "").unwrap();
        std::fs::write(env.dir.path().join("aws-credentials"), "").unwrap();
        env
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("tyk-dr.toml")
    }

    fn write_config(&self, redis_ttl: u32, snapshot_days: u32) {
        std::fs::write(
            self.config_path(),
            config(&self.project, redis_ttl, snapshot_days),
        )
        .unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tyk-dr"));
        c.arg("-c").arg(self.config_path()).args(args);
        c.env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // moto answers HTTP 500 for calls it lacks: do not spend the test retrying them.
            .env("AWS_MAX_ATTEMPTS", "2")
            .env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("aws-credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("TYK_DR_LOG")
            .env_remove("TYK_DR_TEST_CRASH_AFTER_STEP")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn plan_json(&self) -> Value {
        let out = self.run(&["plan", "-o", "json"]);
        assert!(out.status.success(), "plan failed: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn apply(&self) {
        let out = self.run(&["apply", "--yes"]);
        assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out));
    }

    async fn aws(&self, region: &str) -> aws_config::SdkConfig {
        tyk_dr_aws::emulator_config(&self.moto.endpoint, region).await
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `(action, address)` of every change that is not a no-op.
fn changes(plan: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_owned(),
                format!(
                    "{}:{}",
                    c["addr"]["scope"].as_str().unwrap(),
                    c["addr"]["key"].as_str().unwrap()
                ),
            )
        })
        .collect();
    v.sort();
    v
}

fn no_changes(env: &Env) {
    let out = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected no changes: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        text(&out)
    );
}

fn journal_dir(dir: &Path) -> PathBuf {
    dir.join(".tyk-dr").join("journal")
}

/// Everything tagged with the project, by service (EC2 in both regions, ElastiCache, Route 53).
async fn tagged(env: &Env) -> Vec<String> {
    let mut found = Vec::new();
    for region in ["us-east-1", "us-west-2"] {
        let conf = env.aws(region).await;
        let snap = tyk_dr_aws::ec2::Ec2::new(&conf)
            .snapshot("tyk-dr:project", &env.project)
            .await
            .unwrap();
        found.extend(snap.vpcs.iter().map(|v| format!("{region} vpc {}", v.id)));
        found.extend(
            snap.subnets
                .iter()
                .map(|v| format!("{region} subnet {}", v.id)),
        );
        found.extend(
            snap.security_groups
                .iter()
                .map(|v| format!("{region} sg {}", v.id)),
        );
        found.extend(
            snap.instances
                .iter()
                .map(|v| format!("{region} instance {}", v.id)),
        );
        let cache = tyk_dr_aws::elasticache::ElastiCache::new(&conf);
        // moto keeps deleted groups in `deleting` forever; AWS removes them.
        found.extend(
            cache
                .replication_groups(&env.project)
                .await
                .unwrap()
                .iter()
                .filter(|g| g.status != "deleting")
                .map(|g| format!("{region} rg {}", g.id)),
        );
    }
    let r53 = tyk_dr_aws::route53::Route53::new(&env.aws("us-east-1").await);
    let zones: Vec<String> = r53
        .list_zones()
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.id)
        .collect();
    let checks: Vec<String> = r53
        .list_health_checks()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    for (target, ids) in [
        (tyk_dr_aws::route53::TagTarget::Zone, zones),
        (tyk_dr_aws::route53::TagTarget::HealthCheck, checks),
    ] {
        for (id, tags) in r53.tags(target, &ids).await.unwrap() {
            if tags.get("tyk-dr:project") == Some(&env.project) {
                found.push(format!("route53 {target:?} {id}"));
            }
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_from_empty_then_no_changes_then_destroy_leaves_nothing() {
    let env = Env::new("pa-full");
    let plan = env.plan_json();
    let all = changes(&plan);
    assert!(all.iter().all(|(a, _)| a == "create"), "{all:?}");
    // 2 regions × (vpc, 4 subnets, 3 groups, 2 gateways, mongo members, cache subnet group,
    // replication group, private zone, health check, redis record) + public zone + 2 records.
    let count = |k: &str| all.iter().filter(|(_, a)| a.contains(k)).count();
    assert_eq!(count(":vpc"), 2);
    assert_eq!(count(":subnet/"), 8);
    assert_eq!(count(":sg/"), 6);
    assert_eq!(count(":instance/gateway/"), 4);
    assert_eq!(count(":instance/mongo/"), 3);
    assert_eq!(count(":replication-group"), 2);
    assert_eq!(count(":health-check"), 2);
    assert_eq!(count("global:record/global/"), 2);
    assert_eq!(count("global:zone/public"), 1);
    assert!(plan["api_calls"].as_u64().unwrap() > 0);

    // Plain `plan` exits 0 even with changes; --detailed-exitcode says 2.
    assert_eq!(env.run(&["plan"]).status.code(), Some(0));
    let detailed = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(detailed.status.code(), Some(2), "{}", text(&detailed));
    let table = String::from_utf8_lossy(&detailed.stdout).to_string();
    assert!(
        table.contains("active region (us-east-1)") && table.contains("passive region (us-west-2)"),
        "{table}"
    );
    assert!(
        table.contains("Plan: 36 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged."),
        "{table}"
    );

    env.apply();
    no_changes(&env);
    let journals: Vec<_> = std::fs::read_dir(journal_dir(env.dir.path()))
        .unwrap()
        .collect();
    assert_eq!(journals.len(), 1);

    assert!(!tagged(&env).await.is_empty());
    let out = env.run(&["destroy", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(tagged(&env).await, Vec::<String>::new());
    // moto lacks DeleteCacheSubnetGroup: reported as skipped, never silently.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipped"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_config_shows_exactly_the_expected_update() {
    let env = Env::new("pa-update");
    env.apply();
    env.write_config(10, 7);
    let plan = env.plan_json();
    assert_eq!(
        changes(&plan),
        [
            ("update".to_owned(), "active:record/redis".to_owned()),
            ("update".to_owned(), "active:replication-group".to_owned()),
            ("update".to_owned(), "passive:record/redis".to_owned()),
            ("update".to_owned(), "passive:replication-group".to_owned()),
        ]
    );
    let rec = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["addr"]["key"] == "record/redis")
        .unwrap();
    assert_eq!(
        rec["fields"],
        serde_json::json!([{ "field": "ttl", "old": "5", "new": "10" }])
    );
    let table = String::from_utf8_lossy(&env.run(&["plan"]).stdout).to_string();
    assert!(
        table.contains("ttl: 5 → 10") && table.contains("snapshot_retention: 3 → 7"),
        "{table}"
    );
    env.apply();
    no_changes(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_deleted_behind_our_back_is_planned_and_recreated() {
    let env = Env::new("pa-drift");
    env.apply();
    let plan = env.plan_json();
    let gw = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["addr"]["key"] == "instance/gateway/us-west-2b/1")
        .unwrap();
    let id = gw["id"].as_str().unwrap().to_owned();
    tyk_dr_aws::ec2::Ec2::new(&env.aws("us-west-2").await)
        .terminate_instance(&id)
        .await
        .unwrap();
    let drift = env.run(&["plan", "--detailed-exitcode", "-o", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let plan: Value = serde_json::from_slice(&drift.stdout).unwrap();
    let got = changes(&plan);
    assert!(
        got.contains(&(
            "create".to_owned(),
            "passive:instance/gateway/us-west-2b/1".to_owned()
        )),
        "{got:?}"
    );
    // Its address is in the passive global record, whose values become known after apply.
    assert!(
        got.contains(&(
            "update".to_owned(),
            "global:record/global/passive".to_owned()
        )),
        "{got:?}"
    );
    env.apply();
    no_changes(&env);
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_apply_resumes_and_converges() {
    let env = Env::new("pa-crash");
    let out = env
        .cmd(&["apply", "--yes"])
        .env("TYK_DR_TEST_CRASH_AFTER_STEP", "12")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the crash hook should abort: {}",
        text(&out)
    );
    let journal = std::fs::read_dir(journal_dir(env.dir.path()))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.contains("\"event\":\"step\""))
            .count(),
        12,
        "{lines}"
    );
    assert!(!lines.contains("\"event\":\"finish\""));

    let out = env.run(&["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resuming: the last `apply`")
            && stderr.contains("stopped after 12 of 36 steps"),
        "{stderr}"
    );
    // Nothing done before the crash is done twice.
    let second: Value = serde_json::from_str(
        std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(second["steps"], 36);
    let newest = std::fs::read_dir(journal_dir(env.dir.path()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let resumed = std::fs::read_to_string(newest).unwrap();
    assert_eq!(
        resumed
            .lines()
            .filter(|l| l.contains("\"event\":\"step\""))
            .count(),
        36 - 12,
        "{resumed}"
    );
    no_changes(&env);
    let vpcs: Vec<String> = tagged(&env)
        .await
        .into_iter()
        .filter(|r| r.contains(" vpc "))
        .collect();
    assert_eq!(vpcs.len(), 2, "{vpcs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_applies_exactly_and_is_refused_once_stale() {
    let env = Env::new("pa-saved");
    let file = env.dir.path().join("plan.json");
    let out = env.run(&["plan", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = env.run(&["apply", "--plan", file.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    no_changes(&env);

    // Save a (no-op) plan, then change the world behind its back.
    env.write_config(10, 3);
    let out = env.run(&["plan", "--out", file.to_str().unwrap()]);
    assert!(out.status.success());
    let plan = env.plan_json();
    let id = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["addr"]["key"] == "instance/mongo/1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tyk_dr_aws::ec2::Ec2::new(&env.aws("us-east-1").await)
        .terminate_instance(&id)
        .await
        .unwrap();
    let out = env.run(&["apply", "--plan", file.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is stale: the infrastructure changed since it was made"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run `tyk-dr plan --out FILE` again"),
        "{stderr}"
    );
}

#[test]
fn apply_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let env = Env::new("pa-confirm");
    let out = env.run(&["apply"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stdin is not a terminal"),
        "{}",
        text(&out)
    );
    // Nothing was created.
    let plan = env.plan_json();
    assert!(changes(&plan).iter().all(|(a, _)| a == "create"));
}

#[test]
fn iam_policy_lists_every_adapter_action() {
    let out = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .arg("iam-policy")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in [
        "ec2:RunInstances",
        "elasticache:CreateGlobalReplicationGroup",
        "route53:ChangeResourceRecordSets",
        "route53:ListTagsForResources",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}
