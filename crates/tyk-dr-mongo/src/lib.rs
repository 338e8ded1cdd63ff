//! Moving a MongoDB replica set's primary between two regions, for tyk-dr.
//!
//! Everything that decides what to send is pure and lives here: parsing the
//! answers to `hello` and `replSetGetConfig` ([`ReplSetConfig`], [`Hello`]),
//! majority math, and the exact command documents ([`command`]). [`plan`]
//! turns one look at the set ([`View`]) into the next move ([`Step`]).
//!
//! Servers are reached only through the [`MongoAdmin`] trait: [`DriverAdmin`]
//! is the real one (the official driver, one direct connection per member);
//! tests use recording fakes, because no mongod can run where this is built.

pub mod command;
mod config;
mod driver;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
mod hello;
pub mod plan;
mod survey;

pub use config::{Member, ReplSetConfig};
pub use driver::{DriverAdmin, Secrets};
pub use hello::Hello;
pub use plan::{next_step, plan_all, PlanError, Step, Topology};
pub use survey::{survey, View};

/// The BSON types the commands and answers are made of (the driver's own `bson` 2.x).
pub use mongodb::bson;

use bson::Document;

/// Why a command got no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MongoError {
    /// The member could not be reached (connection refused, timeout, TLS or auth failure).
    #[error("{host}: unreachable: {message}")]
    Unreachable {
        /// The member, `host:port`.
        host: String,
        /// What the driver said.
        message: String,
    },
    /// The member answered with an error (`ok: 0`).
    #[error("{host}: {command} failed: {message}")]
    Command {
        /// The member, `host:port`.
        host: String,
        /// The command's name (`replSetReconfig`, ...).
        command: String,
        /// MongoDB's error code, when it gave one.
        code: Option<i32>,
        /// MongoDB's error message.
        message: String,
    },
    /// The answer lacked a field this crate needs, or had it with the wrong type.
    #[error("unexpected {what}: {detail}")]
    Malformed {
        /// Which answer (`replSetGetConfig answer`, ...).
        what: String,
        /// The missing or mistyped field.
        detail: String,
    },
}

/// Runs admin commands on one replica set member at a time.
#[async_trait::async_trait]
pub trait MongoAdmin: Send + Sync {
    /// Sends `cmd` to database `db` on the member at `host` (`host:port`) and returns its answer.
    async fn run_command(
        &self,
        host: &str,
        db: &str,
        cmd: Document,
    ) -> Result<Document, MongoError>;
}

/// The name of a command document: its first key.
pub fn command_name(cmd: &Document) -> &str {
    cmd.keys().next().map(String::as_str).unwrap_or("")
}

/// Whether a command changes the replica set (as opposed to reading it).
pub fn is_write(cmd: &Document) -> bool {
    matches!(command_name(cmd), "replSetReconfig" | "replSetStepDown")
}
