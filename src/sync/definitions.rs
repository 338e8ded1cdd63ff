//! API definitions, active → passive: read the source, select and rewrite, diff each target by content
//! hash, apply (unless checking), and report every rejection. Deletions only follow a complete source read.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::drift::{content_hash, Changes};
use super::select::{api_selected, rewrite};
use super::store::{Listing, Store, WriteError};
use crate::config::SyncSettings;

/// Writes in flight per target.
const PARALLEL: usize = 8;

/// What happened to one passive target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetReport {
    /// `files:<dir>` or `api:<url>`.
    pub target: String,
    /// Differences found before applying.
    pub drift: Changes,
    /// Writes and deletes that succeeded.
    pub applied: u64,
    /// Definitions the target refused as invalid: `(api_id, reason)`.
    pub rejected: Vec<(String, String)>,
    /// Writes or deletes that failed after retries, or why the target could not be read.
    pub errors: Vec<String>,
    /// Deletions held back because the source had unreadable definitions.
    pub deletes_held: Vec<String>,
}

/// The definitions part of a sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DefinitionsReport {
    /// Where definitions were read.
    pub source: String,
    /// Definitions read from the source.
    pub source_count: u64,
    /// `api_id`s not selected for the passive region.
    pub excluded: Vec<String>,
    /// Source files that are not valid definitions: `(file, problem)`.
    pub invalid_source: Vec<(String, String)>,
    /// One entry per passive target.
    pub targets: Vec<TargetReport>,
    /// Why the source could not be read (nothing was changed).
    pub error: Option<String>,
}

impl DefinitionsReport {
    /// Differences found across targets.
    pub fn drift(&self) -> u64 {
        self.targets.iter().map(|t| t.drift.total()).sum()
    }

    /// Changes that were due but did not happen (rejected, failed, unreadable).
    pub fn failures(&self) -> u64 {
        self.error.is_some() as u64
            + self
                .targets
                .iter()
                .map(|t| (t.rejected.len() + t.errors.len()) as u64)
                .sum::<u64>()
    }

    /// Whether any target was changed.
    pub fn changed(&self) -> bool {
        self.targets.iter().any(|t| t.applied > 0)
    }
}

/// Syncs (or with `check`, compares) definitions from the first readable source to every target.
pub async fn sync(
    settings: &SyncSettings,
    sources: &[Store],
    targets: &[Store],
    check: bool,
) -> DefinitionsReport {
    let mut report = DefinitionsReport::default();
    let mut failures = Vec::new();
    let mut listing = None;
    for source in sources {
        match source.list().await {
            Ok(l) => {
                report.source = source.name();
                listing = Some(l);
                break;
            }
            Err(e) => failures.push(e),
        }
    }
    let Some(listing) = listing else {
        report.error = Some(format!(
            "reading the source failed, nothing changed: {}",
            failures.join("; ")
        ));
        return report;
    };
    report.source_count = listing.defs.len() as u64;
    report.invalid_source = listing.invalid.clone();
    let mut wanted = BTreeMap::new();
    for (id, def) in &listing.defs {
        if api_selected(&settings.apis, def) {
            wanted.insert(id.clone(), rewrite(&settings.rewrites, def.clone()));
        } else {
            report.excluded.push(id.clone());
        }
    }
    for target in targets {
        report
            .targets
            .push(sync_target(&wanted, &listing, &report.excluded, target, check).await);
    }
    report
}

async fn sync_target(
    wanted: &BTreeMap<String, serde_json::Value>,
    source: &Listing,
    excluded: &[String],
    target: &Store,
    check: bool,
) -> TargetReport {
    let mut report = TargetReport {
        target: target.name(),
        ..Default::default()
    };
    let current = match target.list().await {
        Ok(l) => l,
        Err(e) => {
            report
                .errors
                .push(format!("reading the target failed: {e}"));
            return report;
        }
    };
    let hashes = |m: &BTreeMap<String, serde_json::Value>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| (k.clone(), content_hash(v)))
            .collect()
    };
    let mut have = hashes(&current.defs);
    // Not selected: neither copied nor deleted (the passive copy, if any, is left alone).
    let excluded: std::collections::HashSet<&String> = excluded.iter().collect();
    have.retain(|id, _| !excluded.contains(id));
    let mut drift = Changes::between(&hashes(wanted), &have);
    // Invalid on the source is not a deletion; unreadable files hold back every deletion.
    let (held, extra): (Vec<String>, Vec<String>) = drift.extra.drain(..).partition(|id| {
        source.invalid_ids.contains(id) || source.invalid.len() > source.invalid_ids.len()
    });
    drift.extra = extra;
    report.deletes_held = held;
    report.drift = drift.clone();
    if check {
        return report;
    }
    let puts = drift.missing.iter().chain(&drift.different).map(|id| {
        let def = &wanted[id];
        let existing = current.files.get(id).map(|p| p.as_path());
        async move { (id, target.put(id, def, existing).await) }
    });
    let mut results: Vec<(&String, Result<(), WriteError>)> = stream::iter(puts)
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let deletes = drift.extra.iter().map(|id| {
        let existing = current.files.get(id).map(|p| p.as_path());
        async move { (id, target.delete(id, existing).await) }
    });
    results.extend(
        stream::iter(deletes)
            .buffer_unordered(PARALLEL)
            .collect::<Vec<_>>()
            .await,
    );
    for (id, r) in results {
        match r {
            Ok(()) => report.applied += 1,
            Err(WriteError::Rejected(why)) => report.rejected.push((id.clone(), why)),
            Err(WriteError::Failed(why)) => report.errors.push(format!("{id}: {why}")),
        }
    }
    report.rejected.sort();
    report.errors.sort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiSelection, UrlRewrite};
    use serde_json::json;

    fn write(dir: &std::path::Path, id: &str, extra: serde_json::Value) {
        let mut d = json!({"api_id": id, "proxy": {"listen_path": format!("/{id}/"), "target_url": "http://a.internal/"}});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        std::fs::write(dir.join(format!("{id}.json")), d.to_string()).unwrap();
    }

    #[tokio::test]
    async fn files_to_files_with_selection_rewrites_and_safe_deletes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(a.path(), "one", json!({"tags": ["public"]}));
        write(a.path(), "two", json!({"tags": ["eu-only"]}));
        write(b.path(), "two", json!({"name": "passive copy"}));
        write(b.path(), "gone", json!({}));
        let settings = SyncSettings {
            apis: ApiSelection {
                exclude_tags: vec!["eu-only".into()],
                ..Default::default()
            },
            rewrites: vec![UrlRewrite {
                from: "http://a.internal".into(),
                to: "http://b.internal".into(),
            }],
            ..Default::default()
        };
        let (src, dst) = (Store::Dir(a.path().into()), Store::Dir(b.path().into()));
        let r = sync(
            &settings,
            std::slice::from_ref(&src),
            std::slice::from_ref(&dst),
            true,
        )
        .await;
        assert_eq!(r.excluded, vec!["two"]);
        assert_eq!(
            (
                r.targets[0].drift.missing.clone(),
                r.targets[0].drift.extra.clone()
            ),
            (vec!["one".to_string()], vec!["gone".to_string()])
        );
        assert!(b.path().join("gone.json").exists(), "check changes nothing");
        let r = sync(
            &settings,
            std::slice::from_ref(&src),
            std::slice::from_ref(&dst),
            false,
        )
        .await;
        assert_eq!((r.targets[0].applied, r.failures()), (2, 0));
        let one: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.path().join("one.json")).unwrap()).unwrap();
        assert_eq!(one["proxy"]["target_url"], "http://b.internal/");
        assert!(!b.path().join("gone.json").exists());
        assert!(
            b.path().join("two.json").exists(),
            "excluded APIs are left alone"
        );
        assert_eq!(
            sync(
                &settings,
                std::slice::from_ref(&src),
                std::slice::from_ref(&dst),
                true
            )
            .await
            .drift(),
            0
        );

        // A half-written source file holds back deletions; an unreadable source changes nothing.
        std::fs::write(a.path().join("broken.json"), "{").unwrap();
        std::fs::remove_file(a.path().join("one.json")).unwrap();
        let r = sync(
            &settings,
            std::slice::from_ref(&src),
            std::slice::from_ref(&dst),
            false,
        )
        .await;
        assert_eq!(r.targets[0].deletes_held, vec!["one"]);
        assert!(b.path().join("one.json").exists());
        let r = sync(
            &settings,
            &[Store::Dir(a.path().join("nope"))],
            std::slice::from_ref(&dst),
            false,
        )
        .await;
        assert!(r.error.is_some() && r.targets.is_empty());
    }
}
