//! Policies, active → passive, as Tyk's `policies.json` (a map of policy id → policy). The gateway has no
//! policy endpoint, so they move as files; the passive file is rewritten whole and atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::drift::{content_hash, Changes};
use super::store::write_atomic;

/// The policies part of a sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoliciesReport {
    /// The source file.
    pub source: String,
    /// The target file.
    pub target: String,
    /// Policies in the source.
    pub source_count: u64,
    /// Differences found before applying.
    pub drift: Changes,
    /// The target file was rewritten.
    pub written: bool,
    /// Why nothing could be done (source unreadable or invalid, target not writable).
    pub error: Option<String>,
}

fn read_map(
    path: &Path,
    missing_is_empty: bool,
) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if missing_is_empty && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeMap::new())
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    tyk_model::parse_policies(&raw)
        .map_err(|e| format!("{}: not a policies map: {e}", path.display()))?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(map.into_iter().collect())
}

/// Syncs (or with `check`, compares) `source` to `target`.
pub fn sync(source: &Path, target: &Path, check: bool) -> PoliciesReport {
    let mut report = PoliciesReport {
        source: source.display().to_string(),
        target: target.display().to_string(),
        ..Default::default()
    };
    // A missing or invalid source is an error, never "every policy was deleted".
    let (from, to) = match (read_map(source, false), read_map(target, true)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            report.error = Some(e);
            return report;
        }
    };
    report.source_count = from.len() as u64;
    let hashes = |m: &BTreeMap<String, serde_json::Value>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| (k.clone(), content_hash(v)))
            .collect()
    };
    report.drift = Changes::between(&hashes(&from), &hashes(&to));
    if check || report.drift.total() == 0 {
        return report;
    }
    let body = serde_json::to_vec_pretty(&from).expect("JSON values serialise");
    match write_atomic(target, &body) {
        Ok(()) => report.written = true,
        Err(e) => report.error = Some(format!("{}: {e}", target.display())),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_changes_and_refuses_a_broken_source() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a.json"), d.path().join("b.json"));
        std::fs::write(
            &a,
            r#"{"gold": {"rate": 10, "per": 1}, "silver": {"rate": 1, "per": 1}}"#,
        )
        .unwrap();
        let r = sync(&a, &b, true);
        assert_eq!((r.drift.missing.len(), r.written), (2, false));
        assert!(sync(&a, &b, false).written);
        assert_eq!(sync(&a, &b, true).drift.total(), 0);
        std::fs::write(&a, r#"{"gold": {"rate": 20, "per": 1}}"#).unwrap();
        let r = sync(&a, &b, false);
        assert_eq!(
            (r.drift.different.clone(), r.drift.extra.clone()),
            (vec!["gold".to_string()], vec!["silver".to_string()])
        );
        std::fs::write(&a, "{").unwrap();
        let r = sync(&a, &b, false);
        assert!(r.error.is_some() && !r.written);
        assert!(std::fs::read_to_string(&b).unwrap().contains("gold"));
    }
}
