//! A simulated replica set for tests: no mongod can run where tyk-dr is built and tested
//! (every install route downloads server binaries at run time), so the commands are checked
//! as documents against this stand-in. It answers `hello`, `replSetGetConfig`,
//! `replSetReconfig` and `replSetStepDown` the way MongoDB 7 does for the cases tyk-dr
//! meets, records every command it receives, and elects the highest-priority member that
//! answers whenever a majority of votes does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use mongodb::bson::{doc, Bson, Document};

use crate::{command_name, is_write, MongoAdmin, MongoError, ReplSetConfig};

/// The version bump a forced reconfig gets on the server (MongoDB adds a large random
/// number to the version sent; the fake adds this fixed one).
pub const FORCE_VERSION_BUMP: i64 = 100_000;

#[derive(Debug, Default)]
struct State {
    config: Document,
    term: i64,
    primary: Option<String>,
    down: BTreeSet<String>,
    /// What members dropped from the config still hold (their last config).
    stale: BTreeMap<String, Document>,
    sent: Vec<(String, Document)>,
}

/// A simulated replica set.
#[derive(Debug, Default)]
pub struct FakeSet {
    state: Mutex<State>,
}

/// A config document shaped as MongoDB 7's `replSetGetConfig` returns it: `active`
/// members at `active_priority`, `passive` ones at `passive_priority`, one vote each.
pub fn mongo7_config(
    set: &str,
    version: i32,
    active: &[&str],
    passive: &[&str],
    active_priority: f64,
    passive_priority: f64,
) -> Document {
    let members: Vec<Bson> = active
        .iter()
        .map(|h| (h, active_priority))
        .chain(passive.iter().map(|h| (h, passive_priority)))
        .enumerate()
        .map(|(i, (host, priority))| {
            Bson::Document(doc! {
                "_id": i as i32, "host": *host, "arbiterOnly": false, "buildIndexes": true,
                "hidden": false, "priority": priority, "tags": {}, "secondaryDelaySecs": 0i64,
                "votes": 1,
            })
        })
        .collect();
    doc! {
        "_id": set, "version": version, "term": 3i64, "members": members,
        "protocolVersion": 1i64, "writeConcernMajorityJournalDefault": true,
        "settings": {
            "chainingAllowed": true, "heartbeatIntervalMillis": 2000, "heartbeatTimeoutSecs": 10,
            "electionTimeoutMillis": 10000, "catchUpTimeoutMillis": -1i64,
            "catchUpTakeoverDelayMillis": 30000,
            "getLastErrorModes": {}, "getLastErrorDefaults": {"w": 1, "wtimeout": 0},
            "replicaSetId": mongodb::bson::oid::ObjectId::parse_str("65f0c0ffee0000000000beef").expect("valid id"),
        },
    }
}

fn error(host: &str, cmd: &Document, code: i32, message: &str) -> MongoError {
    MongoError::Command {
        host: host.to_owned(),
        command: command_name(cmd).to_owned(),
        code: Some(code),
        message: message.to_owned(),
    }
}

impl State {
    fn parsed(&self) -> ReplSetConfig {
        ReplSetConfig::from_document(&self.config).expect("the fake holds a valid config")
    }

    fn in_config(&self, host: &str) -> bool {
        self.parsed().member(host).is_some()
    }

    /// The highest-priority member that answers wins, if a majority of votes answers.
    fn elect(&mut self, exclude: Option<&str>) {
        let c = self.parsed();
        if c.votes_of(|h| !self.down.contains(h)) < c.majority() {
            self.primary = None;
            return;
        }
        self.primary = c
            .members
            .iter()
            .filter(|m| !self.down.contains(&m.host) && m.priority > 0.0 && !m.arbiter_only)
            .filter(|m| Some(m.host.as_str()) != exclude)
            // Among equals, the lowest `_id` (a real election is a race; tests need one answer).
            .max_by(|a, b| a.priority.total_cmp(&b.priority).then(b.id.cmp(&a.id)))
            .map(|m| m.host.clone());
        self.term += 1;
    }

    fn install(&mut self, mut next: Document, version: i64) {
        let old = self.parsed();
        next.insert("version", version as i32);
        next.insert("term", self.term);
        let new = ReplSetConfig::from_document(&next).expect("valid config");
        for m in &old.members {
            if new.member(&m.host).is_none() {
                self.stale.insert(m.host.clone(), self.config.clone());
            }
        }
        for m in &new.members {
            self.stale.remove(&m.host);
        }
        self.config = next;
    }

    fn hello(&self, host: &str) -> Document {
        if !self.in_config(host) {
            return doc! {
                "isWritablePrimary": false, "secondary": false,
                "info": "Does not have a valid replica set config", "isreplicaset": true,
                "maxWireVersion": 21, "ok": 1.0,
            };
        }
        let c = self.parsed();
        let mut d = doc! {
            "topologyVersion": {"counter": 6i64},
            "hosts": c.members.iter().map(|m| m.host.clone()).collect::<Vec<_>>(),
            "setName": c.id.clone(), "setVersion": c.version as i32,
            "isWritablePrimary": self.primary.as_deref() == Some(host),
            "secondary": self.primary.as_deref() != Some(host),
        };
        if let Some(p) = &self.primary {
            d.insert("primary", p.clone());
        }
        d.insert("me", host);
        d.insert("maxWireVersion", 21);
        d.insert("ok", 1.0);
        d
    }

    fn run(&mut self, host: &str, cmd: &Document) -> Result<Document, MongoError> {
        if self.down.contains(host) {
            return Err(MongoError::Unreachable {
                host: host.to_owned(),
                message: "Server selection timeout: No available servers".into(),
            });
        }
        match command_name(cmd) {
            "hello" => Ok(self.hello(host)),
            "replSetGetConfig" => {
                if self.in_config(host) {
                    Ok(doc! {"config": self.config.clone(), "ok": 1.0})
                } else if let Some(stale) = self.stale.get(host) {
                    Ok(doc! {"config": stale.clone(), "ok": 1.0})
                } else {
                    Err(error(host, cmd, 94, "no replset config has been received"))
                }
            }
            "replSetReconfig" => {
                let next = cmd
                    .get_document("replSetReconfig")
                    .expect("a config")
                    .clone();
                let force = cmd.get_bool("force").unwrap_or(false);
                let old = self.parsed();
                let new = ReplSetConfig::from_document(&next)
                    .map_err(|e| error(host, cmd, 93, &e.to_string()))?;
                if new.member(host).is_none() {
                    return Err(error(
                        host,
                        cmd,
                        103,
                        "the receiving member is not in the new config",
                    ));
                }
                if force {
                    self.install(next, old.version + FORCE_VERSION_BUMP);
                    self.elect(None);
                    return Ok(doc! {"ok": 1.0});
                }
                if self.primary.as_deref() != Some(host) {
                    return Err(error(host, cmd, 10107, "not primary"));
                }
                if new.version <= old.version {
                    return Err(error(
                        host,
                        cmd,
                        103,
                        "version must be greater than the current one",
                    ));
                }
                let added_voters = new
                    .members
                    .iter()
                    .filter(|m| m.votes > 0 && old.member(&m.host).is_none_or(|o| o.votes == 0))
                    .count();
                if added_voters > 1 {
                    return Err(error(
                        host,
                        cmd,
                        103,
                        "only one voting member can be added at a time",
                    ));
                }
                let v = new.version;
                self.install(next, v);
                Ok(doc! {"ok": 1.0})
            }
            "replSetStepDown" => {
                if self.primary.as_deref() != Some(host) {
                    return Err(error(host, cmd, 10107, "not primary so can't step down"));
                }
                self.elect(Some(host));
                Ok(doc! {"ok": 1.0})
            }
            _ => Err(error(host, cmd, 59, "no such command")),
        }
    }
}

impl FakeSet {
    /// A set holding `config` (as [`mongo7_config`] builds it) with `primary` elected.
    pub fn new(config: Document, primary: &str) -> Self {
        let set = Self::default();
        {
            let mut s = set.state.lock().expect("not poisoned");
            s.term = config.get_i64("term").unwrap_or(1);
            s.config = config;
            s.primary = Some(primary.to_owned());
        }
        set
    }

    /// Stops answering on `hosts` (a lost region); re-elects if the primary was among them.
    pub fn take_down(&self, hosts: &[&str]) {
        let mut s = self.state.lock().expect("not poisoned");
        s.down.extend(hosts.iter().map(|h| h.to_string()));
        if s.primary.as_ref().is_some_and(|p| s.down.contains(p)) {
            s.elect(None);
        }
    }

    /// Answers again on `hosts` (a region back); removed members hold their old config.
    pub fn bring_up(&self, hosts: &[&str]) {
        let mut s = self.state.lock().expect("not poisoned");
        for h in hosts {
            s.down.remove(*h);
        }
    }

    /// The config the set holds now.
    pub fn config(&self) -> ReplSetConfig {
        self.state.lock().expect("not poisoned").parsed()
    }

    /// The current primary.
    pub fn primary(&self) -> Option<String> {
        self.state.lock().expect("not poisoned").primary.clone()
    }

    /// Every command received, in order, with the member it was sent to.
    pub fn sent(&self) -> Vec<(String, Document)> {
        self.state.lock().expect("not poisoned").sent.clone()
    }

    /// The write commands received (`replSetReconfig`, `replSetStepDown`), in order.
    pub fn writes(&self) -> Vec<(String, Document)> {
        self.sent()
            .into_iter()
            .filter(|(_, c)| is_write(c))
            .collect()
    }

    /// Forgets the commands received so far.
    pub fn clear_sent(&self) {
        self.state.lock().expect("not poisoned").sent.clear();
    }
}

#[async_trait::async_trait]
impl MongoAdmin for FakeSet {
    async fn run_command(
        &self,
        host: &str,
        db: &str,
        cmd: Document,
    ) -> Result<Document, MongoError> {
        let mut s = self.state.lock().expect("not poisoned");
        s.sent.push((host.to_owned(), cmd.clone()));
        if db != "admin" {
            return Err(error(
                host,
                &cmd,
                13,
                "admin commands run on the admin database",
            ));
        }
        s.run(host, &cmd)
    }
}
