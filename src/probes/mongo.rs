//! MongoDB member probe for `status`/`monitor`: `hello` on each member listed in
//! `[mongo.endpoints]`, through the same [`MongoAdmin`] the `mongo` playbook step uses.

use serde::Serialize;
use tyk_dr_mongo::bson::doc;
use tyk_dr_mongo::{Hello, MongoAdmin};

use super::PROBE_TIMEOUT;

/// One replica set member as it answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MongoProbe {
    /// `host:port` as configured.
    pub host: String,
    /// `hello` answered.
    pub reachable: bool,
    /// `primary`, `secondary` or `other` (arbiter, recovering, removed).
    pub role: Option<String>,
    /// The primary this member sees.
    pub primary: Option<String>,
    /// The replica set it belongs to.
    pub set_name: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
}

impl MongoProbe {
    /// The member is the writable primary.
    pub fn is_primary(&self) -> bool {
        self.role.as_deref() == Some("primary")
    }
}

/// Sends `hello` to `host`, bounded by the probe timeout.
pub async fn probe(admin: &dyn MongoAdmin, host: &str) -> MongoProbe {
    let mut out = MongoProbe {
        host: host.to_owned(),
        ..Default::default()
    };
    let answer = tokio::time::timeout(
        PROBE_TIMEOUT,
        admin.run_command(host, "admin", doc! {"hello": 1}),
    )
    .await;
    match answer {
        Err(_) => out.error = Some("no answer within 1 s".into()),
        Ok(Err(e)) => out.error = Some(e.to_string()),
        Ok(Ok(reply)) => match Hello::from_reply(&reply) {
            Err(e) => out.error = Some(e.to_string()),
            Ok(h) => {
                out.reachable = true;
                out.role = Some(
                    if h.is_writable_primary {
                        "primary"
                    } else if h.secondary {
                        "secondary"
                    } else {
                        "other"
                    }
                    .into(),
                );
                out.primary = h.primary;
                out.set_name = h.set_name;
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    // No mongod can run here (every install route downloads binaries at run time): the
    // recording replica set from tyk-dr-mongo answers `hello` as MongoDB 7 does.
    use tyk_dr_mongo::fake::{mongo7_config, FakeSet};

    use super::*;

    #[tokio::test]
    async fn members_report_their_role_and_a_lost_member_its_error() {
        let set = FakeSet::new(
            mongo7_config("tyk", 4, &["a1:27017", "a2:27017"], &["b1:27017"], 2.0, 1.0),
            "a1:27017",
        );
        let p = probe(&set, "a1:27017").await;
        assert!(p.reachable && p.is_primary(), "{p:?}");
        assert_eq!(p.set_name.as_deref(), Some("tyk"));
        let s = probe(&set, "b1:27017").await;
        assert_eq!(s.role.as_deref(), Some("secondary"));
        assert_eq!(s.primary.as_deref(), Some("a1:27017"));
        set.take_down(&["b1:27017"]);
        let down = probe(&set, "b1:27017").await;
        assert!(!down.reachable && down.error.is_some(), "{down:?}");
    }
}
