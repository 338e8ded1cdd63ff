//! Phase 3: forward to the upstream over the pooled client, streaming both bodies.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;

use super::headers;
use crate::apis::{upstream_path, ApiRoute};
use crate::error::{Body, GwError};
use crate::state::AppState;

const VIA_VALUE: HeaderValue = HeaderValue::from_static("1.1 tyk-dr-gateway");

/// `(name, value)` pairs of a header map, the shape [`headers`] reads.
fn pairs(h: &HeaderMap) -> Vec<(&str, &[u8])> {
    h.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect()
}

/// The request headers the upstream gets, by the rules both HTTP paths share.
fn request_headers(h: &HeaderMap, route: &ApiRoute, client_ip: &HeaderValue) -> HeaderMap {
    let all = pairs(h);
    let client_host = h.get(header::HOST).map(HeaderValue::as_bytes);
    let fwd = headers::Forwarding {
        host: match client_host {
            Some(host) if route.def.proxy.preserve_host_header => host,
            _ => route.authority.as_str().as_bytes(),
        },
        client_host,
        client_ip: client_ip.as_bytes(),
        strip: route.versions.strip_header().map(|n| n.as_str()),
        opts: headers::ConnectionOptions::of(all.iter().copied()),
        chunked: h.contains_key(header::TRANSFER_ENCODING),
    };
    let mut out = HeaderMap::with_capacity(all.len() + 4);
    headers::forward_request_headers(all.iter().copied(), &fwd, &mut out, &mut Vec::new());
    out
}

/// The upstream's response headers the client gets: end-to-end ones, not the gateway's own.
fn response_headers(h: &HeaderMap, own_rate_limit: bool) -> HeaderMap {
    let all = pairs(h);
    let opts = headers::ConnectionOptions::of(all.iter().copied());
    let chunked = h.contains_key(header::TRANSFER_ENCODING);
    let mut out = HeaderMap::with_capacity(all.len() + 1);
    for (n, v) in h {
        let kind = headers::Known::of(n.as_str());
        // hyper re-frames the body; a stray Content-Length beside Transfer-Encoding would truncate it.
        let keep = match kind {
            headers::Known::ContentLength => !chunked,
            _ => headers::relay_response_header(
                kind,
                n.as_str(),
                opts,
                all.iter().copied(),
                own_rate_limit,
            ),
        };
        if keep {
            out.append(n.clone(), v.clone());
        }
    }
    out.append(header::VIA, VIA_VALUE);
    out
}

/// Forward `req` (already authorised, its path in normal form) to the route's upstream.
pub async fn forward(
    state: &AppState,
    route: &ApiRoute,
    mut req: Request<Incoming>,
    client_ip: HeaderValue,
    own_rate_limit: bool,
) -> Result<Response<Body>, GwError> {
    let path = upstream_path(route, req.uri().path(), req.uri().query());
    let uri = Uri::try_from(path)
        .map_err(|e| GwError::BadRequest(format!("cannot build upstream URI: {e}")))?;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;
    *req.headers_mut() = request_headers(req.headers(), route, &client_ip);
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
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        // The upgrade request was never forwarded (Upgrade is hop-by-hop), so this answers nothing.
        return Err(GwError::Upstream(format!(
            "{}: 101 to a request that asked for no upgrade",
            route.authority
        )));
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers = response_headers(&parts.headers, own_rate_limit);
    Ok(Response::from_parts(parts, Body::Upstream(body)))
}
