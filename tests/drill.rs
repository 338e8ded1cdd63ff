//! Drills end to end on the local environment: a shadow drill while customer
//! traffic flows (which must never notice), a full drill that passes and writes
//! every report (the HTML checked in headless Chromium), and one with an
//! impossible threshold that fails with a clear message and still fails back.
//! One test function: the environment uses fixed loopback addresses.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tyk_dr::drill::load::{Load, LoadSpec};

#[path = "common/local.rs"]
mod local;

use local::LocalEnv;

const RUN_DIR: &str = "/tmp/tyk-dr-local-drill";

fn chromium() -> String {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    found.unwrap_or_else(|| panic!("headless Chromium is needed to check the HTML report: run scripts/dev setup (apt chromium)")).to_owned()
}

/// Renders `html` in headless Chromium: returns the DOM after load, and writes a screenshot.
fn render(html: &Path, screenshot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1000,1700",
    ];
    let url = format!("file://{}", html.display());
    let profile_flag = format!("--user-data-dir={}", profile.path().display());
    let shot = Command::new(chromium())
        .args(flags)
        .arg(&profile_flag)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "chromium screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(chromium())
        .args(flags)
        .arg(&profile_flag)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// The drill's load saw at least one answer from the passive region.
fn served_by_passive(report: &Value) -> bool {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["by_passive"].as_u64().unwrap() > 0)
}

#[test]
fn drills_pass_with_reports_and_fail_back_when_a_threshold_is_impossible() {
    let env = LocalEnv::up(RUN_DIR);
    let tyk_dr = |config: &Path, args: &[&str]| env.tyk_dr(config, args, &[]);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("tyk-dr.toml");
    let local = std::fs::read_to_string("examples/local.toml").unwrap();
    std::fs::write(&config, &local).unwrap();

    shadow_drill_leaves_customers_alone(&env, &config);

    // A drill that passes, with all three reports.
    let out = tyk_dr(&config, &["-o", "json", "drill", "--yes", "--hold", "1s"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["kind"], "full");
    assert!(report["requests"].as_u64().unwrap() > 100, "the load ran");
    assert!(
        served_by_passive(&report),
        "the load saw the passive region serve"
    );
    let id = report["id"].as_str().unwrap();
    let dir = work.path().join(".tyk-dr/drills").join(id);
    for f in ["drill.json", "drill.md", "drill.html"] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let md = std::fs::read_to_string(dir.join("drill.md")).unwrap();
    assert!(
        md.contains("— PASSED") && md.contains("| failover RTO |"),
        "{md}"
    );

    // The HTML renders in a real browser: charts and verdict are in the DOM, and a screenshot is taken.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("drill-report.png");
    let dom = render(&dir.join("drill.html"), &shot);
    assert!(dom.contains("PASSED"), "verdict in the rendered page");
    assert_eq!(dom.matches("<svg").count(), 3, "three charts");
    assert!(
        dom.contains("failover · verify"),
        "the step timeline names the steps"
    );
    let png = std::fs::metadata(&shot).unwrap().len();
    assert!(
        png > 20_000,
        "a screenshot with content ({png} bytes) at {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());

    // An impossible threshold: the drill fails, says why, and still fails back.
    let strict = local.replace("max_rto = \"5s\"", "max_rto = \"1ms\"");
    assert_ne!(strict, local, "examples/local.toml sets max_rto");
    std::fs::write(&config, strict).unwrap();
    let out = tyk_dr(&config, &["drill", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "a missed threshold fails the drill"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAILED") && text.contains("✘ failover RTO"),
        "{text}"
    );
    assert!(
        text.contains(
            "stopped early: the failover RTO exceeded max_rto (1 ms): failing back at once"
        ),
        "{text}"
    );
    let status = tyk_dr(&config, &["-o", "json", "status"]);
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["dns"]["global_points_to"], "active", "failed back: {s:#}");
    assert_eq!(s["dns"]["redis_points_to"], "active");

    // History keeps both, and the trend shows.
    let hist = tyk_dr(&config, &["drill", "history"]);
    let text = String::from_utf8_lossy(&hist.stdout);
    assert_eq!(text.matches("drill-").count(), 3, "{text}");
    assert!(
        text.contains("passed")
            && text.contains("FAILED")
            && text.contains("shadow")
            && text.contains("trend"),
        "{text}"
    );
}

/// A shadow drill moves only the shadow stack: customer traffic through the real global name keeps
/// being served by region A without a single failure, and the customers' epoch, names and Redis
/// roles are exactly as before.
fn shadow_drill_leaves_customers_alone(env: &LocalEnv, config: &Path) {
    // The shadow stack's own readiness, as a scheduled drill's gate would check it.
    let out = env.tyk_dr(config, &["-o", "json", "status", "--shadow"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["dns"]["global"]["name"], "drill-api.tyk-dr.test", "{s:#}");
    assert_eq!(s["regions"][1]["redis"][0]["addr"], "127.0.2.12:6379");
    assert_eq!(s["verdict"]["ready"], true, "{s:#}");
    let keys: Vec<String> = std::fs::read_to_string(env.file("keys.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let customers = rt.block_on(async {
        let resolver = tyk_dr::probes::dns::resolver(Some("127.0.0.1:5353".parse().unwrap()));
        Load::start(
            LoadSpec {
                rps: 40,
                keys,
                global_name: "api.tyk-dr.test".into(),
                port: 8080,
                path: "/echo/customer".into(),
                ttl: std::time::Duration::from_secs(1),
                max_duration: std::time::Duration::from_secs(120),
            },
            resolver,
        )
    });
    let out = env.tyk_dr(
        config,
        &["-o", "json", "drill", "--shadow", "--yes", "--hold", "1s"],
        &[],
    );
    let served = rt.block_on(customers.stop());
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["kind"], "shadow");
    assert_eq!(report["global_name"], "drill-api.tyk-dr.test");
    assert_eq!(report["redis_cname"], "redis-drill.tyk-dr.internal");
    assert!(
        served_by_passive(&report),
        "the drill's own load was served by the passive region: {report:#}"
    );
    let md = std::fs::read_to_string(
        config
            .parent()
            .unwrap()
            .join(".tyk-dr/drills")
            .join(report["id"].as_str().unwrap())
            .join("drill.md"),
    )
    .unwrap();
    assert!(
        md.contains("shadow drill: only the shadow stack moved"),
        "{md}"
    );

    // Customers saw nothing: every request answered, all by region A.
    assert!(served.len() > 100, "customer load ran: {}", served.len());
    let failed: Vec<_> = served.iter().filter(|s| !s.ok()).collect();
    assert!(failed.is_empty(), "customer requests failed: {failed:?}");
    assert!(
        served
            .iter()
            .all(|s| s.region.as_deref() == Some("us-east-1")),
        "customer traffic stayed in us-east-1"
    );
    // And nothing of theirs moved: epoch, names, Redis roles.
    let status = env.tyk_dr(config, &["-o", "json", "status"], &[]);
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["epoch"]["number"], 1, "the customers' epoch: {s:#}");
    assert_eq!(s["dns"]["global_points_to"], "active");
    assert_eq!(s["dns"]["redis_points_to"], "active");
    assert_eq!(s["verdict"]["ready"], true, "{s:#}");
    for (replica, of) in [("127.0.2.10", "127.0.1.10"), ("127.0.2.12", "127.0.1.10")] {
        let info = Command::new("redis-cli")
            .args(["-h", replica, "info", "replication"])
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        assert!(
            info.contains("role:slave") && info.contains(&format!("master_host:{of}")),
            "{replica} replicates from {of} again: {info}"
        );
    }
}

#[test]
fn schedule_prints_crontab_and_writes_systemd_units() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("tyk-dr.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string("examples/full.toml").unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args(["-c", config.to_str().unwrap(), "drill", "schedule"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("CRON_TZ=UTC\n30 3 * * 2 "), "{text}");
    assert!(text.contains("drill --yes"), "{text}");
    let units = work.path().join("units");
    let out = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args([
            "-c",
            config.to_str().unwrap(),
            "drill",
            "schedule",
            "--systemd",
            units.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let timer = std::fs::read_to_string(units.join("tyk-dr-drill.timer")).unwrap();
    assert!(
        timer.contains("OnCalendar=Tue *-*-* 03:30:00 UTC"),
        "{timer}"
    );
    assert!(std::fs::read_to_string(units.join("tyk-dr-drill.service"))
        .unwrap()
        .contains("ExecStart="));
}
