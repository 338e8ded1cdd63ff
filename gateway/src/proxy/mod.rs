//! The request pipeline. Order, for a proxied request:
//!
//! ```text
//! route (longest listen_path) → fence check → API rate limit → auth (keyed APIs)
//!   → key rate limit → quota → forward upstream → response headers → metrics/log
//! ```
//!
//! Gateway-owned paths (health, readiness, metrics, `/tyk/`) are answered before routing.
//! Every answer carries `X-Tyk-DR-Region`. Errors become responses in [`crate::error`] only.

pub mod auth;
pub mod forward;
pub mod limits;
pub mod upstream;

use std::net::SocketAddr;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::error::{rate_headers, Body, GwError};
use crate::state::AppState;
use crate::{health, mgmt};

const X_TYK_DR_REGION: http::HeaderName = http::HeaderName::from_static("x-tyk-dr-region");

/// Handle one request end to end.
pub async fn handle(
    state: &AppState,
    req: Request<Incoming>,
    client: SocketAddr,
    client_ip: http::HeaderValue,
) -> Response<Body> {
    let path = req.uri().path();
    let cfg = &state.settings.raw;
    let mut resp = if path == cfg.health_path {
        health::hello(state)
    } else if path == cfg.ready_path {
        health::ready(state)
    } else if path == cfg.metrics_path {
        health::metrics(state)
    } else if path == "/tyk" || path.starts_with("/tyk/") {
        mgmt::handle(state, req).await
    } else {
        let start = Instant::now();
        let routes = state.routes.load_full();
        let resp = match routes.find(path) {
            None => {
                let r = GwError::NoRoute.into_response();
                state.metrics.request("-", r.status().as_u16());
                r
            }
            Some(route) => {
                let r = proxy(state, route, req, client, client_ip)
                    .await
                    .unwrap_or_else(GwError::into_response);
                state.metrics.route_request(
                    &route.counters,
                    &route.def.api_id,
                    r.status().as_u16(),
                );
                r
            }
        };
        state.metrics.latency.observe_duration(start.elapsed());
        resp
    };
    resp.headers_mut()
        .insert(X_TYK_DR_REGION, state.region.clone());
    resp
}

async fn proxy(
    state: &AppState,
    route: &crate::apis::ApiRoute,
    req: Request<Incoming>,
    client: SocketAddr,
    client_ip: http::HeaderValue,
) -> Result<Response<Body>, GwError> {
    if state.is_fenced() && state.settings.raw.fence_blocks_traffic {
        return Err(GwError::Fenced);
    }
    limits::check_api(state, route)?;
    let (parts, body) = req.into_parts();
    let report = if route.def.use_keyless {
        None
    } else {
        let caller = auth::authenticate(state, route, &parts).await?;
        limits::check_key(state, route, &caller)?
    };
    let mut resp = forward::forward(
        state,
        route,
        Request::from_parts(parts, body),
        client,
        client_ip,
    )
    .await?;
    if let Some(d) = report {
        rate_headers(resp.headers_mut(), &d);
    }
    Ok(resp)
}
