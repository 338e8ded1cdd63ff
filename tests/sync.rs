//! `tyk-dr sync` end to end on the local two-region environment (`localstack/env`). One test function,
//! because the environment uses fixed loopback addresses and only one can run at a time.
//!
//! Covers: definitions (gateway API) and policies (files) created, changed and deleted in region A reach
//! region B; per-API selection and URL rewrites; a definition invalid on the passive side is reported;
//! `--check` finds hand-made drift; keys verified while Redis replicates, then copied with TTLs once
//! replication is broken, with residency rules holding; `--watch` follows a key notification.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const RUN_DIR: &str = "/tmp/tyk-dr-local-sync";
const A: &str = "http://127.0.1.21:8080";
const B: [&str; 3] = [
    "http://127.0.2.21:8080",
    "http://127.0.2.22:8080",
    "http://127.0.2.23:8080",
];

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn env(action: &str) -> Output {
    let out = Command::new("bash")
        .args(["localstack/env", action])
        .env("TYK_DR_LOCAL_DIR", RUN_DIR)
        .env("TYK_DR_BIN_DIR", bin_dir())
        .output()
        .expect("run localstack/env");
    eprintln!(
        "localstack/env {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stops the environment even when an assertion fails half-way.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        env("down");
    }
}

fn secret() -> String {
    std::fs::read_to_string(format!("{RUN_DIR}/gateway-secret"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `tyk-dr -c CONFIG -o json sync ARGS`: exit code and the JSON report.
fn sync(config: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args(["-c", config.to_str().unwrap(), "-o", "json", "sync"])
        .args(args)
        .env("TYK_DR_GATEWAY_SECRET", secret())
        .output()
        .expect("run tyk-dr");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "sync {args:?} → {:?}\n{text}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
    (out.status.code().unwrap(), doc)
}

/// A management API call through curl: (status, body).
fn api(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-m",
        "5",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        url,
    ])
    .args(["-H", &format!("X-Tyk-Authorization: {}", secret())]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn redis(host: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", "6379"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `f` every 100 ms for up to 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn def(id: &str, target: &str, tags: &[&str]) -> Value {
    json!({"name": id, "api_id": id, "org_id": "local", "use_keyless": true, "active": true, "tags": tags,
           "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
           "proxy": {"listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true}})
}

/// Creates or replaces a definition in region A and reloads it, as an operator would.
fn put_a(d: &Value) {
    let id = d["api_id"].as_str().unwrap();
    let (code, _) = api("PUT", &format!("{A}/tyk/apis/{id}"), Some(d));
    if code == 404 {
        assert_eq!(api("POST", &format!("{A}/tyk/apis"), Some(d)).0, 200);
    }
    reload_a();
}

fn reload_a() {
    assert_eq!(api("POST", &format!("{A}/tyk/reload/group"), None).0, 200);
}

/// Every passive gateway serves (or does not serve) `id`, with this target URL.
fn on_b(id: &str, target: Option<&str>) {
    let mut last = String::new();
    let what = format!("{id} on every region-B gateway ({target:?})");
    eventually(&what, || {
        B.iter().all(|b| {
            let (code, body) = api("GET", &format!("{b}/tyk/apis/{id}"), None);
            last = format!("{b}: HTTP {code}, target {}", body["proxy"]["target_url"]);
            let ok = match target {
                Some(t) => code == 200 && body["proxy"]["target_url"] == t,
                None => code == 404,
            };
            if !ok {
                eprintln!("not yet: {last} body {body}");
            }
            ok
        })
    });
    eprintln!("on_b {what}: ok (last: {last})");
}

fn config(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string("examples/local.toml").unwrap();
    let text = format!(
        r#"{base}
[sync]
state_file = "sync-state.json"

[sync.policies_path]
active = "{RUN_DIR}/policies-a.json"
passive = "{RUN_DIR}/policies-b.json"

[sync.apis]
exclude_tags = ["region-a-only"]

[[sync.rewrites]]
from = "http://127.0.1.100:9000"
to = "http://127.0.2.100:9000"

[[sync.rewrites]]
from = "http://127.0.1.250:9000"
to = "not-a-url"

[sync.keys]
batch_size = 7
resident_org_ids = ["eu-org"]
resident_tags = ["pii"]
"#
    );
    let path = dir.join("tyk-dr.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sync_keeps_the_passive_region_ready() {
    // Start from the environment's own definitions: earlier runs leave files in the apps directories.
    let _ = std::fs::remove_dir_all(format!("{RUN_DIR}/apps"));
    let _ = std::fs::remove_file(format!("{RUN_DIR}/policies-a.json"));
    let _ = std::fs::remove_file(format!("{RUN_DIR}/policies-b.json"));
    let up = env("up");
    let _down = Down;
    assert!(up.status.success(), "localstack/env up failed");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let validate = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args(["-c", cfg.to_str().unwrap(), "validate"])
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );

    // 1. Definitions and policies created in A reach B; selection and rewrites hold; keys are verified.
    std::fs::write(format!("{RUN_DIR}/policies-a.json"), r#"{"gold": {"rate": 100, "per": 1, "access_rights": {"echo": {}}}, "silver": {"rate": 10, "per": 1}}"#).unwrap();
    put_a(&def(
        "orders",
        "http://127.0.1.100:9000/orders",
        &["public"],
    ));
    put_a(&def(
        "local-only",
        "http://127.0.1.100:9000/x",
        &["region-a-only"],
    ));
    let (code, doc) = sync(&cfg, &["--check"]);
    assert_eq!(code, 2, "drift found: {doc:#}");
    assert_eq!(
        strings(&doc["definitions"]["targets"][0]["drift"]["missing"]),
        ["orders"]
    );
    assert_eq!(
        doc["policies"]["drift"]["missing"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        doc["keys"]["mode"], "verify-replica",
        "B's primary replicates from A: keys are verified"
    );
    assert_eq!(doc["keys"]["drift"]["missing"], 0);
    assert_eq!(doc["keys"]["source_keys"], 20);
    on_b("orders", None);

    let (code, doc) = sync(&cfg, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["definitions"]["targets"].as_array().unwrap().len(),
        3,
        "every passive gateway is written"
    );
    assert_eq!(strings(&doc["definitions"]["excluded"]), ["local-only"]);
    assert!(
        doc["reload"]
            .as_str()
            .unwrap()
            .starts_with("signed group reload published by http://127.0.2."),
        "{doc:#}"
    );
    on_b("orders", Some("http://127.0.2.100:9000/orders"));
    on_b("local-only", None);
    let policies_b: Value =
        serde_json::from_slice(&std::fs::read(format!("{RUN_DIR}/policies-b.json")).unwrap())
            .unwrap();
    assert_eq!(policies_b["gold"]["rate"], 100);
    let (code, doc) = sync(&cfg, &["--check"]);
    assert_eq!((code, doc["drift"].as_u64()), (0, Some(0)), "{doc:#}");

    // 2. Changes and deletions in A reach B; excluded APIs stay out.
    put_a(&def(
        "orders",
        "http://127.0.1.100:9000/orders/v2",
        &["public"],
    ));
    assert_eq!(api("DELETE", &format!("{A}/tyk/apis/open"), None).0, 200);
    reload_a();
    std::fs::write(
        format!("{RUN_DIR}/policies-a.json"),
        r#"{"gold": {"rate": 200, "per": 1}}"#,
    )
    .unwrap();
    let (code, doc) = sync(&cfg, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let t = &doc["definitions"]["targets"][0]["drift"];
    assert_eq!(
        (strings(&t["different"]), strings(&t["extra"])),
        (vec!["orders".to_string()], vec!["open".to_string()])
    );
    on_b("orders", Some("http://127.0.2.100:9000/orders/v2"));
    on_b("open", None);
    let policies_b: Value =
        serde_json::from_slice(&std::fs::read(format!("{RUN_DIR}/policies-b.json")).unwrap())
            .unwrap();
    assert_eq!(policies_b, json!({"gold": {"rate": 200, "per": 1}}));

    // 2b. A definition broken on the active side is not a deletion: the gateway lists it as
    // rejected (GET /tyk/dr/apis/rejected), so its passive copy stays and the break is reported.
    std::fs::write(
        format!("{RUN_DIR}/apps/a/orders.json"),
        r#"{"api_id": "orders", "proxy": {"listen_path": "/orders/", "target_url": "not a url"}}"#,
    )
    .unwrap();
    reload_a();
    eventually("orders rejected by region A", || {
        api("GET", &format!("{A}/tyk/apis/orders"), None).0 == 404
    });
    let (_, doc) = sync(&cfg, &[]);
    assert!(
        doc.to_string().contains("orders.json"),
        "the broken source file is reported: {doc:#}"
    );
    on_b("orders", Some("http://127.0.2.100:9000/orders/v2"));
    put_a(&def(
        "orders",
        "http://127.0.1.100:9000/orders/v2",
        &["public"],
    ));

    // 3. Hand-made drift in B is found by --check and repaired by sync.
    let mut tampered = def("echo", "http://127.0.2.100:9000/", &[]);
    tampered["name"] = "changed by hand".into();
    assert_eq!(
        api("PUT", &format!("{}/tyk/apis/echo", B[0]), Some(&tampered)).0,
        200
    );
    assert_eq!(
        api("POST", &format!("{}/tyk/reload/group", B[0]), None).0,
        200
    );
    std::fs::write(
        format!("{RUN_DIR}/policies-b.json"),
        r#"{"gold": {"rate": 1, "per": 1}, "rogue": {}}"#,
    )
    .unwrap();
    eventually("the tampered definition loaded in B", || {
        api("GET", &format!("{}/tyk/apis/echo", B[0]), None).1["name"] == "changed by hand"
    });
    let (code, doc) = sync(&cfg, &["--check"]);
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(
        strings(&doc["definitions"]["targets"][0]["drift"]["different"]),
        ["echo"]
    );
    assert_eq!(
        (
            strings(&doc["policies"]["drift"]["different"]),
            strings(&doc["policies"]["drift"]["extra"])
        ),
        (vec!["gold".to_string()], vec!["rogue".to_string()])
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sync-state.json")).unwrap())
            .unwrap();
    assert_eq!(
        (state["kind"].as_str(), state["drift_found"].as_u64()),
        (Some("check"), doc["drift"].as_u64())
    );
    assert_eq!(sync(&cfg, &[]).0, 0);
    eventually("echo repaired in B", || {
        api("GET", &format!("{}/tyk/apis/echo", B[0]), None).1["name"] == "Echo"
    });
    assert_eq!(sync(&cfg, &["--check"]).0, 0);

    // 4. A definition the passive side refuses (here: rewritten to a bad URL) is reported, exit 1.
    put_a(&def("bad", "http://127.0.1.250:9000/", &[]));
    let (code, doc) = sync(&cfg, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let rejected = &doc["definitions"]["targets"][0]["rejected"][0];
    assert_eq!(rejected[0], "bad");
    assert!(
        rejected[1].as_str().unwrap().contains("target_url"),
        "{rejected}"
    );
    assert_eq!(api("DELETE", &format!("{A}/tyk/apis/bad"), None).0, 200);
    reload_a();
    eventually("bad unloaded in A", || {
        api("GET", &format!("{A}/tyk/apis/bad"), None).0 == 404
    });
    assert_eq!(sync(&cfg, &[]).0, 0);

    // 5. No cross-region replication: keys are copied with their TTLs; residency rules hold.
    assert_eq!(redis("127.0.2.10", &["REPLICAOF", "NO", "ONE"]), "OK");
    let seeded: Vec<String> = redis("127.0.1.10", &["--scan", "--pattern", "apikey-*"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(seeded.len(), 20);
    let session = |org: &str, tags: &[&str]| {
        json!({"org_id": org, "tags": tags, "rate": 10, "per": 1, "access_rights": {}}).to_string()
    };
    redis(
        "127.0.1.10",
        &["SET", "apikey-ttl1", &session("local", &[]), "EX", "3600"],
    );
    redis(
        "127.0.1.10",
        &["SET", "apikey-eu1", &session("eu-org", &[]), "EX", "3600"],
    );
    redis(
        "127.0.1.10",
        &["SET", "apikey-pii1", &session("local", &["pii"])],
    );
    redis(
        "127.0.1.10",
        &["SET", &seeded[0], &session("local", &["changed"])],
    );
    redis("127.0.1.10", &["DEL", &seeded[1]]);
    redis(
        "127.0.2.10",
        &["SET", "apikey-leaked", &session("eu-org", &[])],
    );
    redis(
        "127.0.1.10",
        &["SET", "apikey-leaked", &session("eu-org", &[])],
    );
    let (code, doc) = sync(&cfg, &["--check"]);
    assert_eq!(code, 2, "{doc:#}");
    let k = &doc["keys"];
    assert_eq!(
        (
            k["mode"].as_str(),
            k["drift"]["missing"].as_u64(),
            k["drift"]["different"].as_u64(),
            k["drift"]["extra"].as_u64()
        ),
        (Some("verify"), Some(1), Some(1), Some(1)),
        "{k:#}"
    );
    assert_eq!(
        (k["resident"].as_u64(), k["residency_violations"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        redis("127.0.2.10", &["EXISTS", "apikey-ttl1"]),
        "0",
        "check changes nothing"
    );
    let (code, doc) = sync(&cfg, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let k = &doc["keys"];
    assert_eq!(
        (
            k["mode"].as_str(),
            k["copied"].as_u64(),
            k["deleted"].as_u64()
        ),
        (Some("copy"), Some(2), Some(2)),
        "{k:#}"
    );
    let ttl: i64 = redis("127.0.2.10", &["PTTL", "apikey-ttl1"])
        .parse()
        .unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "TTL copied: {ttl}");
    assert_eq!(
        redis("127.0.2.10", &["GET", &seeded[0]]),
        session("local", &["changed"])
    );
    assert_eq!(redis("127.0.2.10", &["PTTL", &seeded[0]]), "-1");
    for gone in [
        seeded[1].as_str(),
        "apikey-eu1",
        "apikey-pii1",
        "apikey-leaked",
    ] {
        assert_eq!(
            redis("127.0.2.10", &["EXISTS", gone]),
            "0",
            "{gone} must not be in region B"
        );
    }
    let (code, doc) = sync(&cfg, &["--check"]);
    assert_eq!((code, doc["drift"].as_u64()), (0, Some(0)), "{doc:#}");

    // status and monitor show the last sync (its state file): age and drift.
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
            .args(["-c", cfg.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let doc: Value = serde_json::from_str(&run(&["-o", "json", "status"])).unwrap();
    assert_eq!(
        (
            doc["sync"]["kind"].as_str(),
            doc["sync"]["drift_left"].as_u64()
        ),
        (Some("check"), Some(0)),
        "{}",
        doc["sync"]
    );
    let table = run(&["status"]);
    assert!(
        table.contains("last sync: check ") && table.contains("s ago, drift 0"),
        "{table}"
    );
    let line = run(&["monitor", "--count", "1", "--interval", "1s"]);
    assert!(
        line.contains("| check ") && line.contains("s ago, drift 0"),
        "{line}"
    );

    // 6. --watch follows cluster notifications: a key written in A (custom keys and updates announce a
    // KeySpaceUpdateNotification; generated keys do not, as in Tyk) reaches B before the next full pass,
    // and its deletion follows too. With keyspace notifications on, keys written straight to Redis follow.
    assert_eq!(
        redis(
            "127.0.1.10",
            &["CONFIG", "SET", "notify-keyspace-events", "K$g"]
        ),
        "OK"
    );
    let mut watch = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args([
            "-c",
            cfg.to_str().unwrap(),
            "-o",
            "json",
            "sync",
            "--watch",
            "--interval",
            "60s",
            "--count",
            "2",
        ])
        .env("TYK_DR_GATEWAY_SECRET", secret())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["drift"], 0, "{first:#}");
    std::thread::sleep(Duration::from_millis(500)); // subscribed by now
    let session = json!({"org_id": "local", "rate": 5, "per": 1, "access_rights": {}});
    let (code, created) = api(
        "POST",
        &format!("{A}/tyk/keys/watched-key-1"),
        Some(&session),
    );
    assert_eq!(code, 200, "{created}");
    let name = format!("apikey-{}", created["key_hash"].as_str().unwrap());
    let started = Instant::now();
    eventually("the new key copied by --watch", || {
        redis("127.0.2.10", &["EXISTS", &name]) == "1"
    });
    eprintln!("--watch copied {name} in {:?}", started.elapsed());
    let followed: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(followed["followed"]["keys"]["copied"], 1, "{followed:#}");
    assert_eq!(
        // A custom key is stored under its organisation's name for it, so Tyk (and the gateway) find it
        // for DELETE only with `org_id`.
        api(
            "DELETE",
            &format!("{A}/tyk/keys/watched-key-1?org_id=local"),
            None
        )
        .0,
        200
    );
    eventually("the deletion followed by --watch", || {
        redis("127.0.2.10", &["EXISTS", &name]) == "0"
    });
    redis(
        "127.0.1.10",
        &["SET", "apikey-direct1", &session.to_string(), "EX", "600"],
    );
    eventually(
        "a key written straight to Redis followed by --watch",
        || redis("127.0.2.10", &["EXISTS", "apikey-direct1"]) == "1",
    );
    let ttl: i64 = redis("127.0.2.10", &["TTL", "apikey-direct1"])
        .parse()
        .unwrap();
    assert!((590..=600).contains(&ttl), "TTL followed: {ttl}");
    watch.kill().unwrap();
    watch.wait().unwrap();

    // 7. The files transport: app_path directories, an unreadable source file holds deletions back.
    let files_cfg = dir.path().join("files.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[sync]\n",
        &format!("[sync]\ndefinitions = \"files\"\napp_path = {{ active = \"{RUN_DIR}/apps/a\", passive = \"{RUN_DIR}/apps/b\" }}\n"),
    );
    std::fs::write(&files_cfg, text).unwrap();
    let file_def = def("from-file", "http://127.0.1.100:9000/f", &[]);
    std::fs::write(
        format!("{RUN_DIR}/apps/a/from-file.json"),
        file_def.to_string(),
    )
    .unwrap();
    std::fs::write(
        format!("{RUN_DIR}/apps/a/half-written.json"),
        "{\"api_id\": ",
    )
    .unwrap();
    std::fs::remove_file(format!("{RUN_DIR}/apps/a/orders.json")).unwrap();
    let (code, doc) = sync(&files_cfg, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let t = &doc["definitions"]["targets"][0];
    assert_eq!(t["target"], format!("files:{RUN_DIR}/apps/b"));
    assert!(
        strings(&t["drift"]["missing"]).contains(&"from-file".to_string()),
        "{t:#}"
    );
    assert_eq!(strings(&t["deletes_held"]), ["orders"], "{t:#}");
    assert_eq!(
        doc["definitions"]["invalid_source"][0][0],
        format!("{RUN_DIR}/apps/a/half-written.json")
    );
    on_b("from-file", Some("http://127.0.2.100:9000/f"));
    on_b("orders", Some("http://127.0.2.100:9000/orders/v2"));
}
