//! Read-only checks of every component, shared by `status`, `monitor` and
//! (later) the failover preflight. Each probe returns what it observed, errors
//! included, and never fails the whole run: a dead component is a finding.

pub mod dns;
pub mod gateway;
pub mod redis;

use std::time::Duration;

/// How long any single probe may take before its component counts as unreachable. Short on
/// purpose: a hung region (SIGSTOP, a black-holed network) must cost a failover one timeout,
/// not many; even cross-region round trips are well under it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The plain-HTTP client probes and playbook steps share: bounded by [`PROBE_TIMEOUT`], and never
/// sent through a proxy (gateways are reached directly).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
        .expect("an HTTP client without TLS always builds")
}

/// Milliseconds since the Unix epoch: the canary's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
