//! Tyk's generated tokens: base64 (standard alphabet, padded) of `{"org":..,"id":..,"h":"<algo>"}`.
//!
//! Such tokens start with `ey` and name the algorithm used to hash them; legacy tokens are `org_id + key_id`
//! and are hashed with murmur32.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::hash::HashAlgo;

/// The fields carried inside a generated token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    /// Organisation id.
    #[serde(default)]
    pub org: String,
    /// Key id (random hex when generated).
    #[serde(default)]
    pub id: String,
    /// Hash algorithm name (`murmur32`, `murmur64`, `murmur128`, `sha256`).
    #[serde(default)]
    pub h: String,
}

/// Generate a token as Tyk's `GenerateToken` does. With an algorithm, the base64-JSON form; without one,
/// the legacy `org_id + key_id` form.
pub fn generate_token(org_id: &str, key_id: &str, algo: Option<HashAlgo>) -> String {
    match algo {
        Some(a) => {
            // Same byte layout as Tyk's fmt.Sprintf, with JSON escaping so odd ids stay valid JSON.
            let json = format!(
                r#"{{"org":{},"id":{},"h":"{}"}}"#,
                serde_json::Value::from(org_id),
                serde_json::Value::from(key_id),
                a.name()
            );
            STANDARD.encode(json)
        }
        None => format!("{org_id}{key_id}"),
    }
}

/// Decode a generated token; `None` for legacy/plain tokens.
pub fn decode_token(token: &str) -> Option<TokenInfo> {
    if !token.starts_with("ey") {
        return None;
    }
    let raw = STANDARD.decode(token).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// The hash algorithm named by a token (Tyk's `TokenHashAlgo`), `None` for plain tokens.
pub fn token_hash_algo(token: &str) -> Option<String> {
    token_hash_algo_with(token, |h| h.to_string())
}

/// Like [`token_hash_algo`] but hands a borrowed name to `f` (no allocation beyond the base64 decode;
/// this runs on every authenticated request).
pub fn token_hash_algo_with<R>(token: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    #[derive(Deserialize)]
    struct OnlyH<'a> {
        #[serde(borrow, default)]
        h: Option<std::borrow::Cow<'a, str>>,
    }
    if !token.starts_with("ey") {
        return None;
    }
    let raw = STANDARD.decode(token).ok()?;
    let parsed: OnlyH<'_> = serde_json::from_slice(&raw).ok()?;
    Some(f(parsed.h.as_deref().unwrap_or("")))
}

/// The organisation a token belongs to (Tyk's `TokenOrg`): the `org` of a generated token, else the first
/// 24 characters when they are hex (a Mongo object id, as legacy `org_id + key` tokens start), else `""`.
pub fn token_org(token: &str) -> String {
    #[derive(Deserialize)]
    struct OnlyOrg {
        org: Option<String>,
    }
    if token.starts_with("ey") {
        if let Some(org) = STANDARD
            .decode(token)
            .ok()
            .and_then(|raw| serde_json::from_slice::<OnlyOrg>(&raw).ok())
            .and_then(|t| t.org)
        {
            return org;
        }
    }
    match token.get(..24) {
        Some(p) if token.len() > 24 && p.bytes().all(|b| b.is_ascii_hexdigit()) => p.to_string(),
        _ => String::new(),
    }
}

/// The token Tyk stores a custom key under (`generateToken(org, key)` in `gateway/auth_manager.go`): an
/// `org` prefix of `key` is dropped first, then the key id is wrapped as [`generate_token`] does (`algo`
/// `None` = Tyk's empty `hash_key_function`, the legacy `org + key` form).
pub fn custom_key_token(org_id: &str, key: &str, algo: Option<HashAlgo>) -> String {
    let id = key.strip_prefix(org_id).unwrap_or(key);
    generate_token(org_id, id, algo)
}

/// The tokens whose storage names Tyk tries, in order, for a key presented to an API of organisation
/// `org_id` (`SessionDetail` in `gateway/auth_manager.go`): a key that is not the org's own generated
/// token is first looked up as a custom key ([`custom_key_token`]), then as itself.
pub fn lookup_tokens(org_id: &str, key: &str, algo: Option<HashAlgo>) -> Vec<String> {
    if token_org(key) == org_id {
        return vec![key.to_string()];
    }
    let mut out = Vec::with_capacity(2);
    let id = key.strip_prefix(org_id).unwrap_or(key);
    if !id.is_empty() {
        out.push(custom_key_token(org_id, key, algo));
    }
    if out.first().is_none_or(|c| c != key) {
        out.push(key.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = generate_token("default", "0123abcd", Some(HashAlgo::Murmur64));
        assert_eq!(
            String::from_utf8(STANDARD.decode(&t).unwrap()).unwrap(),
            r#"{"org":"default","id":"0123abcd","h":"murmur64"}"#
        );
        let info = decode_token(&t).unwrap();
        assert_eq!(info.org, "default");
        assert_eq!(info.id, "0123abcd");
        assert_eq!(info.h, "murmur64");
        assert_eq!(generate_token("o", "k", None), "ok");
        assert_eq!(decode_token("eyNOTbase64!!"), None);
        assert_eq!(decode_token("plain"), None);
    }

    #[test]
    fn org_and_custom_key_lookup_order() {
        let t = generate_token("acme", "abc", Some(HashAlgo::Murmur64));
        assert_eq!(token_org(&t), "acme");
        assert_eq!(token_org("plain-key"), "");
        let mongo = "5e9d9544a1dcd60001d0ed20";
        assert_eq!(token_org(&format!("{mongo}deadbeef")), mongo);
        assert_eq!(token_org(mongo), "");
        // A custom key: the generated form first, then the raw key.
        assert_eq!(
            lookup_tokens("acme", "my-key", Some(HashAlgo::Murmur64)),
            vec![
                generate_token("acme", "my-key", Some(HashAlgo::Murmur64)),
                "my-key".into()
            ]
        );
        // `org + key` presented: the org prefix is dropped for the generated form.
        assert_eq!(
            lookup_tokens("acme", "acmemy-key", None),
            vec!["acmemy-key".to_string()]
        );
        assert_eq!(
            lookup_tokens("acme", "acmemy-key", Some(HashAlgo::Murmur32))[0],
            generate_token("acme", "my-key", Some(HashAlgo::Murmur32))
        );
        // The org's own generated token is looked up as itself only.
        assert_eq!(lookup_tokens("acme", &t, None), vec![t.clone()]);
        // Legacy (empty hash_key_function) custom keys are `org + key`.
        assert_eq!(
            lookup_tokens("acme", "k1", None),
            vec!["acmek1".to_string(), "k1".into()]
        );
    }
}
