//! The run journal: one JSON line per event, appended and flushed as it
//! happens, so a run killed at any point can be continued with `--resume` and
//! audited afterwards. The journal also keeps every event of the run in memory
//! (those of earlier attempts read back on open), which is what the report is
//! built from.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::facts::RunFacts;
use super::model::OnFailure;

/// One journal line: when, which run, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was written (ms since epoch).
    pub ts_ms: i64,
    /// The run.
    pub run_id: String,
    /// What happened (the line's `event` field names the kind).
    #[serde(flatten)]
    pub event: Event,
}

/// What a journal line records. On disk the kind is the `event` field (`run-start`,
/// `step-start`, `step-done`, `step-failed`, `run-end`), as it has always been.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A new run: its playbook, direction and RTO origin.
    RunStart {
        /// Run-level data.
        run: RunStart,
    },
    /// A step is about to observe (and maybe act).
    StepStart {
        /// Step position.
        index: usize,
        /// Step name.
        step: String,
    },
    /// A step finished (boxed: it is by far the largest event).
    StepDone(Box<StepDone>),
    /// A step failed.
    StepFailed(StepFailed),
    /// Every step ran (or failed with `continue`).
    RunEnd {
        /// Always true (kept for the journal's format).
        #[serde(default = "yes")]
        run: bool,
    },
}

fn yes() -> bool {
    true
}

/// The data of a `run-start` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStart {
    /// Playbook name.
    pub playbook: String,
    /// Region giving up traffic.
    pub from: String,
    /// Region taking over.
    pub to: String,
    /// RTO origin (ms since the epoch).
    pub origin_ms: i64,
}

/// A `step-done` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDone {
    /// Step position.
    pub index: usize,
    /// Step name.
    pub step: String,
    /// What the step saw before acting.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub observed: Value,
    /// What it did (empty: nothing needed doing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Facts learned (merged into the run's facts on resume).
    #[serde(default, skip_serializing_if = "RunFacts::is_empty")]
    pub facts: RunFacts,
    /// How long the step took.
    #[serde(default)]
    pub duration_ms: u64,
}

/// A `step-failed` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailed {
    /// Step position.
    pub index: usize,
    /// Step name.
    pub step: String,
    /// How long the step took.
    #[serde(default)]
    pub duration_ms: u64,
    /// Why it failed.
    pub error: String,
    /// The step's failure policy (under `run` in the journal's format).
    #[serde(rename = "run", default)]
    pub policy: FailurePolicy,
}

/// The failure policy a `step-failed` line records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailurePolicy {
    /// What the failure did to the run.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// An open run journal: the file, and every event of the run so far.
pub struct RunJournal {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
}

impl RunJournal {
    /// Path of a run's journal in a state directory.
    pub fn path(state_dir: &Path, run_id: &str) -> PathBuf {
        state_dir.join(format!("{run_id}.jsonl"))
    }

    /// Opens (creating if needed) a run's journal for appending, with the events already in it.
    pub fn open(state_dir: &Path, run_id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let path = Self::path(state_dir, run_id);
        let entries = if path.exists() {
            read(state_dir, run_id)?
        } else {
            Vec::new()
        };
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file,
            entries,
        })
    }

    /// Appends one event, flushed to disk before returning.
    pub fn write(&mut self, run_id: &str, event: Event) -> std::io::Result<()> {
        let entry = Entry {
            ts_ms: crate::probes::now_ms(),
            run_id: run_id.to_owned(),
            event,
        };
        let mut line = serde_json::to_string(&entry).expect("entries serialise");
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.entries.push(entry);
        Ok(())
    }

    /// Where the journal lives.
    pub fn file(&self) -> &Path {
        &self.path
    }

    /// Every event of the run: earlier attempts' and this one's, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Reads every entry of a run's journal; a torn last line (crash mid-write) is ignored.
pub fn read(state_dir: &Path, run_id: &str) -> std::io::Result<Vec<Entry>> {
    let file = File::open(RunJournal::path(state_dir, run_id))?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// Where a journal says to continue: the facts so far and the first step not yet done.
pub fn resume_point(entries: &[Entry]) -> (RunFacts, usize) {
    let mut facts = RunFacts::default();
    let mut next = 0;
    for e in entries {
        if let Event::StepDone(done) = &e.event {
            facts.merge(done.facts.clone());
            next = next.max(done.index + 1);
        }
    }
    (facts, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as tyk-dr wrote them before events and facts were typed (facts as a free map).
    const OLD: &str = r#"{"ts_ms":1700000000000,"run_id":"failover-1","event":"run-start","run":{"playbook":"failover","from":"us-east-1","to":"us-west-2","origin_ms":1699999999000}}
{"ts_ms":1700000000001,"run_id":"failover-1","event":"step-start","index":0,"step":"preflight"}
{"ts_ms":1700000000050,"run_id":"failover-1","event":"step-done","index":0,"step":"preflight","observed":{"problems":[]},"facts":{"source_reachable":true,"expected_rpo_ms":null,"source_gateways_down":["http://127.0.1.23:8080"]},"duration_ms":49}
{"ts_ms":1700000000051,"run_id":"failover-1","event":"step-start","index":1,"step":"fence"}
{"ts_ms":1700000000090,"run_id":"failover-1","event":"step-done","index":1,"step":"fence","actions":["move the epoch to 3 (active=us-west-2)"],"facts":{"epoch":3,"fenced_at_ms":1700000000060,"source_gateways_unreachable":[],"source_offset":4242},"duration_ms":39}
{"ts_ms":1700000000091,"run_id":"failover-1","event":"step-start","index":2,"step":"promote-redis"}
{"ts_ms":1700000000200,"run_id":"failover-1","event":"step-failed","index":2,"step":"promote-redis","duration_ms":109,"error":"127.0.2.10:6379: connection refused","run":{"on_failure":"abort"}}
{"ts_ms":1700000000300,"run_id":"failover-1","event":"run-end","run":true}
{"ts_ms":17000000004"#;

    #[test]
    fn an_old_format_journal_replays() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(RunJournal::path(dir.path(), "failover-1"), OLD).unwrap();
        let entries = read(dir.path(), "failover-1").unwrap();
        assert_eq!(
            entries.len(),
            8,
            "every whole line; the torn last one is ignored"
        );
        assert_eq!(
            entries[0].event,
            Event::RunStart {
                run: RunStart {
                    playbook: "failover".into(),
                    from: "us-east-1".into(),
                    to: "us-west-2".into(),
                    origin_ms: 1_699_999_999_000,
                }
            }
        );
        let Event::StepFailed(failed) = &entries[6].event else {
            panic!("{:?}", entries[6]);
        };
        assert_eq!(failed.error, "127.0.2.10:6379: connection refused");
        assert_eq!(failed.policy.on_failure, OnFailure::Abort);
        let (facts, next) = resume_point(&entries);
        assert_eq!(next, 2, "continues with the failed step");
        assert_eq!(facts.epoch, Some(3));
        assert_eq!(facts.source_offset, Some(4242));
        assert_eq!(facts.source_reachable, Some(true));
        assert_eq!(facts.expected_rpo_ms, None);
        assert_eq!(
            facts.source_gateways_down.as_deref(),
            Some(&["http://127.0.1.23:8080".to_owned()][..])
        );
    }

    #[test]
    fn lines_keep_the_journal_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = RunJournal::open(dir.path(), "r").unwrap();
        journal
            .write(
                "r",
                Event::StepDone(Box::new(StepDone {
                    index: 1,
                    step: "fence".into(),
                    observed: Value::Null,
                    actions: vec![],
                    facts: RunFacts {
                        epoch: Some(4),
                        ..Default::default()
                    },
                    duration_ms: 7,
                })),
            )
            .unwrap();
        journal.write("r", Event::RunEnd { run: true }).unwrap();
        let text = std::fs::read_to_string(journal.file()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut first = lines[0].clone();
        first.as_object_mut().unwrap().remove("ts_ms");
        assert_eq!(
            first,
            serde_json::json!({"run_id": "r", "event": "step-done", "index": 1, "step": "fence",
                               "facts": {"epoch": 4}, "duration_ms": 7})
        );
        assert_eq!(lines[1]["event"], "run-end");
        assert_eq!(lines[1]["run"], true);
        // Reopening reads the events back: a resumed run's report covers both attempts.
        let reopened = RunJournal::open(dir.path(), "r").unwrap();
        assert_eq!(reopened.entries(), journal.entries());
    }
}
