//! `tyk-dr monitor`: status passes at an interval, printed as they come and
//! served as Prometheus metrics, until interrupted or `--count` passes ran.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::CommandContext;
use crate::cli::{MonitorArgs, OutputFormat};
use crate::error::{exit, Error};
use crate::status::{self, metrics, Probes};

/// Runs passes every `--interval`; exits with the last pass's status code.
pub fn run(ctx: &CommandContext, args: &MonitorArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let config = loaded.config;
    crate::runtime()?.block_on(async {
        let exposition = Arc::new(RwLock::new(String::new()));
        if let Some(addr) = args.listen {
            serve_metrics(addr, exposition.clone()).await?;
            tracing::info!("metrics on http://{addr}/metrics");
        }
        let probes = Probes::new(&config);
        let sync_state = crate::sync::state::path(&config.sync, &ctx.config_path);
        let mut ticker = tokio::time::interval(args.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = exit::OK;
        let mut passes = 0u64;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tokio::signal::ctrl_c() => break,
            }
            let s = status::collect(&config, &probes).await;
            *exposition.write().expect("metrics lock") = metrics::render(&s);
            // The last `tyk-dr sync` (its state file): age and drift, on every pass.
            let sync = crate::sync::state::read(&sync_state);
            match ctx.output {
                OutputFormat::Json => {
                    let mut doc = serde_json::to_value(&s).expect("JSON");
                    doc["sync"] = serde_json::to_value(&sync).expect("JSON");
                    println!("{}", serde_json::to_string(&doc).expect("JSON"));
                }
                OutputFormat::Table => println!(
                    "{} | {}",
                    one_line(&s),
                    crate::sync::state::summary(sync.as_ref(), s.taken_at_ms)
                ),
            }
            last = super::status::code(&s);
            passes += 1;
            if args.count.is_some_and(|c| passes >= c) {
                break;
            }
        }
        Ok(last)
    })
}

/// `12:00:01 ready | canary 3 ms | redis → active | global → active`: one pass per line.
fn one_line(s: &status::Status) -> String {
    let secs = (s.taken_at_ms / 1000).rem_euclid(86_400);
    let time = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    let verdict = if s.verdict.ready {
        "ready".to_owned()
    } else {
        format!("NOT READY: {}", s.verdict.reasons.join("; "))
    };
    let canary = s
        .canary
        .age_ms
        .map_or("?".into(), status::verdict::human_ms);
    let side = |x: Option<crate::config::Side>| x.map_or("?".to_owned(), |s| s.to_string());
    format!(
        "{time} {verdict} | canary {canary} | redis → {} | global → {}",
        side(s.dns.redis_points_to),
        side(s.dns.global_points_to)
    )
}

/// Binds `addr` and answers `/metrics` with the newest exposition (404 elsewhere).
async fn serve_metrics(addr: SocketAddr, exposition: Arc<RwLock<String>>) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Runtime {
            what: format!("binding the metrics listener on {addr}"),
            reason: e.to_string(),
        })?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let exposition = exposition.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = exposition.read().expect("metrics lock").clone();
                    async move {
                        let mut resp = Response::new(Full::new(Bytes::from(body)));
                        if req.uri().path() != "/metrics" {
                            *resp.status_mut() = StatusCode::NOT_FOUND;
                            *resp.body_mut() = Full::new(Bytes::from_static(b"see /metrics\n"));
                        } else {
                            resp.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static(
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                ),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}
