//! The one error type the user sees: it owns the wording, the hint and the exit code.

use std::process::ExitCode;

use crate::config::{Invalid, LoadError};
use crate::playbook::steps::StepError;

/// Exit statuses, documented in the README and `tyk-dr --help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A command failed at run time.
    pub const FAILURE: u8 = 1;
    /// A check found differences (`cfn --check`).
    pub const DIFFERENCES: u8 = 2;
    /// `status`: the passive region could not take over now.
    pub const NOT_READY: u8 = 3;
    /// `failover`/`failback`: another run holds the epoch.
    pub const CONFLICT: u8 = 4;
    /// `drill`: a threshold was missed or the drill stopped early.
    pub const DRILL_FAILED: u8 = 5;
    /// The command line was wrong (EX_USAGE).
    pub const USAGE: u8 = 64;
    /// tyk-dr.toml is invalid (EX_DATAERR).
    pub const INVALID_CONFIG: u8 = 65;
    /// tyk-dr.toml could not be read (EX_NOINPUT).
    pub const NO_CONFIG: u8 = 66;
}

/// Everything that can end a command, with what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file does not exist or cannot be read.
    #[error("cannot read `{path}`: {reason}")]
    ConfigUnreadable {
        /// The path as given.
        path: String,
        /// The I/O error's text.
        reason: String,
    },
    /// The configuration file has errors; they have already been printed.
    #[error("{0}")]
    ConfigInvalid(Box<Invalid>),
    /// Something the command needed at run time failed (a listener, the async runtime, ...).
    #[error("{what}: {reason}")]
    Runtime {
        /// What was being done.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// An AWS call failed (`plan`, `apply`, `destroy`).
    #[error("{message}")]
    Aws {
        /// Operation, resource and the service's error.
        message: String,
        /// What to do: the IAM action to allow, the quota to raise...
        hint: Option<String>,
        /// The resource does not exist.
        not_found: bool,
        /// The endpoint (an emulator) does not implement the call.
        not_implemented: bool,
        /// Another resource still depends on this one (retry once it is gone).
        dependency: bool,
    },
    /// A saved plan no longer matches the world or the configuration.
    #[error("the saved plan `{path}` is stale: {reason}")]
    StalePlan {
        /// The plan file.
        path: String,
        /// What changed.
        reason: String,
    },
    /// A command that changes infrastructure or moves traffic was not confirmed.
    #[error("{0}")]
    NotConfirmed(String),
    /// An option's value is wrong in a way the command-line parser cannot see.
    #[error("{option} `{value}`: {reason}")]
    BadOption {
        /// The option (`--failed-at`).
        option: String,
        /// The value given.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// `drill`: the passive region could not take over now, so no drill ran.
    #[error("the passive region is not ready, no drill ran: {0}")]
    DrillNotReady(String),
    /// `failover` / `failback`: the run stopped at a step (its report is printed before, or, with
    /// `--output json`, travels in the error's document).
    #[error("{error}")]
    RunStopped {
        /// Why the step failed.
        error: StepError,
        /// The playbook's name (the command that resumes it).
        playbook: String,
        /// The run, for `--resume`.
        run_id: String,
        /// The run's report, for `--output json`.
        report: Option<Box<serde_json::Value>>,
    },
    /// `apply` / `destroy` stopped on Ctrl-C between two steps.
    #[error("interrupted after {done} of {total} steps")]
    Interrupted {
        /// Steps completed.
        done: usize,
        /// Steps planned.
        total: usize,
    },
    /// Writing output failed.
    #[error("cannot write `{path}`: {reason}")]
    Write {
        /// The file or directory.
        path: String,
        /// The I/O error's text.
        reason: String,
    },
}

impl Error {
    /// The process exit status for this error.
    pub fn code(&self) -> u8 {
        match self {
            Error::ConfigUnreadable { .. } => exit::NO_CONFIG,
            Error::ConfigInvalid(_) => exit::INVALID_CONFIG,
            Error::Write { .. } | Error::Runtime { .. } => exit::FAILURE,
            Error::Aws { .. } | Error::StalePlan { .. } | Error::Interrupted { .. } => {
                exit::FAILURE
            }
            Error::NotConfirmed(_) | Error::BadOption { .. } => exit::USAGE,
            Error::DrillNotReady(_) => exit::NOT_READY,
            Error::RunStopped { error, .. } => match error {
                StepError::Refused(_) => exit::NOT_READY,
                StepError::LostEpoch(_) => exit::CONFLICT,
                StepError::Failed(_) => exit::FAILURE,
            },
        }
    }

    /// What to do next, shown under the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::ConfigUnreadable { .. } => Some(
                "pass the file with `--config FILE` (or TYK_DR_CONFIG); `examples/minimal.toml` is a starting point"
                    .into(),
            ),
            Error::ConfigInvalid(_) => Some("fix the errors above and run `tyk-dr validate` again".into()),
            Error::Write { .. } => Some("check that the directory exists and is writable".into()),
            Error::Runtime { .. } => None,
            Error::Aws { hint, .. } => hint.clone(),
            Error::StalePlan { .. } => Some(
                "run `tyk-dr plan --out FILE` again, review it, then `tyk-dr apply --plan FILE`".into(),
            ),
            Error::NotConfirmed(_) => Some("pass `--yes` to run without asking".into()),
            Error::BadOption { .. } => None,
            Error::DrillNotReady(_) => {
                Some("`tyk-dr status` shows the details; --force drills anyway".into())
            }
            Error::RunStopped {
                error: StepError::Failed(_),
                playbook,
                run_id,
                ..
            } => Some(format!(
                "fix the cause, then `tyk-dr {playbook} --resume {run_id}` continues from this step"
            )),
            Error::RunStopped { .. } => None,
            Error::Interrupted { .. } => Some(
                "run the same command again: it reads the world again and resumes where it stopped"
                    .into(),
            ),
        }
    }

    /// The exit code as a process `ExitCode`.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Read { path, source } => Error::ConfigUnreadable {
                path,
                reason: source.to_string(),
            },
            LoadError::Invalid(invalid) => Error::ConfigInvalid(Box::new(invalid)),
        }
    }
}
