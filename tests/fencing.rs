//! Fencing that holds, end to end on the local environment under load through the global name:
//! a region that comes back after a failover by itself — a hang that ends (SIGSTOP, then SIGCONT
//! with no operator action), gateways started again from a clean state (replaced instances) —
//! takes no traffic and writes nothing, because every gateway derives its fence from the epoch
//! record; failback then restores it. Plus the epoch compare-and-swap's retried claim, against
//! the AWS emulator. One environment test function: the environment uses fixed loopback addresses.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use serde_json::Value;

#[path = "common/local.rs"]
mod local;
#[path = "common/moto.rs"]
mod moto;

use local::LocalEnv;

const RUN_DIR: &str = "/tmp/tyk-dr-local-fencing";
const CONFIG: &str = "examples/local.toml";
const A: &str = "us-east-1";
const B: &str = "us-west-2";
const A_GATEWAYS: [&str; 3] = [
    "http://127.0.1.21:8080",
    "http://127.0.1.22:8080",
    "http://127.0.1.23:8080",
];
const B_GATEWAYS: [&str; 3] = [
    "http://127.0.2.21:8080",
    "http://127.0.2.22:8080",
    "http://127.0.2.23:8080",
];
const EPOCH: &str = "_tyk-dr-epoch.api.tyk-dr.test.";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn resolver() -> TokioResolver {
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_millis(500);
    opts.attempts = 1;
    let ns = NameServerConfigGroup::from_ips_clear(&["127.0.0.1".parse().unwrap()], 5353, true);
    TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], ns),
        TokioConnectionProvider::default(),
    )
    .with_options(opts)
    .build()
}

/// The epoch TXT value as the environment's DNS server answers it now.
async fn epoch_in_dns(r: &TokioResolver) -> Option<String> {
    r.clear_cache();
    let l = r.txt_lookup(EPOCH).await.ok()?;
    l.iter().next().map(|t| {
        t.txt_data()
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect()
    })
}

/// The address the Redis CNAME resolves to now.
async fn redis_cname(r: &TokioResolver) -> Option<String> {
    r.clear_cache();
    r.lookup_ip("redis.tyk-dr.internal.")
        .await
        .ok()?
        .iter()
        .next()
        .map(|ip| ip.to_string())
}

fn tyk_dr(env: &LocalEnv, args: &[&str], state: &Path) -> Output {
    let mut all = args.to_vec();
    all.extend(["--state-dir", state.to_str().unwrap()]);
    env.tyk_dr(Path::new(CONFIG), &all, &[])
}

/// `tyk-dr failover|failback --yes -o json` (from the failure time when given); must succeed.
fn transition(env: &LocalEnv, state: &Path, command: &str, failed_at: Option<i64>) -> Value {
    let at = failed_at.map(|t| t.to_string());
    let mut args = vec!["-o", "json", command, "--yes"];
    if let Some(at) = &at {
        args.extend(["--failed-at", at.as_str()]);
    }
    let out = tyk_dr(env, &args, state);
    assert_eq!(out.status.code(), Some(0), "{command}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], true, "{command}: {r:#}");
    eprintln!(
        "FIGURES {command}: RTO {} ms, RPO ≤ {} ms",
        r["rto_ms"], r["rpo_ms"]
    );
    r
}

fn redis_info(host: &str, section: &str, field: &str) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", "6379", "info", section])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_owned())
    })
}

/// Every write the server applied since it started (`--save ""`: never reset by a save).
fn redis_writes(host: &str) -> i64 {
    redis_info(host, "persistence", "rdb_changes_since_last_save")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{host}: no rdb_changes_since_last_save"))
}

fn redis_role(host: &str) -> String {
    redis_info(host, "replication", "role").unwrap_or_else(|| "down".into())
}

/// Sends `sig` to the named components of the environment (by their recorded PIDs).
fn signal(env: &LocalEnv, names: &[&str], sig: &str) {
    for name in names {
        let pid = std::fs::read_to_string(env.file(&format!("pids/{name}.pid"))).unwrap();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), pid.trim()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {name}");
    }
}

/// A gateway's readiness: (HTTP status, document), `None` when it does not answer.
async fn readiness(client: &reqwest::Client, base: &str) -> Option<(u16, Value)> {
    let r = client.get(format!("{base}/ready")).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or_default()))
}

fn is_epoch_standby(doc: &Value) -> bool {
    doc["standby"] == true
        && doc["reasons"].as_array().is_some_and(|r| {
            r.iter()
                .any(|x| x.as_str().unwrap_or("").starts_with("standby:"))
        })
}

/// Watches `gateways` for `window`: every answer must be "not ready"; returns, per gateway, the
/// time (ms from `since`) of its first answer that names the epoch as the reason (`standby:`).
async fn never_ready(gateways: &[&str], since: Instant, window: Duration) -> Vec<Option<u64>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut standby_at: Vec<Option<u64>> = vec![None; gateways.len()];
    let mut answers = 0;
    while since.elapsed() < window {
        for (i, g) in gateways.iter().enumerate() {
            if let Some((status, doc)) = readiness(&client, g).await {
                answers += 1;
                assert_eq!(
                    status,
                    503,
                    "{g} answered ready {:?} after the event: {doc}",
                    since.elapsed()
                );
                if standby_at[i].is_none() && is_epoch_standby(&doc) {
                    standby_at[i] = Some(since.elapsed().as_millis() as u64);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answers > 50, "the gateways hardly answered ({answers})");
    standby_at
}

/// Polls the epoch in DNS until it differs from `old`; then times each gateway's first
/// readiness answer naming the epoch as the reason (`standby:`). Returns the slowest, in ms.
async fn epoch_to_standby(r: &TokioResolver, old: &str, gateways: &[&str]) -> u64 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while epoch_in_dns(r).await.as_deref() == Some(old) {
        assert!(Instant::now() < deadline, "the epoch never changed in DNS");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let changed = Instant::now();
    let mut done: Vec<Option<u64>> = vec![None; gateways.len()];
    while done.iter().any(Option::is_none) {
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "stale gateways not standby 10 s after the epoch change: {done:?}"
        );
        for (i, g) in gateways.iter().enumerate() {
            if done[i].is_none() {
                if let Some((503, doc)) = readiness(&client, g).await {
                    if is_epoch_standby(&doc) {
                        done[i] = Some(changed.elapsed().as_millis() as u64);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let worst = done.iter().flatten().copied().max().unwrap();
    eprintln!(
        "FIGURES epoch change in DNS → every stale gateway standby: {done:?} ms (max {worst} ms)"
    );
    worst
}

#[derive(Clone, Debug)]
struct Sample {
    at_ms: i64,
    ok: bool,
    region: Option<String>,
}

/// Bounded load through the global name (a client honouring the 1 s TTL), with seeded keys.
#[derive(Clone)]
struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Load {
    fn start(keys: Vec<String>) -> Self {
        let load = Load {
            stop: Arc::default(),
            samples: Arc::default(),
        };
        let l = load.clone();
        tokio::spawn(async move {
            let resolver = resolver();
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(800))
                .build()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(400);
            let (mut ip, mut resolved_at) = (None, Instant::now() - Duration::from_secs(10));
            for i in 0..400_000usize {
                if l.stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                if resolved_at.elapsed() >= Duration::from_secs(1) {
                    ip = resolver
                        .lookup_ip("api.tyk-dr.test.")
                        .await
                        .ok()
                        .and_then(|r| r.iter().next());
                    resolved_at = Instant::now();
                }
                let (ok, region) = match ip {
                    None => (false, None),
                    Some(addr) => match client
                        .get(format!("http://{addr}:8080/echo/load"))
                        .header("Host", "api.tyk-dr.test")
                        .header("Authorization", &keys[i % keys.len()])
                        .send()
                        .await
                    {
                        Ok(r) => (
                            r.status().is_success(),
                            r.headers()
                                .get("x-tyk-dr-region")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                        ),
                        Err(_) => (false, None),
                    },
                };
                l.samples.lock().unwrap().push(Sample {
                    at_ms: now_ms(),
                    ok,
                    region,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        load
    }

    fn since(&self, from_ms: i64) -> Vec<Sample> {
        let s = self.samples.lock().unwrap();
        s.iter().filter(|x| x.at_ms >= from_ms).cloned().collect()
    }

    /// Waits until the last `n` answers all came from `region` (bounded).
    async fn settles_on(&self, region: &str, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            {
                let s = self.samples.lock().unwrap();
                if s.len() >= n
                    && s[s.len() - n..]
                        .iter()
                        .all(|x| x.ok && x.region.as_deref() == Some(region))
                {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Successful answers from `region` since `from_ms`.
    fn served_by(&self, region: &str, from_ms: i64) -> usize {
        self.since(from_ms)
            .iter()
            .filter(|s| s.ok && s.region.as_deref() == Some(region))
            .count()
    }
}

/// `tyk-dr status -o json`: exit code and document.
fn status(env: &LocalEnv) -> (Option<i32>, Value) {
    let out = env.tyk_dr(Path::new(CONFIG), &["-o", "json", "status"], &[]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

/// After a region came back by itself: for 10 s no 2xx through the global name comes from A,
/// A's gateways never answer ready, the Redis CNAME names B, and `stale_primary` takes no write.
async fn region_a_stays_fenced(
    load: &Load,
    r: &TokioResolver,
    since: Instant,
    since_ms: i64,
    stale_primary: &str,
    writes_before: i64,
    what: &str,
) {
    let standby_at = never_ready(&A_GATEWAYS, since, Duration::from_secs(10)).await;
    eprintln!(
        "FIGURES {what}: A's gateways named the epoch as their reason after {standby_at:?} ms"
    );
    assert!(
        standby_at.iter().all(Option::is_some),
        "{what}: {standby_at:?}"
    );
    assert_eq!(
        load.served_by(A, since_ms),
        0,
        "{what}: clients of the global name were served by A"
    );
    assert!(
        load.served_by(B, since_ms) > 100,
        "{what}: the load kept being served by B"
    );
    assert_eq!(
        redis_cname(r).await.as_deref(),
        Some("127.0.2.10"),
        "{what}"
    );
    assert_eq!(
        redis_writes(stale_primary),
        writes_before,
        "{what}: {stale_primary} took writes after A came back"
    );
}

/// Failback, timing meanwhile how long B's gateways take to name the epoch as their reason once
/// the epoch changes in DNS; returns that figure (ms).
async fn failback_timed(env: &LocalEnv, state: &Path) -> u64 {
    let r = resolver();
    let old = epoch_in_dns(&r).await.unwrap();
    let watch = tokio::spawn(async move { epoch_to_standby(&resolver(), &old, &B_GATEWAYS).await });
    tokio::task::block_in_place(|| transition(env, state, "failback", None));
    watch.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_comes_back_after_a_failover_takes_no_traffic_and_no_writes() {
    let env = LocalEnv::up(RUN_DIR);
    let state = tempfile::tempdir().unwrap();
    let r = resolver();
    let keys: Vec<String> = std::fs::read_to_string(env.file("keys.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let load = Load::start(keys);
    assert!(load.settles_on(A, 20).await, "load reaches region A first");

    // Standby: B's gateways read the epoch (names A) and say so, ready to take over; status agrees.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for g in B_GATEWAYS {
        let (code, doc) = readiness(&client, g).await.unwrap();
        assert_eq!(code, 503, "{g}: {doc}");
        assert!(
            is_epoch_standby(&doc) && doc["takeover_ready"] == true,
            "{g}: {doc}"
        );
    }
    let (code, doc) = status(&env);
    assert_eq!(
        code,
        Some(0),
        "standbys fenced by the epoch are ready to take over: {doc:#}"
    );

    // (a) Region A hangs: every process stopped (gateways first, so no command of theirs is
    // in flight towards a stopped Redis), then a failover from the failure time.
    let a_gateways = ["gateway-a1", "gateway-a2", "gateway-a3", "gateway-a4"];
    let a_others = ["upstream-a", "redis-a1", "redis-a0"];
    let hung_at = now_ms();
    signal(&env, &a_gateways, "STOP");
    signal(&env, &a_others, "STOP");
    transition(&env, state.path(), "failover", Some(hung_at));
    assert!(load.settles_on(B, 20).await, "traffic in B while A hangs");
    // The hang ends by itself; nobody fences anything. Redis first, to read its write count
    // before any gateway of A could write.
    signal(&env, &["redis-a0", "redis-a1"], "CONT");
    let writes = redis_writes("127.0.1.10");
    let resumed = Instant::now();
    let resumed_ms = now_ms();
    signal(&env, &["upstream-a"], "CONT");
    signal(&env, &a_gateways, "CONT");
    region_a_stays_fenced(
        &load,
        &r,
        resumed,
        resumed_ms,
        "127.0.1.10",
        writes,
        "after the hang",
    )
    .await;
    // A's old primary was never demoted (unreachable during the failover): status names the
    // split brain, and no standby gateway is ready.
    let (code, doc) = status(&env);
    assert_eq!(code, Some(3), "{doc:#}");
    let reasons = doc["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains("two Redis primaries take writes"),
        "{doc:#}"
    );
    assert!(!reasons.contains("are ready although epoch"), "{doc:#}");

    // (d) Failback restores A; the epoch fences B's gateways (measured from the epoch change).
    let worst = failback_timed(&env, state.path()).await;
    assert!(
        load.settles_on(A, 20).await,
        "traffic back in A after failback"
    );
    assert_eq!(redis_role("127.0.1.10"), "master");
    assert_eq!(redis_role("127.0.2.10"), "slave");
    assert!(
        worst < 2_000,
        "stale gateways standby {worst} ms after the epoch change"
    );

    // (b) Region A killed, failover, then A's processes started again from a clean state (no
    // fence file: replaced instances). They read the epoch and stay standbys.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = now_ms();
    assert!(env.run(&["kill", "a", "KILL"]).status.success());
    transition(&env, state.path(), "failover", Some(killed_at));
    assert!(load.settles_on(B, 20).await, "traffic in B after losing A");
    assert!(env.run(&["restart", "a"]).status.success());
    let fence_files: Vec<_> = (1..=4)
        .filter(|n| env.file(&format!("gateways/a{n}.fenced")).exists())
        .collect();
    assert!(fence_files.is_empty(), "clean state: {fence_files:?}");
    let restarted = Instant::now();
    let writes = redis_writes("127.0.1.10");
    region_a_stays_fenced(
        &load,
        &r,
        restarted,
        now_ms(),
        "127.0.1.10",
        writes,
        "after a restart from a clean state",
    )
    .await;

    // (d) Failback after the loss: A serves again.
    let worst = failback_timed(&env, state.path()).await;
    assert!(
        load.settles_on(A, 20).await,
        "traffic back in A after the second failback"
    );
    assert!(
        worst < 2_000,
        "stale gateways standby {worst} ms after the epoch change"
    );
    // Status settles (replication re-established) on a ready standby B.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (code, doc) = loop {
        let (code, doc) = status(&env);
        if code == Some(0) || Instant::now() > deadline {
            break (code, doc);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(code, Some(0), "{doc:#}");
    load.stop.store(true, Ordering::Relaxed);
}

/// (c) The epoch compare-and-swap, against the emulator: a change batch retried after it had in
/// fact been applied is recognised as this run's win; another run's claim loses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_epoch_claim_that_had_succeeded_is_this_runs_win() {
    use tyk_dr::playbook::epoch::{self, Epoch, EpochError};
    use tyk_dr_aws::route53::{Change, RecordSet};

    let moto = moto::Moto::start();
    let r53 = moto.route53().await;
    let zone = r53.create_zone("claim.test", None).await.unwrap().id;
    let global = "api.claim.test";
    r53.change_batch(
        &zone,
        &[Change::Create(RecordSet::simple(
            &epoch::record_name(global),
            "TXT",
            1,
            &["\"active=us-east-1 epoch=1\""],
        ))],
        None,
    )
    .await
    .unwrap();
    // Many records around it: the epoch is read directly, not found by paging the zone.
    let filler: Vec<Change> = (0..40)
        .map(|i| {
            Change::Create(RecordSet::simple(
                &format!("_a{i:02}.{global}"),
                "TXT",
                60,
                &["\"x\""],
            ))
        })
        .collect();
    r53.change_batch(&zone, &filler, None).await.unwrap();

    let (current, record) = epoch::read(&r53, &zone, global).await.unwrap().unwrap();
    assert_eq!(current.number, 1);
    let next = Epoch {
        active: "us-west-2".into(),
        number: 2,
    };
    let claim = "us-east-1->us-west-2 run=run-1";
    epoch::advance(&r53, &zone, global, Some(&record), &next, claim)
        .await
        .unwrap();
    // The same batch again, as a retry after a lost answer would send it: Route 53 refuses it
    // (the claim exists), and the claim says the win was this run's.
    epoch::advance(&r53, &zone, global, Some(&record), &next, claim)
        .await
        .expect("a retried claim that had succeeded is this run's win");
    // Another run racing for the same epoch lost.
    match epoch::advance(
        &r53,
        &zone,
        global,
        Some(&record),
        &next,
        "us-east-1->us-west-2 run=run-2",
    )
    .await
    {
        Err(EpochError::Lost(2)) => {}
        other => panic!("another run's claim must lose: {other:?}"),
    }
    assert_eq!(
        epoch::read(&r53, &zone, global).await.unwrap().unwrap().0,
        next
    );
    assert_eq!(
        epoch::read_claim(&r53, &zone, global, 2)
            .await
            .unwrap()
            .as_deref(),
        Some(claim)
    );
    assert_eq!(
        epoch::read(&r53, &zone, "none.claim.test").await.unwrap(),
        None
    );
}
