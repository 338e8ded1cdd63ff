//! The request pipeline. Order, for a proxied request:
//!
//! ```text
//! route (longest listen_path) → fence check → version + endpoint lists → API rate limit
//!   → auth (keyed APIs, not ignored endpoints) → key rate limit → quota → forward upstream
//!   → response headers → metrics/log
//! ```
//!
//! Gateway-owned paths (health, readiness, metrics, `/tyk/`) are answered before routing.
//! Every answer carries `X-Tyk-DR-Region`. Errors become responses in [`crate::error`] only.

pub mod auth;
pub mod forward;
pub mod headers;
pub mod limits;
pub mod upstream;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::clock::Now;
use crate::error::{rate_headers, Body, GwError};
use crate::state::AppState;
use crate::{health, mgmt};

const X_TYK_DR_REGION: http::HeaderName = http::HeaderName::from_static("x-tyk-dr-region");

/// A path the gateway answers itself rather than routing it to an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnPath {
    /// `health_path` (Tyk's `/hello`).
    Health,
    /// `ready_path`.
    Ready,
    /// `metrics_path`.
    Metrics,
    /// `/tyk` and below: the management API.
    Management,
}

impl OwnPath {
    /// Which own path `path` is, if any (both HTTP paths ask this before routing).
    pub fn of(cfg: &crate::config::Config, path: &str) -> Option<Self> {
        if path == cfg.health_path {
            Some(Self::Health)
        } else if path == cfg.ready_path {
            Some(Self::Ready)
        } else if path == cfg.metrics_path {
            Some(Self::Metrics)
        } else if path == "/tyk" || path.starts_with("/tyk/") {
            Some(Self::Management)
        } else {
            None
        }
    }
}

/// Handle one request end to end.
pub async fn handle(
    state: &AppState,
    mut req: Request<Incoming>,
    client_ip: http::HeaderValue,
) -> Response<Body> {
    let mut resp = match normalise_target(state, &mut req) {
        Err(e) => {
            state.metrics.request("-", e.status().as_u16());
            e.into_response()
        }
        Ok(()) => dispatch(state, req, client_ip).await,
    };
    resp.headers_mut()
        .insert(X_TYK_DR_REGION, state.region.clone());
    resp
}

/// Bring the request's path to its normal form ([`crate::target`]) in place, so that every later
/// reader (own paths, routing, admission, the management API, the upstream request) sees one path.
fn normalise_target<B>(state: &AppState, req: &mut Request<B>) -> Result<(), GwError> {
    if req.method() == http::Method::CONNECT {
        return Err(GwError::MethodNotAllowed);
    }
    let uri = req.uri();
    if let Some(q) = uri.query() {
        crate::target::check_query(q)?;
    }
    let allow = state.settings.raw.allow_encoded_slashes;
    let std::borrow::Cow::Owned(path) = crate::target::normalise(uri.path(), allow)? else {
        return Ok(());
    };
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(
        target
            .parse()
            .map_err(|e| GwError::BadRequest(format!("cannot rebuild the request target: {e}")))?,
    );
    *req.uri_mut() = http::Uri::from_parts(parts)
        .map_err(|e| GwError::BadRequest(format!("cannot rebuild the request target: {e}")))?;
    Ok(())
}

async fn dispatch(
    state: &AppState,
    req: Request<Incoming>,
    client_ip: http::HeaderValue,
) -> Response<Body> {
    let path = req.uri().path();
    match OwnPath::of(&state.settings.raw, path) {
        Some(OwnPath::Health) => health::hello(state),
        Some(OwnPath::Ready) => health::ready(state),
        Some(OwnPath::Metrics) => health::metrics(state),
        Some(OwnPath::Management) => mgmt::handle(state, req).await,
        None => {
            let now = Now::read();
            let routes = state.routes.load_full();
            let resp = match routes.find(path) {
                None => {
                    let r = GwError::NoRoute.into_response();
                    state.metrics.request("-", r.status().as_u16());
                    r
                }
                Some(route) => {
                    let r = proxy(state, route, req, client_ip, now)
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
            state.metrics.latency.observe_duration(now.mono.elapsed());
            resp
        }
    }
}

/// What the admission checks need to know about a request, whichever HTTP/1 path parsed it (hyper's
/// server, or the fast path in [`crate::h1`]).
pub struct RequestMeta<'a> {
    /// Request method.
    pub method: &'a str,
    /// Path as received (origin form, before any listen-path stripping).
    pub path: &'a str,
    /// Query string without `?`.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a dyn HeaderLookup,
    /// When the request is admitted (every check uses this one reading).
    pub now: crate::clock::Now,
}

/// Header access for [`RequestMeta`]: hyper's `HeaderMap` and the fast path's parsed head both provide it.
pub trait HeaderLookup: Sync {
    /// The first value of header `name` (given in lowercase).
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

/// Admission, the same for both HTTP paths: fence, version and endpoint lists ([`crate::versions`]),
/// API rate limit, auth, key rate limit and quota. Returns the decision to report in `X-RateLimit-*`
/// headers. `req.path` must be in normal form ([`crate::target`]).
pub async fn admit(
    state: &AppState,
    route: &crate::apis::ApiRoute,
    req: &RequestMeta<'_>,
) -> Result<Option<crate::ratelimit::Decision>, GwError> {
    if state.is_fenced() && state.settings.raw.fence_blocks_traffic {
        return Err(GwError::Fenced);
    }
    // Tyk's VersionCheck runs before auth; ignored endpoints skip auth and key limits.
    let version = route.versions.check(req)?;
    limits::check_api(state, route, req.now)?;
    if route.def.use_keyless || version.ignored {
        return Ok(None);
    }
    let caller = auth::authenticate(state, route, req, version.access).await?;
    limits::check_key(state, route, &caller, req.now)
}

async fn proxy(
    state: &AppState,
    route: &crate::apis::ApiRoute,
    req: Request<Incoming>,
    client_ip: http::HeaderValue,
    now: Now,
) -> Result<Response<Body>, GwError> {
    let (parts, body) = req.into_parts();
    let meta = RequestMeta {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        now,
    };
    let report = admit(state, route, &meta).await?;
    let mut resp = forward::forward(
        state,
        route,
        Request::from_parts(parts, body),
        client_ip,
        report.is_some(),
    )
    .await?;
    if let Some(d) = report {
        rate_headers(resp.headers_mut(), &d);
    }
    Ok(resp)
}
