//! The run journal: one JSON line per event, appended and flushed as it
//! happens, so a run killed at any point can be continued with `--resume` and
//! audited afterwards.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One journal line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    /// When it was written (ms since epoch).
    pub ts_ms: i64,
    /// The run.
    pub run_id: String,
    /// `run-start`, `step-start`, `step-done`, `step-failed`, `run-end`.
    pub event: String,
    /// Step position (step events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Step name (step events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What the step saw before acting.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub observed: Value,
    /// What it did (empty: nothing needed doing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Facts learned (merged into the run's facts on resume).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub facts: Map<String, Value>,
    /// How long the step took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Run-level data: playbook, transition, origin (run-start only).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub run: Value,
}

/// An open journal file.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Path of a run's journal in a state directory.
    pub fn path(state_dir: &Path, run_id: &str) -> PathBuf {
        state_dir.join(format!("{run_id}.jsonl"))
    }

    /// Opens (creating if needed) a run's journal for appending.
    pub fn open(state_dir: &Path, run_id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let path = Self::path(state_dir, run_id);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self { path, file })
    }

    /// Appends one entry and flushes it to disk before returning.
    pub fn write(&mut self, mut entry: Entry) -> std::io::Result<()> {
        if entry.ts_ms == 0 {
            entry.ts_ms = crate::probes::now_ms();
        }
        let mut line = serde_json::to_string(&entry).expect("entries serialise");
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()
    }

    /// Where the journal lives.
    pub fn file(&self) -> &Path {
        &self.path
    }
}

/// Reads every entry of a run's journal; a torn last line (crash mid-write) is ignored.
pub fn read(state_dir: &Path, run_id: &str) -> std::io::Result<Vec<Entry>> {
    let file = File::open(Journal::path(state_dir, run_id))?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// Where a journal says to continue: the facts so far and the first step not yet done.
pub fn resume_point(entries: &[Entry]) -> (Map<String, Value>, usize) {
    let mut facts = Map::new();
    let mut next = 0;
    for e in entries {
        if e.event == "step-done" {
            facts.extend(e.facts.clone());
            next = next.max(e.index.unwrap_or(0) + 1);
        }
    }
    (facts, next)
}
