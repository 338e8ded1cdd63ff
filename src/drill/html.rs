//! The drill report as one self-contained HTML page: inline CSS and SVG, no
//! scripts and no external assets, so it opens anywhere (a ticket attachment,
//! an air-gapped laptop) and renders the same in every browser.

use super::report::{Bucket, DrillKind, DrillReport, Phase};
use crate::playbook::report::RunReport;
use crate::status::verdict::human_ms;

const W: f64 = 900.0;
const LEFT: f64 = 150.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
pub fn render(r: &DrillReport) -> String {
    let duration = (r.finished_ms - r.started_ms).max(1) as f64;
    let verdict = if r.passed {
        ("PASSED", "pass")
    } else {
        ("FAILED", "fail")
    };
    let mut checks = String::new();
    for c in &r.checks {
        checks.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if c.passed { "pass" } else { "fail" },
            esc(&c.name),
            esc(&c.limit),
            esc(&c.measured),
            if c.passed { "pass" } else { "fail" }
        ));
    }
    let mut steps = String::new();
    for run in [&r.failover, &r.failback].into_iter().flatten() {
        for row in &run.timeline {
            steps.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&run.playbook),
                esc(&row.step),
                human_ms(row.duration_ms as i64),
                esc(&row.result),
                esc(&row.detail)
            ));
        }
    }
    let stopped: String = r
        .stopped_early
        .as_deref()
        .map(|w| format!("<p class=\"warn\">Stopped early: {}</p>", esc(w)))
        .into_iter()
        .chain(
            r.not_restored
                .iter()
                .map(|w| format!("<p class=\"warn\"><b>Not restored</b>: {}</p>", esc(w))),
        )
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tyk-dr drill {id}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;max-width:960px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:16px;margin:28px 0 8px}}
.badge{{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}}
.badge.pass{{background:#1a7f37}} .badge.fail{{background:#cf222e}}
.meta{{color:#57606a;margin-bottom:8px}} .kind{{padding:6px 10px;border-radius:6px;margin-bottom:12px}}
.kind.full{{background:#ffebe9}} .kind.shadow{{background:#ddf4ff}} .warn{{background:#fff8c5;padding:8px;border-radius:6px}}
table{{border-collapse:collapse;width:100%;font-size:13px}} td,th{{border-bottom:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}}
td:nth-child(-n+4){{white-space:nowrap}} tr.fail td{{color:#cf222e;font-weight:600}} tr.pass td:last-child{{color:#1a7f37}}
svg text{{font-size:11px;fill:#1d2330}}
</style></head><body>
<h1>Failover drill <span class="badge {vclass}">{verdict}</span></h1>
<div class="meta">{id} · project <b>{project}</b> · {a} → {b} → {a} · {requests} requests, {failed} failed · {dur}</div>
<div class="kind {kclass}"><b>{kind}</b> · names moved: <code>{global}</code>, <code>{cname}</code></div>
{stopped}
<h2>Thresholds</h2>
<table><tr><th>check</th><th>limit</th><th>measured</th><th>result</th></tr>{checks}</table>
<h2>RTO and RPO against the limits</h2>
{bars}
<h2>Requests over time</h2>
{rate}
<h2>Step timeline</h2>
{gantt}
<h2>Steps</h2>
<table><tr><th>playbook</th><th>step</th><th>took</th><th>result</th><th>detail</th></tr>{steps}</table>
</body></html>
"#,
        id = esc(&r.id),
        vclass = verdict.1,
        verdict = verdict.0,
        project = esc(&r.project),
        a = esc(&r.regions.0),
        b = esc(&r.regions.1),
        kclass = match r.kind {
            DrillKind::Full => "full",
            DrillKind::Shadow => "shadow",
        },
        kind = esc(r.kind.describe()),
        global = esc(&r.global_name),
        cname = esc(&r.redis_cname),
        requests = r.requests,
        failed = r.failed_requests,
        dur = human_ms(duration as i64),
        stopped = stopped,
        checks = checks,
        bars = figure_bars(r),
        rate = rate_chart(&r.timeline, &r.phases, duration),
        gantt = gantt(r, duration),
        steps = steps,
    )
}

/// Horizontal bars: each RTO/RPO against its limit (the dashed line).
fn figure_bars(r: &DrillReport) -> String {
    let mut rows = Vec::new();
    for run in [&r.failover, &r.failback].into_iter().flatten() {
        rows.push((format!("{} RTO", run.playbook), run.rto_ms));
        rows.push((format!("{} RPO", run.playbook), run.rpo_ms));
    }
    let limit_of = |name: &str| -> Option<i64> {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| parse_limit(&c.limit))
    };
    let scale = rows
        .iter()
        .filter_map(|(n, v)| Some(v.unwrap_or(0).max(limit_of(n)?)))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.15;
    let h = 28.0 * rows.len() as f64 + 10.0;
    let mut svg = format!(
        r#"<svg width="{W}" height="{h}" viewBox="0 0 {W} {h}" role="img" aria-label="RTO and RPO against limits">"#
    );
    for (i, (name, value)) in rows.iter().enumerate() {
        let y = 8.0 + 28.0 * i as f64;
        let limit = limit_of(name);
        let v = value.unwrap_or(0) as f64;
        let over = matches!((value, limit), (Some(v), Some(l)) if *v > l) || value.is_none();
        let bw = (W - LEFT - 90.0) * v / scale;
        svg.push_str(&format!(
            r#"<text x="0" y="{}">{}</text>"#,
            y + 13.0,
            esc(name)
        ));
        svg.push_str(&format!(
            r##"<rect x="{LEFT}" y="{y}" width="{bw:.1}" height="18" rx="3" fill="{}"/>"##,
            if over { "#cf222e" } else { "#2f81f7" }
        ));
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            LEFT + bw + 6.0,
            y + 13.0,
            value.map_or("not measured".into(), human_ms)
        ));
        if let Some(l) = limit {
            let x = LEFT + (W - LEFT - 90.0) * l as f64 / scale;
            svg.push_str(&format!(
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#57606a" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="#57606a">limit {}</text>"##,
                y - 3.0,
                y + 21.0,
                x + 3.0,
                y + 25.0,
                human_ms(l)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `≤ 5.0 s` / `≤ 850 ms` back to milliseconds.
fn parse_limit(limit: &str) -> Option<i64> {
    let t = limit.trim_start_matches('≤').trim();
    if let Some(ms) = t.strip_suffix(" ms") {
        return ms.trim().parse().ok();
    }
    if let Some(s) = t.strip_suffix(" s") {
        return s.trim().parse::<f64>().ok().map(|s| (s * 1000.0) as i64);
    }
    t.strip_suffix(" min")
        .and_then(|m| m.trim().parse::<i64>().ok())
        .map(|m| m * 60_000)
}

/// Success rate (green) and the share served by the passive region (orange) per 250 ms,
/// with the failover and failback windows shaded.
fn rate_chart(buckets: &[Bucket], phases: &[Phase], duration: f64) -> String {
    let (h, top, bottom) = (220.0, 10.0, 190.0);
    let x = |ms: f64| LEFT + (W - LEFT - 10.0) * ms / duration;
    let y = |frac: f64| bottom - (bottom - top) * frac;
    let mut svg = format!(
        r#"<svg width="{W}" height="{h}" viewBox="0 0 {W} {h}" role="img" aria-label="request success rate over time">"#
    );
    for p in phases {
        svg.push_str(&format!(
            r##"<rect x="{:.1}" y="{top}" width="{:.1}" height="{}" fill="{}" opacity="0.12"/><text x="{:.1}" y="{}">{}</text>"##,
            x(p.start_ms as f64),
            (x(p.end_ms as f64) - x(p.start_ms as f64)).max(1.0),
            bottom - top,
            if p.name == "failover" { "#2f81f7" } else { "#8250df" },
            x(p.start_ms as f64) + 2.0,
            top + 12.0,
            esc(&p.name)
        ));
    }
    for (frac, label) in [(0.0, "0 %"), (0.5, "50 %"), (1.0, "100 %")] {
        svg.push_str(&format!(
            r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#d0d7de"/><text x="{}" y="{:.1}">{label}</text>"##,
            W - 10.0,
            y(frac),
            y(frac),
            LEFT - 40.0,
            y(frac) + 4.0
        ));
    }
    let line = |f: &dyn Fn(&Bucket) -> f64| -> String {
        buckets
            .iter()
            .map(|b| format!("{:.1},{:.1}", x(b.at_ms as f64 + 125.0), y(f(b))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ok = line(&|b| {
        if b.sent == 0 {
            0.0
        } else {
            f64::from(b.ok) / f64::from(b.sent)
        }
    });
    let passive = line(&|b| {
        if b.sent == 0 {
            0.0
        } else {
            f64::from(b.by_passive) / f64::from(b.sent)
        }
    });
    svg.push_str(&format!(
        r##"<polyline points="{ok}" fill="none" stroke="#1a7f37" stroke-width="2"/>"##
    ));
    svg.push_str(&format!(r##"<polyline points="{passive}" fill="none" stroke="#d4a72c" stroke-width="2" stroke-dasharray="5 3"/>"##));
    svg.push_str(&format!(
        r##"<text x="{LEFT}" y="{}" fill="#1a7f37">— answered 2xx</text><text x="{}" y="{}" fill="#9a6700">- - served by the passive region</text><text x="{}" y="{}">{}</text>"##,
        h - 6.0,
        LEFT + 130.0,
        h - 6.0,
        W - 60.0,
        h - 6.0,
        human_ms(duration as i64)
    ));
    svg.push_str("</svg>");
    svg
}

/// One bar per step on the drill's clock.
fn gantt(r: &DrillReport, duration: f64) -> String {
    let runs: Vec<(&RunReport, i64)> = [(&r.failover, "failover"), (&r.failback, "failback")]
        .into_iter()
        .filter_map(|(run, name)| {
            let run = run.as_ref()?;
            let start = r.phases.iter().find(|p| p.name == name)?.start_ms;
            Some((run, start))
        })
        .collect();
    let rows: usize = runs.iter().map(|(run, _)| run.timeline.len()).sum();
    let h = 18.0 * rows as f64 + 10.0;
    let x = |ms: f64| LEFT + (W - LEFT - 10.0) * ms / duration;
    let mut svg = format!(
        r#"<svg width="{W}" height="{h}" viewBox="0 0 {W} {h}" role="img" aria-label="step timeline">"#
    );
    let mut i = 0;
    for (run, start) in runs {
        for row in &run.timeline {
            let y = 4.0 + 18.0 * i as f64;
            let x0 = x((start + row.at_ms) as f64);
            let w = (x((start + row.at_ms + row.duration_ms as i64) as f64) - x0).max(2.0);
            let color = match (row.result.as_str(), run.playbook.as_str()) {
                ("failed", _) => "#cf222e",
                (_, "failover") => "#2f81f7",
                _ => "#8250df",
            };
            svg.push_str(&format!(
                r#"<text x="0" y="{}">{} · {}</text><rect x="{x0:.1}" y="{y}" width="{w:.1}" height="13" rx="2" fill="{color}"><title>{} {}: {}</title></rect>"#,
                y + 11.0,
                esc(&run.playbook),
                esc(&row.step),
                esc(&row.step),
                human_ms(row.duration_ms as i64),
                esc(&row.detail)
            ));
            i += 1;
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_back() {
        assert_eq!(parse_limit("≤ 5.0 s"), Some(5000));
        assert_eq!(parse_limit("≤ 850 ms"), Some(850));
        assert_eq!(parse_limit("≤ 2 min"), Some(120_000));
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
