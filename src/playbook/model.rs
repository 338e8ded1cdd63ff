//! Playbooks as written (YAML) and as compiled: unknown steps, unknown or
//! wrongly typed parameters and bad timeouts are all reported before anything
//! runs, each naming the file, the step's position and the field.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::steps::StepKind;

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Stop the run; `--resume` continues from this step once the cause is fixed.
    #[default]
    Abort,
    /// Record the failure and go on with the next step.
    Continue,
    /// Ask the operator whether to go on (fails when nobody can answer: no terminal, no `--yes`).
    Pause,
}

/// One step as written in the YAML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    step: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
    #[serde(default, rename = "with")]
    params: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: String,
    #[serde(default)]
    description: String,
    steps: Vec<RawStep>,
}

/// A checked step: its kind with typed parameters, a time limit and a failure policy.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Display name (defaults to the step kind).
    pub name: String,
    /// What the step does, with its parameters.
    pub kind: StepKind,
    /// Longest the step may run.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// What a failure does to the run.
    pub on_failure: OnFailure,
}

/// A checked playbook, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    /// The playbook's name (`failover`, `failback`, or your own).
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// Every problem found in a playbook file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PlaybookError {
    /// The file.
    pub file: String,
    /// One sentence each: where, what, and how to fix it.
    pub problems: Vec<String>,
}

/// Reads and compiles a playbook file.
pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PlaybookError {
        file: file.clone(),
        problems: vec![format!("cannot read it: {e}")],
    })?;
    compile(&file, &text)
}

/// Compiles playbook text; `file` names it in messages.
pub fn compile(file: &str, text: &str) -> Result<Playbook, PlaybookError> {
    let fail = |problems| PlaybookError {
        file: file.to_owned(),
        problems,
    };
    let raw: RawPlaybook = serde_norway::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        fail(vec![format!(
            "{at}{e}; expected `name:` and a `steps:` list of `- step: <kind>` entries"
        )])
    })?;
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    for (i, raw) in raw.steps.into_iter().enumerate() {
        let at = format!("steps[{i}] (`{}`)", raw.step);
        // `None`: the step kind's default.
        let timeout = match raw.timeout.as_deref().map(humantime::parse_duration) {
            None => Ok(None),
            Some(Ok(d)) if d.is_zero() => Err(format!(
                "{at}.timeout: must be above zero; e.g. `timeout: 30s`"
            )),
            Some(Ok(d)) => Ok(Some(d)),
            Some(Err(e)) => Err(format!(
                "{at}.timeout: {e}; write a duration such as `30s` or `2m`"
            )),
        };
        let kind = StepKind::compile(&raw.step, raw.params.unwrap_or(serde_norway::Value::Null))
            .map_err(|e| format!("{at}: {e}"));
        match (kind, timeout) {
            (Ok(kind), Ok(timeout)) => steps.push(Step {
                name: raw.name.unwrap_or_else(|| raw.step.clone()),
                timeout: timeout.unwrap_or_else(|| kind.default_timeout()),
                kind,
                on_failure: raw.on_failure.unwrap_or_default(),
            }),
            (kind, timeout) => problems.extend(kind.err().into_iter().chain(timeout.err())),
        }
    }
    if steps.is_empty() && problems.is_empty() {
        problems.push("`steps` is empty; a playbook needs at least one step".into());
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(Playbook {
        name: raw.name,
        description: raw.description,
        steps,
    })
}

/// Decodes a step's `with:` block into its parameter type, rejecting unknown keys.
pub fn params<T: DeserializeOwned + Default>(value: serde_norway::Value) -> Result<T, String> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_norway::from_value(value).map_err(|e| format!("`with`: {e}"))
}
