//! A drill from start to report: preflight → bounded load through the global
//! name with real keys → failover → hold → failback → report. A failover that
//! fails or misses its RTO stops the drill early and fails back at once;
//! Ctrl-C lets the running playbook finish (never half a failover) and then
//! fails back.

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
use crate::playbook::report::RunReport;
use crate::playbook::{self, runner};
use crate::probes::now_ms;
use crate::status::{self, Probes};

/// How a drill is run.
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
    /// The journal or a report could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
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
    let keys = create_keys(&base, config.drills.load_keys)
        .await
        .map_err(DrillError::Setup)?;
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
    let (failover, failback);
    if interrupted.load(Ordering::Relaxed) {
        stopped_early = Some("interrupted before the failover: nothing was changed".into());
        failover = None;
        failback = None;
    } else {
        phase(
            "failover",
            &format!(
                "{} → {}",
                config.regions.active.name, config.regions.passive.name
            ),
        );
        let (r, ok) = run_playbook(
            config,
            Side::Active,
            Side::Passive,
            opts,
            &protected,
            started_ms,
            &mut phases,
        )
        .await?;
        let max_rto = config.drills.max_rto.as_millis() as i64;
        if !ok {
            stopped_early = Some("the failover did not complete: failing back at once".into());
        } else if r.rto_ms.is_none_or(|rto| rto > max_rto) {
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
        let epoch_moved = r.epoch.is_some();
        failover = Some(r);
        failback = if epoch_moved {
            phase(
                "failback",
                &format!(
                    "{} → {}",
                    config.regions.passive.name, config.regions.active.name
                ),
            );
            Some(
                run_playbook(
                    config,
                    Side::Passive,
                    Side::Active,
                    opts,
                    &protected,
                    started_ms,
                    &mut phases,
                )
                .await?
                .0,
            )
        } else {
            None
        };
        phase("cool-down", "load continues for 2 s in the active region");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    progress.stop();
    let samples = load.stop().await;
    canary_stop.store(true, Ordering::Relaxed);
    let _ = canary.await;
    delete_keys(&base, &keys).await;
    ctrl_c.abort();

    let failed = samples.iter().filter(|s| !s.ok()).count();
    let checks = report::checks(&config.drills, failover.as_ref(), failback.as_ref(), failed);
    let passed = stopped_early.is_none() && checks.iter().all(|c| c.passed);
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
        checks,
        failover,
        failback,
        requests: samples.len(),
        failed_requests: failed,
        timeline: report::buckets(&samples, started_ms, &config.regions.passive.name),
        phases,
    })
}

/// Runs the built-in failover or failback playbook; returns its report and whether it completed.
async fn run_playbook(
    config: &Config,
    from: Side,
    to: Side,
    opts: &DrillOptions,
    protected: &[String],
    drill_start: i64,
    phases: &mut Vec<Phase>,
) -> Result<(RunReport, bool), DrillError> {
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
    let finished = runner::run(&book, &mut ctx, &opts.state_dir, 0).await?;
    phases.push(Phase {
        name: name.into(),
        start_ms: start - drill_start,
        end_ms: now_ms() - drill_start,
    });
    let ok = matches!(finished.outcome, Outcome::Completed);
    Ok((finished.report, ok))
}

/// Keys for the load, valid for every API for an hour, made through the first active gateway that answers.
async fn create_keys(ctx: &RunContext, n: u32) -> Result<Vec<(String, String)>, String> {
    let expires = now_ms() / 1000 + 3600;
    let session = json!({"org_id": "tyk-dr-drill", "rate": 100000, "per": 1, "quota_max": -1, "expires": expires,
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
                    None => return Err(format!("{url}/tyk/keys answered without a key")),
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
    Err("could not create the drill's keys through any active gateway (is TYK_DR_GATEWAY_SECRET set?)".into())
}

async fn delete_keys(ctx: &RunContext, keys: &[(String, String)]) {
    let gateways = ctx.config.gateway.endpoints.of(Side::Active);
    for (_, key) in keys {
        for url in gateways {
            if matches!(
                ctx.gateway_call(reqwest::Method::DELETE, url, &format!("/tyk/keys/{key}"))
                    .await,
                Ok(200..=299)
            ) {
                break;
            }
        }
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
