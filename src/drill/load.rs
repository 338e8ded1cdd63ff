//! The drill's synthetic load: requests at a fixed rate through the global
//! name, resolved the way a client honouring the TTL would, authenticated with
//! real keys; every answer recorded (when, status, latency, serving region).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::probes::{dns, now_ms};

/// What the load sends and where.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Requests per second.
    pub rps: u32,
    /// Keys to authenticate with, used in turn.
    pub keys: Vec<String>,
    /// The global name clients resolve.
    pub global_name: String,
    /// Gateway port behind it.
    pub port: u16,
    /// Path requested (behind token auth).
    pub path: String,
    /// Re-resolve the name this often (the record's TTL).
    pub ttl: Duration,
    /// Hard stop, whatever happens.
    pub max_duration: Duration,
}

/// One request's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// When it was sent (ms since epoch).
    pub at_ms: i64,
    /// HTTP status (0: no answer).
    pub status: u16,
    /// Round trip in microseconds.
    pub latency_us: u64,
    /// Region named by the gateway's `X-Tyk-DR-Region` header.
    pub region: Option<String>,
}

impl Sample {
    /// A 2xx answer.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A running load; [`Load::stop`] ends it and returns every sample.
pub struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// Starts sending; requests go out on a fixed schedule, at most 64 in flight.
    pub fn start(spec: LoadSpec, resolver: hickory_resolver::TokioResolver) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(1))
                .pool_max_idle_per_host(16)
                .build()
                .expect("an HTTP client without TLS always builds");
            let in_flight = Arc::new(Semaphore::new(64));
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(spec.rps.max(1))));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let started = Instant::now();
            let mut address: Option<IpAddr> = None;
            let mut resolved_at: Option<Instant> = None;
            let mut n = 0usize;
            while !s.load(Ordering::Relaxed) && started.elapsed() < spec.max_duration {
                tick.tick().await;
                if resolved_at.is_none_or(|t| t.elapsed() >= spec.ttl) {
                    address = dns::resolve(&resolver, &spec.global_name)
                        .await
                        .addresses
                        .first()
                        .copied();
                    resolved_at = Some(Instant::now());
                }
                n += 1;
                let at_ms = now_ms();
                let Some(ip) = address else {
                    out.lock().expect("samples lock").push(Sample {
                        at_ms,
                        status: 0,
                        latency_us: 0,
                        region: None,
                    });
                    continue;
                };
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    out.lock().expect("samples lock").push(Sample {
                        at_ms,
                        status: 0,
                        latency_us: 0,
                        region: None,
                    });
                    continue;
                };
                let req = client
                    .get(format!("http://{ip}:{}{}", spec.port, spec.path))
                    .header("Host", spec.global_name.as_str())
                    .header("Authorization", spec.keys[n % spec.keys.len()].as_str());
                let out = out.clone();
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let (status, region) = match req.send().await {
                        Ok(r) => (
                            r.status().as_u16(),
                            r.headers()
                                .get("x-tyk-dr-region")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                        ),
                        Err(_) => (0, None),
                    };
                    let latency_us = sent.elapsed().as_micros() as u64;
                    out.lock().expect("samples lock").push(Sample {
                        at_ms,
                        status,
                        latency_us,
                        region,
                    });
                    drop(permit);
                });
            }
        });
        Self {
            stop,
            samples,
            task,
        }
    }

    /// Shared access to the samples, for live progress.
    pub fn handle(&self) -> Arc<Mutex<Vec<Sample>>> {
        self.samples.clone()
    }

    /// Answers so far (a copy).
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples lock").clone()
    }

    /// Stops sending, waits for the scheduler, and returns every sample sorted by time.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        // Requests still in flight finish within their 1 s timeout.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut all = self.samples.lock().expect("samples lock").clone();
        all.sort_by_key(|s| s.at_ms);
        all
    }
}

/// Writes the canary (a ms timestamp) to every configured primary every `interval`;
/// only the one that takes writes accepts it, so it follows failover and failback.
pub fn canary_writer(
    addresses: Vec<String>,
    access: crate::probes::redis::RedisAccess,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(3600);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            for addr in &addresses {
                let write = async {
                    let mut con = crate::probes::redis::connect(addr, &access).await.ok()?;
                    redis::AsyncCommands::set::<_, _, ()>(
                        &mut con,
                        crate::probes::redis::CANARY_KEY,
                        now_ms(),
                    )
                    .await
                    .ok()
                };
                let _ = tokio::time::timeout(Duration::from_millis(300), write).await;
            }
            tokio::time::sleep(interval).await;
        }
    })
}
