//! `tyk-dr sync`: keep the passive region's API definitions, policies and keys ready.
//!
//! One pass = definitions ([`definitions`], through [`store::Store`]: gateway API or `app_path` files),
//! policies ([`policies`], files), a signed group reload in the passive region when anything changed
//! ([`reload`]), then keys ([`keys`]: verify when Redis replicates across regions, copy otherwise).
//! Selection and residency rules are in [`select`], content hashes and diffs in [`drift`], the state
//! file read by `status`/`monitor` in [`state`], the continuous mode in [`watch`].

pub mod definitions;
pub mod drift;
pub mod keys;
pub mod policies;
pub mod reload;
pub mod select;
pub mod state;
pub mod store;
pub mod watch;

use std::time::Duration;

use serde::Serialize;

use crate::config::{
    Config, DefinitionTransport, KeySyncMode, RedisBackend, Side, SidePaths, SyncSettings,
};
use definitions::DefinitionsReport;
use keys::{KeyAction, KeysReport};
use policies::PoliciesReport;
use store::Store;

/// Everything one pass needs, resolved from `tyk-dr.toml` and the environment.
#[derive(Debug)]
pub struct Plan {
    /// The `[sync]` section.
    pub settings: SyncSettings,
    /// Where definitions are read, in order of preference (empty: not synced, see `definitions_skip`).
    pub sources: Vec<Store>,
    /// Every passive store written.
    pub targets: Vec<Store>,
    /// Why definitions are not synced.
    pub definitions_skip: Option<String>,
    /// Policy files, when configured.
    pub policies: Option<SidePaths>,
    /// Active and passive Redis primaries (`host:port`), when known.
    pub redis: Option<(String, String)>,
    /// Redis AUTH password (`TYK_DR_REDIS_PASSWORD`); never printed.
    redis_password: Option<String>,
    /// Why keys are not synced.
    pub keys_skip: Option<String>,
    /// Passive gateways that can publish a signed group reload.
    pub reload: Option<reload::Reloader>,
}

/// What one `sync` pass found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Compared only (`--check`).
    pub check: bool,
    /// Definitions, unless skipped.
    pub definitions: Option<DefinitionsReport>,
    /// Why definitions were skipped.
    pub definitions_skipped: Option<String>,
    /// Policies, when configured.
    pub policies: Option<PoliciesReport>,
    /// The group reload after changes: who published it, or why it did not happen.
    pub reload: Option<String>,
    /// The group reload was due and failed.
    pub reload_failed: bool,
    /// Keys, unless skipped.
    pub keys: Option<KeysReport>,
    /// Why keys were skipped.
    pub keys_skipped: Option<String>,
}

impl SyncReport {
    /// Differences found (for `--check`, the drift; for a sync, what it set out to fix).
    pub fn drift(&self) -> u64 {
        self.definitions.as_ref().map_or(0, |d| d.drift())
            + self.policies.as_ref().map_or(0, |p| p.drift.total())
            + self
                .keys
                .as_ref()
                .map_or(0, |k| k.drift.total() + k.residency_violations)
    }

    /// Items that could not be synced or read: each makes the command fail.
    pub fn failures(&self) -> u64 {
        self.definitions.as_ref().map_or(0, |d| d.failures())
            + self
                .policies
                .as_ref()
                .map_or(0, |p| p.error.is_some() as u64)
            + self
                .keys
                .as_ref()
                .map_or(0, |k| k.errors.len() as u64 + k.unreadable)
            + self.reload_failed as u64
    }
}

impl Plan {
    /// Resolves the plan; the gateway secret comes from `TYK_DR_GATEWAY_SECRET`.
    pub fn new(config: &Config) -> Self {
        let settings = config.sync.clone();
        let secret = crate::secrets::gateway_secret();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client without TLS always builds");
        let gateways = |side: Side, secret: &str| -> Vec<Store> {
            config
                .gateway
                .endpoints
                .of(side)
                .iter()
                .map(|base| Store::Gateway {
                    client: client.clone(),
                    base: base.trim_end_matches('/').to_owned(),
                    secret: secret.to_owned(),
                })
                .collect()
        };
        let (mut sources, mut targets, mut definitions_skip) = (Vec::new(), Vec::new(), None);
        match (settings.definitions, &settings.app_path, &secret) {
            (DefinitionTransport::Files, Some(paths), _) => {
                sources.push(Store::Dir(paths.active.clone()));
                targets.push(Store::Dir(paths.passive.clone()));
            }
            (DefinitionTransport::Files, None, _) => {
                definitions_skip = Some("`sync.app_path` is not set".into())
            }
            (DefinitionTransport::Api, _, None) => {
                definitions_skip = Some(
                    "TYK_DR_GATEWAY_SECRET is not set: the gateways' management API needs it"
                        .into(),
                )
            }
            (DefinitionTransport::Api, _, Some(secret)) => {
                sources = gateways(Side::Active, secret);
                targets = gateways(Side::Passive, secret);
                if sources.is_empty() || targets.is_empty() {
                    definitions_skip =
                        Some("`gateway.endpoints` must list gateways of both regions".into());
                }
            }
        }
        let reload = secret.as_ref().map(|s| {
            reload::Reloader::new(
                client.clone(),
                config.gateway.endpoints.of(Side::Passive),
                s,
            )
        });
        let (redis, keys_skip) = match (config.redis.backend, settings.keys.mode) {
            (_, KeySyncMode::Off) => (None, Some("`sync.keys.mode = \"off\"`".to_string())),
            (RedisBackend::SelfManaged, _) => {
                match (config.redis.self_managed_addresses(Side::Active).first(), config.redis.self_managed_addresses(Side::Passive).first()) {
                    (Some(a), Some(p)) => (Some((a.clone(), p.clone())), None),
                    _ => (None, Some("`redis.self_managed` lists no primary for one side".into())),
                }
            }
            (RedisBackend::Elasticache, _) => (
                None,
                Some("ElastiCache endpoints are not discovered by sync yet; with `global_datastore = true` AWS replicates keys".into()),
            ),
        };
        Plan {
            sources,
            targets,
            definitions_skip,
            policies: settings.policies_path.clone(),
            redis,
            redis_password: crate::secrets::redis_password(config.redis.auth),
            keys_skip,
            reload,
            settings,
        }
    }

    /// Runs one pass: definitions, policies, reload, keys. With `check`, nothing is written.
    pub async fn run(&self, check: bool) -> SyncReport {
        let mut report = self.run_definitions(check).await;
        report.keys_skipped = self.keys_skip.clone();
        if self.keys_skip.is_none() {
            report.keys = Some(self.keys(check).await);
        }
        report
    }

    /// Definitions, policies and the reload, without keys.
    pub async fn run_definitions(&self, check: bool) -> SyncReport {
        let mut report = SyncReport {
            check,
            definitions_skipped: self.definitions_skip.clone(),
            ..Default::default()
        };
        if self.definitions_skip.is_none() {
            report.definitions =
                Some(definitions::sync(&self.settings, &self.sources, &self.targets, check).await);
        }
        if let Some(p) = &self.policies {
            let (a, b) = (p.active.clone(), p.passive.clone());
            report.policies = tokio::task::spawn_blocking(move || policies::sync(&a, &b, check))
                .await
                .ok();
        }
        let changed = report.definitions.as_ref().is_some_and(|d| d.changed())
            || report.policies.as_ref().is_some_and(|p| p.written);
        if changed {
            // Without a passive gateway to ask (files transport, no endpoints or no secret) the reload is
            // left to the gateways' next reload and noted; a reload that was tried and failed is a failure.
            report.reload = Some(match &self.reload {
                Some(r) if r.has_gateways() => match r.group_reload().await {
                    Ok(done) => done,
                    Err(e) => {
                        report.reload_failed = true;
                        format!("failed: {e}")
                    }
                },
                Some(_) => "not done: no passive gateway in `gateway.endpoints`; gateways apply changes on their next reload".into(),
                None => "not done: TYK_DR_GATEWAY_SECRET is not set; gateways apply changes on their next reload".into(),
            });
        }
        report
    }

    /// Opens both Redis connections.
    pub async fn redis_connections(
        &self,
    ) -> Result<
        (
            redis::aio::MultiplexedConnection,
            redis::aio::MultiplexedConnection,
        ),
        String,
    > {
        let (a, p) = self.redis.as_ref().ok_or("no Redis addresses")?;
        let pw = self.redis_password.as_deref();
        Ok((keys::connect(a, pw).await?, keys::connect(p, pw).await?))
    }

    /// Decides copy or verify for this pass (and why).
    pub async fn key_action(
        &self,
        dst: &mut redis::aio::MultiplexedConnection,
        check: bool,
    ) -> Result<(KeyAction, String), String> {
        let (_, passive) = self.redis.as_ref().ok_or("no Redis addresses")?;
        let replica = keys::replicates_from(dst).await?;
        let why = match &replica {
            Some(from) => format!("{passive} replicates from {from}"),
            None => format!("{passive} is a primary: no cross-region replication"),
        };
        let action = match (self.settings.keys.mode, &replica, check) {
            (_, Some(_), _) => KeyAction::VerifyReplica,
            (KeySyncMode::Verify, None, _) | (_, None, true) => KeyAction::Verify,
            _ => KeyAction::Copy,
        };
        if action == KeyAction::VerifyReplica && self.settings.keys.mode == KeySyncMode::Copy {
            return Ok((
                action,
                format!("{why}: copying into a replica is impossible, verifying instead"),
            ));
        }
        Ok((action, why))
    }

    async fn keys(&self, check: bool) -> KeysReport {
        let mut report = KeysReport::default();
        let (src, mut dst) = match self.redis_connections().await {
            Ok(c) => c,
            Err(e) => {
                report.mode = "error".into();
                report.errors.push(e);
                return report;
            }
        };
        match self.key_action(&mut dst, check).await {
            Ok((action, why)) => {
                report.mode = serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                report.reason = why;
                keys::sync_all(&self.settings.keys, &src, &dst, action, &mut report).await;
            }
            Err(e) => {
                report.mode = "error".into();
                report
                    .errors
                    .push(format!("INFO replication on the passive primary: {e}"));
            }
        }
        report
    }
}
