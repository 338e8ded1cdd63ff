//! Prometheus metrics served at `metrics_path`.

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::redis::StoreMetrics;

/// Labels of `tyk_gw_requests`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// API id, or `-` for gateway-owned paths.
    pub api: String,
    /// HTTP status code.
    pub code: u32,
}

/// Labels of `tyk_gw_notifications`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// Command name.
    pub command: String,
    /// `accepted`, `bad_signature` or `malformed`.
    pub outcome: String,
}

/// Per-route cache of `tyk_gw_requests` counters by status code (read-mostly).
#[derive(Debug, Default)]
pub struct RouteCounters(std::sync::RwLock<Vec<(u16, Counter)>>);

/// All metric handles plus their registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by API and status.
    pub requests: Family<RequestLabels, Counter>,
    /// End-to-end latency of proxied requests (seconds).
    pub latency: Histogram,
    /// Redis state and reconnect counter.
    pub store: StoreMetrics,
    /// Cached sessions (set at scrape time).
    pub sessions_cached: Gauge,
    /// Loaded API definitions.
    pub apis_loaded: Gauge,
    /// 1 when fenced.
    pub fenced: Gauge,
    /// Cluster notifications received.
    pub notifications: Family<NotificationLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tyk_gw");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by API id and HTTP status",
            requests.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "request_duration_seconds",
            "Proxied request latency",
            latency.clone(),
        );
        let store = StoreMetrics::default();
        registry.register(
            "redis_up",
            "1 when Redis answered the last command",
            store.up.clone(),
        );
        registry.register(
            "redis_reconnects",
            "Redis (re)connections made",
            store.reconnects.clone(),
        );
        let sessions_cached = Gauge::default();
        registry.register(
            "sessions_cached",
            "Sessions in the local cache",
            sessions_cached.clone(),
        );
        let apis_loaded = Gauge::default();
        registry.register("apis_loaded", "API definitions loaded", apis_loaded.clone());
        let fenced = Gauge::default();
        registry.register("fenced", "1 when the gateway is fenced", fenced.clone());
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Cluster notifications received",
            notifications.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            store,
            sessions_cached,
            apis_loaded,
            fenced,
            notifications,
        }
    }

    /// Count one request.
    pub fn request(&self, api: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                api: api.to_string(),
                code: u32::from(code),
            })
            .inc();
    }

    /// Count one request for a route, through its counter cache.
    pub fn route_request(&self, cache: &RouteCounters, api: &str, code: u16) {
        if let Some((_, c)) = cache
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(s, _)| *s == code)
        {
            c.inc();
            return;
        }
        let c = self
            .requests
            .get_or_create(&RequestLabels {
                api: api.to_string(),
                code: u32::from(code),
            })
            .clone();
        c.inc();
        cache
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((code, c));
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
