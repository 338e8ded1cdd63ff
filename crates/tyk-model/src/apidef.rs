//! API definitions in Tyk's classic JSON format (one file per API in `app_path`).
//!
//! Only the fields the gateway acts on are modelled; everything else is kept in `extra` fields so that
//! definitions survive a read-modify-write round trip unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::util::null_default;

/// Where the token is read from (`auth` and each entry of `auth_configs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Header carrying the token; empty means Tyk's default `Authorization`.
    #[serde(deserialize_with = "null_default")]
    pub auth_header_name: String,
    /// Also accept the token as a query parameter.
    #[serde(deserialize_with = "null_default")]
    pub use_param: bool,
    /// Query parameter name (defaults to the header name).
    #[serde(deserialize_with = "null_default")]
    pub param_name: String,
    /// Also accept the token from a cookie.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub use_cookie: bool,
    /// Cookie name (defaults to the header name).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub cookie_name: String,
    /// Do not read the token from the header.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub disable_header: bool,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `proxy` section: how requests are matched and forwarded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    /// Path prefix this API is served under (for example `/otto/`).
    #[serde(deserialize_with = "null_default")]
    pub listen_path: String,
    /// Upstream base URL.
    #[serde(deserialize_with = "null_default")]
    pub target_url: String,
    /// Remove `listen_path` from the path before forwarding.
    #[serde(deserialize_with = "null_default")]
    pub strip_listen_path: bool,
    /// Forward the client's Host header instead of the upstream's.
    #[serde(deserialize_with = "null_default")]
    pub preserve_host_header: bool,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `global_rate_limit`: a limit shared by every caller of the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalRateLimit {
    /// Requests per `per` seconds; 0 disables it.
    #[serde(deserialize_with = "null_default")]
    pub rate: f64,
    /// Window in seconds.
    #[serde(deserialize_with = "null_default")]
    pub per: f64,
}

/// A Tyk API definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiDefinition {
    /// Display name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Unique id; also the file name under `app_path` when written by the management API.
    #[serde(deserialize_with = "null_default")]
    pub api_id: String,
    /// Organisation id.
    #[serde(deserialize_with = "null_default")]
    pub org_id: String,
    /// Open API: no token needed.
    #[serde(deserialize_with = "null_default")]
    pub use_keyless: bool,
    /// Classic token location.
    #[serde(deserialize_with = "null_default")]
    pub auth: AuthConfig,
    /// Newer per-method auth settings (`authToken` is the one used for token auth).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub auth_configs: BTreeMap<String, AuthConfig>,
    /// Forwarding settings.
    #[serde(deserialize_with = "null_default")]
    pub proxy: ProxyConfig,
    /// API-wide rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_rate_limit: Option<GlobalRateLimit>,
    /// Skip the per-key rate limit.
    #[serde(deserialize_with = "null_default")]
    pub disable_rate_limit: bool,
    /// Skip the per-key quota.
    #[serde(deserialize_with = "null_default")]
    pub disable_quota: bool,
    /// Missing means active (file-based definitions usually omit it); `false` disables the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Where the version name is read from (`definition`); only used when the API is versioned.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub definition: Option<VersionDefinition>,
    /// Versions and their endpoint lists (`version_data`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub version_data: Option<VersionData>,
    /// Unmodelled fields (`custom_middleware`, `slug`, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `definition`: where a versioned API finds the version name in a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionDefinition {
    /// `header`, `url-param` or `url` (first path segment after the listen path).
    #[serde(deserialize_with = "null_default")]
    pub location: String,
    /// Header or query parameter name (unused for `url`).
    #[serde(deserialize_with = "null_default")]
    pub key: String,
    /// Older name of [`Self::strip_versioning_data`] (`url` location only in older Tyk).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub strip_path: bool,
    /// Remove the version (header, query parameter or path segment) before proxying.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub strip_versioning_data: bool,
    /// Serve `default_version` when the requested version does not exist.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub fallback_to_default: bool,
    /// `url` location: only a first segment matching this regular expression is stripped.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub url_versioning_pattern: String,
    /// Unmodelled fields (`enabled`, `name`, `versions` of the newer versioning), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `version_data`: the API's versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionData {
    /// One version only: the version named in requests is ignored.
    #[serde(deserialize_with = "null_default")]
    pub not_versioned: bool,
    /// Version used when a request names none.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub default_version: String,
    /// Version name → settings.
    #[serde(deserialize_with = "null_default")]
    pub versions: BTreeMap<String, VersionInfo>,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One entry of `version_data.versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    /// Version name (normally the map key).
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Expiry in Tyk's format `2006-01-02 15:04` (UTC); empty or `-1` = never.
    #[serde(deserialize_with = "null_default")]
    pub expires: String,
    /// Old-style endpoint lists (plain path patterns), used when `use_extended_paths` is false.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub paths: Option<VersionPaths>,
    /// Use `extended_paths` instead of `paths`.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub use_extended_paths: bool,
    /// Match every endpoint pattern of this version case-insensitively.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub ignore_endpoint_case: bool,
    /// Endpoint lists with methods (and other per-endpoint middleware, kept in `extra`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_paths: Option<ExtendedPaths>,
    /// Unmodelled fields (`global_headers`, `override_target`, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Old-style `paths`: lists of path patterns, every method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionPaths {
    /// Served without authentication.
    #[serde(deserialize_with = "null_default")]
    pub ignored: Vec<String>,
    /// When non-empty, only these are served.
    #[serde(deserialize_with = "null_default")]
    pub white_list: Vec<String>,
    /// Refused.
    #[serde(deserialize_with = "null_default")]
    pub black_list: Vec<String>,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `extended_paths`: the endpoint lists the gateway acts on; other middleware stays in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtendedPaths {
    /// Served without authentication or key limits.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignored: Vec<EndpointMeta>,
    /// When non-empty, only these are served.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub white_list: Vec<EndpointMeta>,
    /// Refused.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub black_list: Vec<EndpointMeta>,
    /// Only reachable from inside the gateway (looping), so refused from outside.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub internal: Vec<EndpointMeta>,
    /// Other per-endpoint middleware (`transform`, `cache`, `url_rewrites`, ...), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One endpoint of an extended list: `{path, method_actions}` (older) or `{path, method}` (newer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointMeta {
    /// Path pattern (`{name}` = one segment; otherwise a regular expression).
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// Newer shape: the method this entry applies to; empty = every method.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub method: String,
    /// Match `path` case-insensitively.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub ignore_case: bool,
    /// Entry switched off.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Older shape: method → action. When present (even empty) it decides, and `method` is unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_actions: Option<BTreeMap<String, EndpointMethodMeta>>,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What to do for one method of an [`EndpointMeta`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointMethodMeta {
    /// `no_action` (apply the list) or `reply` (answer with `code`, `data`, `headers`).
    #[serde(deserialize_with = "null_default")]
    pub action: String,
    /// Status of a `reply`.
    #[serde(deserialize_with = "null_default")]
    pub code: u16,
    /// Body of a `reply`.
    #[serde(deserialize_with = "null_default")]
    pub data: String,
    /// Headers of a `reply`.
    #[serde(deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// Unmodelled fields, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a definition cannot be served: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// JSON path of the field, e.g. `proxy.listen_path`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for DefinitionError {}

fn err(field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl ApiDefinition {
    /// Parse a definition, reporting the failing field for type errors.
    pub fn from_json(raw: &[u8]) -> Result<Self, DefinitionError> {
        let def: Self = serde_json::from_slice(raw).map_err(|e| {
            err(
                "(document)",
                format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        def.validate()?;
        Ok(def)
    }

    /// Check the fields the gateway needs to route and forward.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.api_id.trim().is_empty() {
            return Err(err("api_id", "must not be empty"));
        }
        if self.api_id.contains(['/', '\\']) || self.api_id.starts_with('.') {
            return Err(err(
                "api_id",
                "must not contain path separators or start with `.`",
            ));
        }
        if !self.proxy.listen_path.starts_with('/') {
            return Err(err("proxy.listen_path", "must start with `/`"));
        }
        let t = &self.proxy.target_url;
        let rest = t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("https://"))
            .ok_or_else(|| err("proxy.target_url", format!("`{t}` is not an http(s) URL")))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(err("proxy.target_url", format!("`{t}` has no host")));
        }
        if let Some(g) = &self.global_rate_limit {
            if g.rate > 0.0 && g.per <= 0.0 {
                return Err(err("global_rate_limit.per", "must be > 0 when rate is set"));
            }
        }
        Ok(())
    }

    /// Whether the API should be served.
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }

    /// The header carrying the token: `auth_configs.authToken` when set, else `auth`, else `Authorization`.
    pub fn auth_header(&self) -> &str {
        let newer = self
            .auth_configs
            .get("authToken")
            .map(|a| a.auth_header_name.as_str())
            .filter(|h| !h.is_empty());
        newer
            .or(Some(self.auth.auth_header_name.as_str()).filter(|h| !h.is_empty()))
            .unwrap_or("Authorization")
    }

    /// The token's auth config: `auth_configs.authToken`, else the older `auth` (Tyk's `getAuthToken`).
    pub fn token_auth(&self) -> &AuthConfig {
        self.auth_configs.get("authToken").unwrap_or(&self.auth)
    }

    /// Cookie carrying the token, when enabled (`cookie_name`, else the header name).
    pub fn auth_cookie(&self) -> Option<&str> {
        let a = self.token_auth();
        if !a.use_cookie {
            return None;
        }
        Some(if a.cookie_name.is_empty() {
            self.auth_header()
        } else {
            &a.cookie_name
        })
    }

    /// Query parameter carrying the token, when enabled.
    pub fn auth_param(&self) -> Option<&str> {
        let a = self.auth_configs.get("authToken").unwrap_or(&self.auth);
        if !a.use_param {
            return None;
        }
        Some(if a.param_name.is_empty() {
            self.auth_header()
        } else {
            &a.param_name
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_load() {
        let a =
            ApiDefinition::from_json(include_bytes!("../tests/fixtures/app_sample.json")).unwrap();
        assert_eq!(a.api_id, "1");
        assert!(!a.use_keyless);
        assert_eq!(a.auth_header(), "authorization");
        assert_eq!(a.proxy.listen_path, "/otto/");
        assert!(a.proxy.strip_listen_path);
        assert!(a.is_active());
        let vd = a.version_data.as_ref().unwrap();
        assert!(vd.not_versioned);
        assert_eq!(vd.versions["Default"].expires, "3000-01-02 15:04");
        assert!(vd.versions["Default"].use_extended_paths);
        assert_eq!(a.definition.as_ref().unwrap().location, "header");
        assert!(!a.extra.contains_key("version_data") && !a.extra.contains_key("definition"));
        let q =
            ApiDefinition::from_json(include_bytes!("../tests/fixtures/quickstart.json")).unwrap();
        assert!(q.use_keyless);
        assert_eq!(q.auth_header(), "Authorization");
    }

    #[test]
    fn version_data_round_trips_with_unknown_fields() {
        let raw = serde_json::json!({
            "api_id": "v", "proxy": {"listen_path": "/v/", "target_url": "http://h"},
            "definition": {"location": "url", "key": "", "strip_path": true, "enabled": false},
            "version_data": {"not_versioned": false, "default_version": "v1", "x_top": 1, "versions": {
                "v1": {"name": "v1", "expires": "", "paths": {"ignored": ["/a"], "white_list": null,
                       "black_list": [], "x_paths": 2},
                       "global_headers": {"X-A": "b"}},
                "v2": {"name": "v2", "expires": "2030-01-01 00:00", "use_extended_paths": true,
                       "extended_paths": {
                           "white_list": [{"path": "/w", "method_actions": {"GET": {"action": "no_action",
                               "code": 200, "data": "", "headers": {}}}}],
                           "black_list": [{"path": "/b", "method": "DELETE", "x_entry": true}],
                           "transform": [{"path": "/t", "method": "POST", "template_data": {}}]}}}}
        });
        let def: ApiDefinition = serde_json::from_value(raw.clone()).unwrap();
        let vd = def.version_data.as_ref().unwrap();
        assert_eq!(vd.default_version, "v1");
        let v2 = &vd.versions["v2"];
        let ext = v2.extended_paths.as_ref().unwrap();
        assert_eq!(ext.black_list[0].method, "DELETE");
        assert!(ext.black_list[0].method_actions.is_none());
        assert_eq!(
            ext.white_list[0].method_actions.as_ref().unwrap()["GET"].action,
            "no_action"
        );
        assert!(ext.extra.contains_key("transform"));
        assert!(def.definition.as_ref().unwrap().strip_path);
        // Unknown fields at every level survive, and `null` lists load as empty.
        let back = serde_json::to_value(&def).unwrap();
        assert_eq!(back["definition"]["enabled"], false);
        assert_eq!(back["version_data"]["x_top"], 1);
        assert_eq!(
            back["version_data"]["versions"]["v1"]["paths"]["x_paths"],
            2
        );
        assert_eq!(
            back["version_data"]["versions"]["v1"]["global_headers"]["X-A"],
            "b"
        );
        assert_eq!(
            back["version_data"]["versions"]["v2"]["extended_paths"]["black_list"][0]["x_entry"],
            true
        );
        assert_eq!(
            back["version_data"]["versions"]["v2"]["extended_paths"]["transform"],
            raw["version_data"]["versions"]["v2"]["extended_paths"]["transform"]
        );
        let again: ApiDefinition = serde_json::from_value(back).unwrap();
        assert_eq!(again, def);
        // Definitions without these sections do not grow them.
        let bare: ApiDefinition =
            serde_json::from_value(serde_json::json!({"api_id": "b"})).unwrap();
        let out = serde_json::to_value(&bare).unwrap();
        assert!(out.get("version_data").is_none() && out.get("definition").is_none());
    }

    #[test]
    fn newer_auth_configs_win() {
        let a = ApiDefinition::from_json(
            br#"{"api_id":"x","proxy":{"listen_path":"/x/","target_url":"http://h"},
                "auth":{"auth_header_name":"old"},"auth_configs":{"authToken":{"auth_header_name":"X-Key"}}}"#,
        )
        .unwrap();
        assert_eq!(a.auth_header(), "X-Key");
    }

    #[test]
    fn invalid_definitions_name_the_field() {
        let cases: &[(&[u8], &str)] = &[
            (b"{nope", "(document)"),
            (
                br#"{"proxy":{"listen_path":"/a/","target_url":"http://h"}}"#,
                "api_id",
            ),
            (
                br#"{"api_id":"a","proxy":{"listen_path":"a/","target_url":"http://h"}}"#,
                "proxy.listen_path",
            ),
            (
                br#"{"api_id":"a","proxy":{"listen_path":"/a/","target_url":"ftp://h"}}"#,
                "proxy.target_url",
            ),
            (
                br#"{"api_id":"../a","proxy":{"listen_path":"/a/","target_url":"http://h"}}"#,
                "api_id",
            ),
            (br#"{"api_id":"a","proxy":{"listen_path":5}}"#, "(document)"),
        ];
        for (raw, field) in cases {
            let e = ApiDefinition::from_json(raw).unwrap_err();
            assert_eq!(e.field, *field, "{e}");
        }
    }
}
