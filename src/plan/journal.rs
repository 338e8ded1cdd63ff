//! The apply journal: one JSON line per step under `<state-dir>/journal/`, so an interrupted
//! run can be told apart from a finished one and audited afterwards.
//!
//! Resuming does not replay the journal: the next run reads the world again and plans only
//! what is still missing (every step is idempotent). The journal says where the last run
//! stopped. `TYK_DR_TEST_CRASH_AFTER_STEP=N` aborts the process right after the N-th step
//! line; it exists only for the resume tests.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::Error;

/// Environment variable of the crash hook used by tests.
pub const CRASH_HOOK: &str = "TYK_DR_TEST_CRASH_AFTER_STEP";

/// An open `apply` / `destroy` journal file.
#[derive(Debug)]
pub struct ApplyJournal {
    file: File,
    path: PathBuf,
    steps: usize,
    crash_after: Option<usize>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn write_err(path: &Path, e: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// How the previous run of a command ended, read from its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// The journal file.
    pub path: PathBuf,
    /// Steps completed.
    pub done: usize,
    /// Steps planned.
    pub total: usize,
    /// True when the run wrote its final line.
    pub finished: bool,
}

impl ApplyJournal {
    /// The journal directory inside a state directory.
    pub fn dir(state_dir: &Path) -> PathBuf {
        state_dir.join("journal")
    }

    /// Reads the most recent journal of `command`, if any.
    pub fn previous(state_dir: &Path, command: &str) -> Option<Previous> {
        let mut files: Vec<PathBuf> = fs::read_dir(Self::dir(state_dir))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&format!("-{command}.jsonl")))
            })
            .collect();
        files.sort();
        let path = files.pop()?;
        let text = fs::read_to_string(&path).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let total = lines
            .iter()
            .find(|l| l["event"] == "start")
            .and_then(|l| l["steps"].as_u64())
            .unwrap_or(0) as usize;
        let done = lines
            .iter()
            .filter(|l| l["event"] == "step" && l["status"] != "failed")
            .count();
        let finished = lines
            .iter()
            .any(|l| l["event"] == "finish" && l["status"] == "ok");
        Some(Previous {
            path,
            done,
            total,
            finished,
        })
    }

    /// Starts a new journal for `command` with `steps` planned steps.
    pub fn start(
        state_dir: &Path,
        command: &str,
        fingerprint: &str,
        steps: usize,
    ) -> Result<ApplyJournal, Error> {
        let dir = Self::dir(state_dir);
        fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
        let path = dir.join(format!("{}-{command}.jsonl", now_ms()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| write_err(&path, e))?;
        let crash_after = std::env::var(CRASH_HOOK).ok().and_then(|v| v.parse().ok());
        let mut j = ApplyJournal {
            file,
            path,
            steps: 0,
            crash_after,
        };
        j.line(json!({ "event": "start", "command": command, "fingerprint": fingerprint, "steps": steps }))?;
        Ok(j)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line(&mut self, mut v: Value) -> Result<(), Error> {
        v["at_ms"] = json!(now_ms() as u64);
        let mut s = v.to_string();
        s.push('\n');
        self.file
            .write_all(s.as_bytes())
            .map_err(|e| write_err(&self.path, e))?;
        self.file.sync_data().map_err(|e| write_err(&self.path, e))
    }

    /// Records one finished (or failed, or skipped) step.
    pub fn step(
        &mut self,
        op: &str,
        addr: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), Error> {
        self.steps += 1;
        self.line(json!({ "event": "step", "seq": self.steps, "op": op, "addr": addr, "id": id, "status": status, "error": error }))?;
        if self.crash_after == Some(self.steps) {
            eprintln!("{CRASH_HOOK}: aborting after step {}", self.steps);
            std::process::abort();
        }
        Ok(())
    }

    /// Records how the run ended.
    pub fn finish(&mut self, status: &str) -> Result<(), Error> {
        self.line(json!({ "event": "finish", "status": status, "steps": self.steps }))
    }
}
