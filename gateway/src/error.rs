//! Every error a client can see, and the one place that turns it into an HTTP answer.
//!
//! Bodies use Tyk's shape `{"error": "..."}` and Tyk's wording and status codes where Tyk has them;
//! the DR-specific answers (key store down, fenced) are 503 so clients retry instead of dropping keys.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use crate::ratelimit::Decision;

/// Response body type used throughout the gateway (upstream bodies stream through it).
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A fixed body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with the given status.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Why a proxied request was not forwarded (or failed upstream).
#[derive(Debug, thiserror::Error)]
pub enum GwError {
    /// No token in the configured header.
    #[error("Authorization field missing")]
    AuthMissing,
    /// Token unknown (or session unreadable), or the key has no right to this API.
    #[error("Access to this API has been disallowed")]
    AccessDenied,
    /// `is_inactive` is set.
    #[error("Key is inactive, please renew")]
    KeyInactive,
    /// `expires` is in the past.
    #[error("Key has expired, please renew")]
    KeyExpired,
    /// Per-key rate limit hit.
    #[error("Rate limit exceeded")]
    RateLimited(Decision),
    /// `global_rate_limit` of the API hit.
    #[error("API Rate limit exceeded")]
    ApiRateLimited(Decision),
    /// Quota used up (403, as Tyk).
    #[error("Quota exceeded")]
    QuotaExceeded(Decision),
    /// The key cannot be checked: Redis is unreachable and the key is not in the local cache.
    #[error("Key store unavailable, please retry")]
    StoreUnavailable,
    /// The gateway is fenced by the DR tool.
    #[error("Gateway is fenced: this region is not serving traffic")]
    Fenced,
    /// No API listens on this path.
    #[error("Not found")]
    NoRoute,
    /// The upstream could not be reached.
    #[error("There was a problem proxying the request")]
    Upstream(String),
    /// The upstream did not answer in time.
    #[error("Upstream timed out")]
    UpstreamTimeout,
    /// The request itself is invalid.
    #[error("{0}")]
    BadRequest(String),
}

impl GwError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AuthMissing | Self::KeyExpired => StatusCode::UNAUTHORIZED,
            Self::AccessDenied | Self::KeyInactive | Self::QuotaExceeded(_) => {
                StatusCode::FORBIDDEN
            }
            Self::RateLimited(_) | Self::ApiRateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable | Self::Fenced => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Turn the error into the response the client sees.
    pub fn into_response(self) -> Response<Body> {
        if let Self::Upstream(cause) = &self {
            tracing::warn!(%cause, "upstream error");
        }
        let mut r = json(
            self.status(),
            &serde_json::json!({ "error": self.to_string() }),
        );
        match &self {
            Self::RateLimited(d) | Self::ApiRateLimited(d) | Self::QuotaExceeded(d) => {
                rate_headers(r.headers_mut(), d);
                if !matches!(self, Self::QuotaExceeded(_)) {
                    r.headers_mut().insert(
                        http::header::RETRY_AFTER,
                        HeaderValue::from(d.reset_secs.max(1)),
                    );
                }
            }
            Self::StoreUnavailable | Self::Fenced => {
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        r
    }
}

const X_RL_LIMIT: http::HeaderName = http::HeaderName::from_static("x-ratelimit-limit");
const X_RL_REMAINING: http::HeaderName = http::HeaderName::from_static("x-ratelimit-remaining");
const X_RL_RESET: http::HeaderName = http::HeaderName::from_static("x-ratelimit-reset");

/// Write `X-RateLimit-Limit/Remaining/Reset`.
pub fn rate_headers(h: &mut http::HeaderMap, d: &Decision) {
    h.insert(X_RL_LIMIT, HeaderValue::from(d.limit));
    h.insert(X_RL_REMAINING, HeaderValue::from(d.remaining));
    h.insert(X_RL_RESET, HeaderValue::from(d.reset_secs));
}
