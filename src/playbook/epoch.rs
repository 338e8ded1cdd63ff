//! The fencing epoch: which region is active, at which epoch, held in a TXT
//! record next to the global name. Moving it is a compare-and-swap: one
//! Route 53 change batch deletes the current value, creates the next one and
//! creates a claim record for the new epoch. Route 53 applies all or nothing,
//! fails a DELETE whose value does not match and a CREATE of an existing name,
//! so of two runs racing for the same epoch exactly one succeeds. (The AWS
//! emulator checks DELETEs against history rather than the current value; the
//! claim CREATE, identical in name for every racer, is what it does enforce.)
//!
//! The claim's value is unique to the run (it carries the run id): when a change
//! batch is retried (an SDK retry after a lost answer, a resumed step) and the
//! first attempt had in fact been applied, the retry fails as "already exists",
//! and the claim record then says whose win it was.
//!
//! The epoch is read directly (ListResourceRecordSets from its name and type, one
//! item), never by listing the zone. Gateways read the same record through DNS
//! and fence themselves when it names another region (`gateway/src/epoch.rs`).
//! No CloudFormation stack owns it: a stack update must never rewrite it.

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

/// Name of the claim record created with epoch `number`.
pub fn claim_name(global_name: &str, number: u64) -> String {
    format!(
        "_tyk-dr-claim-{number}.{}",
        global_name.trim_end_matches('.')
    )
}

/// Reads the epoch record (one direct lookup by name and type); `None` when it does not exist yet.
pub async fn read(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
) -> Result<Option<(Epoch, RecordSet)>, String> {
    let record = r53
        .get_record_set(zone_id, &record_name(global_name), "TXT")
        .await
        .map_err(|e| e.to_string())?;
    Ok(record.and_then(|r| Some((Epoch::parse(r.values.first()?)?, r))))
}

/// The value of the claim record of epoch `number` (unquoted), when it exists.
pub async fn read_claim(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
    number: u64,
) -> Result<Option<String>, String> {
    let record = r53
        .get_record_set(zone_id, &claim_name(global_name, number), "TXT")
        .await
        .map_err(|e| e.to_string())?;
    Ok(record.and_then(|r| r.values.first().map(|v| v.trim_matches('"').to_owned())))
}

/// Whether `claim` took epoch `next`: its claim record carries `claim` and the epoch record
/// holds `next`.
pub async fn won_by(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
    next: &Epoch,
    claim: &str,
) -> Result<bool, String> {
    let (claimed, current) = tokio::join!(
        read_claim(r53, zone_id, global_name, next.number),
        read(r53, zone_id, global_name)
    );
    Ok(claimed?.as_deref() == Some(claim) && current?.is_some_and(|(e, _)| &e == next))
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

/// Moves the epoch from `current` to `next` atomically; `claim` names the transition and must be
/// unique to the run (it carries the run id). A batch that fails but had in fact been applied for
/// this claim (a retry of a batch whose first answer was lost) counts as this run's win.
pub async fn advance(
    r53: &Route53,
    zone_id: &str,
    global_name: &str,
    current: Option<&RecordSet>,
    next: &Epoch,
    claim: &str,
) -> Result<(), EpochError> {
    let name = record_name(global_name);
    let mut changes = vec![Change::Create(RecordSet::simple(
        &claim_name(global_name, next.number),
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
    let Err(e) = r53
        .change_batch(zone_id, &changes, Some("tyk-dr epoch"))
        .await
    else {
        return Ok(());
    };
    let text = e.to_string();
    // Applied after all? (The SDK retried a batch whose first answer was lost, or the answer
    // itself was lost.) The claim record says whose win it was.
    match won_by(r53, zone_id, global_name, next, claim).await {
        Ok(true) => {
            tracing::info!(
                epoch = next.number,
                claim,
                "the epoch change failed ({text}) but had been applied for this run: it is ours"
            );
            return Ok(());
        }
        Ok(false) => {}
        Err(read_err) => tracing::debug!("reading the claim after a failed change: {read_err}"),
    }
    if text.contains("AlreadyExists")
        || text.contains("InvalidChangeBatch")
        || text.contains("InvalidInput")
        || text.contains("already exists")
    {
        Err(EpochError::Lost(next.number))
    } else {
        Err(EpochError::Api(text))
    }
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
