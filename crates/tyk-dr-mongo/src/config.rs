//! The replica set config, as `replSetGetConfig` returns it and `replSetReconfig` takes it.

use mongodb::bson::{Bson, Document};

use crate::MongoError;

/// A replica set config. Fields this crate does not change (`settings`, `protocolVersion`,
/// each member's `tags`...) are kept as they came and sent back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplSetConfig {
    /// The replica set name (`_id`).
    pub id: String,
    /// The config version; a reconfig must raise it.
    pub version: i64,
    /// The members, in config order.
    pub members: Vec<Member>,
    raw: Document,
}

/// One member of the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The member's `_id`, unique within the set.
    pub id: i64,
    /// `host:port` as the set names it.
    pub host: String,
    /// Election priority; 0 never becomes primary.
    pub priority: f64,
    /// 0 or 1.
    pub votes: i64,
    /// An arbiter votes but holds no data.
    pub arbiter_only: bool,
    /// Hidden from clients (priority 0).
    pub hidden: bool,
    /// A delayed member (priority 0).
    pub secondary_delay_secs: i64,
    raw: Document,
}

/// A number of any BSON numeric type, as an integer.
pub(crate) fn as_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

fn as_f64(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(f) => Some(*f),
        _ => None,
    }
}

fn malformed(detail: impl Into<String>) -> MongoError {
    MongoError::Malformed {
        what: "replica set config".into(),
        detail: detail.into(),
    }
}

impl Member {
    /// A member to add: only `_id` and `host` plus what the caller sets; the server fills
    /// in the defaults (`buildIndexes`, `tags`, ...).
    pub fn new(id: i64, host: &str, priority: f64, votes: i64) -> Self {
        Self {
            id,
            host: host.to_owned(),
            priority,
            votes,
            arbiter_only: false,
            hidden: false,
            secondary_delay_secs: 0,
            raw: Document::new(),
        }
    }

    fn from_document(doc: &Document) -> Result<Self, MongoError> {
        let host = doc
            .get_str("host")
            .map_err(|_| malformed("a member without a `host`"))?
            .to_owned();
        let id = doc
            .get("_id")
            .and_then(as_i64)
            .ok_or_else(|| malformed(format!("member {host} has no numeric `_id`")))?;
        Ok(Self {
            id,
            priority: doc.get("priority").and_then(as_f64).unwrap_or(1.0),
            votes: doc.get("votes").and_then(as_i64).unwrap_or(1),
            arbiter_only: doc.get_bool("arbiterOnly").unwrap_or(false),
            hidden: doc.get_bool("hidden").unwrap_or(false),
            secondary_delay_secs: doc
                .get("secondaryDelaySecs")
                .or_else(|| doc.get("slaveDelay"))
                .and_then(as_i64)
                .unwrap_or(0),
            host,
            raw: doc.clone(),
        })
    }

    /// Whether tyk-dr may change this member's priority: arbiters, hidden and delayed
    /// members keep theirs (they must stay at 0).
    pub fn priority_adjustable(&self) -> bool {
        !self.arbiter_only && !self.hidden && self.secondary_delay_secs == 0
    }

    fn to_document(&self) -> Document {
        let mut doc = self.raw.clone();
        doc.insert("_id", int(self.id));
        doc.insert("host", self.host.clone());
        doc.insert("priority", self.priority);
        doc.insert("votes", int(self.votes));
        doc
    }
}

/// An integer as Int32 when it fits (MongoDB's own type for `_id`, `version`, `votes`).
fn int(n: i64) -> Bson {
    i32::try_from(n).map_or(Bson::Int64(n), Bson::Int32)
}

impl ReplSetConfig {
    /// Reads the answer to `replSetGetConfig` (`{config: {...}, ok: 1}`).
    pub fn from_reply(reply: &Document) -> Result<Self, MongoError> {
        let config = reply
            .get_document("config")
            .map_err(|_| malformed("the answer has no `config` document"))?;
        Self::from_document(config)
    }

    /// Reads a config document itself (what `replSetReconfig` carries).
    pub fn from_document(doc: &Document) -> Result<Self, MongoError> {
        let id = doc
            .get_str("_id")
            .map_err(|_| malformed("no replica set name (`_id`)"))?
            .to_owned();
        let version = doc
            .get("version")
            .and_then(as_i64)
            .ok_or_else(|| malformed("no numeric `version`"))?;
        let members = doc
            .get_array("members")
            .map_err(|_| malformed("no `members` array"))?
            .iter()
            .map(|m| match m {
                Bson::Document(d) => Member::from_document(d),
                _ => Err(malformed("a member that is not a document")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id,
            version,
            members,
            raw: doc.clone(),
        })
    }

    /// The member named `host`, compared without regard to case.
    pub fn member(&self, host: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.host.eq_ignore_ascii_case(host))
    }

    /// The member named `host`, to change it.
    pub fn member_mut(&mut self, host: &str) -> Option<&mut Member> {
        self.members
            .iter_mut()
            .find(|m| m.host.eq_ignore_ascii_case(host))
    }

    /// All votes in the set.
    pub fn total_votes(&self) -> i64 {
        self.members.iter().map(|m| m.votes).sum()
    }

    /// Votes needed to elect a primary or commit a write: more than half of all votes.
    pub fn majority(&self) -> i64 {
        self.total_votes() / 2 + 1
    }

    /// The votes of the members whose hosts `reachable` accepts.
    pub fn votes_of(&self, reachable: impl Fn(&str) -> bool) -> i64 {
        self.members
            .iter()
            .filter(|m| reachable(&m.host))
            .map(|m| m.votes)
            .sum()
    }

    /// An `_id` no member uses yet.
    pub fn next_member_id(&self) -> i64 {
        self.members.iter().map(|m| m.id).max().map_or(0, |n| n + 1)
    }

    /// The document to send in `replSetReconfig`: every field as it came, `members` as they
    /// are now, and without `term`, which the server sets itself (mongosh's `rs.reconfig`
    /// sends no term either).
    pub fn to_document(&self) -> Document {
        let mut doc = self.raw.clone();
        doc.insert("_id", self.id.clone());
        doc.insert("version", int(self.version));
        doc.remove("term");
        let members: Vec<Bson> = self
            .members
            .iter()
            .map(|m| Bson::Document(m.to_document()))
            .collect();
        doc.insert("members", members);
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn reply() -> Document {
        doc! {
            "config": {
                "_id": "tyk", "version": 3, "term": 7i64,
                "members": [
                    {"_id": 0, "host": "10.10.1.30:27017", "arbiterOnly": false, "buildIndexes": true, "hidden": false, "priority": 2.0, "tags": {}, "secondaryDelaySecs": 0i64, "votes": 1},
                    {"_id": 1, "host": "10.20.1.30:27017", "arbiterOnly": false, "buildIndexes": true, "hidden": true, "priority": 0.0, "tags": {"dc": "b"}, "secondaryDelaySecs": 0i64, "votes": 0},
                ],
                "protocolVersion": 1i64,
                "settings": {"chainingAllowed": true, "electionTimeoutMillis": 10000},
            },
            "ok": 1.0,
        }
    }

    #[test]
    fn parses_members_and_keeps_unknown_fields_but_not_term() {
        let c = ReplSetConfig::from_reply(&reply()).unwrap();
        assert_eq!(
            (c.id.as_str(), c.version, c.total_votes(), c.majority()),
            ("tyk", 3, 1, 1)
        );
        assert!(!c.members[1].priority_adjustable());
        let out = c.to_document();
        assert!(out.get("term").is_none());
        assert_eq!(out.get_i32("version"), Ok(3));
        assert_eq!(
            out.get_document("settings")
                .unwrap()
                .get_i32("electionTimeoutMillis"),
            Ok(10000)
        );
        let m1 = out.get_array("members").unwrap()[1]
            .as_document()
            .unwrap()
            .clone();
        assert_eq!(m1.get_document("tags").unwrap().get_str("dc"), Ok("b"));
        assert_eq!(m1.get_f64("priority"), Ok(0.0));
    }

    #[test]
    fn missing_fields_are_named() {
        let err = ReplSetConfig::from_reply(&doc! {"ok": 1}).unwrap_err();
        assert!(err.to_string().contains("`config`"), "{err}");
        let err = ReplSetConfig::from_document(
            &doc! {"_id": "tyk", "version": 1, "members": [{"_id": 0}]},
        )
        .unwrap_err();
        assert!(err.to_string().contains("`host`"), "{err}");
    }

    #[test]
    fn majority_counts_votes_not_members() {
        let mut c = ReplSetConfig::from_reply(&reply()).unwrap();
        c.members
            .push(Member::new(c.next_member_id(), "10.20.2.30:27017", 1.0, 1));
        c.members
            .push(Member::new(c.next_member_id(), "10.20.3.30:27017", 1.0, 1));
        assert_eq!(c.members[3].id, 3);
        assert_eq!((c.total_votes(), c.majority()), (3, 2));
        assert_eq!(c.votes_of(|h| h.starts_with("10.20.")), 2);
    }
}
