//! Status as a table for people (one row per component, then the verdict).

use tabled::builder::Builder;
use tabled::settings::Style;

use super::verdict::human_ms;
use super::Status;
use crate::config::Side;
use crate::probes::dns::Resolution;

/// The table and the verdict lines, ready to print.
pub fn table(s: &Status) -> String {
    let mut b = Builder::default();
    b.push_record(["REGION", "COMPONENT", "ADDRESS", "STATE", "DETAIL"]);
    for r in &s.regions {
        let region = format!("{} {}", r.side, r.region);
        for g in &r.gateways {
            let state = match (g.reachable, g.ready, g.fenced) {
                (false, _, _) => "down",
                (true, _, true) => "fenced",
                (true, true, false) => "ready",
                (true, false, false) => "not ready",
            };
            let detail = match &g.error {
                Some(e) => e.clone(),
                None => {
                    let mut d = format!(
                        "hello {}, redis {}, {:.1} ms",
                        g.hello.as_deref().unwrap_or("?"),
                        g.redis.as_deref().unwrap_or("?"),
                        g.latency_ms
                    );
                    if !g.reasons.is_empty() {
                        d.push_str(&format!(" ({})", g.reasons.join(", ")));
                    }
                    d
                }
            };
            b.push_record([
                region.clone(),
                "gateway".into(),
                g.url.clone(),
                state.into(),
                detail,
            ]);
        }
        for n in &r.redis {
            let (state, detail) = match (&n.error, n.role.as_deref()) {
                (Some(e), _) => ("down".to_owned(), e.clone()),
                (None, Some("master")) => (
                    "primary".to_owned(),
                    format!(
                        "{} replica(s), offset {}",
                        n.replicas.unwrap_or(0),
                        n.offset.unwrap_or(0)
                    ),
                ),
                (None, _) => (
                    "replica".to_owned(),
                    format!(
                        "of {}, link {}, offset {}",
                        n.primary.as_deref().unwrap_or("?"),
                        if n.link_up == Some(true) {
                            "up"
                        } else {
                            "DOWN"
                        },
                        n.offset.unwrap_or(0)
                    ),
                ),
            };
            b.push_record([
                region.clone(),
                "redis".into(),
                n.addr.clone(),
                state,
                detail,
            ]);
        }
        for m in &r.mongo {
            let (state, detail) = match (&m.error, m.role.as_deref()) {
                (Some(e), _) => ("down".to_owned(), e.clone()),
                (None, role) => (
                    role.unwrap_or("?").to_owned(),
                    format!(
                        "set {}, primary {}",
                        m.set_name.as_deref().unwrap_or("?"),
                        m.primary.as_deref().unwrap_or("none")
                    ),
                ),
            };
            b.push_record([
                region.clone(),
                "mongo".into(),
                m.host.clone(),
                state,
                detail,
            ]);
        }
    }
    for (what, res, side) in [
        ("redis cname", &s.dns.redis, s.dns.redis_points_to),
        ("global name", &s.dns.global, s.dns.global_points_to),
    ] {
        b.push_record([
            "dns".into(),
            what.into(),
            res.name.clone(),
            pointing(side, res),
            resolution(res),
        ]);
    }
    let canary = match (s.canary.age_ms, &s.canary.error) {
        (Some(age), _) => (
            "ok".to_owned(),
            format!("passive side {} behind", human_ms(age)),
        ),
        (None, Some(e)) => ("unknown".to_owned(), e.clone()),
        (None, None) => ("unknown".to_owned(), String::new()),
    };
    b.push_record([
        "redis".into(),
        "canary".into(),
        crate::probes::redis::CANARY_KEY.into(),
        canary.0,
        canary.1,
    ]);
    let mut out = b.build().with(Style::sharp()).to_string();
    out.push('\n');
    let v = &s.verdict;
    let standby = match s.serving {
        Side::Active => "passive".to_owned(),
        Side::Passive => format!("standby ({})", s.region(Side::Active).region),
    };
    if v.ready {
        out.push_str(&format!("{standby} ready to take over: yes\n"));
    } else {
        out.push_str(&format!(
            "{standby} ready to take over: no, because {}\n",
            v.reasons[0]
        ));
        for r in &v.reasons[1..] {
            out.push_str(&format!("  and {r}\n"));
        }
    }
    for n in &v.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn pointing(side: Option<Side>, r: &Resolution) -> String {
    match (side, &r.error) {
        (_, Some(_)) => "unresolved".into(),
        (Some(side), None) => format!("→ {side}"),
        (None, None) => "→ unknown".into(),
    }
}

fn resolution(r: &Resolution) -> String {
    if let Some(e) = &r.error {
        return e.clone();
    }
    let mut parts: Vec<String> = r.cnames.clone();
    parts.push(
        r.addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    format!("{} (TTL {} s)", parts.join(" → "), r.ttl.unwrap_or(0))
}
