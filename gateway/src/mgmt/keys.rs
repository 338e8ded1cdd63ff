//! `/tyk/keys`: key CRUD, following Tyk's `gateway/api.go` (`keyHandler`, `handleAddOrUpdate`,
//! `doAddOrUpdate`, `handleGetDetail`, `handleDeleteKey`) and `gateway/auth_manager.go`.
//!
//! - Sessions are stored at `apikey-<hash>`; a custom key (`POST /tyk/keys/{id}`) is stored under the
//!   token Tyk generates for it (`org + id`, [`tyk_model::custom_key_token`]), and every call finds a key
//!   the way Tyk's `SessionDetail` does ([`tyk_model::lookup_tokens`]).
//! - The Redis TTL is Tyk's `Lifetime` ([`Session::lifetime`]): an expiring key is kept, so requests get
//!   401 "Key has expired, please renew" and a PUT can renew it.
//! - Creating or updating a key resets its quota counters and sets `quota_renews` and `last_updated`,
//!   unless `?suppress_reset=1`; POST sets `date_created`, PUT keeps it.
//! - GET reports `quota_remaining` from the counters.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tyk_model::{custom_key_token, lookup_tokens, Command, Session};

use super::{error, percent_decode, read_body};
use crate::cache::allowance_scope;
use crate::error::{json, Body};
use crate::notify;
use crate::proxy::auth::custom_key_algo;
use crate::state::AppState;
use crate::store::StoreError;

/// Tyk's `defaultMinTokenLength`: shorter custom key ids would never authenticate.
const MIN_TOKEN_LENGTH: usize = 3;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn store_error(e: StoreError) -> Response<Body> {
    error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Extremely unlikely; fall back to time-derived bytes rather than panic.
        b[..16].copy_from_slice(&(now() as u128 ^ 0x5eed_u128).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn parse_session(req: Request<Incoming>) -> Result<Session, Response<Body>> {
    let body = read_body(req).await?;
    Session::from_json(&body).map_err(|e| {
        tracing::warn!(error = %e, "couldn't decode new session object");
        error(StatusCode::BAD_REQUEST, "Request malformed")
    })
}

/// A key found in Redis: its storage name, the token it is stored for, and the stored JSON.
struct Found {
    name: String,
    token: String,
    raw: Vec<u8>,
}

/// Tyk's `SessionDetail(org, key, hashed)`: the storage names tried in order, the first one present.
async fn find(
    state: &AppState,
    org: &str,
    key: &str,
    hashed: bool,
) -> Result<Option<Found>, StoreError> {
    let hash_keys = state.settings.raw.hash_keys;
    let tokens = if hashed {
        vec![key.to_string()]
    } else {
        lookup_tokens(org, key, custom_key_algo(state))
    };
    let names: Vec<String> = tokens
        .iter()
        .map(|t| {
            if hashed {
                t.clone()
            } else {
                tyk_model::hash_key(t, hash_keys)
            }
        })
        .collect();
    let gets: Vec<String> = names.iter().map(|n| format!("apikey-{n}")).collect();
    let (values, _) = state.store.read_keys(&gets, &[]).await?;
    Ok(values
        .into_iter()
        .zip(names.into_iter().zip(tokens))
        .find_map(|(v, (name, token))| {
            Some(Found {
                name,
                token,
                raw: v?,
            })
        }))
}

/// The quota counter ids of `s` stored as `name`: its own, and one per allowance scope (Tyk's
/// `rawKeysWithAllowanceScope`, with the scopes its policies give).
fn counter_ids(state: &AppState, s: &Session, name: &str) -> Vec<String> {
    let applied = s
        .with_policies(&state.policies.load())
        .unwrap_or_else(|_| s.clone());
    let had = s.has_policies();
    let mut out = vec![name.to_string()];
    for (api, a) in applied.access_rights.iter().chain(s.access_rights.iter()) {
        let scopes = [
            allowance_scope(had, api, a),
            Some(a.allowance_scope.as_str()).filter(|x| !x.is_empty()),
        ];
        for scope in scopes.into_iter().flatten() {
            let id = format!("{scope}-{name}");
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// Tyk's `ResetQuota`: drop the key's quota counters (and the rate limiter's sentinel) in Redis and here.
async fn reset_quota(state: &AppState, s: &Session, name: &str) -> Result<(), StoreError> {
    let ids = counter_ids(state, s, name);
    let mut keys: Vec<String> = ids.iter().map(|id| format!("quota-{id}")).collect();
    keys.push(format!("rate-limit-{name}.BLOCKED"));
    state.store.del(&keys).await?;
    for id in &ids {
        state.limiter.forget_quota(id);
    }
    Ok(())
}

/// Tyk's `doAddOrUpdate`: reset quota unless `dont_reset`, then store with Tyk's lifetime.
async fn add_or_update(
    state: &AppState,
    name: &str,
    s: &mut Session,
    dont_reset: bool,
) -> Result<(), StoreError> {
    let now = now();
    if !dont_reset {
        s.extra
            .insert("last_updated".into(), json!(now.to_string()));
        reset_quota(state, s, name).await?;
        s.quota_renews = now + s.quota_renewal_rate;
    }
    let raw = serde_json::to_vec(s).unwrap_or_default();
    state
        .store
        .set(&format!("apikey-{name}"), &raw, s.lifetime(now))
        .await?;
    state.cache.remove(name);
    announce(state, name).await;
    Ok(())
}

async fn announce(state: &AppState, hash: &str) {
    if let Err(e) = notify::publish(state, &Command::KeySpaceUpdate, hash).await {
        tracing::warn!(error = %e, "could not publish key space update");
    }
}

/// The query parameter `name`, percent-decoded.
fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// Tyk's `handleAddOrUpdate` for POST (`key` = custom id or `None`) and PUT.
async fn add_or_update_request(
    state: &AppState,
    key: Option<String>,
    hashed: bool,
    req: Request<Incoming>,
) -> Response<Body> {
    let creating = req.method() == Method::POST;
    let suppress_reset = query_param(&req, "suppress_reset").as_deref() == Some("1");
    let mut s = match parse_session(req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = now();
    let (name, token, original) = if creating {
        if hashed {
            return error(StatusCode::BAD_REQUEST, "cannot create a key from its hash");
        }
        if let Some(k) = key.as_deref().filter(|k| k.len() < MIN_TOKEN_LENGTH) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "custom key ID length {} is less than min_token_length ({MIN_TOKEN_LENGTH}); \
                     the key would be unreachable at auth time. Use an ID of at least \
                     min_token_length characters, or lower min_token_length in the gateway configuration.",
                    k.len()
                ),
            );
        }
        s.extra
            .insert("date_created".into(), json!(crate::clock::rfc3339(now)));
        let id = key.unwrap_or_else(random_id);
        let token = custom_key_token(&s.org_id, &id, custom_key_algo(state));
        let name = tyk_model::hash_key(&token, state.settings.raw.hash_keys);
        (name, token, Session::default())
    } else {
        let key = key.unwrap_or_default();
        let found = match find(state, &s.org_id, &key, hashed).await {
            Ok(Some(f)) => f,
            Ok(None) => return error(StatusCode::NOT_FOUND, "Key is not found"),
            Err(e) => return store_error(e),
        };
        let original = Session::from_json(&found.raw).unwrap_or_default();
        match original.extra.get("date_created") {
            Some(d) => s.extra.insert("date_created".into(), d.clone()),
            None => s.extra.remove("date_created"),
        };
        if suppress_reset {
            s.quota_renews = original.quota_renews;
            match original.extra.get("last_updated") {
                Some(d) => s.extra.insert("last_updated".into(), d.clone()),
                None => s.extra.remove("last_updated"),
            };
            for (api, a) in &original.access_rights {
                let renews = a.limit.as_ref().and_then(|l| l.extra.get("quota_renews"));
                if let (Some(r), Some(l)) = (
                    renews,
                    s.access_rights.get_mut(api).and_then(|n| n.limit.as_mut()),
                ) {
                    l.extra.insert("quota_renews".into(), r.clone());
                }
            }
        }
        let token = if hashed {
            found.name.clone()
        } else {
            found.token
        };
        (found.name, token, original)
    };
    // An expiry in the past keeps the one the key had (Tyk).
    if s.expires > 1 && s.expires < now {
        s.expires = original.expires;
    }
    if let Err(e) = add_or_update(state, &name, &mut s, suppress_reset).await {
        return store_error(e);
    }
    let mut body = json!({
        "key": token,
        "status": "ok",
        "action": if creating { "added" } else { "modified" },
    });
    if creating && state.settings.raw.hash_keys {
        body["key_hash"] = json!(name);
    }
    json(StatusCode::OK, &body)
}

/// Tyk's `handleGetDetail`: the session with its policies applied and `quota_remaining` from the counters.
async fn get_detail(
    state: &AppState,
    key: &str,
    org: &str,
    hashed: bool,
) -> Result<Response<Body>, StoreError> {
    let Some(found) = find(state, org, key, hashed).await? else {
        return Ok(error(StatusCode::NOT_FOUND, "Key not found"));
    };
    let stored = match Session::from_json(&found.raw) {
        Ok(s) => s,
        Err(e) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("stored session is not valid: {e}"),
            ))
        }
    };
    let had = stored.has_policies();
    let mut s = stored
        .with_policies(&state.policies.load())
        .unwrap_or_else(|_| stored.clone());
    let name = &found.name;
    let own = format!("quota-{name}");
    let mut counters = vec![own.clone()];
    let scoped: Vec<(String, Option<String>)> = s
        .access_rights
        .iter()
        .map(|(api, a)| {
            let c = allowance_scope(had, api, a).map(|sc| format!("quota-{sc}-{name}"));
            (api.clone(), c)
        })
        .collect();
    counters.extend(
        scoped
            .iter()
            .map(|(_, c)| c.clone().unwrap_or_else(|| own.clone())),
    );
    let (_, values) = state.store.read_keys(&[], &counters).await?;
    if s.quota_max != -1 {
        let used = values[0].0.unwrap_or(0);
        s.quota_remaining = (s.quota_max - used).max(0);
    }
    for ((api, _), (used, _)) in scoped.iter().zip(&values[1..]) {
        if let Some(l) = s.access_rights.get_mut(api).and_then(|a| a.limit.as_mut()) {
            if l.is_empty() || l.quota_max == -1 || l.quota_max == 0 {
                continue;
            }
            l.quota_remaining = match used {
                Some(u) => (l.quota_max - u).max(0),
                None => l.quota_max,
            };
        }
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::to_value(s).unwrap_or_default(),
    ))
}

/// Tyk's `handleDeleteKey`: reset the quota and remove the key.
async fn delete(
    state: &AppState,
    key: &str,
    org: &str,
    hashed: bool,
) -> Result<Response<Body>, StoreError> {
    let Some(found) = find(state, org, key, hashed).await? else {
        return Ok(error(StatusCode::NOT_FOUND, "There is no such key found"));
    };
    let s = Session::from_json(&found.raw).unwrap_or_default();
    reset_quota(state, &s, &found.name).await?;
    if state.store.del(&[format!("apikey-{}", found.name)]).await? == 0 {
        return Ok(error(StatusCode::BAD_REQUEST, "Failed to remove the key"));
    }
    state.cache.remove(&found.name);
    announce(state, &found.name).await;
    let shown = if hashed { found.name } else { found.token };
    Ok(super::ok_action(&shown, "deleted"))
}

/// Handle `/tyk/keys[/...]`.
pub async fn handle(
    state: &AppState,
    method: Method,
    rest: &[&str],
    req: Request<Incoming>,
) -> Response<Body> {
    // Tyk: any non-empty `hashed` value means the path names a key hash.
    let hashed = query_param(&req, "hashed").is_some_and(|v| !v.is_empty());
    let mut org = query_param(&req, "org_id").unwrap_or_default();
    if let Some(api) = query_param(&req, "api_id") {
        if let Some(r) = state.routes.load().by_id.get(&api) {
            org = r.def.org_id.clone();
        }
    }
    let key = (!rest.is_empty()).then(|| percent_decode(&rest.join("/")));
    match (method, key) {
        (Method::GET, None) => match state.store.scan("apikey-*", 100_000).await {
            Ok(keys) => {
                let keys: Vec<&str> = keys
                    .iter()
                    .map(|k| k.trim_start_matches("apikey-"))
                    .collect();
                json(StatusCode::OK, &json!({ "keys": keys }))
            }
            Err(e) => store_error(e),
        },
        (Method::POST, k) if k.is_none() || k.as_deref() == Some("create") => {
            add_or_update_request(state, None, false, req).await
        }
        (Method::POST, Some(key)) => add_or_update_request(state, Some(key), hashed, req).await,
        (Method::PUT, Some(key)) => add_or_update_request(state, Some(key), hashed, req).await,
        (Method::GET, Some(_)) if hashed && !state.settings.raw.hash_keys => error(
            StatusCode::BAD_REQUEST,
            "Key requested by hash but key hashing is not enabled",
        ),
        (Method::GET, Some(key)) => get_detail(state, &key, &org, hashed)
            .await
            .unwrap_or_else(store_error),
        (Method::DELETE, Some(key)) => delete(state, &key, &org, hashed)
            .await
            .unwrap_or_else(store_error),
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not supported"),
    }
}
