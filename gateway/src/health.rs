//! `/hello` (Tyk's liveness document, always 200), readiness (503 when not ready or fenced) and metrics.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::error::{full, json, Body};
use crate::state::AppState;

/// RFC 3339 UTC timestamp without a date library (civil-from-days).
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Tyk's `/hello`: `pass` when Redis is up, `fail` when it is down, `warn` when fenced or nothing is loaded.
pub fn hello(state: &AppState) -> Response<Body> {
    let redis_up = state.store.is_up();
    let status = if !redis_up {
        "fail"
    } else if state.is_fenced() || state.routes.load().is_empty() {
        "warn"
    } else {
        "pass"
    };
    let mut redis = json!({
        "status": if redis_up { "pass" } else { "fail" },
        "componentType": "datastore",
        "time": rfc3339_now(),
    });
    if !redis_up {
        redis["output"] = json!("Redis is unreachable");
    }
    json(
        StatusCode::OK,
        &json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Tyk GW (tyk-dr-gateway, region {})", state.settings.raw.region),
            "details": { "redis": redis },
        }),
    )
}

/// Why the gateway is not ready (empty when ready).
pub fn not_ready_reasons(state: &AppState) -> Vec<&'static str> {
    let mut r = Vec::new();
    if state.is_draining() {
        r.push("shutting down");
    }
    if state.is_fenced() {
        r.push("fenced");
    }
    if !state.store.is_up() {
        r.push("redis unreachable");
    }
    if state.routes.load().is_empty() {
        r.push("no API definitions loaded");
    }
    r
}

/// Readiness: 200 when Redis is up, APIs are loaded and the gateway is not fenced; 503 otherwise.
pub fn ready(state: &AppState) -> Response<Body> {
    let reasons = not_ready_reasons(state);
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &json!({
            "status": if reasons.is_empty() { "ready" } else { "not ready" },
            "reasons": reasons,
            "region": state.settings.raw.region,
            "fenced": state.is_fenced(),
        }),
    )
}

/// Prometheus text exposition.
pub fn metrics(state: &AppState) -> Response<Body> {
    state.metrics.sessions_cached.set(state.cache.len() as i64);
    let mut r = Response::new(full(state.metrics.render()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let t = super::rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
