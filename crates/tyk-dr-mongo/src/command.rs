//! The exact command documents this crate sends, built in one place.

use mongodb::bson::{doc, Document};

/// How long `replSetReconfig` may wait for a majority to install the new config, in
/// milliseconds (without it the server waits indefinitely).
pub const RECONFIG_MAX_TIME_MS: i32 = 20_000;
/// How long a stepped-down primary refuses to be elected again, in seconds.
pub const STEP_DOWN_SECS: i32 = 60;
/// How long the primary waits for an electable secondary to catch up before stepping down.
pub const CATCH_UP_SECS: i32 = 10;

/// `{hello: 1}`: the member's role and the set's primary as it sees it.
pub fn hello() -> Document {
    doc! {"hello": 1}
}

/// `{replSetGetConfig: 1}`: the replica set config the member holds.
pub fn get_config() -> Document {
    doc! {"replSetGetConfig": 1}
}

/// `{replSetReconfig: <config>, force, maxTimeMS}`.
pub fn reconfig(config: Document, force: bool) -> Document {
    doc! {"replSetReconfig": config, "force": force, "maxTimeMS": RECONFIG_MAX_TIME_MS}
}

/// `{replSetStepDown: 60, secondaryCatchUpPeriodSecs: 10}`.
pub fn step_down() -> Document {
    doc! {"replSetStepDown": STEP_DOWN_SECS, "secondaryCatchUpPeriodSecs": CATCH_UP_SECS}
}
