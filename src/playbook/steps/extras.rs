//! Steps beyond the core sequence: `webhook` and `approval`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{fact, Facts, StepError};
use crate::playbook::context::{innermost, Ctx};

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

pub(super) async fn webhook(ctx: &Ctx, p: &WebhookParams) -> Result<Facts, StepError> {
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
        Ok(r) if r.status().is_success() => Ok(fact("webhook_status", r.status().as_u16())),
        Ok(r) => Err(StepError::Failed(format!(
            "{} answered HTTP {}",
            p.url,
            r.status()
        ))),
        Err(e) => Err(StepError::Failed(format!("{}: {}", p.url, innermost(&e)))),
    }
}

pub(super) fn approval(ctx: &Ctx, p: &ApprovalParams) -> Result<Facts, StepError> {
    if confirm(&p.message, ctx.assume_yes)? {
        Ok(fact("approved", true))
    } else {
        Err(StepError::Failed(format!("not approved: {}", p.message)))
    }
}

/// Asks on the terminal; `--yes` answers for the operator; no terminal and no `--yes` is an error.
pub fn confirm(question: &str, assume_yes: bool) -> Result<bool, StepError> {
    if assume_yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(StepError::Failed(format!(
            "{question}: needs an answer; run in a terminal or pass --yes"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| StepError::Failed(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
