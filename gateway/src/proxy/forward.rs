//! Phase 3: forward to the upstream over the pooled client, streaming both bodies.

use std::net::SocketAddr;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;

use crate::apis::{upstream_path, ApiRoute};
use crate::error::{Body, GwError};
use crate::state::AppState;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const VIA_VALUE: HeaderValue = HeaderValue::from_static("1.1 tyk-dr-gateway");
const HTTP: HeaderValue = HeaderValue::from_static("http");

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Fast path: most messages carry none of them (one pass over the few headers present).
    if !h.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    // A message with both is framed by Transfer-Encoding (RFC 9112 §6.3): passing its stray
    // Content-Length on would truncate the body we re-frame (or desynchronise the next hop).
    if h.contains_key(header::TRANSFER_ENCODING) {
        h.remove(header::CONTENT_LENGTH);
    }
    for n in named.iter().chain(HOP_BY_HOP.iter()) {
        h.remove(n);
    }
}

/// Forward `req` (already authorised) to the route's upstream.
pub async fn forward(
    state: &AppState,
    route: &ApiRoute,
    mut req: Request<Incoming>,
    client: SocketAddr,
    client_ip: HeaderValue,
) -> Result<Response<Body>, GwError> {
    let path = upstream_path(route, req.uri().path(), req.uri().query());
    let uri = Uri::try_from(path)
        .map_err(|e| GwError::BadRequest(format!("cannot build upstream URI: {e}")))?;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;
    let h = req.headers_mut();
    strip_hop_by_hop(h);
    let original_host = h.get(header::HOST).cloned();
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", client.ip())).ok(),
        None => Some(client_ip),
    };
    if let Some(v) = xff {
        h.insert(X_FORWARDED_FOR, v);
    }
    h.insert(X_FORWARDED_PROTO, HTTP);
    if let Some(host) = &original_host {
        h.insert(X_FORWARDED_HOST, host.clone());
    }
    h.append(header::VIA, VIA_VALUE);
    if !route.def.proxy.preserve_host_header {
        if let Ok(v) = HeaderValue::from_str(route.authority.as_str()) {
            h.insert(header::HOST, v);
        }
    }
    let timeout = Duration::from_millis(state.settings.raw.upstream_timeout_ms);
    let resp = match tokio::time::timeout(
        timeout,
        super::upstream::send(route, req, &state.upstream_tls),
    )
    .await
    {
        Err(_) => return Err(GwError::UpstreamTimeout),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.append(header::VIA, VIA_VALUE);
    Ok(Response::from_parts(parts, Body::Upstream(body)))
}
