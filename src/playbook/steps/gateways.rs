//! `recycle-gateways`: the target's gateways are unfenced and every gateway
//! drops its Redis connections and re-resolves the CNAME now, instead of
//! writing to the demoted primary until its TTL or a READONLY error.

use std::time::Duration;

use serde_json::json;

use super::{fact, Facts, Observation, StepError};
use crate::playbook::context::Ctx;
use crate::probes::gateway;

pub(super) async fn observe(ctx: &Ctx) -> Result<Observation, StepError> {
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
    Ok(Observation::new(json!({"target_gateways": seen}), actions))
}

pub(super) async fn recycle(ctx: &Ctx) -> Result<Facts, StepError> {
    let (from, to) = (ctx.transition.from, ctx.transition.to);
    // Resolvers may hold the old CNAME answer for its TTL: reconnecting earlier would find the
    // demoted primary again. Wait out the TTL counted from when the new answer was first served.
    if let Some(flipped) = ctx.fact_i64("cname_flipped_at_ms") {
        let ready_at = flipped + i64::from(ctx.config.dns.redis_ttl) * 1000;
        let wait = ready_at - crate::probes::now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
    let mut failures = Vec::new();
    for url in ctx.config.gateway.endpoints.of(to) {
        for (method, path) in [
            (reqwest::Method::DELETE, "/tyk/dr/fence"),
            (reqwest::Method::POST, "/tyk/dr/redis/reconnect"),
        ] {
            match ctx.gateway_call(method, url, path).await {
                Ok(200..=299) => {}
                Ok(code) => failures.push(format!("{url}{path}: HTTP {code}")),
                Err(e) => failures.push(e),
            }
        }
    }
    // The source's gateways are fenced; reconnecting them too stops writes to the old primary.
    for url in ctx.config.gateway.endpoints.of(from) {
        let _ = ctx
            .gateway_call(reqwest::Method::POST, url, "/tyk/dr/redis/reconnect")
            .await;
    }
    // Bounded by the step's timeout, which the engine enforces around this call.
    let ready_path = &ctx.config.dns.health_check_path;
    loop {
        for url in ctx.config.gateway.endpoints.of(to) {
            if gateway::probe(&ctx.http, url, ready_path).await.ready {
                let mut facts = fact("gateways_ready_at_ms", crate::probes::now_ms());
                facts.insert("recycle_failures".into(), json!(failures));
                return Ok(facts);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
