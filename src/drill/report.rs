//! The drill's account: both playbook reports, the load as seen by clients,
//! every threshold with its measured value, and the verdict. Rendered as JSON
//! (machines), Markdown (tickets) and HTML ([`super::html`]).

use serde::Serialize;

use super::load::Sample;
use crate::playbook::report::RunReport;
use crate::status::verdict::human_ms;

/// Which kind of drill ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillKind {
    /// A real failover and failback of the global name and the Redis CNAME.
    Full,
    /// A failover and failback of the shadow stack; customer names, gateways and Redis untouched.
    Shadow,
}

impl DrillKind {
    /// One line for reports: what this kind of drill moved, and what it left alone.
    pub fn describe(self) -> &'static str {
        match self {
            DrillKind::Full => "full drill: the customers' global name and Redis CNAME moved to the passive region and back",
            DrillKind::Shadow => "shadow drill: only the shadow stack moved; customer traffic, names, gateways and Redis were left untouched",
        }
    }
}

/// One threshold and how the drill fared against it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is measured.
    pub name: String,
    /// The limit from `[drills]` in tyk-dr.toml.
    pub limit: String,
    /// What was measured (`not measured` counts as a failure).
    pub measured: String,
    /// Within the limit.
    pub passed: bool,
}

/// Client-side load statistics for one time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Bucket start, ms after the drill started.
    pub at_ms: i64,
    /// Requests sent.
    pub sent: u32,
    /// 2xx answers.
    pub ok: u32,
    /// Answers served by the passive region.
    pub by_passive: u32,
}

/// The whole account of a drill.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Drill id.
    pub id: String,
    /// Project from tyk-dr.toml.
    pub project: String,
    /// Full or shadow drill.
    pub kind: DrillKind,
    /// The global name the load used and the failover moved.
    pub global_name: String,
    /// The Redis CNAME the failover moved.
    pub redis_cname: String,
    /// Active and passive region codes.
    pub regions: (String, String),
    /// Start, ms since epoch.
    pub started_ms: i64,
    /// End, ms since epoch.
    pub finished_ms: i64,
    /// Passed every check.
    pub passed: bool,
    /// Why it stopped early, when it did (a stop condition, Ctrl-C).
    pub stopped_early: Option<String>,
    /// What the drill could not return to its starting state (empty: everything was restored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_restored: Vec<String>,
    /// Each threshold.
    pub checks: Vec<Check>,
    /// The failover run.
    pub failover: Option<RunReport>,
    /// The failback run.
    pub failback: Option<RunReport>,
    /// Requests sent by the load.
    pub requests: usize,
    /// Requests that got no 2xx answer.
    pub failed_requests: usize,
    /// Load per 250 ms.
    pub timeline: Vec<Bucket>,
    /// When each playbook ran, ms after the drill started.
    pub phases: Vec<Phase>,
}

/// A playbook run's place on the drill's clock.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `failover` or `failback`.
    pub name: String,
    /// Start, ms after the drill started.
    pub start_ms: i64,
    /// End, ms after the drill started.
    pub end_ms: i64,
}

/// Groups samples into 250 ms buckets from `start_ms`.
pub fn buckets(samples: &[Sample], start_ms: i64, passive_region: &str) -> Vec<Bucket> {
    const WIDTH: i64 = 250;
    let mut out: Vec<Bucket> = Vec::new();
    for s in samples {
        let at = ((s.at_ms - start_ms).max(0) / WIDTH) * WIDTH;
        if out.last().is_none_or(|b| b.at_ms != at) {
            out.push(Bucket {
                at_ms: at,
                sent: 0,
                ok: 0,
                by_passive: 0,
            });
        }
        let b = out.last_mut().expect("pushed above");
        b.sent += 1;
        b.ok += u32::from(s.ok());
        b.by_passive += u32::from(s.ok() && s.region.as_deref() == Some(passive_region));
    }
    out
}

/// Compares a drill's figures with the configured limits.
pub fn checks(
    config: &crate::config::Drills,
    failover: Option<&RunReport>,
    failback: Option<&RunReport>,
    failed: usize,
) -> Vec<Check> {
    let max_rto = config.max_rto.as_millis() as i64;
    let max_rpo = config.max_rpo.as_millis() as i64;
    let mut out = Vec::new();
    for (phase, r) in [("failover", failover), ("failback", failback)] {
        let completed = r.is_some_and(|r| r.ok);
        out.push(Check {
            name: format!("{phase} completed"),
            limit: "every step done".into(),
            measured: match r {
                Some(r) if r.ok => "done".into(),
                Some(_) => "a step failed".into(),
                None => "did not run".into(),
            },
            passed: completed,
        });
        let rto = r.and_then(|r| r.rto_ms);
        out.push(Check {
            name: format!("{phase} RTO"),
            limit: format!("≤ {}", human_ms(max_rto)),
            measured: rto.map_or("not measured".into(), human_ms),
            passed: rto.is_some_and(|v| v <= max_rto),
        });
        let rpo = r.and_then(|r| r.rpo_ms);
        out.push(Check {
            name: format!("{phase} RPO"),
            limit: format!("≤ {}", human_ms(max_rpo)),
            measured: rpo.map_or("not measured".into(), human_ms),
            passed: rpo.is_some_and(|v| v <= max_rpo),
        });
    }
    out.push(Check {
        name: "failed requests".into(),
        limit: format!("≤ {}", config.max_failed_requests),
        measured: failed.to_string(),
        passed: failed as u64 <= config.max_failed_requests,
    });
    out
}

impl DrillReport {
    /// Markdown for a ticket or a wiki page.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Failover drill {} — {}\n\n**{}** · project `{}` · {} → {} → {} · {}\n\nNames moved: `{}` and `{}`.\n\n",
            self.id,
            if self.passed { "PASSED" } else { "FAILED" },
            if self.passed {
                "All thresholds met"
            } else {
                "Thresholds not met"
            },
            self.project,
            self.regions.0,
            self.regions.1,
            self.regions.0,
            self.kind.describe(),
            self.global_name,
            self.redis_cname,
        );
        if let Some(why) = &self.stopped_early {
            md.push_str(&format!("> Stopped early: {why}\n\n"));
        }
        for what in &self.not_restored {
            md.push_str(&format!("> **Not restored**: {what}\n\n"));
        }
        md.push_str("| check | limit | measured | result |\n|---|---|---|---|\n");
        for c in &self.checks {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.name,
                c.limit,
                c.measured,
                if c.passed { "✅ pass" } else { "❌ fail" }
            ));
        }
        md.push_str(&format!(
            "\nLoad: {} requests, {} failed ({:.2} %).\n",
            self.requests,
            self.failed_requests,
            if self.requests == 0 {
                0.0
            } else {
                100.0 * self.failed_requests as f64 / self.requests as f64
            }
        ));
        for r in [&self.failover, &self.failback].into_iter().flatten() {
            md.push_str(&format!("\n## {} {} → {} (`{}`)\n\n| step | at | took | result | detail |\n|---|---|---|---|---|\n", r.playbook, r.from, r.to, r.run_id));
            for row in &r.timeline {
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    row.step,
                    human_ms(row.at_ms),
                    human_ms(row.duration_ms as i64),
                    row.result,
                    row.detail.replace('|', "\\|")
                ));
            }
        }
        md
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "drill {}: {}\n  {}\n",
            self.id,
            if self.passed { "PASSED" } else { "FAILED" },
            self.kind.describe()
        );
        for c in &self.checks {
            out.push_str(&format!(
                "  {} {:<20} {:>12}  (limit {})\n",
                if c.passed { "✔" } else { "✘" },
                c.name,
                c.measured,
                c.limit
            ));
        }
        out.push_str(&format!(
            "  load: {} requests, {} failed\n",
            self.requests, self.failed_requests
        ));
        if let Some(why) = &self.stopped_early {
            out.push_str(&format!("  stopped early: {why}\n"));
        }
        for what in &self.not_restored {
            out.push_str(&format!("  NOT RESTORED: {what}\n"));
        }
        out
    }
}
