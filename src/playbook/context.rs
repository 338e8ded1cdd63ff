//! What every step can use: the topology, the direction of the transition,
//! shared clients, secrets (never printed), and the facts earlier steps learned.

use std::net::SocketAddr;
use std::sync::Arc;

use tyk_dr_aws::route53::{Route53, Zone};
use tyk_dr_mongo::MongoAdmin;

use super::facts::RunFacts;
use super::steps::StepError;
use crate::config::{Config, Side};
use crate::probes::dns;
use crate::probes::redis::{RedisAccess, RedisProbe};
use crate::secrets::ManagementSecret;
use crate::status::Probes;

/// A failover (passive takes over) or a failback (the original active returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Transition {
    /// The side giving up traffic.
    pub from: Side,
    /// The side taking over.
    pub to: Side,
}

/// Everything a step of one playbook run needs; facts are filled in as steps complete (and
/// replayed on `--resume`).
pub struct RunContext {
    /// The checked topology.
    pub config: Config,
    /// Direction of this run.
    pub transition: Transition,
    /// This run's id (journal file name, epoch claim).
    pub run_id: String,
    /// RTO origin: the failure time given with `--failed-at`, or the command's start.
    pub origin_ms: i64,
    /// Plain HTTP client for gateways.
    pub http: reqwest::Client,
    /// The clients of a `status` pass, built once for the run (preflight's readiness check).
    pub probes: Probes,
    /// Redis credentials.
    pub redis: RedisAccess,
    /// Resolver through the configured nameserver.
    pub resolver: hickory_resolver::TokioResolver,
    /// Route 53 adapter.
    pub route53: Route53,
    /// MongoDB admin commands (credentials from `TYK_DR_MONGO_*`; never logged).
    pub mongo: Arc<dyn MongoAdmin>,
    /// Gateway management secret (`TYK_DR_GATEWAY_SECRET`); never logged.
    pub gateway_secret: Option<String>,
    /// Run even when preflight says the target is not ready.
    pub force: bool,
    /// Allow a forced MongoDB reconfig.
    pub confirm_force_reconfig: bool,
    /// Answer "yes" to pauses and approvals.
    pub assume_yes: bool,
    /// ElastiCache clients of both regions (ElastiCache backend only).
    pub caches: Option<super::steps::Caches>,
    /// Redis servers this run may read but never pause, promote or demote: the customers'
    /// servers during a shadow drill (see [`Config::shadow_view`]).
    pub protected_redis: Vec<String>,
    /// What earlier steps learned (source offset, epoch, canary, first verified request...).
    pub facts: RunFacts,
    /// The step about to run was started before and may have acted (a resumed run retrying it):
    /// steps use this to own their effects.
    pub retrying: bool,
}

impl RunContext {
    /// Builds the clients for a run.
    pub async fn new(
        config: Config,
        transition: Transition,
        run_id: String,
        origin_ms: i64,
    ) -> Self {
        let nameserver = config
            .dns
            .nameserver
            .as_deref()
            .and_then(|s| s.parse::<SocketAddr>().ok());
        let sdk = tyk_dr_aws::sdk_config(None, Some(&config.regions.active.name)).await;
        let caches = if config.redis.backend == crate::config::RedisBackend::Elasticache {
            let passive = tyk_dr_aws::sdk_config(None, Some(&config.regions.passive.name)).await;
            Some(super::steps::Caches {
                active: tyk_dr_aws::elasticache::ElastiCache::new(&sdk),
                passive: tyk_dr_aws::elasticache::ElastiCache::new(&passive),
            })
        } else {
            None
        };
        let mongo: Arc<dyn MongoAdmin> = Arc::new(tyk_dr_mongo::DriverAdmin::from_env());
        Self {
            redis: RedisAccess {
                password: crate::secrets::redis_password(config.redis.auth),
            },
            resolver: dns::resolver(nameserver),
            http: crate::probes::http_client(),
            probes: Probes::new(&config).with_mongo(mongo.clone()),
            route53: Route53::new(&sdk),
            mongo,
            gateway_secret: crate::secrets::gateway_secret(),
            force: false,
            confirm_force_reconfig: false,
            assume_yes: false,
            caches,
            protected_redis: Vec::new(),
            facts: RunFacts::default(),
            retrying: false,
            config,
            transition,
            run_id,
            origin_ms,
        }
    }

    /// The region code of a side.
    pub fn region(&self, side: Side) -> &str {
        &self.config.region(side).name
    }

    /// The first (primary) Redis address of a side.
    pub fn redis_primary(&self, side: Side) -> Result<&str, StepError> {
        self.config
            .redis
            .self_managed_addresses(side)
            .first()
            .map(String::as_str)
            .ok_or_else(|| {
                StepError::Failed(format!("no {side} Redis address in [redis.self_managed]"))
            })
    }

    /// True for self-managed Redis (reached directly), false for ElastiCache (reached through its API).
    pub fn self_managed(&self) -> bool {
        self.config.redis.backend == crate::config::RedisBackend::SelfManaged
    }

    /// The ElastiCache client of one side's region.
    pub fn cache(&self, side: Side) -> Result<&tyk_dr_aws::elasticache::ElastiCache, StepError> {
        self.caches
            .as_ref()
            .map(|c| c.of(side))
            .ok_or_else(|| StepError::Failed("the ElastiCache backend is not configured".into()))
    }

    /// True when `addr` serves customers during a shadow drill and must not be changed.
    pub fn is_protected(&self, addr: &str) -> bool {
        self.protected_redis.iter().any(|p| p == addr)
    }

    /// Sends one authenticated request to a gateway's management API (the secret is never logged).
    async fn management(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, String> {
        let secret = self.gateway_secret.as_deref().ok_or_else(|| {
            format!(
                "{} is not set: the gateways' management API needs it",
                crate::secrets::GATEWAY_SECRET_VAR
            )
        })?;
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut req = self.http.request(method, &url).management_secret(secret);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send()
            .await
            .map_err(|e| format!("{url}: {}", innermost(&e)))
    }

    /// Calls a gateway management endpoint; returns the HTTP status.
    pub async fn gateway_call(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
    ) -> Result<u16, String> {
        Ok(self
            .management(method, base, path, None)
            .await?
            .status()
            .as_u16())
    }

    /// Calls a gateway management endpoint (with an optional JSON body) and returns its JSON
    /// answer; anything but 2xx is an error naming the URL.
    pub async fn gateway_json(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let resp = self.management(method, base, path, body).await?;
        let url = resp.url().to_string();
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        resp.json()
            .await
            .map_err(|e| format!("{url}: {}", innermost(&e)))
    }

    /// Probes the source's Redis primary, unless an earlier step found it unreachable: a dead or
    /// hung source then costs nothing instead of another timeout.
    pub async fn probe_source_redis(&self) -> Result<RedisProbe, StepError> {
        let addr = self.redis_primary(self.transition.from)?;
        if self.facts.source_reachable == Some(false) {
            return Ok(RedisProbe {
                addr: addr.to_owned(),
                error: Some("unreachable at preflight".into()),
                ..Default::default()
            });
        }
        Ok(crate::probes::redis::probe(addr, &self.redis).await)
    }

    /// The hosted zones named `name` (one per region for private zones on AWS, one locally).
    pub async fn zones_named(&self, name: &str, private: bool) -> Result<Vec<Zone>, StepError> {
        let wanted = tyk_dr_aws::route53::normalize_name(name);
        let zones = self
            .route53
            .list_zones()
            .await
            .map_err(|e| StepError::Failed(e.to_string()))?;
        let found: Vec<Zone> = zones
            .into_iter()
            .filter(|z| z.name == wanted && z.private == private)
            .collect();
        if found.is_empty() {
            let kind = if private { "private" } else { "public" };
            return Err(StepError::Failed(format!(
                "no {kind} hosted zone named {name} in Route 53"
            )));
        }
        Ok(found)
    }
}

/// The innermost cause of an error chain: what a person needs to read.
pub fn innermost(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}
