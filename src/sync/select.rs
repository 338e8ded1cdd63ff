//! Selection rules: which API definitions go to the passive region, how their region-specific URLs are
//! rewritten, and which keys must never leave the active region (data residency).

use serde::Deserialize;

use crate::config::{ApiSelection, KeySync, UrlRewrite};

/// Whether an API definition (raw JSON) is selected for the passive region.
pub fn api_selected(sel: &ApiSelection, def: &serde_json::Value) -> bool {
    let id = def
        .get("api_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let tags: Vec<&str> = def
        .get("tags")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    let has = |list: &[String]| tags.iter().any(|t| list.iter().any(|l| l == t));
    if sel.exclude_ids.iter().any(|x| x == id) || has(&sel.exclude_tags) {
        return false;
    }
    if sel.ids.is_empty() && sel.tags.is_empty() {
        return true;
    }
    sel.ids.iter().any(|x| x == id) || has(&sel.tags)
}

/// The definition as the passive region should hold it: the first matching `proxy.target_url` prefix replaced.
pub fn rewrite(rewrites: &[UrlRewrite], mut def: serde_json::Value) -> serde_json::Value {
    let Some(url) = def.pointer_mut("/proxy/target_url") else {
        return def;
    };
    let Some(current) = url.as_str() else {
        return def;
    };
    if let Some(r) = rewrites
        .iter()
        .find(|r| !r.from.is_empty() && current.starts_with(&r.from))
    {
        *url = serde_json::Value::String(format!("{}{}", r.to, &current[r.from.len()..]));
    }
    def
}

/// The session fields residency rules look at (parsing only these keeps large scans cheap).
#[derive(Deserialize)]
struct Residency {
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Where a key may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Copy it to the passive region.
    Sync,
    /// A residency rule keeps it in the active region.
    Resident,
    /// The session is not JSON: its residency cannot be decided, so it is not copied (and reported).
    Unreadable,
}

/// Whether residency rules apply at all (when not, sessions need not be parsed).
pub fn has_residency_rules(k: &KeySync) -> bool {
    !k.resident_org_ids.is_empty() || !k.resident_tags.is_empty()
}

/// Decides where one session may go.
pub fn key_verdict(k: &KeySync, session: &[u8]) -> KeyVerdict {
    if !has_residency_rules(k) {
        return KeyVerdict::Sync;
    }
    let Ok(s) = serde_json::from_slice::<Residency>(session) else {
        return KeyVerdict::Unreadable;
    };
    let org = s.org_id.unwrap_or_default();
    let tags = s.tags.unwrap_or_default();
    if k.resident_org_ids.contains(&org)
        || tags.iter().any(|t| k.resident_tags.iter().any(|r| r == t))
    {
        KeyVerdict::Resident
    } else {
        KeyVerdict::Sync
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(ids: &[&str], tags: &[&str], xids: &[&str], xtags: &[&str]) -> ApiSelection {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        ApiSelection {
            ids: v(ids),
            tags: v(tags),
            exclude_ids: v(xids),
            exclude_tags: v(xtags),
        }
    }

    #[test]
    fn selection_by_id_and_tag_with_excludes_winning() {
        let a = json!({"api_id": "a", "tags": ["public"]});
        let b = json!({"api_id": "b", "tags": ["internal"]});
        let c = json!({"api_id": "c"});
        assert!([&a, &b, &c]
            .iter()
            .all(|d| api_selected(&sel(&[], &[], &[], &[]), d)));
        let s = sel(&["c"], &["public"], &[], &[]);
        assert_eq!(
            [&a, &b, &c].map(|d| api_selected(&s, d)),
            [true, false, true]
        );
        let s = sel(&[], &[], &["c"], &["internal"]);
        assert_eq!(
            [&a, &b, &c].map(|d| api_selected(&s, d)),
            [true, false, false]
        );
        assert!(!api_selected(&sel(&["a"], &[], &["a"], &[]), &a));
    }

    #[test]
    fn rewrites_the_first_matching_prefix_only() {
        let r = vec![UrlRewrite {
            from: "http://127.0.1.100:9000".into(),
            to: "http://127.0.2.100:9000".into(),
        }];
        let d = rewrite(
            &r,
            json!({"proxy": {"target_url": "http://127.0.1.100:9000/x"}}),
        );
        assert_eq!(d["proxy"]["target_url"], "http://127.0.2.100:9000/x");
        let d = rewrite(&r, json!({"proxy": {"target_url": "http://other/"}}));
        assert_eq!(d["proxy"]["target_url"], "http://other/");
        assert_eq!(rewrite(&r, json!({"name": 1})), json!({"name": 1}));
    }

    #[test]
    fn residency_by_org_and_tag() {
        let mut k = KeySync::default();
        assert_eq!(key_verdict(&k, b"not json"), KeyVerdict::Sync);
        k.resident_org_ids = vec!["eu".into()];
        k.resident_tags = vec!["pii".into()];
        assert_eq!(key_verdict(&k, br#"{"org_id":"eu"}"#), KeyVerdict::Resident);
        assert_eq!(
            key_verdict(&k, br#"{"org_id":"us","tags":["x","pii"]}"#),
            KeyVerdict::Resident
        );
        assert_eq!(
            key_verdict(&k, br#"{"org_id":"us","tags":null}"#),
            KeyVerdict::Sync
        );
        assert_eq!(key_verdict(&k, b"{oops"), KeyVerdict::Unreadable);
    }
}
