//! "Could the passive region take over right now?": a pure function of what
//! the probes saw, so every rule is unit-tested without a network.

use serde::Serialize;

use super::Status;
use crate::config::{Config, Side};

/// The answer, with every reason it is "no".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// True when nothing stands in the way of a failover.
    pub ready: bool,
    /// Why not, one sentence each, naming the component and address.
    pub reasons: Vec<String>,
    /// Things worth knowing that do not block a failover (active-side trouble, ...).
    pub notes: Vec<String>,
}

/// Applies the readiness rules to one status pass.
pub fn judge(config: &Config, s: &Status) -> Verdict {
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    let passive = s.region(Side::Passive);
    let active = s.region(Side::Active);

    if passive.gateways.is_empty() {
        reasons.push(
            "no passive gateways are configured: list them under [gateway.endpoints] passive"
                .into(),
        );
    } else if !passive.gateways.iter().any(standby_ok) {
        let why: Vec<String> = passive
            .gateways
            .iter()
            .map(|g| match (&g.error, g.reasons.is_empty()) {
                (Some(e), _) => format!("{}: {e}", g.url),
                (None, false) => format!("{}: {}", g.url, g.reasons.join(", ")),
                (None, true) => format!("{}: not ready", g.url),
            })
            .collect();
        reasons.push(format!("no passive gateway is ready ({})", why.join("; ")));
    }
    if passive.gateways.iter().any(|g| g.fenced) {
        notes.push("passive gateways are fenced, as a standby should be after a failback: failover unfences them".into());
    }

    match passive.redis.first() {
        None => reasons.push("no passive Redis is configured: list it under [redis.self_managed] passive".into()),
        Some(p) if !p.reachable => reasons.push(format!(
            "passive Redis primary {} is unreachable: {}",
            p.addr,
            p.error.as_deref().unwrap_or("no answer")
        )),
        Some(p) if p.is_primary() => reasons.push(format!(
            "passive Redis {} is already a primary, not a replica of the active region: run failback or re-seed replication",
            p.addr
        )),
        Some(p) if p.link_up != Some(true) => {
            let source = p.primary.as_deref().unwrap_or("its primary");
            let since = p.last_io_secs.map(|s| format!(", last contact {s} s ago")).unwrap_or_default();
            reasons.push(format!("passive Redis {} has lost its replication link from {source}{since}", p.addr));
        }
        Some(p) => {
            if let Some(active_primary) = active.redis.first() {
                if p.primary.as_deref() != Some(active_primary.addr.as_str()) {
                    reasons.push(format!(
                        "passive Redis {} replicates from {}, not from the active primary {}",
                        p.addr,
                        p.primary.as_deref().unwrap_or("?"),
                        active_primary.addr
                    ));
                }
            }
        }
    }

    let max_rpo = config.drills.max_rpo.as_millis() as i64;
    let passive_redis_down = passive.redis.first().is_some_and(|p| !p.reachable);
    match (s.canary.age_ms, &s.canary.error) {
        // Already reported above: an unreachable passive Redis cannot hold a canary.
        (None, _) if passive_redis_down => {}
        (Some(age), _) if age > max_rpo => reasons.push(format!(
            "the passive side's canary is {} old, above max_rpo {}: a failover now would lose that much",
            human_ms(age),
            human_ms(max_rpo)
        )),
        (Some(_), _) => {}
        (None, Some(e)) => reasons.push(format!("canary: {e}")),
        (None, None) => reasons.push("canary: no reading".into()),
    }

    if let Some(e) = &s.dns.redis.error {
        reasons.push(format!(
            "the Redis CNAME {} does not resolve: {e}",
            s.dns.redis.name
        ));
    }
    if let Some(e) = &s.dns.global.error {
        reasons.push(format!(
            "the global name {} does not resolve: {e}",
            s.dns.global.name
        ));
    }

    if !active.gateways.is_empty() && !active.gateways.iter().any(|g| g.ready) {
        notes.push("no active gateway is ready: consider `tyk-dr failover`".into());
    }
    if active.redis.first().is_some_and(|r| !r.reachable) {
        notes.push(format!(
            "active Redis primary {} is unreachable",
            active.redis[0].addr
        ));
    }
    if s.dns.global_points_to == Some(Side::Passive) {
        notes.push("the global name already points at the passive region".into());
    }
    Verdict {
        ready: reasons.is_empty(),
        reasons,
        notes,
    }
}

/// A standby gateway that can serve once a failover unfences it: ready, or fenced with no other problem.
fn standby_ok(g: &crate::probes::gateway::GatewayProbe) -> bool {
    g.ready || (g.reachable && g.fenced && g.reasons.iter().all(|r| r == "fenced"))
}

/// `850 ms`, `4.2 s`, `3 min`: durations as people read them.
pub fn human_ms(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min", ms / 60_000),
    }
}

#[cfg(test)]
mod tests;
