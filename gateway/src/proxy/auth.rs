//! Phase 1: who is calling? Token extraction, session lookup (cache → Redis → stale cache), key checks.

use std::sync::Arc;

use tyk_model::Session;

use crate::apis::ApiRoute;
use crate::cache::{KeyInfo, Lookup};
use crate::error::GwError;
use crate::proxy::RequestMeta;
use crate::ratelimit::QuotaOwner;
use crate::state::AppState;
use crate::store::StoreError;
use crate::versions::VersionAccess;

/// An authenticated caller.
pub struct Caller {
    /// Its session (hot-path view; `session.name` is the storage name its counters use).
    pub session: Arc<KeyInfo>,
}

/// The presented token, as Tyk's `getAuthToken` finds it: the header (unless `disable_header`), replaced
/// by a non-empty query parameter (`use_param`, URL-decoded as Go's `Query().Get`), replaced by a
/// non-empty cookie (`use_cookie`); then a `Bearer ` prefix is stripped.
fn token_from(route: &ApiRoute, req: &RequestMeta<'_>) -> Option<String> {
    let mut token: Option<std::borrow::Cow<'_, str>> = None;
    if route.auth_use_header {
        if let Some(v) = req.headers.header(route.auth_header.as_str()) {
            token = std::str::from_utf8(v).ok().map(Into::into);
        }
    }
    if let (Some(param), Some(query)) = (route.auth_param.as_deref(), req.query) {
        let found = query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (query_decode(k) == param).then(|| query_decode(v))
        });
        if let Some(v) = found.filter(|v| !v.is_empty()) {
            token = Some(v.into());
        }
    }
    if let Some(name) = route.auth_cookie.as_deref() {
        if let Some(v) = req
            .headers
            .header("cookie")
            .and_then(|c| cookie(c, name))
            .filter(|v| !v.is_empty())
        {
            token = Some(v.into());
        }
    }
    let v = token?;
    let v = v.trim();
    // Tyk strips a `Bearer ` prefix.
    let v = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    };
    (!v.is_empty()).then(|| v.to_string())
}

/// A query component decoded as Go's `url.ParseQuery` does (`+` is a space, `%XX` a byte).
fn query_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    crate::mgmt::percent_decode(&s.replace('+', " "))
}

/// The value of cookie `name` in a `Cookie` header (surrounding quotes removed, as Go's `r.Cookie`).
fn cookie(header: &[u8], name: &str) -> Option<String> {
    let header = std::str::from_utf8(header).ok()?;
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_string()
        })
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

/// The algorithm Tyk's `generateToken` uses for custom keys: `None` for an empty `hash_key_function`
/// (the legacy `org + id` form).
pub fn custom_key_algo(state: &AppState) -> Option<tyk_model::HashAlgo> {
    (!state.settings.raw.hash_key_function.is_empty()).then_some(state.settings.hash_algo)
}

/// The storage names Tyk tries, in order, for `token` presented to an API of organisation `org`
/// (`SessionDetail` in Tyk's `gateway/auth_manager.go`), and whether the answer depends on `org`.
/// `raw` is the storage name of the token itself, already computed.
pub fn storage_names(state: &AppState, org: &str, token: &str, raw: &str) -> (Vec<String>, bool) {
    let tokens = tyk_model::lookup_tokens(org, token, custom_key_algo(state));
    let by_org = tokens.len() > 1;
    let names = tokens
        .iter()
        .map(|t| {
            if t == token {
                raw.to_string()
            } else {
                tyk_model::hash_key(t, state.settings.raw.hash_keys)
            }
        })
        .collect();
    (names, by_org)
}

/// Load a session: fresh cache hit, else Redis (trying each storage name Tyk would, and seeding the
/// quota counters), else a stale cache entry. `raw` (the presented token's storage name) is the cache key.
async fn session_for(
    state: &AppState,
    org: &str,
    token: &str,
    raw: &str,
    now: crate::clock::Now,
) -> Result<Arc<KeyInfo>, GwError> {
    let stale = match state.cache.get(raw, now.mono) {
        Lookup::Fresh(s) if s.serves_org(org) => return Ok(s),
        Lookup::Fresh(s) | Lookup::Stale(s) => Some(s),
        Lookup::Miss => None,
    };
    let unavailable = |e: StoreError| match e {
        StoreError::Unavailable(e) => match &stale {
            Some(s) => {
                tracing::debug!(key = shown(state, raw), error = %e, "redis unavailable; serving cached session");
                Ok(s.clone())
            }
            None => Err(GwError::StoreUnavailable),
        },
        StoreError::Command(e) => {
            tracing::error!(key = shown(state, raw), error = %e, "redis rejected session lookup");
            stale.clone().ok_or(GwError::StoreUnavailable)
        }
    };
    let (names, by_org) = storage_names(state, org, token, raw);
    let gets: Vec<String> = names.iter().map(|n| format!("apikey-{n}")).collect();
    // The key's own counter under every candidate name comes in the same round trip.
    let counters: Vec<String> = names.iter().map(|n| format!("quota-{n}")).collect();
    let (values, quotas) = match state.store.read_keys(&gets, &counters).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let Some((i, raw_session)) = values
        .into_iter()
        .enumerate()
        .find_map(|(i, v)| Some((i, v?)))
    else {
        state.cache.remove(raw);
        return Err(GwError::AccessDenied);
    };
    let name = &names[i];
    let stored = Session::from_json(&raw_session).map_err(|e| {
        tracing::warn!(key = shown(state, name), error = %e, "session is not valid JSON; denying");
        GwError::AccessDenied
    })?;
    let session = stored.with_policies(&state.policies.load()).map_err(|e| {
        tracing::warn!(key = shown(state, name), error = %e, "cannot apply policies; denying");
        GwError::AccessDenied
    })?;
    let info = KeyInfo::new(&session, stored.has_policies(), name, by_org.then_some(org));
    let (used, pttl) = quotas[i];
    let owner = |scope: &str| QuotaOwner {
        name: name.as_str().into(),
        scope: scope.into(),
    };
    state
        .limiter
        .seed_quota(name, Some(owner("")), used, pttl, now);
    // `quota-<scope>-<name>` → `<scope>`.
    let scope_of = |c: &str| -> String {
        c.get("quota-".len()..c.len().saturating_sub(name.len() + 1))
            .unwrap_or_default()
            .to_string()
    };
    let scoped: Vec<String> = info
        .counters()
        .into_iter()
        .skip(1)
        .map(|c| format!("quota-{c}"))
        .collect();
    if !scoped.is_empty() {
        match state.store.read_keys(&[], &scoped).await {
            Ok((_, quotas)) => {
                for (c, (used, pttl)) in scoped.iter().zip(quotas) {
                    state.limiter.seed_quota(
                        &c["quota-".len()..],
                        Some(owner(&scope_of(c))),
                        used,
                        pttl,
                        now,
                    );
                }
            }
            Err(e) => return unavailable(e),
        }
    }
    let info = Arc::new(info);
    state.cache.put(raw, info.clone());
    Ok(info)
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
    // The one hash per request: the cache is keyed by the presented token's storage name.
    let raw = state.key_hash(&token);
    let session = session_for(state, &route.def.org_id, &token, &raw, req.now).await?;
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
    Ok(Caller { session })
}
