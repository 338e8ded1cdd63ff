//! Gateway probe: Tyk's `/hello` (liveness and the gateway's own view of Redis)
//! and the readiness path Route 53 checks (503 when fenced or not ready).

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What one gateway said about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GatewayProbe {
    /// Base URL probed.
    pub url: String,
    /// Whether `/hello` answered at all.
    pub reachable: bool,
    /// `/hello` status: `pass`, `warn` or `fail`.
    pub hello: Option<String>,
    /// The gateway's view of its Redis connection (`pass` / `fail`).
    pub redis: Option<String>,
    /// Readiness path answered 200.
    pub ready: bool,
    /// The gateway says it is fenced.
    pub fenced: bool,
    /// The gateway is a standby: the fencing epoch it read names another region.
    pub standby: bool,
    /// The gateway's own answer to "could you serve once the epoch names my region?" (only fencing
    /// stands in the way); `None` from gateways without epoch fencing.
    pub takeover_ready: Option<bool>,
    /// Why the gateway is not ready, in its own words.
    pub reasons: Vec<String>,
    /// The region the gateway says it serves.
    pub region: Option<String>,
    /// Round trip of the `/hello` call, milliseconds.
    pub latency_ms: f64,
    /// Transport error, when unreachable.
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct Hello {
    status: String,
    #[serde(default)]
    details: HelloDetails,
}

#[derive(Default, Deserialize)]
struct HelloDetails {
    #[serde(default)]
    redis: Option<HelloComponent>,
}

#[derive(Deserialize)]
struct HelloComponent {
    status: String,
}

#[derive(Default, Deserialize)]
struct Readiness {
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    fenced: bool,
    #[serde(default)]
    standby: bool,
    #[serde(default)]
    takeover_ready: Option<bool>,
}

/// Probes `/hello` then the readiness path of the gateway at `base`.
pub async fn probe(client: &reqwest::Client, base: &str, ready_path: &str) -> GatewayProbe {
    let base = base.trim_end_matches('/');
    let mut out = GatewayProbe {
        url: base.to_owned(),
        ..Default::default()
    };
    let started = Instant::now();
    let hello = match client.get(format!("{base}/hello")).send().await {
        Ok(r) => r.json::<Hello>().await,
        Err(e) => {
            out.error = Some(short_error(&e));
            return out;
        }
    };
    out.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    out.reachable = true;
    match hello {
        Ok(h) => {
            out.hello = Some(h.status);
            out.redis = h.details.redis.map(|r| r.status);
        }
        Err(e) => out.error = Some(format!("/hello is not Tyk's JSON: {}", short_error(&e))),
    }
    match client.get(format!("{base}{ready_path}")).send().await {
        Ok(r) => {
            out.ready = r.status().is_success();
            let body: Readiness = r.json().await.unwrap_or_default();
            out.reasons = body.reasons;
            out.region = body.region;
            out.fenced = body.fenced;
            out.standby = body.standby;
            out.takeover_ready = body.takeover_ready;
        }
        Err(e) => out.error = Some(short_error(&e)),
    }
    out
}

/// reqwest errors nest their cause; people need the innermost reason (connection refused, timeout).
fn short_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}
