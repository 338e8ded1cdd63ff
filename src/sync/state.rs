//! The last sync's outcome in a small JSON file, so `status` and `monitor` can show its age and drift
//! without syncing themselves.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::SyncSettings;

/// What `status`/`monitor` need to know about the last sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// When the pass finished (ms since the Unix epoch).
    pub finished_at_ms: i64,
    /// `sync` or `check`.
    pub kind: String,
    /// Differences found when the pass started.
    pub drift_found: u64,
    /// Differences left afterwards (rejected, failed or unreadable items; for `check`, all of them).
    pub drift_left: u64,
    /// The pass completed without errors.
    pub ok: bool,
}

impl SyncState {
    /// Seconds since the pass finished.
    pub fn age_secs(&self, now_ms: i64) -> f64 {
        (now_ms - self.finished_at_ms).max(0) as f64 / 1000.0
    }
}

/// One line for `status`/`monitor`: `sync 12s ago, drift 0` (or that no sync ran).
pub fn summary(state: Option<&SyncState>, now_ms: i64) -> String {
    match state {
        None => "sync never ran".into(),
        Some(s) => format!(
            "{} {:.0}s ago, drift {}{}",
            s.kind,
            s.age_secs(now_ms),
            s.drift_left,
            if s.ok { "" } else { ", with failures" }
        ),
    }
}

/// Where the state file is: `sync.state_file` (relative to the config file), else
/// `.tyk-dr/sync-state.json` next to the config file.
pub fn path(settings: &SyncSettings, config_path: &Path) -> PathBuf {
    match &settings.state_file {
        Some(p) => config_path.parent().unwrap_or(Path::new(".")).join(p),
        None => crate::state_dir::base(config_path).join("sync-state.json"),
    }
}

/// Writes the state (atomically).
pub fn write(path: &Path, state: &SyncState) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(state).expect("state serialises"),
    )?;
    std::fs::rename(&tmp, path)
}

/// Reads the state; `None` when no sync ran yet or the file is unreadable.
pub fn read(path: &Path) -> Option<SyncState> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_default_location() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("tyk-dr.toml");
        let p = path(&SyncSettings::default(), &cfg);
        assert_eq!(p, d.path().join(".tyk-dr/sync-state.json"));
        assert_eq!(read(&p), None);
        let s = SyncState {
            finished_at_ms: 1_000,
            kind: "check".into(),
            drift_found: 3,
            drift_left: 3,
            ok: true,
        };
        write(&p, &s).unwrap();
        assert_eq!(read(&p), Some(s.clone()));
        assert_eq!(s.age_secs(3_500), 2.5);
        assert_eq!(summary(Some(&s), 13_000), "check 12s ago, drift 3");
        assert_eq!(summary(None, 0), "sync never ran");
    }
}
