//! Read-only checks of every component, shared by `status`, `monitor` and
//! the failover preflight. Each probe returns what it observed, errors
//! included, and never fails the whole run: a dead component is a finding.

pub mod dns;
pub mod gateway;
pub mod mongo;
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

/// The IP address in `host:port` or `scheme://host:port/`, when the host is an IP literal: how
/// tyk-dr tells which region a DNS answer points at.
pub fn ip_of(address: &str) -> Option<std::net::IpAddr> {
    let s = address.split("://").last()?.trim_end_matches('/');
    let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
    host.parse().ok()
}

/// Milliseconds since the Unix epoch: the canary's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ip_of_reads_urls_and_host_ports() {
        assert_eq!(
            super::ip_of("http://127.0.1.21:8080/").unwrap().to_string(),
            "127.0.1.21"
        );
        assert_eq!(
            super::ip_of("127.0.2.10:6379").unwrap().to_string(),
            "127.0.2.10"
        );
        assert_eq!(super::ip_of("redis-a.internal:6379"), None);
    }
}
