//! `/hello` (Tyk's liveness document, always 200), readiness (503 when not ready or fenced) and metrics.

use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::error::{full, json, Body};
use crate::state::AppState;

/// RFC 3339 UTC timestamp, whole seconds (`2026-12-03T19:30:23Z`), as Tyk's `/hello` shows it.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::clock::rfc3339(secs)
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
pub fn not_ready_reasons(state: &AppState) -> Vec<String> {
    let mut r = Vec::new();
    if state.is_draining() {
        r.push("shutting down".to_owned());
    }
    if state.is_manually_fenced() {
        r.push("fenced".to_owned());
    }
    if let Some(reason) = state.epoch.as_ref().and_then(|e| e.standing().reason()) {
        r.push(reason);
    }
    if !state.store.is_up() {
        r.push("redis unreachable".to_owned());
    }
    if state.routes.load().is_empty() {
        r.push("no API definitions loaded".to_owned());
    }
    r
}

/// Whether a readiness reason is about fencing only (manual or epoch standby), not about health.
fn is_fence_reason(reason: &str) -> bool {
    reason == "fenced" || reason.starts_with("standby:")
}

/// The epoch as this gateway knows it, for readiness and `/tyk/dr/fence` (`null` without epoch fencing).
pub fn epoch_json(state: &AppState) -> serde_json::Value {
    let Some(w) = &state.epoch else {
        return serde_json::Value::Null;
    };
    let snap = w.snapshot();
    json!({
        "record": w.record(),
        "active": snap.epoch.as_ref().map(|e| e.active.as_str()),
        "number": snap.epoch.as_ref().map(|e| e.number),
        "age_ms": snap.read_at.map(|t| t.elapsed().as_millis() as u64),
        "stale": snap.epoch.is_some() && snap.error.is_some(),
        "error": snap.error,
    })
}

/// Readiness: 200 when Redis is up, APIs are loaded and the gateway is not fenced (by hand or by
/// the epoch); 503 otherwise. A standby (the epoch names another region) answers 503 with
/// `standby: true`, and `takeover_ready` tells whether it would be ready once the epoch names its
/// region: only fencing stands in the way (Redis reachable, definitions loaded). A failed epoch read
/// after a good one keeps the last epoch (fail static) and is listed under `warnings`.
pub fn ready(state: &AppState) -> Response<Body> {
    let reasons = not_ready_reasons(state);
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let standby = state
        .epoch
        .as_ref()
        .is_some_and(|e| matches!(e.standing(), crate::epoch::Standing::Standby { .. }));
    let mut warnings = Vec::new();
    if let Some(w) = &state.epoch {
        let snap = w.snapshot();
        if let (Some(e), Some(err)) = (&snap.epoch, &snap.error) {
            warnings.push(format!(
                "epoch stale: {err}; keeping epoch {} (active={}) read {} ms ago",
                e.number,
                e.active,
                snap.read_at.map_or(0, |t| t.elapsed().as_millis())
            ));
        }
    }
    json(
        status,
        &json!({
            "status": if reasons.is_empty() { "ready" } else { "not ready" },
            "reasons": reasons,
            "warnings": warnings,
            "region": state.settings.raw.region,
            "fenced": state.is_fenced(),
            "standby": standby,
            "takeover_ready": reasons.iter().all(|r| is_fence_reason(r)),
            "epoch": epoch_json(state),
        }),
    )
}

/// The `/tyk/dr/fence` answer: the manual fence, the epoch's, and the result.
pub fn fence_status(state: &AppState) -> serde_json::Value {
    json!({
        "status": "ok",
        "fenced": state.is_fenced(),
        "manual": state.is_manually_fenced(),
        "epoch_fence": state.epoch.as_ref().and_then(|e| e.standing().reason()),
        "region": state.settings.raw.region,
    })
}

/// Prometheus text exposition.
pub fn metrics(state: &AppState) -> Response<Body> {
    state.metrics.sessions_cached.set(state.cache.len() as i64);
    state.metrics.fenced.set(i64::from(state.is_fenced()));
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
        assert!(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok()
        );
    }
}
