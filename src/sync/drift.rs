//! Content hashes and the add/change/remove diff between the active and the passive side.
//!
//! Two documents are "the same" when their canonical JSON (object keys sorted at every level, no
//! whitespace) has the same SHA-256, so key order and formatting never count as drift. Sessions are
//! compared byte for byte instead (Redis holds them as written, and hashing 100k values costs time).

use std::collections::BTreeMap;

use serde::Serialize;
use tyk_model::HashAlgo;

/// Names listed per category in a report; counts are always exact.
pub const SAMPLE: usize = 50;

/// The SHA-256 of a JSON value's canonical form.
pub fn content_hash(value: &serde_json::Value) -> String {
    let mut out = String::new();
    canonical(value, &mut out);
    HashAlgo::Sha256.hex_digest(out.as_bytes())
}

fn canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What differs between the two sides, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// On the active side only: to add.
    pub missing: Vec<String>,
    /// On both sides with different content: to replace.
    pub different: Vec<String>,
    /// On the passive side only: to delete (the source read succeeded, so the source really deleted them).
    pub extra: Vec<String>,
}

impl Changes {
    /// Compares id → content hash maps of the source and the target.
    pub fn between(source: &BTreeMap<String, String>, target: &BTreeMap<String, String>) -> Self {
        let mut c = Changes::default();
        for (id, hash) in source {
            match target.get(id) {
                None => c.missing.push(id.clone()),
                Some(h) if h != hash => c.different.push(id.clone()),
                Some(_) => {}
            }
        }
        c.extra = target
            .keys()
            .filter(|id| !source.contains_key(*id))
            .cloned()
            .collect();
        c
    }

    /// Number of differences.
    pub fn total(&self) -> u64 {
        (self.missing.len() + self.different.len() + self.extra.len()) as u64
    }
}

/// Drift counts with a sample of names, for sets too large to list (keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DriftCount {
    /// Absent from the passive side.
    pub missing: u64,
    /// Present on both sides with different content.
    pub different: u64,
    /// Present only on the passive side.
    pub extra: u64,
    /// Up to [`SAMPLE`] names, each prefixed with its category.
    pub sample: Vec<String>,
}

impl DriftCount {
    /// Records one difference.
    pub fn note(&mut self, kind: &str, name: &str) {
        match kind {
            "missing" => self.missing += 1,
            "different" => self.different += 1,
            _ => self.extra += 1,
        }
        if self.sample.len() < SAMPLE {
            self.sample.push(format!("{kind} {name}"));
        }
    }

    /// Number of differences.
    pub fn total(&self) -> u64 {
        self.missing + self.different + self.extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_and_whitespace_but_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(
            content_hash(&a),
            content_hash(&json!({"a": {"x": "s", "y": [2, 1]}, "b": 1}))
        );
        assert_eq!(content_hash(&json!({})).len(), 64);
    }

    #[test]
    fn changes_are_missing_different_extra() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let c = Changes::between(
            &m(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &m(&[("b", "2"), ("c", "x"), ("d", "4")]),
        );
        assert_eq!(c.missing, vec!["a"]);
        assert_eq!(c.different, vec!["c"]);
        assert_eq!(c.extra, vec!["d"]);
        assert_eq!(c.total(), 3);
        let mut d = DriftCount::default();
        for i in 0..60 {
            d.note("missing", &format!("k{i}"));
        }
        d.note("extra", "z");
        assert_eq!(
            (d.missing, d.extra, d.total(), d.sample.len()),
            (60, 1, 61, SAMPLE)
        );
    }
}
