//! Past drills, one JSON line each, and the trend of RTO/RPO across them.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::report::{DrillKind, DrillReport};
use crate::status::verdict::human_ms;

/// What history keeps of a drill.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Drill id.
    pub id: String,
    /// Start, ms since epoch.
    pub started_ms: i64,
    /// Passed every threshold.
    pub passed: bool,
    /// `full` or `shadow` (lines written before shadow drills existed are full drills).
    #[serde(default = "Entry::full")]
    pub kind: String,
    /// Failover RTO.
    pub failover_rto_ms: Option<i64>,
    /// Failover RPO.
    pub failover_rpo_ms: Option<i64>,
    /// Failback RTO.
    pub failback_rto_ms: Option<i64>,
    /// Failback RPO.
    pub failback_rpo_ms: Option<i64>,
    /// Requests without a 2xx answer.
    pub failed_requests: usize,
    /// Requests sent.
    pub requests: usize,
}

impl Entry {
    fn full() -> String {
        "full".into()
    }
}

impl From<&DrillReport> for Entry {
    fn from(r: &DrillReport) -> Self {
        Self {
            id: r.id.clone(),
            started_ms: r.started_ms,
            passed: r.passed,
            kind: match r.kind {
                DrillKind::Full => "full",
                DrillKind::Shadow => "shadow",
            }
            .into(),
            failover_rto_ms: r.failover.as_ref().and_then(|f| f.rto_ms),
            failover_rpo_ms: r.failover.as_ref().and_then(|f| f.rpo_ms),
            failback_rto_ms: r.failback.as_ref().and_then(|f| f.rto_ms),
            failback_rpo_ms: r.failback.as_ref().and_then(|f| f.rpo_ms),
            failed_requests: r.failed_requests,
            requests: r.requests,
        }
    }
}

/// Appends one drill to the history file.
pub fn append(path: &Path, entry: &Entry) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(entry).expect("entries serialise")
    )
}

/// Every drill recorded, oldest first; unreadable lines are skipped.
pub fn read(path: &Path) -> Vec<Entry> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// `▁▃▅█`: values scaled to eight levels (missing values as a space).
pub fn sparkline(values: &[Option<i64>]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|v| {
            v.map_or(' ', |v| {
                LEVELS[((v.max(0) * 7 + max / 2) / max).min(7) as usize]
            })
        })
        .collect()
}

/// The history as a table with the trend of each figure.
pub fn table(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "no drills recorded yet: run `tyk-dr drill`\n".into();
    }
    let mut out = format!(
        "{:<34} {:<6} {:<7} {:>12} {:>12} {:>12} {:>9}\n",
        "DRILL", "KIND", "RESULT", "FAILOVER RTO", "FAILOVER RPO", "FAILBACK RTO", "FAILED"
    );
    let fig = |v: Option<i64>| v.map_or("-".into(), human_ms);
    for e in entries {
        out.push_str(&format!(
            "{:<34} {:<6} {:<7} {:>12} {:>12} {:>12} {:>9}\n",
            e.id,
            e.kind,
            if e.passed { "passed" } else { "FAILED" },
            fig(e.failover_rto_ms),
            fig(e.failover_rpo_ms),
            fig(e.failback_rto_ms),
            e.failed_requests
        ));
    }
    let rto: Vec<_> = entries.iter().map(|e| e.failover_rto_ms).collect();
    let rpo: Vec<_> = entries.iter().map(|e| e.failover_rpo_ms).collect();
    out.push_str(&format!(
        "trend, oldest to newest: failover RTO {}  RPO {}\n",
        sparkline(&rto),
        sparkline(&rpo)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_marks_gaps() {
        assert_eq!(sparkline(&[Some(0), Some(50), Some(100), None]), "▁▅█ ");
    }

    #[test]
    fn history_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drills/history.jsonl");
        let e = Entry {
            id: "d1".into(),
            started_ms: 1,
            passed: true,
            kind: "shadow".into(),
            failover_rto_ms: Some(900),
            failover_rpo_ms: Some(0),
            failback_rto_ms: None,
            failback_rpo_ms: None,
            failed_requests: 2,
            requests: 100,
        };
        append(&path, &e).unwrap();
        append(
            &path,
            &Entry {
                id: "d2".into(),
                passed: false,
                ..e.clone()
            },
        )
        .unwrap();
        let read = read(&path);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], e);
        assert!(
            table(&read).contains(&format!("{:<34} shadow FAILED", "d2")),
            "{}",
            table(&read)
        );
    }

    #[test]
    fn lines_from_before_shadow_drills_read_as_full_drills() {
        let old = r#"{"id":"d0","started_ms":1,"passed":true,"failover_rto_ms":800,"failover_rpo_ms":0,"failback_rto_ms":null,"failback_rpo_ms":null,"failed_requests":0,"requests":10}"#;
        let e: Entry = serde_json::from_str(old).unwrap();
        assert_eq!(e.kind, "full");
    }
}
