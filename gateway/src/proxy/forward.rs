//! Phase 3: forward to the upstream over the pooled client, streaming both bodies.

use std::net::SocketAddr;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::apis::{upstream_path, ApiRoute};
use crate::error::{Body, GwError};
use crate::state::AppState;

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in named.iter().chain(HOP_BY_HOP.iter()) {
        h.remove(n);
    }
    h.remove(header::TRANSFER_ENCODING);
}

/// Forward `req` (already authorised) to the route's upstream.
pub async fn forward(
    state: &AppState,
    route: &ApiRoute,
    mut req: Request<Incoming>,
    client: SocketAddr,
) -> Result<Response<Body>, GwError> {
    let path = upstream_path(route, req.uri().path(), req.uri().query());
    let uri = Uri::builder()
        .scheme(route.scheme.clone())
        .authority(route.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| GwError::BadRequest(format!("cannot build upstream URI: {e}")))?;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;
    let h = req.headers_mut();
    strip_hop_by_hop(h);
    let original_host = h.get(header::HOST).cloned();
    let ip = client.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = &original_host {
        h.insert("x-forwarded-host", host.clone());
    }
    h.append(header::VIA, HeaderValue::from_static("1.1 tyk-dr-gateway"));
    if !route.def.proxy.preserve_host_header {
        if let Ok(v) = HeaderValue::from_str(route.authority.as_str()) {
            h.insert(header::HOST, v);
        }
    }
    let timeout = Duration::from_millis(state.settings.raw.upstream_timeout_ms);
    let resp =
        match tokio::time::timeout(timeout, crate::state::upstream_client().request(req)).await {
            Err(_) => return Err(GwError::UpstreamTimeout),
            Ok(Err(e)) => return Err(GwError::Upstream(format!("{}: {e:?}", route.authority))),
            Ok(Ok(r)) => r,
        };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static("1.1 tyk-dr-gateway"));
    Ok(Response::from_parts(parts, body.boxed()))
}
