//! Management API under `/tyk/`, guarded by `X-Tyk-Authorization` (constant-time compare; 403 without a
//! configured secret). Routes:
//!
//! | method | path | action |
//! |---|---|---|
//! | GET | `/tyk/keys` | list key hashes |
//! | POST | `/tyk/keys`, `/tyk/keys/create` | create a generated key (returns it) |
//! | POST | `/tyk/keys/{key}` | create a custom key |
//! | GET/PUT/DELETE | `/tyk/keys/{key}[?hashed=true]` | read/replace/delete a key |
//! | GET/POST | `/tyk/apis` | list loaded / add a definition file |
//! | GET/PUT/DELETE | `/tyk/apis/{id}` | read/replace/delete a definition file |
//! | GET/POST | `/tyk/reload` | reload this gateway |
//! | GET/POST | `/tyk/reload/group` | publish a signed `GroupReload` (and reload) |
//! | GET | `/tyk/dr/apis/rejected` | definition files that failed to load (`tyk-dr sync` protects them) |
//! | GET/POST/DELETE | `/tyk/dr/fence` | fence state (DR tool) |
//! | POST | `/tyk/dr/redis/reconnect` | drop all Redis connections now |

mod apis;
mod keys;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use subtle::ConstantTimeEq;
use tyk_model::Command;

use crate::error::{json, Body};
use crate::notify;
use crate::state::AppState;

/// Largest management request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Tyk's management error shape.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &json!({ "status": "error", "message": message }))
}

/// Tyk's management success shape.
pub(crate) fn ok_action(key: &str, action: &str) -> Response<Body> {
    json(
        StatusCode::OK,
        &json!({ "key": key, "status": "ok", "action": action }),
    )
}

fn authorised(state: &AppState, req: &Request<Incoming>) -> bool {
    let secret = state.settings.raw.secret.as_bytes();
    if secret.is_empty() {
        return false;
    }
    let given = req
        .headers()
        .get("x-tyk-authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    given.ct_eq(secret).into()
}

/// Read a request body up to [`MAX_BODY`].
pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("cannot read request body: {e}"),
        )),
    }
}

/// Percent-decode a path segment (keys may contain `/`, `+`, `=` and are often URL-encoded).
pub(crate) fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Dispatch a `/tyk/...` request.
pub async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    if !authorised(state, &req) {
        tracing::warn!(
            path = req.uri().path(),
            "management call with invalid or missing secret"
        );
        return error(
            StatusCode::FORBIDDEN,
            "Attempted administrative access with invalid or missing key!",
        );
    }
    let path = req.uri().path().to_string();
    let rest = path.trim_start_matches("/tyk").trim_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    match (method, segs.as_slice()) {
        (m, ["keys", ..]) => keys::handle(state, m, &segs[1..], req).await,
        (m, ["apis", ..]) => apis::handle(state, m, &segs[1..], req).await,
        (Method::GET | Method::POST, ["reload"]) => {
            let n = state.reload();
            tracing::info!(apis = n, "reloaded on management request");
            // Tyk's `resetHandler` answers `apiOk("")`.
            json(StatusCode::OK, &json!({ "status": "ok", "message": "" }))
        }
        (Method::GET | Method::POST, ["reload", "group"]) => {
            state.reload();
            match notify::publish(state, &Command::GroupReload, "").await {
                Ok(()) => json(StatusCode::OK, &json!({ "status": "ok", "message": "" })),
                Err(e) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("cannot publish: {e}"),
                ),
            }
        }
        (Method::GET, ["dr", "apis", "rejected"]) => json(
            StatusCode::OK,
            &json!({ "rejected": state.routes.load().rejected }),
        ),
        (m, ["dr", "fence"]) => {
            match m {
                Method::POST => state.set_fenced(true),
                Method::DELETE => state.set_fenced(false),
                Method::GET => {}
                _ => return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            }
            json(StatusCode::OK, &crate::health::fence_status(state))
        }
        (Method::POST, ["dr", "redis", "reconnect"]) => {
            state.store.force_reconnect();
            let connected = state.store.ping().await.is_ok();
            json(
                StatusCode::OK,
                &json!({
                    "status": "ok",
                    "connected": connected,
                    "address": state.store.current_addr().map(|a| a.to_string()),
                }),
            )
        }
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decode() {
        assert_eq!(super::percent_decode("ab%2Fc%3D%3D"), "ab/c==");
        assert_eq!(super::percent_decode("bad%zz%"), "bad%zz%");
        assert_eq!(super::percent_decode("%4"), "%4");
        assert_eq!(super::percent_decode("%\u{e9}\u{e9}"), "%\u{e9}\u{e9}");
    }
}
