//! Phase 2: API-wide rate limit, per-key rate limit, then quota.

use crate::apis::ApiRoute;
use crate::clock::Now;
use crate::error::GwError;
use crate::proxy::auth::Caller;
use crate::ratelimit::Decision;
use crate::state::AppState;

/// `global_rate_limit` of the API (applies to keyless APIs too).
pub fn check_api(state: &AppState, route: &ApiRoute, now: Now) -> Result<(), GwError> {
    if let Some(g) = &route.def.global_rate_limit {
        if g.rate > 0.0 && g.per > 0.0 {
            let d = state
                .api_limiter
                .check_rate(&route.def.api_id, g.rate, g.per, now);
            if !d.allowed {
                return Err(GwError::ApiRateLimited(d));
            }
        }
    }
    Ok(())
}

/// Per-key rate limit and quota; returns the decision to report in `X-RateLimit-*` headers
/// (the quota when the key has one, as Tyk does, else the rate limit).
pub fn check_key(
    state: &AppState,
    route: &ApiRoute,
    caller: &Caller,
    now: Now,
) -> Result<Option<Decision>, GwError> {
    // Counters as Tyk names them: `quota-<hash>`, or `quota-<scope>-<hash>` for scoped per-API limits
    // (the id is computed once, when the session is cached).
    let (l, id) = caller.session.limits_for(&route.def.api_id);
    let mut report = None;
    if !route.def.disable_rate_limit && l.rate > 0.0 && l.per > 0.0 {
        let d = state.limiter.check_rate(id, l.rate, l.per, now);
        if !d.allowed {
            return Err(GwError::RateLimited(d));
        }
        report = Some(d);
    }
    if !route.def.disable_quota && l.quota_max > 0 {
        let d = state
            .limiter
            .check_quota(id, l.quota_max, l.quota_renewal_rate, now);
        if !d.allowed {
            return Err(GwError::QuotaExceeded(d));
        }
        report = Some(d);
    }
    Ok(report)
}
