//! The secrets tyk-dr reads from its environment, in one place: their variable names, and
//! what an empty value means (unset). Values are never printed or logged.

/// The gateways' management API secret (`X-Tyk-Authorization`).
pub const GATEWAY_SECRET_VAR: &str = "TYK_DR_GATEWAY_SECRET";

/// The Redis AUTH password, used when `redis.auth` is on.
pub const REDIS_PASSWORD_VAR: &str = "TYK_DR_REDIS_PASSWORD";

/// The management API header the secret travels in, as Tyk names it.
pub const MANAGEMENT_HEADER: &str = "X-Tyk-Authorization";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `TYK_DR_GATEWAY_SECRET`, when set and not empty.
pub fn gateway_secret() -> Option<String> {
    var(GATEWAY_SECRET_VAR)
}

/// `TYK_DR_REDIS_PASSWORD` when the servers require AUTH (`redis.auth`), else `None`.
pub fn redis_password(auth: bool) -> Option<String> {
    if auth {
        var(REDIS_PASSWORD_VAR)
    } else {
        None
    }
}

/// Requests to a gateway's management API carry the secret in Tyk's header: the one place
/// that header is named.
pub trait ManagementSecret {
    /// Adds the management secret.
    fn management_secret(self, secret: &str) -> Self;
}

impl ManagementSecret for reqwest::RequestBuilder {
    fn management_secret(self, secret: &str) -> Self {
        self.header(MANAGEMENT_HEADER, secret)
    }
}
