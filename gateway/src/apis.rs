//! Loading API definitions from `app_path` and routing by longest `listen_path` prefix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::HeaderName;
use http::uri::{Authority, Scheme};
use tyk_model::{ApiDefinition, DefinitionError};

/// One servable API, with everything the hot path needs pre-parsed.
#[derive(Debug)]
pub struct ApiRoute {
    /// The definition as loaded.
    pub def: ApiDefinition,
    /// File it came from (management updates write back to it).
    pub source: PathBuf,
    /// Upstream scheme.
    pub scheme: Scheme,
    /// Upstream host:port.
    pub authority: Authority,
    /// Upstream base path, as written in `target_url` (joined to request paths by [`join_path`]).
    pub base_path: String,
    /// Query of `target_url`, put before the request's own (Tyk's reverse proxy `targetQuery`).
    pub target_query: Option<Box<str>>,
    /// Header carrying the token (lowercased).
    pub auth_header: HeaderName,
    /// Query parameter carrying the token, when enabled.
    pub auth_param: Option<String>,
    /// Cookie carrying the token, when enabled.
    pub auth_cookie: Option<String>,
    /// Read the token from the header (Tyk's `disable_header` off).
    pub auth_use_header: bool,
    /// Upstream pool key (`scheme://authority`).
    pub pool_key: std::sync::Arc<str>,
    /// Request counters by status, cached so the hot path does not build label sets.
    pub counters: crate::metrics::RouteCounters,
    /// `version_data` and `definition`, compiled (see [`crate::versions`]).
    pub versions: crate::versions::RouteVersions,
}

/// The routing table; replaced as a whole on reload.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Routes, longest listen path first.
    pub routes: Vec<Arc<ApiRoute>>,
    /// Routes by API id.
    pub by_id: HashMap<String, Arc<ApiRoute>>,
    /// Definition files that failed to load, so tools (`tyk-dr sync`) can tell "deleted" from
    /// "broken" and never propagate a broken file as a deletion.
    pub rejected: Vec<Rejected>,
}

/// A definition file the gateway could not load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// The file.
    pub file: String,
    /// Its `api_id`, when the file is JSON with one.
    pub api_id: Option<String>,
    /// What is wrong, naming the field.
    pub reason: String,
}

/// Tyk auth modes (definition flags) this gateway does not implement. A keyed API that turns one on is
/// skipped at load, naming the flag, instead of being served with token auth it never asked for.
const UNSUPPORTED_AUTH: [(&str, &str); 10] = [
    ("use_basic_auth", "basic auth"),
    ("enable_jwt", "JWT auth"),
    ("use_oauth2", "OAuth 2.0"),
    ("use_openid", "OpenID Connect"),
    ("enable_signature_checking", "HMAC request signing"),
    ("use_mutual_tls_auth", "mutual TLS auth"),
    ("custom_plugin_auth_enabled", "custom plugin auth"),
    ("use_go_plugin_auth", "Go plugin auth"),
    ("enable_coprocess_auth", "coprocess plugin auth"),
    ("external_oauth.enabled", "external OAuth"),
];

fn unsupported_auth(def: &ApiDefinition) -> Option<(&'static str, &'static str)> {
    if def.use_keyless {
        return None;
    }
    UNSUPPORTED_AUTH.into_iter().find(|(flag, _)| {
        let v = match flag.split_once('.') {
            Some((outer, inner)) => def.extra.get(outer).and_then(|o| o.get(inner)),
            None => def.extra.get(*flag),
        };
        v.and_then(serde_json::Value::as_bool) == Some(true)
    })
}

fn build(def: ApiDefinition, source: PathBuf) -> Result<ApiRoute, DefinitionError> {
    let bad = |field: &str, message: String| DefinitionError {
        field: field.into(),
        message,
    };
    if let Some((flag, what)) = unsupported_auth(&def) {
        return Err(bad(
            flag,
            format!(
                "{what} is not supported by tyk-dr-gateway (keyless and auth-token APIs are); \
                 serve this API with Tyk or switch it to auth tokens"
            ),
        ));
    }
    let uri: http::Uri = def.proxy.target_url.parse().map_err(|e| {
        bad(
            "proxy.target_url",
            format!("`{}`: {e}", def.proxy.target_url),
        )
    })?;
    let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| bad("proxy.target_url", "has no host".into()))?;
    let auth_header =
        HeaderName::try_from(def.auth_header().to_ascii_lowercase()).map_err(|e| {
            bad(
                "auth.auth_header_name",
                format!("`{}`: {e}", def.auth_header()),
            )
        })?;
    let pool_key = format!("{scheme}://{authority}").into();
    let versions = crate::versions::RouteVersions::compile(&def)?;
    Ok(ApiRoute {
        versions,
        scheme,
        authority,
        base_path: uri.path().to_string(),
        target_query: uri.query().filter(|q| !q.is_empty()).map(Into::into),
        auth_param: def.auth_param().map(str::to_string),
        auth_cookie: def.auth_cookie().map(str::to_string),
        auth_use_header: !def.token_auth().disable_header,
        counters: Default::default(),
        pool_key,
        auth_header,
        def,
        source,
    })
}

impl RouteTable {
    /// Build a table from definitions, skipping (with a log line) inactive ones and duplicate ids.
    pub fn from_defs(defs: Vec<(PathBuf, ApiDefinition)>) -> (Self, Vec<String>) {
        let mut skipped = Vec::new();
        let mut t = RouteTable::default();
        for (path, def) in defs {
            if !def.is_active() {
                skipped.push(format!(
                    "{}: field `active`: API is inactive; skipped",
                    path.display()
                ));
                continue;
            }
            if t.by_id.contains_key(&def.api_id) {
                skipped.push(format!(
                    "{}: field `api_id`: `{}` already loaded from another file; skipped",
                    path.display(),
                    def.api_id
                ));
                continue;
            }
            let api_id = def.api_id.clone();
            match build(def, path.clone()) {
                Ok(r) => {
                    let r = Arc::new(r);
                    t.by_id.insert(r.def.api_id.clone(), r.clone());
                    t.routes.push(r);
                }
                Err(e) => {
                    skipped.push(format!("{}: {e}; skipped", path.display()));
                    t.rejected.push(Rejected {
                        file: path.display().to_string(),
                        api_id: Some(api_id),
                        reason: e.to_string(),
                    });
                }
            }
        }
        t.routes.sort_by(|a, b| {
            b.def
                .proxy
                .listen_path
                .len()
                .cmp(&a.def.proxy.listen_path.len())
        });
        (t, skipped)
    }

    /// Load every `*.json` in `dir` (sorted by name). Returns the table and one message per skipped file.
    pub fn load_dir(dir: &Path) -> (Self, Vec<String>) {
        let mut skipped = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect(),
            Err(e) => {
                skipped.push(format!("{}: cannot read directory: {e}", dir.display()));
                Vec::new()
            }
        };
        files.sort();
        let mut defs = Vec::new();
        let mut rejected = Vec::new();
        for f in files {
            let reason = match std::fs::read(&f) {
                Ok(raw) => match ApiDefinition::from_json(&raw) {
                    Ok(d) => {
                        defs.push((f, d));
                        continue;
                    }
                    Err(e) => {
                        // The id of a broken definition, if the file is JSON enough to have one.
                        let api_id = serde_json::from_slice::<serde_json::Value>(&raw)
                            .ok()
                            .and_then(|v| v.get("api_id")?.as_str().map(str::to_owned));
                        (api_id, e.to_string())
                    }
                },
                Err(e) => (None, format!("cannot read: {e}")),
            };
            skipped.push(format!("{}: {}; skipped", f.display(), reason.1));
            rejected.push(Rejected {
                file: f.display().to_string(),
                api_id: reason.0,
                reason: reason.1,
            });
        }
        let (mut t, more) = Self::from_defs(defs);
        t.rejected.splice(0..0, rejected);
        skipped.extend(more);
        (t, skipped)
    }

    /// The API whose listen path is the longest prefix of `path` (`/otto` also matches `/otto/`).
    pub fn find(&self, path: &str) -> Option<&Arc<ApiRoute>> {
        self.routes.iter().find(|r| {
            let lp = r.def.proxy.listen_path.as_str();
            path.starts_with(lp)
                || (lp.len() > 1 && lp.ends_with('/') && path == &lp[..lp.len() - 1])
        })
    }

    /// Number of loaded APIs.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no API is loaded.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// Join two path pieces with exactly one slash (Go's `singleJoiningSlash`, as Tyk uses).
pub fn join_path(a: &str, b: &str) -> String {
    match (a.ends_with('/'), b.starts_with('/')) {
        (true, true) => format!("{a}{}", &b[1..]),
        (false, false) if !b.is_empty() => format!("{a}/{b}"),
        _ => format!("{a}{b}"),
    }
}

/// The upstream path (and query) for `path_and_query` on `route`: the version segment or parameter
/// removed when the definition strips it, then the listen path when `strip_listen_path`.
pub fn upstream_path(route: &ApiRoute, path: &str, query: Option<&str>) -> String {
    let lp = route.def.proxy.listen_path.as_str();
    let path = route.versions.upstream_path(lp, path);
    let path = &*path;
    let query = route.versions.upstream_query(query);
    let rest = if route.def.proxy.strip_listen_path {
        path.strip_prefix(lp)
            .or_else(|| path.strip_prefix(lp.trim_end_matches('/')))
            .unwrap_or(path)
    } else {
        path
    };
    let mut p = join_path(&route.base_path, rest);
    if p.is_empty() {
        p.push('/');
    }
    // Tyk: `targetQuery + RawQuery`, joined with `&` when both are non-empty.
    match (
        route.target_query.as_deref(),
        query.as_deref().filter(|q| !q.is_empty()),
    ) {
        (Some(t), Some(q)) => {
            p.push('?');
            p.push_str(t);
            p.push('&');
            p.push_str(q);
        }
        (Some(t), None) => {
            p.push('?');
            p.push_str(t);
        }
        (None, _) => {
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_files_are_listed_as_rejected_with_their_id_when_readable() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "good.json",
            r#"{"api_id":"good","proxy":{"listen_path":"/good/","target_url":"http://127.0.0.1:1/"}}"#,
        );
        write(
            "bad-url.json",
            r#"{"api_id":"bad-url","proxy":{"listen_path":"/b/","target_url":"not a url"}}"#,
        );
        write("bad-type.json", r#"{"api_id":"bad-type","proxy":"oops"}"#);
        write("torn.json", r#"{"api_id":"to"#);
        let (t, skipped) = RouteTable::load_dir(dir.path());
        assert_eq!(t.by_id.keys().collect::<Vec<_>>(), ["good"]);
        assert_eq!(skipped.len(), 3);
        let mut ids: Vec<Option<&str>> = t.rejected.iter().map(|r| r.api_id.as_deref()).collect();
        ids.sort();
        assert_eq!(ids, [None, Some("bad-type"), Some("bad-url")]);
        assert!(t
            .rejected
            .iter()
            .all(|r| r.file.ends_with(".json") && !r.reason.is_empty()));
    }

    #[test]
    fn keyed_apis_with_an_auth_mode_we_lack_are_skipped_naming_the_flag() {
        let load = |json: &str| {
            let d = ApiDefinition::from_json(json.as_bytes()).unwrap();
            RouteTable::from_defs(vec![(PathBuf::from("a.json"), d)])
        };
        let base = r#""api_id":"a","proxy":{"listen_path":"/a/","target_url":"http://up:1"}"#;
        for (flags, refused) in [
            (r#""enable_jwt":true"#, Some("enable_jwt")),
            (
                r#""use_basic_auth":true,"use_standard_auth":true"#,
                Some("use_basic_auth"),
            ),
            (
                r#""external_oauth":{"enabled":true}"#,
                Some("external_oauth.enabled"),
            ),
            (
                r#""enable_signature_checking":true"#,
                Some("enable_signature_checking"),
            ),
            (r#""enable_jwt":false,"use_standard_auth":true"#, None),
            (r#""external_oauth":{"enabled":false}"#, None),
            (r#""use_keyless":true,"enable_jwt":true"#, None),
        ] {
            let (t, skipped) = load(&format!("{{{base},{flags}}}"));
            match refused {
                Some(flag) => {
                    assert!(t.is_empty(), "{flags}");
                    assert!(
                        skipped[0].contains(&format!("field `{flag}`")),
                        "{flags}: {skipped:?}"
                    );
                    assert!(skipped[0].contains("not supported"), "{skipped:?}");
                }
                None => assert_eq!((t.len(), skipped.len()), (1, 0), "{flags}: {skipped:?}"),
            }
        }
    }

    fn def(id: &str, lp: &str, target: &str, strip: bool) -> (PathBuf, ApiDefinition) {
        let mut d = ApiDefinition {
            api_id: id.into(),
            ..Default::default()
        };
        d.proxy.listen_path = lp.into();
        d.proxy.target_url = target.into();
        d.proxy.strip_listen_path = strip;
        (PathBuf::from(format!("{id}.json")), d)
    }

    #[test]
    fn longest_prefix_and_strip() {
        let (t, skipped) = RouteTable::from_defs(vec![
            def("a", "/a/", "http://up:1/base/", true),
            def("ab", "/a/b/", "http://up:1", false),
            def("dup", "/x/", "http://up:1", true),
            def("dup", "/y/", "http://up:1", true),
        ]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("api_id"));
        let r = t.find("/a/b/c").unwrap();
        assert_eq!(r.def.api_id, "ab");
        assert_eq!(upstream_path(r, "/a/b/c", Some("q=1")), "/a/b/c?q=1");
        let r = t.find("/a/z").unwrap();
        assert_eq!(upstream_path(r, "/a/z", None), "/base/z");
        assert_eq!(t.find("/a").unwrap().def.api_id, "a");
        assert_eq!(upstream_path(t.find("/a").unwrap(), "/a", None), "/base/");
        assert!(t.find("/nope").is_none());
    }
}
