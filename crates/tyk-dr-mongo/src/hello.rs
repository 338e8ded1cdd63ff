//! The answer to `hello`.

use mongodb::bson::Document;

use crate::MongoError;

/// What one member says about itself and the set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hello {
    /// The member answered as the writable primary.
    pub is_writable_primary: bool,
    /// The member is a secondary.
    pub secondary: bool,
    /// The replica set it belongs to (absent on a member removed from the set).
    pub set_name: Option<String>,
    /// The config version it holds.
    pub set_version: Option<i64>,
    /// The primary as this member sees it.
    pub primary: Option<String>,
    /// The member's own name in the config.
    pub me: Option<String>,
}

impl Hello {
    /// Reads a `hello` answer.
    pub fn from_reply(reply: &Document) -> Result<Self, MongoError> {
        let is_writable_primary =
            reply
                .get_bool("isWritablePrimary")
                .map_err(|_| MongoError::Malformed {
                    what: "hello answer".into(),
                    detail:
                        "no boolean `isWritablePrimary` (MongoDB 4.4.2 or later answers `hello`)"
                            .into(),
                })?;
        let text = |k: &str| reply.get_str(k).ok().map(str::to_owned);
        Ok(Self {
            is_writable_primary,
            secondary: reply.get_bool("secondary").unwrap_or(false),
            set_name: text("setName"),
            set_version: reply.get("setVersion").and_then(crate::config::as_i64),
            primary: text("primary"),
            me: text("me"),
        })
    }
}
