//! `/tyk/keys`: key CRUD. Sessions are stored at `apikey-<hash>` with the key's lifetime as Redis TTL.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tyk_model::{generate_token, Command, Session};

use super::{error, percent_decode, read_body};
use crate::error::{json, Body};
use crate::notify;
use crate::state::AppState;
use crate::store::StoreError;

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
    Session::from_json(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Request malformed: {e}")))
}

async fn save(state: &AppState, hash: &str, s: &Session) -> Result<(), StoreError> {
    let ttl = (s.expires > 0).then(|| (s.expires - now()).max(1) as u64);
    let raw = serde_json::to_vec(s).unwrap_or_default();
    state
        .store
        .set(&format!("apikey-{hash}"), &raw, ttl)
        .await?;
    state.cache.remove(hash);
    Ok(())
}

async fn announce(state: &AppState, hash: &str) {
    if let Err(e) = notify::publish(state, &Command::KeySpaceUpdate, hash).await {
        tracing::warn!(error = %e, "could not publish key space update");
    }
}

/// Handle `/tyk/keys[/...]`.
pub async fn handle(
    state: &AppState,
    method: Method,
    rest: &[&str],
    req: Request<Incoming>,
) -> Response<Body> {
    let hashed = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "hashed=true" || kv == "hashed=1")
    });
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
            let s = match parse_session(req).await {
                Ok(s) => s,
                Err(r) => return r,
            };
            let token = generate_token(&s.org_id, &random_id(), Some(state.settings.hash_algo));
            let hash = state.key_hash(&token);
            match save(state, &hash, &s).await {
                Ok(()) => json(
                    StatusCode::OK,
                    &json!({ "key": token, "status": "ok", "action": "added", "key_hash": hash }),
                ),
                Err(e) => store_error(e),
            }
        }
        (m, Some(key)) => {
            let hash = if hashed {
                key.clone()
            } else {
                state.key_hash(&key)
            };
            let skey = format!("apikey-{hash}");
            match m {
                Method::GET => match state.store.get(&skey).await {
                    Ok(Some(raw)) => match Session::from_json(&raw) {
                        Ok(s) => json(StatusCode::OK, &serde_json::to_value(s).unwrap_or_default()),
                        Err(e) => error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &format!("stored session is not valid: {e}"),
                        ),
                    },
                    Ok(None) => error(StatusCode::NOT_FOUND, "Key not found"),
                    Err(e) => store_error(e),
                },
                Method::POST | Method::PUT => {
                    let creating = m == Method::POST;
                    if hashed && creating {
                        return error(StatusCode::BAD_REQUEST, "cannot create a key from its hash");
                    }
                    match state.store.get(&skey).await {
                        Ok(existing) if !creating && existing.is_none() => {
                            return error(StatusCode::NOT_FOUND, "Key not found")
                        }
                        Ok(_) => {}
                        Err(e) => return store_error(e),
                    }
                    let s = match parse_session(req).await {
                        Ok(s) => s,
                        Err(r) => return r,
                    };
                    if let Err(e) = save(state, &hash, &s).await {
                        return store_error(e);
                    }
                    announce(state, &hash).await;
                    json(
                        StatusCode::OK,
                        &json!({
                            "key": key,
                            "status": "ok",
                            "action": if creating { "added" } else { "modified" },
                            "key_hash": hash,
                        }),
                    )
                }
                Method::DELETE => match state.store.del(&[skey, format!("quota-{hash}")]).await {
                    Ok(0) => error(StatusCode::NOT_FOUND, "Key not found"),
                    Ok(_) => {
                        state.cache.remove(&hash);
                        announce(state, &hash).await;
                        super::ok_action(&key, "deleted")
                    }
                    Err(e) => store_error(e),
                },
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
    }
}
