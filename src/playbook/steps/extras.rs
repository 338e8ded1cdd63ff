//! Steps beyond the core sequence: `webhook`, `approval` and `report`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{unit_steps, Observation, Step, StepError};
use crate::playbook::context::{innermost, RunContext};
use crate::playbook::facts::RunFacts;
use crate::prompt::{self, Accept};

unit_steps! {
    /// `report`: summarise the run (the report is also written at the end of every run).
    Summary,
}

impl Step for Summary {
    type Seen = ();

    async fn observe(&self, _ctx: &RunContext) -> Result<Observation<()>, StepError> {
        Ok(Observation::new((), vec!["summarise the run".into()]))
    }

    async fn act(&self, _ctx: &RunContext, _obs: &Observation<()>) -> Result<RunFacts, StepError> {
        Ok(RunFacts::default())
    }
}

impl Step for WebhookParams {
    type Seen = ();

    async fn observe(&self, _ctx: &RunContext) -> Result<Observation<()>, StepError> {
        Ok(Observation::new(
            (),
            vec![format!("POST a notification to {}", self.url)],
        ))
    }

    async fn act(&self, ctx: &RunContext, _obs: &Observation<()>) -> Result<RunFacts, StepError> {
        webhook(ctx, self).await
    }
}

impl Step for ApprovalParams {
    type Seen = ();

    async fn observe(&self, _ctx: &RunContext) -> Result<Observation<()>, StepError> {
        Ok(Observation::new((), vec![format!("ask: {}", self.message)]))
    }

    async fn act(&self, ctx: &RunContext, _obs: &Observation<()>) -> Result<RunFacts, StepError> {
        approval(ctx, self)
    }

    /// An operator may take a while.
    fn default_timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }
}

/// Parameters of `webhook`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookParams {
    /// Where to POST the JSON notification.
    pub url: String,
    /// Extra text for the receiver (a channel name, a ticket number...).
    #[serde(default)]
    pub message: String,
}

/// Parameters of `approval`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// The question shown to the operator.
    pub message: String,
}

async fn webhook(ctx: &RunContext, p: &WebhookParams) -> Result<RunFacts, StepError> {
    let body = json!({
        "run_id": ctx.run_id,
        "from": ctx.region(ctx.transition.from),
        "to": ctx.region(ctx.transition.to),
        "message": p.message,
        "facts": ctx.facts,
    });
    let resp = ctx
        .http
        .post(&p.url)
        .timeout(Duration::from_secs(10))
        .json(&body)
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => Ok(RunFacts {
            webhook_status: Some(r.status().as_u16()),
            ..Default::default()
        }),
        Ok(r) => Err(StepError::Failed(format!(
            "{} answered HTTP {}",
            p.url,
            r.status()
        ))),
        Err(e) => Err(StepError::Failed(format!("{}: {}", p.url, innermost(&e)))),
    }
}

fn approval(ctx: &RunContext, p: &ApprovalParams) -> Result<RunFacts, StepError> {
    if confirm(&p.message, ctx.assume_yes)? {
        Ok(RunFacts {
            approved: Some(true),
            ..Default::default()
        })
    } else {
        Err(StepError::Failed(format!("not approved: {}", p.message)))
    }
}

/// Asks the operator during a run ([`crate::prompt`]); nobody to answer is a step failure.
pub fn confirm(question: &str, assume_yes: bool) -> Result<bool, StepError> {
    prompt::confirm(question, assume_yes, Accept::YesOrY)
        .map_err(|e| StepError::Failed(e.to_string()))
}
