//! Shared gateway state: settings, the swappable routing table, Redis, caches, limiter, metrics, fence.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::apis::RouteTable;
use crate::cache::SessionCache;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::store::RedisStore;

/// Everything a request handler needs.
pub struct AppState {
    /// Validated settings.
    pub settings: Settings,
    /// Routing table, swapped atomically on reload (in-flight requests keep their `Arc`).
    pub routes: ArcSwap<RouteTable>,
    /// Security policies from `policies_path`, swapped on reload.
    pub policies: ArcSwap<tyk_model::Policies>,
    /// Key store.
    pub store: Arc<RedisStore>,
    /// Session cache.
    pub cache: SessionCache,
    /// Per-key rate limit / quota state (keyed by key hash).
    pub limiter: Limiter,
    /// Per-API `global_rate_limit` state (keyed by API id).
    pub api_limiter: Limiter,
    /// Metrics.
    pub metrics: Metrics,
    /// `X-Tyk-DR-Region` value.
    pub region: HeaderValue,
    /// TLS for https upstreams: WebPKI roots plus `upstream_tls_ca_file`.
    pub upstream_tls: tokio_rustls::TlsConnector,
    /// Set by `POST /tyk/dr/fence` (or `fence_file`): the manual fence.
    fenced: AtomicBool,
    /// Fencing from the epoch record, when `epoch.record` is configured.
    pub epoch: Option<Arc<crate::epoch::EpochWatch>>,
    /// Set when shutting down (readiness 503 while draining).
    draining: AtomicBool,
    /// Process start.
    pub started: Instant,
}

impl AppState {
    /// Build state from validated settings (no I/O except reading `app_path`).
    pub fn new(settings: Settings) -> Result<Arc<Self>, String> {
        let metrics = Metrics::new();
        let store = RedisStore::new(&settings, metrics.store.clone())?;
        let epoch = crate::epoch::EpochWatch::new(&settings, metrics.epoch.clone());
        if let Some(e) = &epoch {
            store.set_epoch_gate(e.clone());
        }
        let c = &settings.raw.cache;
        let cache = SessionCache::new(
            Duration::from_millis(c.session_ttl_ms),
            Duration::from_secs(c.stale_max_age_secs),
            c.max_entries,
        );
        let dynamic = HeaderValue::from_str(&settings.raw.region).map_err(|_| {
            format!(
                "region `{}` is not a valid header value",
                settings.raw.region
            )
        })?;
        // Static, so attaching it to every response copies a pointer instead of touching a reference
        // count shared by all worker threads (one small leak per state; the state lives for the process).
        // (`from_static` only takes visible ASCII; other valid values stay reference counted.)
        let region = if settings.raw.region.bytes().all(|b| (32..127).contains(&b)) {
            HeaderValue::from_static(Box::leak(settings.raw.region.clone().into_boxed_str()))
        } else {
            dynamic
        };
        let upstream_tls = crate::tls::connector(crate::tls::Trust::WebPki(
            settings.raw.upstream_tls_ca_file.as_deref(),
        ))
        .map_err(|e| format!("upstream_tls_ca_file: {e}"))?;
        let fenced = settings.raw.fence_file.as_ref().is_some_and(|f| f.exists());
        let state = Arc::new(Self {
            routes: ArcSwap::from_pointee(RouteTable::default()),
            policies: ArcSwap::from_pointee(Default::default()),
            store,
            cache,
            limiter: Limiter::new("rate-limit-"),
            api_limiter: Limiter::new("rate-limit-global-"),
            metrics,
            region,
            upstream_tls,
            fenced: AtomicBool::new(false),
            epoch,
            draining: AtomicBool::new(false),
            started: Instant::now(),
            settings,
        });
        state.set_fenced(fenced);
        state.reload();
        Ok(state)
    }

    /// Re-read `policies_path` (a `policies.json` map, or a directory of policy files).
    fn reload_policies(&self) {
        let Some(path) = &self.settings.raw.policies_path else {
            return;
        };
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(path)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            v.retain(|p| p.extension().is_some_and(|x| x == "json"));
            v.sort();
            v
        } else {
            vec![path.clone()]
        };
        let mut all = tyk_model::Policies::new();
        for f in files {
            match std::fs::read(&f)
                .map_err(|e| e.to_string())
                .and_then(|raw| tyk_model::parse_policies(&raw).map_err(|e| e.to_string()))
            {
                Ok(p) => all.extend(p),
                Err(e) => tracing::warn!("invalid policy file {}: {e}; skipped", f.display()),
            }
        }
        tracing::info!(policies = all.len(), "policies loaded");
        self.policies.store(Arc::new(all));
    }

    /// Re-read `app_path` (and policies) and swap the routing table in one step.
    pub fn reload(&self) -> usize {
        self.reload_policies();
        let (table, skipped) = RouteTable::load_dir(&self.settings.raw.app_path);
        for s in &skipped {
            tracing::warn!("invalid API definition: {s}");
        }
        let n = table.len();
        self.metrics.apis_loaded.set(n as i64);
        self.routes.store(Arc::new(table));
        tracing::info!(apis = n, skipped = skipped.len(), "API definitions loaded");
        n
    }

    /// Whether the gateway is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Mark the gateway as shutting down.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether this gateway is fenced: by hand (`POST /tyk/dr/fence`, `fence_file`) or by the epoch
    /// (another region named, no epoch read yet, or the epoch check overdue).
    pub fn is_fenced(&self) -> bool {
        self.is_manually_fenced() || self.epoch.as_ref().is_some_and(|e| e.is_fenced())
    }

    /// Whether `POST /tyk/dr/fence` (or `fence_file`) fenced this gateway.
    pub fn is_manually_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// Fence or unfence by hand (persisted to `fence_file` when configured). Unfencing cannot lift
    /// the epoch's fence; both ask the epoch watcher to read the record now.
    pub fn set_fenced(&self, on: bool) {
        let was = self.fenced.swap(on, Ordering::Relaxed);
        if let Some(e) = &self.epoch {
            e.poke();
        }
        self.metrics.fenced.set(i64::from(self.is_fenced()));
        if let Some(f) = &self.settings.raw.fence_file {
            let r = if on {
                std::fs::write(f, b"fenced\n")
            } else {
                std::fs::remove_file(f).or(Ok(()))
            };
            if let Err(e) = r {
                tracing::error!(file = %f.display(), error = %e, "cannot persist fence state");
            }
        }
        if was != on {
            tracing::warn!(fenced = on, "fence state changed");
        }
    }

    /// Key storage name (hashed unless `hash_keys = false`).
    pub fn key_hash(&self, token: &str) -> String {
        if !self.settings.raw.hash_keys {
            return token.to_string();
        }
        crate::proxy::upstream::memo_hash(token, tyk_model::hash_token)
    }
}
