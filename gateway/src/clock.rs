//! One clock reading per request.
//!
//! Session freshness, key expiry, limiter windows and limiter bookkeeping each used to read the clock
//! themselves, several times per proxied request; at the gateway's request rate those reads were a
//! measurable share of its user CPU. Admission now reads both clocks once and passes the snapshot down.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The time a request is admitted at.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time (cache freshness, idle tracking, latency).
    pub mono: Instant,
    /// Wall-clock milliseconds since the Unix epoch (limiter windows shared with other gateways, key
    /// expiry).
    pub unix_ms: u64,
}

impl Now {
    /// Read both clocks.
    pub fn read() -> Self {
        Self {
            mono: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    /// Wall-clock seconds since the Unix epoch.
    pub fn unix_secs(&self) -> i64 {
        (self.unix_ms / 1000) as i64
    }
}

/// `unix` (seconds) as RFC 3339 in UTC, whole seconds (`2026-12-03T19:30:23Z`): Go's `time.Time` JSON
/// form, which Tyk writes for `/hello` and `date_created`. The calendar comes from the `time` crate (its
/// `formatting` feature is left off: enabling it would rebuild every crate of the tree that uses `time`).
pub fn rfc3339(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "0001-01-01T00:00:00Z".into(),
    }
}
