//! The fencing epoch: which region is active, at which epoch, held in a TXT
//! record next to the global name. Moving it is a compare-and-swap: one
//! Route 53 change batch deletes the current value, creates the next one and
//! creates a claim record for the new epoch. Route 53 applies all or nothing,
//! fails a DELETE whose value does not match and a CREATE of an existing name,
//! so of two runs racing for the same epoch exactly one succeeds. (The AWS
//! emulator checks DELETEs against history rather than the current value; the
//! claim CREATE, identical for every racer, is what it does enforce.)

use serde::Serialize;
use tyk_dr_aws::route53::{Change, RecordSet, Route53};

/// The current holder of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Epoch {
    /// Region code of the active region.
    pub active: String,
    /// Increases by one with every failover or failback.
    pub number: u64,
}

impl Epoch {
    /// The TXT value, quoted as Route 53 stores it.
    pub fn value(&self) -> String {
        format!("\"active={} epoch={}\"", self.active, self.number)
    }

    /// Parses `"active=us-east-1 epoch=3"`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut active = None;
        let mut number = None;
        for part in value.trim_matches('"').split_whitespace() {
            match part.split_once('=') {
                Some(("active", v)) => active = Some(v.to_owned()),
                Some(("epoch", v)) => number = v.parse().ok(),
                _ => {}
            }
        }
        Some(Self {
            active: active?,
            number: number?,
        })
    }
}

/// Name of the epoch record for a global name.
pub fn record_name(global_name: &str) -> String {
    format!("_tyk-dr-epoch.{}", global_name.trim_end_matches('.'))
}

/// Reads the epoch record; `None` when it does not exist yet.
pub async fn read(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
) -> Result<Option<(Epoch, RecordSet)>, String> {
    let name = tyk_dr_aws::route53::normalize_name(&record_name(global_name));
    let records = r53
        .list_record_sets(zone_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .find(|r| r.name == name && r.rtype == "TXT")
        .and_then(|r| Some((Epoch::parse(r.values.first()?)?, r))))
}

/// Why an epoch could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// Someone else moved the epoch first.
    #[error("another run took epoch {0} first")]
    Lost(u64),
    /// Route 53 could not be reached or refused for another reason.
    #[error("{0}")]
    Api(String),
}

/// Moves the epoch from `current` to `next` atomically; `claim` names the transition.
pub async fn advance(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
    current: Option<&RecordSet>,
    next: &Epoch,
    claim: &str,
) -> Result<(), EpochError> {
    let name = record_name(global_name);
    let claim_name = format!(
        "_tyk-dr-claim-{}.{}",
        next.number,
        global_name.trim_end_matches('.')
    );
    let mut changes = vec![Change::Create(RecordSet::simple(
        &claim_name,
        "TXT",
        60,
        &[&format!("\"{claim}\"")],
    ))];
    match current {
        Some(old) => changes.push(Change::Delete(old.clone())),
        None if next.number > 1 => {
            return Err(EpochError::Api(format!(
                "{name} is missing; cannot move to epoch {}",
                next.number
            )))
        }
        None => {}
    }
    changes.push(Change::Create(RecordSet::simple(
        &name,
        "TXT",
        1,
        &[&next.value()],
    )));
    r53.change_batch(zone_id, &changes, Some("tyk-dr epoch"))
        .await
        .map(|_| ())
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("AlreadyExists")
                || text.contains("InvalidChangeBatch")
                || text.contains("InvalidInput")
                || text.contains("already exists")
            {
                EpochError::Lost(next.number)
            } else {
                EpochError::Api(text)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_value_round_trips() {
        let e = Epoch {
            active: "us-west-2".into(),
            number: 7,
        };
        assert_eq!(e.value(), "\"active=us-west-2 epoch=7\"");
        assert_eq!(Epoch::parse(&e.value()), Some(e));
        assert_eq!(Epoch::parse("\"active=x\""), None);
    }
}
