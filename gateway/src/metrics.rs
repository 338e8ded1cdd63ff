//! Prometheus metrics served at `metrics_path`.
//!
//! The per-request metrics (request counter, latency histogram) are sharded: every worker thread adds to
//! its own cache line and a scrape sums the shards, so serving threads never contend on a shared counter
//! or on the lock inside `prometheus_client`'s histogram.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{
    text::encode, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
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

/// Shards per metric; threads are spread over them round-robin.
const SHARDS: usize = 16;

/// One cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A Prometheus counter whose increments go to per-thread shards.
#[derive(Debug, Clone, Default)]
pub struct ShardedCounter(Arc<[Padded<AtomicU64>; SHARDS]>);

impl ShardedCounter {
    /// Add one.
    pub fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    /// Current total.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Upper bounds of the latency buckets: 0.1 ms doubling up to ~3.3 s (then +Inf).
const BUCKETS: usize = 16;

fn bucket_bound(i: usize) -> f64 {
    0.000_1 * f64::from(1u32 << i)
}

/// One shard of [`ShardedHistogram`]: per-bucket counts (last = +Inf), count and sum in nanoseconds.
#[derive(Debug, Default)]
struct HistShard {
    buckets: [AtomicU64; BUCKETS + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// A latency histogram (seconds) whose observations go to per-thread shards.
#[derive(Debug, Clone, Default)]
pub struct ShardedHistogram(Arc<[Padded<HistShard>; SHARDS]>);

impl ShardedHistogram {
    /// Record one duration.
    pub fn observe_duration(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = (0..BUCKETS)
            .find(|&i| secs <= bucket_bound(i))
            .unwrap_or(BUCKETS);
        let s = &self.0[shard()].0;
        s.buckets[i].fetch_add(1, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Record one observation in seconds.
    pub fn observe(&self, secs: f64) {
        self.observe_duration(std::time::Duration::from_secs_f64(secs.max(0.0)));
    }

    /// (sum in seconds, count, non-cumulative buckets with their upper bounds).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = (0..BUCKETS)
            .map(bucket_bound)
            .chain(std::iter::once(f64::MAX))
            .map(|b| (b, 0))
            .collect();
        let (mut count, mut sum_ns) = (0u64, 0u64);
        for s in self.0.iter() {
            for (b, c) in buckets.iter_mut().zip(s.0.buckets.iter()) {
                b.1 += c.load(Ordering::Relaxed);
            }
            count += s.0.count.load(Ordering::Relaxed);
            sum_ns = sum_ns.saturating_add(s.0.sum_ns.load(Ordering::Relaxed));
        }
        (sum_ns as f64 / 1e9, count, buckets)
    }
}

impl TypedMetric for ShardedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ShardedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Per-route cache of `tyk_gw_requests` counters by status code (read-mostly; loads take no lock).
#[derive(Debug, Default)]
pub struct RouteCounters(arc_swap::ArcSwap<Vec<(u16, ShardedCounter)>>);

/// All metric handles plus their registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by API and status.
    pub requests: Family<RequestLabels, ShardedCounter>,
    /// End-to-end latency of proxied requests (seconds).
    pub latency: ShardedHistogram,
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
    /// Epoch fencing (number, standby, stale, read failures, changes).
    pub epoch: crate::epoch::EpochMetrics,
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
        let requests = Family::<RequestLabels, ShardedCounter>::default();
        registry.register(
            "requests",
            "Requests by API id and HTTP status",
            requests.clone(),
        );
        let latency = ShardedHistogram::default();
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
        let epoch = crate::epoch::EpochMetrics::default();
        registry.register(
            "epoch_number",
            "The fencing epoch last read from the epoch record (0 before the first read)",
            epoch.number.clone(),
        );
        registry.register(
            "epoch_standby",
            "1 when the epoch names another region (this gateway is a fenced standby)",
            epoch.standby.clone(),
        );
        registry.register(
            "epoch_stale",
            "1 when the last epoch read failed and the last good epoch is kept (fail static)",
            epoch.stale.clone(),
        );
        registry.register(
            "epoch_read_failures",
            "Failed reads of the epoch record",
            epoch.read_failures.clone(),
        );
        registry.register(
            "epoch_changes",
            "Epoch changes seen (each drops the Redis connections)",
            epoch.changes.clone(),
        );
        Self {
            registry,
            epoch,
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
        if let Some((_, c)) = cache.0.load().iter().find(|(s, _)| *s == code) {
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
        cache.0.rcu(|v| {
            let mut v = Vec::clone(v);
            if !v.iter().any(|(s, _)| *s == code) {
                v.push((code, c.clone()));
            }
            v
        });
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_metrics_render_like_prometheus_ones() {
        let m = Metrics::new();
        let route = RouteCounters::default();
        for _ in 0..3 {
            m.route_request(&route, "a", 200);
        }
        std::thread::spawn({
            let c = m.requests.get_or_create(&RequestLabels {
                api: "a".into(),
                code: 200,
            });
            let c = c.clone();
            move || c.inc()
        })
        .join()
        .unwrap();
        m.request("-", 404);
        m.latency.observe(0.000_05);
        m.latency.observe(0.003);
        m.latency.observe(100.0);
        let out = m.render();
        assert!(
            out.contains("tyk_gw_requests_total{api=\"a\",code=\"200\"} 4"),
            "{out}"
        );
        assert!(
            out.contains("tyk_gw_requests_total{api=\"-\",code=\"404\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE tyk_gw_request_duration_seconds histogram"),
            "{out}"
        );
        assert!(
            out.contains("tyk_gw_request_duration_seconds_count 3"),
            "{out}"
        );
        assert!(
            out.contains("tyk_gw_request_duration_seconds_bucket{le=\"0.0001\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("tyk_gw_request_duration_seconds_bucket{le=\"0.0032\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("tyk_gw_request_duration_seconds_bucket{le=\"+Inf\"} 3"),
            "{out}"
        );
    }
}
