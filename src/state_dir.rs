//! Where tyk-dr keeps what it writes between runs, in one place: `.tyk-dr/` next to the
//! configuration file, unless a command's `--state-dir` says otherwise.
//!
//! - `journal/`: `apply` / `destroy` journals;
//! - `runs/`: `failover` / `failback` journals and run reports;
//! - `drills/`: drill reports and `history.jsonl`;
//! - `sync-state.json`: what `sync` last wrote.

use std::path::{Path, PathBuf};

/// `.tyk-dr` next to the configuration file.
pub fn base(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".tyk-dr")
}

/// `explicit` (`--state-dir`), else [`base`].
pub fn or_base(explicit: Option<&Path>, config_path: &Path) -> PathBuf {
    explicit.map_or_else(|| base(config_path), Path::to_owned)
}

/// Where playbook runs journal: `explicit` (`--state-dir`), else `.tyk-dr/runs`.
pub fn runs(explicit: Option<&Path>, config_path: &Path) -> PathBuf {
    explicit.map_or_else(|| base(config_path).join("runs"), Path::to_owned)
}

/// Where drill reports and the drill history live: `.tyk-dr/drills`.
pub fn drills(config_path: &Path) -> PathBuf {
    base(config_path).join("drills")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lives_next_to_the_config_unless_given() {
        assert_eq!(base(Path::new("tyk-dr.toml")), Path::new("./.tyk-dr"));
        assert_eq!(
            runs(None, Path::new("/etc/tyk-dr/tyk-dr.toml")),
            Path::new("/etc/tyk-dr/.tyk-dr/runs")
        );
        assert_eq!(
            runs(Some(Path::new("/var/lib/runs")), Path::new("tyk-dr.toml")),
            Path::new("/var/lib/runs")
        );
        assert_eq!(or_base(None, Path::new("a/b.toml")), Path::new("a/.tyk-dr"));
        assert_eq!(drills(Path::new("a/b.toml")), Path::new("a/.tyk-dr/drills"));
    }
}
