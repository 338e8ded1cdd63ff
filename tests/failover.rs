//! Failover and failback end to end on the local environment, under steady
//! load through the global name with real keys: planned failover, the active
//! region killed (SIGKILL) and hung (SIGSTOP), failback after a loss, the
//! engine killed after every step and resumed, and two failovers racing for
//! the epoch. One function per scenario, run in order by one test: the
//! environment uses fixed loopback addresses.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use serde_json::Value;

#[path = "common/local.rs"]
mod local;

use local::LocalEnv;

const RUN_DIR: &str = "/tmp/tyk-dr-local-failover";
const CONFIG: &str = "examples/local.toml";
const A: &str = "us-east-1";
const B: &str = "us-west-2";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `tyk-dr` against the environment, journaling into `state`.
fn tyk_dr(env: &LocalEnv, args: &[&str], state: &Path, extra_env: &[(&str, &str)]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--state-dir", state.to_str().unwrap()]);
    env.tyk_dr(Path::new(CONFIG), &all, extra_env)
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report JSON: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `failover`/`failback` (from the failure time when given), requires success and the
/// targets, and returns the run's report.
fn transition(
    env: &LocalEnv,
    state: &Path,
    command: &str,
    failed_at: Option<i64>,
    what: &str,
) -> Value {
    let at = failed_at.map(|t| t.to_string());
    let mut args = vec!["-o", "json", command, "--yes"];
    if let Some(at) = &at {
        args.extend(["--failed-at", at.as_str()]);
    }
    let out = tyk_dr(env, &args, state, &[]);
    assert_eq!(out.status.code(), Some(0), "{what}");
    let r = report(&out);
    assert_within_targets(&r, what);
    r
}

fn redis_role(host: &str) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", "6379", "info", "replication"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .unwrap_or("down")
        .trim()
        .to_owned()
}

/// Stops the monitor even when an assertion fails half-way (the environment stops itself).
struct StopMonitor(Child);

impl Drop for StopMonitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request's outcome, as the load saw it.
#[derive(Clone, Debug)]
struct Sample {
    at_ms: i64,
    ok: bool,
    region: Option<String>,
}

/// Steady load through the global name: proxied requests with seeded keys, and new keys
/// created through the management API (writes whose survival the failover must guarantee).
#[derive(Clone)]
struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    keys: Arc<Mutex<Vec<(i64, String)>>>,
}

impl Load {
    fn start(seeded: Vec<String>, secret: String) -> Self {
        let load = Load {
            stop: Arc::default(),
            samples: Arc::default(),
            keys: Arc::default(),
        };
        let l = load.clone();
        tokio::spawn(async move {
            let mut opts = ResolverOpts::default();
            opts.cache_size = 0;
            opts.timeout = Duration::from_millis(500);
            let ns =
                NameServerConfigGroup::from_ips_clear(&["127.0.0.1".parse().unwrap()], 5353, true);
            let resolver = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], ns),
                TokioConnectionProvider::default(),
            )
            .with_options(opts)
            .build();
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(800))
                .build()
                .unwrap();
            let secret = secret.clone();
            let deadline = Instant::now() + Duration::from_secs(600);
            let (mut ip, mut resolved_at) = (None, Instant::now() - Duration::from_secs(10));
            let mut i = 0usize;
            while !l.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                // A client honouring the 1 s TTL re-resolves once a second.
                if resolved_at.elapsed() >= Duration::from_secs(1) {
                    ip = resolver
                        .lookup_ip("api.tyk-dr.test.")
                        .await
                        .ok()
                        .and_then(|r| r.iter().next());
                    resolved_at = Instant::now();
                }
                i += 1;
                let Some(addr) = ip else {
                    l.samples.lock().unwrap().push(Sample {
                        at_ms: now_ms(),
                        ok: false,
                        region: None,
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let key = &seeded[i % seeded.len()];
                let r = client
                    .get(format!("http://{addr}:8080/echo/load"))
                    .header("Host", "api.tyk-dr.test")
                    .header("Authorization", key)
                    .send()
                    .await;
                let (ok, region) = match r {
                    Ok(r) => (
                        r.status().is_success(),
                        r.headers()
                            .get("x-tyk-dr-region")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    ),
                    Err(_) => (false, None),
                };
                l.samples.lock().unwrap().push(Sample {
                    at_ms: now_ms(),
                    ok,
                    region,
                });
                if i % 10 == 0 {
                    let created = client
                        .post(format!("http://{addr}:8080/tyk/keys"))
                        .header("X-Tyk-Authorization", &secret)
                        .body(r#"{"org_id":"load","rate":100,"per":1,"quota_max":-1,"access_rights":{}}"#)
                        .send()
                        .await;
                    if let Ok(r) = created {
                        if r.status().is_success() {
                            let body: Value = r.json().await.unwrap_or_default();
                            if let Some(k) = body["key"].as_str() {
                                l.keys.lock().unwrap().push((now_ms(), k.to_owned()));
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        load
    }

    /// Waits until at least `n` keys older than 1.5 s exist, so a cut-off of "1 s before the
    /// failure" has writes to check (bounded).
    async fn has_old_keys(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let cutoff = now_ms() - 1500;
            if self
                .keys
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _)| *t < cutoff)
                .count()
                >= n
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the load wrote fewer than {n} keys in 20 s");
    }

    fn since(&self, from_ms: i64) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.at_ms >= from_ms)
            .cloned()
            .collect()
    }

    /// Waits until the last `n` answers all came from `region` (bounded).
    async fn settles_on(&self, region: &str, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let s = self.samples.lock().unwrap().clone();
            if s.len() >= n
                && s[s.len() - n..]
                    .iter()
                    .all(|x| x.ok && x.region.as_deref() == Some(region))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// Every key the load created more than 1 s before `cutoff_ms` must exist behind `gateway`
/// (and there must be some: a check over no keys proves nothing).
async fn assert_keys_survived(
    load: &Load,
    cutoff_ms: i64,
    gateway: &str,
    secret: &str,
    what: &str,
) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let keys: Vec<(i64, String)> = load
        .keys
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t < cutoff_ms - 1000)
        .cloned()
        .collect();
    let mut missing = Vec::new();
    for (_, k) in &keys {
        let r = client
            .get(format!("{gateway}/tyk/keys/{k}"))
            .header("X-Tyk-Authorization", secret)
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            missing.push(k.clone());
        }
    }
    assert!(
        !keys.is_empty() && missing.is_empty(),
        "{what}: {} of {} keys written >1 s before are missing: {missing:?}",
        missing.len(),
        keys.len()
    );
}

/// Whether the gateway at `base` reports itself fenced.
async fn is_fenced(base: &str) -> bool {
    let ready: Value = reqwest::get(format!("{base}/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["fenced"] == true
}

fn assert_within_targets(r: &Value, what: &str) {
    assert_eq!(r["ok"], true, "{what}: {r:#}");
    let rto = r["rto_ms"].as_i64().unwrap_or(i64::MAX);
    let rpo = r["rpo_ms"].as_i64().unwrap_or(i64::MAX);
    eprintln!("FIGURES {what}: RTO {rto} ms, RPO ≤ {rpo} ms");
    assert!(rto <= 5_000, "{what}: RTO {rto} ms above the 5 s target");
    assert!(rpo <= 1_000, "{what}: RPO {rpo} ms above the 1 s target");
}

fn failed_during(load: &Load, from_ms: i64) -> usize {
    load.since(from_ms).iter().filter(|s| !s.ok).count()
}

/// What every scenario works with: the environment, a state directory and the running load.
struct Stage {
    load: Load,
    state: tempfile::TempDir,
    secret: String,
    /// Last, so the environment stops after everything else is dropped.
    env: LocalEnv,
}

impl Stage {
    fn tyk_dr(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        tyk_dr(&self.env, args, self.state.path(), extra_env)
    }

    fn transition(&self, command: &str, failed_at: Option<i64>, what: &str) -> Value {
        transition(&self.env, self.state.path(), command, failed_at, what)
    }

    async fn keys_survived(&self, cutoff_ms: i64, gateway: &str, what: &str) {
        assert_keys_survived(&self.load, cutoff_ms, gateway, &self.secret, what).await;
    }
}

/// The scenarios run in order on one environment (it uses fixed loopback addresses), each
/// starting where the one before left traffic: region A, unless it says otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_under_load() {
    let env = LocalEnv::up(RUN_DIR);
    let secret = env.secret();
    let monitor = Command::new(env!("CARGO_BIN_EXE_tyk-dr"))
        .args(["-c", CONFIG, "monitor", "--interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _monitor = StopMonitor(monitor);
    let seeded: Vec<String> = std::fs::read_to_string(env.file("keys.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let load = Load::start(seeded, secret.clone());
    let stage = Stage {
        env,
        state: tempfile::tempdir().unwrap(),
        secret,
        load,
    };
    assert!(
        stage.load.settles_on(A, 20).await,
        "load reaches region A before anything happens"
    );

    dry_run_changes_nothing(&stage);
    planned_failover_and_failback(&stage).await;
    failover_after_sigkill_then_failback_after_the_loss(&stage).await;
    failover_while_the_active_region_hangs(&stage).await;
    every_step_crashed_after_then_resumed(&stage).await;
    two_failovers_at_once_one_wins(&stage).await;

    let load = &stage.load;
    load.stop.store(true, Ordering::Relaxed);
    let all = load.samples.lock().unwrap().clone();
    let by_region: HashMap<Option<String>, usize> = all.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.region.clone()).or_default() += 1;
        m
    });
    eprintln!(
        "FIGURES load: {} requests, {} failed, by region {by_region:?}",
        all.len(),
        all.iter().filter(|s| !s.ok).count()
    );
}

/// Dry run: prints every step, changes nothing.
fn dry_run_changes_nothing(stage: &Stage) {
    let dry = stage.tyk_dr(&["failover", "--dry-run"], &[]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&dry.stdout)
        .contains("would promote 127.0.2.10:6379 (REPLICAOF NO ONE)"));
    assert_eq!(redis_role("127.0.2.10"), "slave", "dry run changed nothing");
}

/// Planned failover with the active region healthy; a second failover finds nothing to take;
/// `status` judges the original active region as the standby; planned failback.
async fn planned_failover_and_failback(stage: &Stage) {
    let load = &stage.load;
    load.has_old_keys(5).await;
    let t0 = now_ms();
    let r = stage.transition("failover", None, "planned failover");
    assert_eq!(
        r["caught_up"], true,
        "planned: the target caught up before promotion"
    );
    assert!(load.settles_on(B, 20).await, "traffic ends up in region B");
    stage
        .keys_survived(t0, "http://127.0.2.21:8080", "planned failover")
        .await;
    assert!(
        is_fenced("http://127.0.1.21:8080").await,
        "the old region is fenced"
    );
    assert_eq!(
        (
            redis_role("127.0.2.10").as_str(),
            redis_role("127.0.1.10").as_str()
        ),
        ("master", "slave")
    );
    eprintln!(
        "FIGURES planned failover: {} failed requests of {}",
        failed_during(load, t0),
        load.since(t0).len()
    );

    // A second failover finds nothing to take: the epoch already names B.
    let again = stage.tyk_dr(&["failover", "--yes"], &[]);
    assert_eq!(
        again.status.code(),
        Some(4),
        "re-running a done failover changes nothing"
    );

    // Status after the failover: B serves (from the epoch), and A is judged as the standby.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, doc) = loop {
        let st = stage
            .env
            .tyk_dr(Path::new(CONFIG), &["-o", "json", "status"], &[]);
        let doc: Value = serde_json::from_slice(&st.stdout).unwrap();
        if st.status.code() == Some(0) || Instant::now() > deadline {
            break (st.status.code(), doc);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(doc["serving"], "passive", "{doc:#}");
    assert_eq!(doc["epoch"]["active"], B, "{doc:#}");
    assert_eq!(
        code,
        Some(0),
        "the original active region is a ready standby: {doc:#}"
    );

    stage.transition("failback", None, "planned failback");
    assert!(load.settles_on(A, 20).await, "traffic back in region A");
}

/// The active region killed (SIGKILL every process), then failover from the failure time; then
/// region A comes back fenced, resyncs from B, and takes over again.
async fn failover_after_sigkill_then_failback_after_the_loss(stage: &Stage) {
    let load = &stage.load;
    load.has_old_keys(10).await;
    let killed_at = now_ms();
    assert!(stage.env.run(&["kill", "a", "KILL"]).status.success());
    stage.transition("failover", Some(killed_at), "failover after SIGKILL");
    assert!(
        load.settles_on(B, 20).await,
        "traffic ends up in region B after the loss of A"
    );
    stage
        .keys_survived(
            killed_at,
            "http://127.0.2.21:8080",
            "failover after SIGKILL",
        )
        .await;
    eprintln!(
        "FIGURES failover after SIGKILL: {} failed requests of {}",
        failed_during(load, killed_at),
        load.since(killed_at).len()
    );

    assert!(stage.env.run(&["restart", "a"]).status.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_failback = now_ms();
    stage.transition("failback", None, "failback after loss");
    assert!(load.settles_on(A, 20).await, "traffic back in region A");
    stage
        .keys_survived(
            before_failback,
            "http://127.0.1.21:8080",
            "failback after the loss",
        )
        .await;
    assert!(
        is_fenced("http://127.0.2.21:8080").await,
        "region B is fenced after failback"
    );
}

/// The active region hung (SIGSTOP), then failover: unreachable components cost one timeout.
async fn failover_while_the_active_region_hangs(stage: &Stage) {
    let load = &stage.load;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hung_at = now_ms();
    assert!(stage.env.run(&["kill", "a", "STOP"]).status.success());
    stage.transition("failover", Some(hung_at), "failover after SIGSTOP");
    assert!(
        load.settles_on(B, 20).await,
        "traffic ends up in region B while A hangs"
    );
    stage
        .keys_survived(hung_at, "http://127.0.2.21:8080", "failover after SIGSTOP")
        .await;
    assert!(stage.env.run(&["restart", "a"]).status.success());
    let out = stage.tyk_dr(&["-o", "json", "failback", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "failback after the hang");
    assert!(load.settles_on(A, 20).await);
}

/// The engine killed after each step in turn, then resumed: the run completes and the world
/// ends as after an uninterrupted run.
async fn every_step_crashed_after_then_resumed(stage: &Stage) {
    let load = &stage.load;
    for step in 1..=8 {
        let crashed = stage.tyk_dr(
            &["failover", "--yes"],
            &[("TYK_DR_TEST_CRASH_AFTER_STEP", &step.to_string())],
        );
        assert_ne!(
            crashed.status.code(),
            Some(0),
            "the crash hook fired after step {step}"
        );
        let run_id = newest_run(stage.state.path(), "failover");
        let resumed = stage.tyk_dr(
            &["-o", "json", "failover", "--yes", "--resume", &run_id],
            &[],
        );
        assert_eq!(resumed.status.code(), Some(0), "resume after step {step}");
        assert_eq!(report(&resumed)["ok"], true);
        assert_eq!(
            (
                redis_role("127.0.2.10").as_str(),
                redis_role("127.0.1.10").as_str()
            ),
            ("master", "slave"),
            "after step {step}"
        );
        assert!(
            load.settles_on(B, 10).await,
            "traffic in B after resuming from step {step}"
        );
        let back = stage.tyk_dr(&["failback", "--yes"], &[]);
        assert_eq!(back.status.code(), Some(0), "failback after step {step}");
        assert!(load.settles_on(A, 10).await);
    }
}

/// Two failovers at once: exactly one wins the epoch, the other stops and says why.
async fn two_failovers_at_once_one_wins(stage: &Stage) {
    let (o1, o2) = std::thread::scope(|scope| {
        let h1 = scope.spawn(|| stage.tyk_dr(&["failover", "--yes"], &[]));
        let h2 = scope.spawn(|| stage.tyk_dr(&["failover", "--yes"], &[]));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    let mut codes = [o1.status.code(), o2.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(4)], "exactly one failover wins");
    let loser = if o1.status.code() == Some(4) {
        &o1
    } else {
        &o2
    };
    let text = String::from_utf8_lossy(&loser.stderr);
    assert!(
        text.contains("epoch") && text.contains("changed nothing"),
        "{text}"
    );
    assert!(stage.load.settles_on(B, 20).await);
}

fn newest_run(state: &Path, prefix: &str) -> String {
    let mut runs: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(state)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".jsonl")?.to_owned();
            let modified = e.metadata().ok()?.modified().ok()?;
            id.starts_with(prefix).then_some((modified, id))
        })
        .collect();
    runs.sort();
    runs.pop().expect("a journal").1
}
