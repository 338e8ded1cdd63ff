//! `/tyk/apis`: API definition CRUD on `app_path` files. As in Tyk, changes apply on the next reload
//! (`/tyk/reload`, `/tyk/reload/group` or a cluster notification).

use std::path::PathBuf;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tyk_model::ApiDefinition;

use super::{error, ok_action, percent_decode, read_body};
use crate::error::{json, Body};
use crate::state::AppState;

fn file_for(state: &AppState, id: &str) -> PathBuf {
    match state.routes.load().by_id.get(id) {
        Some(r) => r.source.clone(),
        None => state.settings.raw.app_path.join(format!("{id}.json")),
    }
}

fn write_atomic(path: &PathBuf, def: &ApiDefinition) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(def).unwrap_or_default();
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// Parse a definition as Tyk's `handleAddApi` / `handleUpdateApi` do: a PUT must name the path's id; a
/// POST without `api_id` gets a generated one (Tyk's `GenerateAPIID`, 32 hex digits).
async fn parse(req: Request<Incoming>, id: Option<&str>) -> Result<ApiDefinition, Response<Body>> {
    let body = read_body(req).await?;
    let mut def: ApiDefinition = serde_json::from_slice(&body).map_err(|e| {
        tracing::warn!(error = %e, "couldn't decode new API Definition object");
        error(StatusCode::BAD_REQUEST, "Request malformed")
    })?;
    match id {
        Some(id) if def.api_id != id => {
            return Err(error(StatusCode::BAD_REQUEST, "Request APIID does not match that in Definition! For Update operations these must match."));
        }
        Some(_) => {}
        None if def.api_id.is_empty() => {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).map_err(|e| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot generate an API id: {e}"),
                )
            })?;
            def.api_id = b.iter().map(|x| format!("{x:02x}")).collect();
        }
        None => {}
    }
    def.validate().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid API definition: {e}"),
        )
    })?;
    Ok(def)
}

/// Handle `/tyk/apis[/...]`.
pub async fn handle(
    state: &AppState,
    method: Method,
    rest: &[&str],
    req: Request<Incoming>,
) -> Response<Body> {
    let id = (!rest.is_empty()).then(|| percent_decode(&rest.join("/")));
    if id
        .as_deref()
        .is_some_and(|i| i.contains(['/', '\\']) || i.starts_with('.'))
    {
        return error(StatusCode::BAD_REQUEST, "invalid API id");
    }
    match (method, id) {
        (Method::GET, None) => {
            let routes = state.routes.load();
            let defs: Vec<&ApiDefinition> = routes.routes.iter().map(|r| &r.def).collect();
            json(
                StatusCode::OK,
                &serde_json::to_value(defs).unwrap_or_default(),
            )
        }
        (Method::GET, Some(id)) => match state.routes.load().by_id.get(&id) {
            Some(r) => json(
                StatusCode::OK,
                &serde_json::to_value(&r.def).unwrap_or_default(),
            ),
            None => error(StatusCode::NOT_FOUND, "API not found"),
        },
        (Method::POST, None) => {
            let def = match parse(req, None).await {
                Ok(d) => d,
                Err(r) => return r,
            };
            if def.api_id.contains(['/', '\\']) || def.api_id.starts_with('.') {
                return error(StatusCode::BAD_REQUEST, "invalid API id");
            }
            // Tyk writes the file whether or not the id exists (an existing API is overwritten).
            let path = file_for(state, &def.api_id);
            match write_atomic(&path, &def) {
                Ok(()) => ok_action(&def.api_id, "added"),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot write {}: {e}", path.display()),
                ),
            }
        }
        (Method::PUT, Some(id)) => {
            let def = match parse(req, Some(&id)).await {
                Ok(d) => d,
                Err(r) => return r,
            };
            let path = file_for(state, &id);
            if !path.exists() {
                return error(StatusCode::NOT_FOUND, "API not found");
            }
            match write_atomic(&path, &def) {
                Ok(()) => ok_action(&id, "modified"),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot write {}: {e}", path.display()),
                ),
            }
        }
        (Method::DELETE, Some(id)) => {
            let path = file_for(state, &id);
            match std::fs::remove_file(&path) {
                Ok(()) => ok_action(&id, "deleted"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    error(StatusCode::NOT_FOUND, "API not found")
                }
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot delete {}: {e}", path.display()),
                ),
            }
        }
        _ => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"status":"error","message":"Method not allowed"}),
        ),
    }
}
