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
    /// Unmodelled fields (`version_data`, `definition`, ...), kept for round trips.
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
        assert!(a.extra.contains_key("version_data"));
        let q =
            ApiDefinition::from_json(include_bytes!("../tests/fixtures/quickstart.json")).unwrap();
        assert!(q.use_keyless);
        assert_eq!(q.auth_header(), "Authorization");
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
