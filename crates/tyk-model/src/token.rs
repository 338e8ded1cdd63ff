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
}
