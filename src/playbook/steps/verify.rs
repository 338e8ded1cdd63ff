//! `verify`: the failover is done when clients get answers from the new
//! region. Resolves the global name, sends authenticated requests with a
//! short-lived key made through the target's management API, and requires the
//! target region's answers and the canary on the new primary.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Observation, Step, StepError};
use crate::playbook::context::{innermost, RunContext};
use crate::playbook::facts::RunFacts;
use crate::probes::dns;

/// Parameters of `verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// Path requested through the global name (an API's listen path); default `gateway.verify_path`.
    #[serde(default)]
    pub path: Option<String>,
    /// Header carrying the key.
    #[serde(default = "VerifyParams::default_header")]
    pub auth_header: String,
    /// Answers from the target region needed in a row.
    #[serde(default = "VerifyParams::default_successes")]
    pub successes: u32,
    /// The gateway port behind the global name.
    #[serde(default = "VerifyParams::default_port")]
    pub port: u16,
}

impl VerifyParams {
    fn default_header() -> String {
        "Authorization".into()
    }
    fn default_successes() -> u32 {
        3
    }
    fn default_port() -> u16 {
        8080
    }
}

impl Default for VerifyParams {
    fn default() -> Self {
        Self {
            path: None,
            auth_header: Self::default_header(),
            successes: Self::default_successes(),
            port: Self::default_port(),
        }
    }
}

impl Step for VerifyParams {
    type Seen = ();

    async fn observe(&self, _ctx: &RunContext) -> Result<Observation<()>, StepError> {
        Ok(Observation::new(
            (),
            vec!["send authenticated requests through the global name".into()],
        ))
    }

    async fn act(&self, ctx: &RunContext, _obs: &Observation<()>) -> Result<RunFacts, StepError> {
        run(ctx, self).await
    }

    fn default_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// Verifying is never "nothing to do": it is how the run knows it worked.
    fn acts_when_idle(&self) -> bool {
        true
    }
}

/// Creates a key valid for every API for five minutes through a target gateway, retrying
/// while the gateways settle (bounded by the step's timeout, which the engine enforces).
async fn temporary_key(ctx: &RunContext) -> Result<(String, String), StepError> {
    loop {
        match try_temporary_key(ctx).await {
            Ok(k) => return Ok(k),
            Err(StepError::Failed(e)) => {
                tracing::debug!("verify: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn try_temporary_key(ctx: &RunContext) -> Result<(String, String), StepError> {
    if ctx.gateway_secret.is_none() {
        return Err(StepError::Refused(
            "TYK_DR_GATEWAY_SECRET is not set".into(),
        ));
    }
    let expires = crate::probes::now_ms() / 1000 + 300;
    let session = json!({"org_id": "tyk-dr", "rate": 1000, "per": 1, "quota_max": -1, "expires": expires,
                         // Redis drops the probe key at expiry even if the DELETE below fails.
                         "post_expiry_action": "delete",
                         "access_rights": {}, "meta_data": {"tyk-dr": format!("verify {}", ctx.run_id)}});
    let mut last = String::from("no target gateway configured");
    for url in ctx.config.gateway.endpoints.of(ctx.transition.to) {
        match ctx
            .gateway_json(reqwest::Method::POST, url, "/tyk/keys", Some(&session))
            .await
        {
            Ok(body) => match body["key"].as_str() {
                Some(key) => return Ok((url.clone(), key.to_owned())),
                None => last = format!("{url}: no `key` in the answer"),
            },
            Err(e) => last = e,
        }
    }
    Err(StepError::Failed(format!(
        "could not create a verification key: {last}"
    )))
}

async fn run(ctx: &RunContext, p: &VerifyParams) -> Result<RunFacts, StepError> {
    let (key_gateway, key) = temporary_key(ctx).await?;
    let target_region = ctx.region(ctx.transition.to).to_owned();
    let global = &ctx.config.dns.global_name;
    let mut facts = RunFacts::default();
    let mut streak = 0;
    let mut last_problem = String::new();
    // Bounded by the step's timeout, which the engine enforces around this call.
    while streak < p.successes {
        let answer = dns::resolve(&ctx.resolver, global).await;
        let Some(ip) = answer.addresses.first() else {
            last_problem = format!(
                "{global} does not resolve: {}",
                answer.error.unwrap_or_default()
            );
            streak = 0;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let path = p.path.as_deref().unwrap_or(&ctx.config.gateway.verify_path);
        let url = format!("http://{ip}:{}{path}", p.port);
        let resp = ctx
            .http
            .get(&url)
            .header("Host", global.as_str())
            .header(&p.auth_header, &key)
            .send()
            .await;
        let served_by = resp
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get("x-tyk-dr-region"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match resp {
            Ok(r)
                if r.status().is_success()
                    && served_by.as_deref() == Some(target_region.as_str()) =>
            {
                if streak == 0 && facts.first_verified_ms.is_none() {
                    facts.first_verified_ms = Some(crate::probes::now_ms());
                }
                streak += 1;
            }
            Ok(r) => {
                last_problem = format!(
                    "{url}: HTTP {} from {}",
                    r.status(),
                    served_by.as_deref().unwrap_or("an unknown region")
                );
                facts.first_verified_ms = None;
                streak = 0;
            }
            Err(e) => {
                last_problem = format!("{url}: {}", innermost(&e));
                facts.first_verified_ms = None;
                streak = 0;
            }
        }
        if streak == 0 {
            tracing::debug!("verify: {last_problem}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = ctx
        .gateway_call(
            reqwest::Method::DELETE,
            &key_gateway,
            &format!("/tyk/keys/{key}"),
        )
        .await;
    facts.verified_requests = Some(p.successes);
    Ok(facts)
}
