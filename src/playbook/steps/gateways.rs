//! `recycle-gateways`: the target's gateways are unfenced and every gateway
//! drops its Redis connections and re-resolves the CNAME now, instead of
//! writing to the demoted primary until its TTL or a READONLY error.

use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use super::{unit_steps, Observation, Step, StepError};
use crate::playbook::context::RunContext;
use crate::playbook::facts::{Reconnected, RunFacts};
use crate::probes::gateway::{self, GatewayProbe};

unit_steps! {
    /// `recycle-gateways`: unfence the target's gateways; every gateway reconnects to Redis now.
    RecycleGateways,
}

/// What recycle-gateways found.
#[derive(Debug, Clone, Serialize)]
pub struct GatewaysSeen {
    /// The target's gateways, as probed.
    target_gateways: Vec<GatewayProbe>,
}

impl Step for RecycleGateways {
    type Seen = GatewaysSeen;

    async fn observe(&self, ctx: &RunContext) -> Result<Observation<GatewaysSeen>, StepError> {
        observe(ctx).await
    }

    async fn act(
        &self,
        ctx: &RunContext,
        _obs: &Observation<GatewaysSeen>,
    ) -> Result<RunFacts, StepError> {
        recycle(ctx).await
    }
}

async fn observe(ctx: &RunContext) -> Result<Observation<GatewaysSeen>, StepError> {
    let ready_path = &ctx.config.dns.health_check_path;
    let mut seen = Vec::new();
    let mut actions = Vec::new();
    for url in ctx.config.gateway.endpoints.of(ctx.transition.to) {
        let g = gateway::probe(&ctx.http, url, ready_path).await;
        if g.fenced {
            actions.push(format!("unfence {url}"));
        }
        seen.push(g);
    }
    actions.push("make every reachable gateway reconnect to Redis".into());
    Ok(Observation::new(
        GatewaysSeen {
            target_gateways: seen,
        },
        actions,
    ))
}

async fn recycle(ctx: &RunContext) -> Result<RunFacts, StepError> {
    let (from, to) = (ctx.transition.from, ctx.transition.to);
    // Self-managed: each gateway must report the new primary's address. ElastiCache: the region's
    // own endpoint stays the same (it became writable), so a fresh connection is enough.
    let target_primary = if ctx.self_managed() {
        Some(ctx.redis_primary(to)?.to_owned())
    } else {
        None
    };
    // The source's gateways are fenced; reconnecting them too stops writes to the old primary.
    let source = join_all(
        ctx.config
            .gateway
            .endpoints
            .of(from)
            .iter()
            .map(|url| ctx.gateway_call(reqwest::Method::POST, url, "/tyk/dr/redis/reconnect")),
    );
    // Each target gateway: unfence, then reconnect until it reports the new primary's address.
    // Resolvers may serve the old CNAME answer for up to its TTL; retrying beats sleeping the TTL.
    // Bounded by the step's timeout, which the engine enforces around this call.
    let target = join_all(ctx.config.gateway.endpoints.of(to).iter().map(|url| {
        let target_primary = target_primary.clone();
        async move {
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                let unfenced = ctx
                    .gateway_call(reqwest::Method::DELETE, url, "/tyk/dr/fence")
                    .await;
                let answer = ctx
                    .gateway_json(reqwest::Method::POST, url, "/tyk/dr/redis/reconnect", None)
                    .await;
                match (unfenced, answer) {
                    (Ok(200..=299), Ok(a))
                        if a["connected"] == true
                            && target_primary.as_deref().is_none_or(|t| a["address"] == t) =>
                    {
                        return Reconnected {
                            gateway: url.clone(),
                            attempts,
                        };
                    }
                    (u, a) => tracing::debug!("{url}: unfence {u:?}, reconnect {a:?}; retrying"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }));
    // Best effort only: a hung source must not hold up the new region (its gateways are fenced).
    let source = tokio::time::timeout(Duration::from_millis(300), source);
    let (_, reconnected) = tokio::join!(source, target);
    Ok(RunFacts {
        gateways_ready_at_ms: Some(crate::probes::now_ms()),
        reconnected: Some(reconnected),
        ..Default::default()
    })
}
