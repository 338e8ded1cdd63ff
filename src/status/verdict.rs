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

/// How the two sides are named in messages: `passive`/`active` while the configured active region
/// serves, `standby (us-east-1)`/`serving (us-west-2)` after a failover.
pub struct Roles {
    /// The side that would take over.
    pub standby: Side,
    /// The side serving now.
    pub serving: Side,
    /// Word for the standby side.
    pub sb: String,
    /// Word for the serving side.
    pub on: String,
}

impl Roles {
    /// Roles for the side serving now.
    pub fn new(config: &Config, serving: Side) -> Self {
        let standby = serving.other();
        let (sb, on) = match serving {
            Side::Active => ("passive".to_owned(), "active".to_owned()),
            Side::Passive => (
                format!("standby ({})", config.region(standby).name),
                format!("serving ({})", config.region(serving).name),
            ),
        };
        Self {
            standby,
            serving,
            sb,
            on,
        }
    }
}

/// Applies the readiness rules to one status pass: could the standby side take over now?
pub fn judge(config: &Config, s: &Status) -> Verdict {
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    let Roles {
        standby,
        serving,
        sb,
        on,
    } = Roles::new(config, s.serving);
    let passive = s.region(standby);
    let active = s.region(serving);
    let back = serving == Side::Passive;

    if passive.gateways.is_empty() {
        reasons.push(format!(
            "no {sb} gateways are configured: list them under [gateway.endpoints] {}",
            standby.key()
        ));
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
        reasons.push(format!("no {sb} gateway is ready ({})", why.join("; ")));
    }
    if passive.gateways.iter().any(|g| g.fenced) {
        notes.push(format!(
            "{sb} gateways are fenced, as a standby should be after a failover or failback: the next one unfences them"
        ));
    }

    match passive.redis.first() {
        None => reasons.push(format!(
            "no {sb} Redis is configured: list it under [redis.self_managed] {}",
            standby.key()
        )),
        Some(p) if !p.reachable => reasons.push(format!(
            "{sb} Redis primary {} is unreachable: {}",
            p.addr,
            p.error.as_deref().unwrap_or("no answer")
        )),
        Some(p) if p.is_primary() => reasons.push(format!(
            "{sb} Redis {} is a primary, not a replica of the {on} region: {}",
            p.addr,
            if back {
                "resync it (failback's first step does) or re-seed replication"
            } else {
                "run failback or re-seed replication"
            }
        )),
        Some(p) if p.link_up != Some(true) => {
            let source = p.primary.as_deref().unwrap_or("its primary");
            let since = p
                .last_io_secs
                .map(|s| format!(", last contact {s} s ago"))
                .unwrap_or_default();
            reasons.push(format!(
                "{sb} Redis {} has lost its replication link from {source}{since}",
                p.addr
            ));
        }
        Some(p) => {
            if let Some(active_primary) = active.redis.first() {
                if p.primary.as_deref() != Some(active_primary.addr.as_str()) {
                    reasons.push(format!(
                        "{sb} Redis {} replicates from {}, not from the {on} primary {}",
                        p.addr,
                        p.primary.as_deref().unwrap_or("?"),
                        active_primary.addr
                    ));
                }
            }
        }
    }

    // Fencing holds only if the standby's gateways know they are standbys: a ready one would pass
    // health checks (Route 53 would advertise it) and write through its own Redis name.
    if let Some(epoch) = &s.epoch {
        let ready: Vec<&str> = passive
            .gateways
            .iter()
            .filter(|g| g.ready)
            .map(|g| g.url.as_str())
            .collect();
        if !ready.is_empty() {
            reasons.push(format!(
                "{sb} gateway(s) {} are ready although epoch {} names {}: they pass health checks and take writes; configure `[epoch] record` on them (or fence them)",
                ready.join(", "),
                epoch.number,
                epoch.active
            ));
        }
    }
    if let Some(two) = two_primaries(s) {
        reasons.push(two);
    }
    let max_rpo = config.drills.max_rpo.as_millis() as i64;
    let passive_redis_down = passive.redis.first().is_some_and(|p| !p.reachable);
    match (s.canary.age_ms, &s.canary.error) {
        // Already reported above: an unreachable standby Redis cannot hold a canary.
        (None, _) if passive_redis_down => {}
        (Some(age), _) if age > max_rpo => reasons.push(format!(
            "the {sb} side's canary is {} old, above max_rpo {}: a failover now would lose that much",
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
        notes.push(format!(
            "no {on} gateway is ready: consider `tyk-dr {}`",
            if back { "failback" } else { "failover" }
        ));
    }
    if active.redis.first().is_some_and(|r| !r.reachable) {
        notes.push(format!(
            "{on} Redis primary {} is unreachable",
            active.redis[0].addr
        ));
    }
    if s.dns.global_points_to == Some(standby) {
        notes.push(format!("the global name points at the {sb} region"));
    }
    // MongoDB: the standby's members must answer for the `mongo` step to move the primary there.
    if !passive.mongo.is_empty() && !passive.mongo.iter().any(|m| m.reachable) {
        let why: Vec<String> = passive
            .mongo
            .iter()
            .map(|m| format!("{}: {}", m.host, m.error.as_deref().unwrap_or("no answer")))
            .collect();
        reasons.push(format!(
            "no {sb} MongoDB member answers ({})",
            why.join("; ")
        ));
    }
    let members = active.mongo.iter().chain(&passive.mongo);
    if !active.mongo.is_empty() && !members.clone().any(|m| m.is_primary()) {
        notes.push("no MongoDB member is primary: the set cannot take writes".into());
    }
    if back {
        notes.push(format!(
            "{} serves since a failover (epoch {}); `tyk-dr failback` returns traffic to {}",
            config.region(serving).name,
            s.epoch
                .as_ref()
                .map_or("?".into(), |e| e.number.to_string()),
            config.region(standby).name
        ));
    }
    Verdict {
        ready: reasons.is_empty(),
        reasons,
        notes,
    }
}

/// A standby gateway that can serve once a failover unfences it (or the epoch names its region):
/// ready, or fenced with no other problem (its own `takeover_ready` when it reports one).
fn standby_ok(g: &crate::probes::gateway::GatewayProbe) -> bool {
    g.ready
        || (g.reachable && g.takeover_ready == Some(true))
        || (g.reachable
            && (g.fenced || g.standby)
            && g.reasons
                .iter()
                .all(|r| r == "fenced" || r.starts_with("standby:")))
}

/// Split brain: both regions' Redis primaries answer as primaries (both accept writes). Names the
/// one the epoch does not name.
pub fn two_primaries(s: &Status) -> Option<String> {
    let primaries: Vec<&crate::probes::redis::RedisProbe> = s
        .regions
        .iter()
        .filter_map(|r| r.redis.first())
        .filter(|p| p.reachable && p.is_primary())
        .collect();
    if primaries.len() < 2 {
        return None;
    }
    let stale = s.region(s.serving.other());
    let stale_addr = stale.redis.first().map_or("?", |p| p.addr.as_str());
    Some(format!(
        "two Redis primaries take writes: {} and {}; {stale_addr} ({}) is not the one the epoch names: make it a replica of the other (`tyk-dr failback` does, or REPLICAOF)",
        primaries[0].addr, primaries[1].addr, stale.region
    ))
}

/// Standby gateways that answer ready although the epoch names the other region.
pub fn standby_gateways_ready(s: &Status) -> usize {
    if s.epoch.is_none() {
        return 0;
    }
    s.region(s.serving.other())
        .gateways
        .iter()
        .filter(|g| g.ready)
        .count()
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
