//! Phase 1: who is calling? Token extraction, session lookup (cache → Redis → stale cache), key checks.

use std::sync::Arc;

use tyk_model::Session;

use crate::apis::ApiRoute;
use crate::cache::{KeyInfo, Lookup};
use crate::error::GwError;
use crate::proxy::RequestMeta;
use crate::state::AppState;
use crate::store::StoreError;
use crate::versions::VersionAccess;

/// An authenticated caller.
pub struct Caller {
    /// Storage name of the key (hash, or raw token with `hash_keys = false`).
    pub hash: String,
    /// Its session (hot-path view).
    pub session: Arc<KeyInfo>,
}

fn token_from(route: &ApiRoute, req: &RequestMeta<'_>) -> Option<String> {
    if let Some(v) = req.headers.header(route.auth_header.as_str()) {
        let v = std::str::from_utf8(v).ok()?.trim();
        // Tyk strips a `Bearer ` prefix.
        let v = match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
            _ => v,
        };
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    let param = route.auth_param.as_deref()?;
    req.query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == param && !v.is_empty()).then(|| v.to_string())
    })
}

/// How a key appears in logs: its hash, or, with `hash_keys = false` (where the storage name is the token
/// itself), only its last four characters, as Tyk's `obfuscateKey` does. A token is a credential.
fn shown(state: &AppState, hash: &str) -> String {
    if state.settings.raw.hash_keys {
        return hash.to_string();
    }
    match hash.char_indices().rev().nth(3) {
        Some((i, _)) if i > 0 => format!("****{}", &hash[i..]),
        _ => "--".to_string(),
    }
}

/// Load a session: fresh cache hit, else Redis (seeding the quota counter), else a stale cache entry.
async fn session_for(
    state: &AppState,
    hash: &str,
    now: std::time::Instant,
) -> Result<Arc<KeyInfo>, GwError> {
    let stale = match state.cache.get(hash, now) {
        Lookup::Fresh(s) => return Ok(s),
        Lookup::Stale(s) => Some(s),
        Lookup::Miss => None,
    };
    let quota_key = format!("quota-{hash}");
    match state
        .store
        .get_session(&format!("apikey-{hash}"), &quota_key)
        .await
    {
        Ok(rec) => {
            let raw = rec.session.ok_or_else(|| {
                state.cache.remove(hash);
                GwError::AccessDenied
            })?;
            let session = Session::from_json(&raw).map_err(|e| {
                tracing::warn!(key = shown(state, hash), error = %e, "session is not valid JSON; denying");
                GwError::AccessDenied
            })?;
            if let Some(used) = rec.quota_used {
                state.limiter.seed_quota(hash, used);
            }
            let session = session.with_policies(&state.policies.load()).map_err(|e| {
                tracing::warn!(key = shown(state, hash), error = %e, "cannot apply policies; denying");
                GwError::AccessDenied
            })?;
            let session = Arc::new(KeyInfo::from(&session));
            state.cache.put(hash, session.clone());
            Ok(session)
        }
        Err(StoreError::Unavailable(e)) => match stale {
            Some(s) => {
                tracing::debug!(key = shown(state, hash), error = %e, "redis unavailable; serving cached session");
                Ok(s)
            }
            None => Err(GwError::StoreUnavailable),
        },
        Err(StoreError::Command(e)) => {
            tracing::error!(key = shown(state, hash), error = %e, "redis rejected session lookup");
            stale.ok_or(GwError::StoreUnavailable)
        }
    }
}

/// Authenticate a request to a keyed API; `version` is what the key's access right must grant
/// (`None` for APIs that are not versioned).
pub async fn authenticate(
    state: &AppState,
    route: &ApiRoute,
    req: &RequestMeta<'_>,
    version: Option<VersionAccess<'_>>,
) -> Result<Caller, GwError> {
    let token = token_from(route, req).ok_or(GwError::AuthMissing)?;
    let hash = state.key_hash(&token);
    let session = session_for(state, &hash, req.now.mono).await?;
    if session.inactive {
        return Err(GwError::KeyInactive);
    }
    if session.is_expired(req.now.unix_secs()) {
        return Err(GwError::KeyExpired);
    }
    // Tyk: an empty access_rights map grants every API (and version).
    if !session.may_call(&route.def.api_id, version) {
        return Err(GwError::AccessDenied);
    }
    Ok(Caller { hash, session })
}
