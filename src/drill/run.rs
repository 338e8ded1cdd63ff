//! A drill from start to report: preflight → bounded load through the global
//! name with real keys → failover → hold → failback → report. A failover that
//! fails or misses its RTO stops the drill early and fails back at once;
//! Ctrl-C lets the running playbook finish (never half a failover) and then
//! fails back. Once the load has started, nothing returns early: the drill
//! always tries to get back to where it started (fail back once the epoch
//! moved, stop the load, delete its keys) and reports what it could not undo.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::load::{self, Load, LoadSpec};
use super::report::{self, DrillKind, DrillReport, Phase};
use crate::config::{Config, Side};
use crate::playbook::context::{RunContext, Transition};
use crate::playbook::engine::Outcome;
use crate::playbook::facts::RunFacts;
use crate::playbook::report::RunReport;
use crate::playbook::{self, runner};
use crate::probes::now_ms;
use crate::status::{self, Probes};

/// How a drill is run.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// Journals of the playbook runs.
    pub state_dir: std::path::PathBuf,
    /// Time in the passive region between failover and failback.
    pub hold: Duration,
    /// Run even when `status` says the passive region is not ready.
    pub force: bool,
    /// Fail over the shadow stack instead of the customers' names.
    pub shadow: bool,
}

/// Why a drill could not even start.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The passive region is not ready (the reasons, as `status` gives them).
    #[error("the passive region is not ready: {0}")]
    NotReady(String),
    /// Keys for the load could not be made.
    #[error("{0}")]
    Setup(String),
}

/// Runs a drill; the report says whether it passed. A shadow drill runs every phase against
/// [`Config::shadow_view`] with the customers' Redis servers protected from any change.
pub async fn run(customer: &Config, opts: &DrillOptions) -> Result<DrillReport, DrillError> {
    let (view, kind, protected) = if opts.shadow {
        let view = customer.shadow_view().ok_or_else(|| {
            DrillError::Setup("a shadow drill needs [drills.shadow_stack] in tyk-dr.toml".into())
        })?;
        (view, DrillKind::Shadow, customer.customer_redis())
    } else {
        (customer.clone(), DrillKind::Full, Vec::new())
    };
    let config = &view;
    let id = format!("drill-{}", now_ms());
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nCtrl-C: finishing the current step, then failing back");
            flag.store(true, Ordering::Relaxed);
        }
    });

    phase("preflight", "is the passive region ready?");
    let probes = Probes::new(config);
    let s = status::collect(config, &probes).await;
    if !s.verdict.ready && !opts.force {
        ctrl_c.abort();
        return Err(DrillError::NotReady(s.verdict.reasons.join("; ")));
    }

    let base = RunContext::new(
        config.clone(),
        Transition {
            from: Side::Active,
            to: Side::Passive,
        },
        id.clone(),
        now_ms(),
    )
    .await;
    phase(
        "drill",
        &format!(
            "{} ({} and {})",
            kind.describe(),
            config.dns.global_name,
            config.dns.redis_cname
        ),
    );
    let keys = match create_keys(&base, config.drills.load_keys).await {
        Ok(keys) => keys,
        Err((made, e)) => {
            // Nothing else has started yet: only the keys made so far are to be undone.
            ctrl_c.abort();
            let left = delete_keys(&base, &made).await;
            return Err(DrillError::Setup(if left.is_empty() {
                e
            } else {
                format!("{e}; and {}", left.join("; "))
            }));
        }
    };
    let started_ms = now_ms();
    let spec = LoadSpec {
        rps: config.drills.load_rps,
        keys: keys.iter().map(|(_, k)| k.clone()).collect(),
        global_name: config.dns.global_name.clone(),
        port: config.gateway.port,
        path: config.gateway.verify_path.clone(),
        ttl: Duration::from_secs(u64::from(config.dns.global_ttl.max(1))),
        max_duration: Duration::from_secs(900),
    };
    let load = Load::start(spec, base.resolver.clone());
    let canary_stop = Arc::new(AtomicBool::new(false));
    let primaries = Side::BOTH
        .iter()
        .filter_map(|s| config.redis.self_managed_addresses(*s).first().cloned())
        .collect();
    let canary = load::canary_writer(
        primaries,
        base.redis.clone(),
        Duration::from_millis(100),
        canary_stop.clone(),
    );
    let progress = Progress::start(&load, config.regions.passive.name.clone());

    phase(
        "load",
        &format!(
            "{} requests/s through {} (warming up)",
            config.drills.load_rps, config.dns.global_name
        ),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut phases = Vec::new();
    let mut stopped_early = None;
    let mut not_restored = Vec::new();
    let (mut failover, mut failback) = (None, None);
    if interrupted.load(Ordering::Relaxed) {
        stopped_early = Some("interrupted before the failover: nothing was changed".into());
    } else {
        phase(
            "failover",
            &format!(
                "{} → {}",
                config.regions.active.name, config.regions.passive.name
            ),
        );
        let run = run_playbook(
            config,
            Side::Active,
            Side::Passive,
            opts,
            &protected,
            started_ms,
            &mut phases,
            Default::default(),
        )
        .await;
        let max_rto = config.drills.max_rto.as_millis() as i64;
        let rto = run.report.as_ref().and_then(|r| r.rto_ms);
        if let Some(e) = &run.error {
            stopped_early = Some(format!("the failover stopped: {e}: failing back at once"));
        } else if !run.completed {
            stopped_early = Some("the failover did not complete: failing back at once".into());
        } else if rto.is_none_or(|rto| rto > max_rto) {
            stopped_early = Some(format!(
                "the failover RTO exceeded max_rto ({max_rto} ms): failing back at once"
            ));
        } else if interrupted.load(Ordering::Relaxed) {
            stopped_early = Some("interrupted (Ctrl-C): failing back at once".into());
        } else {
            phase(
                "hold",
                &format!(
                    "serving from {} for {}",
                    config.regions.passive.name,
                    humantime::format_duration(opts.hold)
                ),
            );
            let deadline = tokio::time::Instant::now() + opts.hold;
            while tokio::time::Instant::now() < deadline && !interrupted.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // The failover changed something once it took the epoch: only then is there a way back
        // to take (failing back a run that changed nothing would demote the serving primary).
        let epoch_moved = run.facts.epoch.is_some();
        failover = run.report;
        if epoch_moved {
            phase(
                "failback",
                &format!(
                    "{} → {}",
                    config.regions.passive.name, config.regions.active.name
                ),
            );
            let mut back = run_playbook(
                config,
                Side::Passive,
                Side::Active,
                opts,
                &protected,
                started_ms,
                &mut phases,
                RunFacts::default(),
            )
            .await;
            if let Some(e) = back.error.take() {
                // The journal could not be written: try once more with the journal in the
                // temporary directory, rather than leave the drill's traffic in the passive region.
                let fallback = DrillOptions {
                    state_dir: std::env::temp_dir().join("tyk-dr-drill-journals"),
                    ..opts.clone()
                };
                let note = format!(
                    "the failback stopped: {e}; failing back again with the journal in {}",
                    fallback.state_dir.display()
                );
                eprintln!("{note}");
                stopped_early = Some(match stopped_early.take() {
                    Some(before) => format!("{before}; {note}"),
                    None => note,
                });
                back = run_playbook(
                    config,
                    Side::Passive,
                    Side::Active,
                    &fallback,
                    &protected,
                    started_ms,
                    &mut phases,
                    back.facts,
                )
                .await;
            }
            if let Some(e) = &back.error {
                not_restored.push(format!(
                    "{} still serves: the failback stopped: {e}; run `tyk-dr failback`",
                    config.regions.passive.name
                ));
            } else if !back.completed {
                not_restored.push(format!(
                    "{} may still serve: the failback did not complete; see its report, then `tyk-dr failback --resume`",
                    config.regions.passive.name
                ));
            }
            failback = back.report;
        } else if run.error.is_some() {
            eprintln!("failover: it changed nothing (no epoch was taken), so there is nothing to fail back");
        }
        phase("cool-down", "load continues for 2 s in the active region");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    progress.stop();
    let samples = load.stop().await;
    canary_stop.store(true, Ordering::Relaxed);
    let _ = canary.await;
    not_restored.extend(delete_keys(&base, &keys).await);
    ctrl_c.abort();

    let failed = samples.iter().filter(|s| !s.ok()).count();
    let checks = report::checks(&config.drills, failover.as_ref(), failback.as_ref(), failed);
    let passed =
        stopped_early.is_none() && not_restored.is_empty() && checks.iter().all(|c| c.passed);
    Ok(DrillReport {
        id,
        project: config.project.clone(),
        kind,
        global_name: config.dns.global_name.clone(),
        redis_cname: config.dns.redis_cname.clone(),
        regions: (
            config.regions.active.name.clone(),
            config.regions.passive.name.clone(),
        ),
        started_ms,
        finished_ms: now_ms(),
        passed,
        stopped_early,
        not_restored,
        checks,
        failover,
        failback,
        requests: samples.len(),
        failed_requests: failed,
        timeline: report::buckets(&samples, started_ms, &config.regions.passive.name),
        phases,
    })
}

/// One playbook run inside a drill, however it ended.
struct PlaybookRun {
    /// The run's report (none when its journal could not even be opened).
    report: Option<RunReport>,
    /// Every step succeeded (or failed with `continue`).
    completed: bool,
    /// What the run learned, even when it stopped: whether it took the epoch decides the way back.
    facts: RunFacts,
    /// The journal or the report could not be written.
    error: Option<String>,
}

/// Runs the built-in failover or failback playbook, starting from `facts` (those of an earlier
/// attempt at the same transition, so its epoch counts as this run's). Never returns early: an
/// I/O error is part of the result, with the facts learned before it.
#[allow(clippy::too_many_arguments)]
async fn run_playbook(
    config: &Config,
    from: Side,
    to: Side,
    opts: &DrillOptions,
    protected: &[String],
    drill_start: i64,
    phases: &mut Vec<Phase>,
    facts: RunFacts,
) -> PlaybookRun {
    let (name, text) = if to == Side::Passive {
        ("failover", playbook::FAILOVER)
    } else {
        ("failback", playbook::FAILBACK)
    };
    let book = playbook::compile(name, text).expect("the built-in playbooks compile");
    let start = now_ms();
    let mut ctx = RunContext::new(
        config.clone(),
        Transition { from, to },
        runner::new_run_id(name),
        start,
    )
    .await;
    ctx.assume_yes = true;
    ctx.force = opts.force;
    ctx.protected_redis = protected.to_vec();
    ctx.facts = facts;
    let finished = runner::run(&book, &mut ctx, &opts.state_dir, 0).await;
    phases.push(Phase {
        name: name.into(),
        start_ms: start - drill_start,
        end_ms: now_ms() - drill_start,
    });
    match finished {
        Ok(f) => PlaybookRun {
            completed: matches!(f.outcome, Outcome::Completed),
            report: Some(f.report),
            facts: ctx.facts,
            error: None,
        },
        Err(e) => PlaybookRun {
            report: None,
            completed: false,
            facts: ctx.facts,
            error: Some(format!(
                "writing its journal or report in {}: {e}",
                opts.state_dir.display()
            )),
        },
    }
}

/// Keys for the load, valid for every API for an hour, made through the first active gateway
/// that answers. On failure, the keys made so far come back with the error, to be deleted.
async fn create_keys(
    ctx: &RunContext,
    n: u32,
) -> Result<Vec<(String, String)>, (Vec<(String, String)>, String)> {
    let expires = now_ms() / 1000 + 3600;
    let session = json!({"org_id": "tyk-dr-drill", "rate": 100000, "per": 1, "quota_max": -1, "expires": expires,
                         // Redis drops the drill keys at expiry even if the clean-up fails.
                         "post_expiry_action": "delete",
                         "access_rights": {}, "meta_data": {"tyk-dr": "drill load"}});
    let mut keys = Vec::new();
    for url in ctx.config.gateway.endpoints.of(Side::Active) {
        while keys.len() < n as usize {
            match ctx
                .gateway_json(reqwest::Method::POST, url, "/tyk/keys", Some(&session))
                .await
            {
                Ok(answer) => match answer["key"].as_str() {
                    Some(k) => keys.push((url.clone(), k.to_owned())),
                    None => return Err((keys, format!("{url}/tyk/keys answered without a key"))),
                },
                Err(e) => {
                    tracing::warn!("creating drill keys: {e}");
                    break;
                }
            }
        }
        if keys.len() == n as usize {
            return Ok(keys);
        }
    }
    Err((
        keys,
        format!(
            "could not create the drill's keys through any active gateway (is {} set?)",
            crate::secrets::GATEWAY_SECRET_VAR
        ),
    ))
}

/// Deletes the drill's keys through the first active gateway that accepts each; returns what
/// could not be deleted (for the report: these keys stay valid until they expire).
async fn delete_keys(ctx: &RunContext, keys: &[(String, String)]) -> Vec<String> {
    let gateways = ctx.config.gateway.endpoints.of(Side::Active);
    let mut left = 0;
    for (_, key) in keys {
        let mut deleted = false;
        for url in gateways {
            if matches!(
                ctx.gateway_call(reqwest::Method::DELETE, url, &format!("/tyk/keys/{key}"))
                    .await,
                Ok(200..=299)
            ) {
                deleted = true;
                break;
            }
        }
        left += usize::from(!deleted);
    }
    if left == 0 {
        Vec::new()
    } else {
        vec![format!(
            "{left} of the drill's {} keys could not be deleted (they expire within the hour)",
            keys.len()
        )]
    }
}

fn phase(name: &str, what: &str) {
    eprintln!("==> {name}: {what}");
}

/// A live line on a terminal: requests, failures and where they were served.
struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Progress {
    fn start(load: &Load, passive_region: String) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { stop: None };
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        let samples = load_samples(load);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                let s = samples();
                let failed = s.iter().filter(|x| !x.ok()).count();
                let recent = &s[s.len().saturating_sub(50)..];
                let passive = recent
                    .iter()
                    .filter(|x| x.region.as_deref() == Some(passive_region.as_str()))
                    .count();
                bar.set_message(format!(
                    "{} requests, {failed} failed, last 50: {passive} served by {passive_region}",
                    s.len()
                ));
            }
            bar.finish_and_clear();
        });
        Self { stop: Some(tx) }
    }

    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn load_samples(load: &Load) -> impl Fn() -> Vec<load::Sample> + Send + 'static {
    let handle = load.handle();
    move || handle.lock().expect("samples lock").clone()
}

/// Writes the three renderings of a report into `dir`.
pub fn write_reports(report: &DrillReport, dir: &Path) -> std::io::Result<[std::path::PathBuf; 3]> {
    std::fs::create_dir_all(dir)?;
    let paths = [
        dir.join("drill.json"),
        dir.join("drill.md"),
        dir.join("drill.html"),
    ];
    std::fs::write(
        &paths[0],
        serde_json::to_string_pretty(report).expect("reports serialise"),
    )?;
    std::fs::write(&paths[1], report.markdown())?;
    std::fs::write(&paths[2], super::html::render(report))?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A stand-in for the active gateways' management API: makes keys, deletes them, and
    /// records every request as `METHOD /path`.
    async fn fake_gateway() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let mut log = log.lock().unwrap();
                            log.push(format!("{} {}", req.method(), req.uri().path()));
                            let made = log.iter().filter(|r| r.starts_with("POST")).count();
                            let body = format!("{{\"key\":\"key{made}\"}}");
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, seen)
    }

    /// Without the fix, a journal that cannot be written ended the drill at once: no report, the
    /// load's keys left valid in the gateways, the load and the canary writer still running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_journal_that_cannot_be_written_still_ends_with_the_keys_deleted_and_a_report() {
        let (gateway, seen) = fake_gateway().await;
        // Nothing else in this test binary reads the secret.
        std::env::set_var(crate::secrets::GATEWAY_SECRET_VAR, "drill-test-secret");
        let config: Config = toml::from_str(&format!(
            r#"project = "drilltest"
[redis]
backend = "self-managed"
auth = false
[redis.self_managed]
active = ["127.0.0.1:9"]
passive = ["127.0.0.1:9"]
[mongo]
enabled = false
[gateway.endpoints]
active = ["{gateway}"]
passive = ["http://127.0.0.1:9"]
[dns]
public_zone = "drill.test"
global_name = "api.drill.test"
nameserver = "127.0.0.1:9"
[drills]
load_keys = 3
load_rps = 5
"#
        ))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be created under a file: every journal write fails, even as root.
        std::fs::write(dir.path().join("file"), "").unwrap();
        let opts = DrillOptions {
            state_dir: dir.path().join("file").join("runs"),
            hold: Duration::ZERO,
            force: true,
            shadow: false,
        };
        let report = run(&config, &opts)
            .await
            .expect("the drill reports instead of stopping at the journal error");
        assert!(!report.passed);
        let why = report.stopped_early.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("the failover stopped: writing its journal or report in ")
                && why.ends_with(": failing back at once"),
            "{why}"
        );
        assert!(report.failover.is_none() && report.failback.is_none());
        // The failover changed nothing (it never took the epoch), so nothing is left undone.
        assert_eq!(report.not_restored, Vec::<String>::new());
        // (`status` also probed /hello and readiness on it before the drill started.)
        let requests: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains("/tyk/keys"))
            .cloned()
            .collect();
        assert_eq!(
            requests,
            [
                "POST /tyk/keys",
                "POST /tyk/keys",
                "POST /tyk/keys",
                "DELETE /tyk/keys/key1",
                "DELETE /tyk/keys/key2",
                "DELETE /tyk/keys/key3",
            ],
            "every key the drill made is deleted"
        );
    }
}
