//! One look at the replica set: who answers, who is primary, and the newest config.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use crate::{command, Hello, MongoAdmin, MongoError, ReplSetConfig};

/// What the set looked like at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The config held by the primary, or when there is none, the newest one any member holds.
    pub config: ReplSetConfig,
    /// Where the config was read.
    pub config_from: String,
    /// Members that answered `hello`, lower-cased.
    pub reachable: BTreeSet<String>,
    /// Members that did not, with the reason.
    pub unreachable: BTreeMap<String, String>,
    /// The member that answered as writable primary, if one did.
    pub primary: Option<String>,
}

impl View {
    /// Whether `host` answered `hello`.
    pub fn is_reachable(&self, host: &str) -> bool {
        self.reachable.contains(&host.to_ascii_lowercase())
    }
}

async fn hello_all(
    admin: &dyn MongoAdmin,
    hosts: &[String],
) -> Vec<(String, Result<Hello, MongoError>)> {
    let answers = join_all(hosts.iter().map(|h| async move {
        let reply = admin.run_command(h, "admin", command::hello()).await;
        (h.clone(), reply.and_then(|r| Hello::from_reply(&r)))
    }))
    .await;
    answers
}

/// Sends `hello` to every host in `hosts` (at once) and to any config member not listed
/// there (arbiters), then reads `replSetGetConfig` from the primary, or from every member
/// that answered when there is no primary, keeping the highest version (a member that was
/// removed by a forced reconfig still holds its old, lower-versioned config).
pub async fn survey(admin: &dyn MongoAdmin, hosts: &[String]) -> Result<View, MongoError> {
    let mut hellos = hello_all(admin, hosts).await;
    let mut reachable = BTreeSet::new();
    let mut unreachable = BTreeMap::new();
    let mut primaries: Vec<(String, i64)> = Vec::new();
    let mut config: Option<(ReplSetConfig, String)> = None;
    let mut pass = 0;
    loop {
        for (host, answer) in hellos.drain(..) {
            match answer {
                Ok(h) => {
                    if h.is_writable_primary {
                        primaries.push((host.clone(), h.set_version.unwrap_or(0)));
                    }
                    reachable.insert(host.to_ascii_lowercase());
                }
                Err(e) => {
                    unreachable.insert(host.to_ascii_lowercase(), e.to_string());
                }
            }
        }
        if config.is_none() {
            config = read_config(admin, &primaries, &reachable).await?;
        }
        // Members the listed hosts did not cover (an arbiter, a member added by hand).
        let extra: Vec<String> = config
            .iter()
            .flat_map(|(c, _)| c.members.iter().map(|m| m.host.clone()))
            .filter(|h| {
                let l = h.to_ascii_lowercase();
                !reachable.contains(&l) && !unreachable.contains_key(&l)
            })
            .collect();
        pass += 1;
        if extra.is_empty() || pass > 1 {
            break;
        }
        hellos = hello_all(admin, &extra).await;
    }
    let Some((config, config_from)) = config else {
        return Err(MongoError::Unreachable {
            host: hosts.join(", "),
            message: "no member answered".into(),
        });
    };
    // Two members claiming to be primary happens briefly after a partition; the one with
    // the newer config is the one the set follows.
    primaries.sort_by_key(|(_, v)| std::cmp::Reverse(*v));
    Ok(View {
        config,
        config_from,
        reachable,
        unreachable,
        primary: primaries.into_iter().next().map(|(h, _)| h),
    })
}

async fn read_config(
    admin: &dyn MongoAdmin,
    primaries: &[(String, i64)],
    reachable: &BTreeSet<String>,
) -> Result<Option<(ReplSetConfig, String)>, MongoError> {
    if let Some((primary, _)) = primaries.iter().max_by_key(|(_, v)| *v) {
        let reply = admin
            .run_command(primary, "admin", command::get_config())
            .await?;
        return Ok(Some((ReplSetConfig::from_reply(&reply)?, primary.clone())));
    }
    let mut best: Option<(ReplSetConfig, String)> = None;
    for host in reachable {
        // A member without a config (removed, or never initiated) answers with an error.
        let Ok(reply) = admin
            .run_command(host, "admin", command::get_config())
            .await
        else {
            continue;
        };
        let Ok(c) = ReplSetConfig::from_reply(&reply) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| c.version > b.version) {
            best = Some((c, host.clone()));
        }
    }
    Ok(best)
}
