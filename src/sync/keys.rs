//! Keys (`apikey-*` sessions), active → passive Redis.
//!
//! When the passive primary already replicates from the active one (`mode = "auto"`), keys are only
//! verified: every selected session must be on the passive side with the same bytes (differences are
//! re-read a few times, since replication is asynchronous). Otherwise they are copied in pipelined
//! batches (`GET`+`PTTL` on the source, `GET` on the target, then `SET .. PX <remaining TTL>` for what
//! differs), each failed batch retried. A key is deleted on the passive side only when a successful read
//! of the source says it is gone. Residency rules keep matching keys out of the passive region.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::drift::DriftCount;
use super::select::{key_verdict, KeyVerdict};
use crate::config::KeySync;

/// Prefix of Tyk session keys.
pub const PREFIX: &str = "apikey-";
/// Batches in flight at once.
const PARALLEL: usize = 4;
/// Attempts per batch write.
const ATTEMPTS: u32 = 3;
/// Re-reads of keys that differ while the passive side replicates (lag, not drift).
const LAG_REREADS: u32 = 3;
/// Upper bound on SCAN round trips per pass (10k × batch keys).
const MAX_SCANS: u32 = 10_000;

/// What is done with keys in this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAction {
    /// Write what differs.
    Copy,
    /// Only compare (`mode = "verify"`, or `--check`).
    Verify,
    /// Only compare, re-reading differences a few times: the passive side replicates asynchronously.
    VerifyReplica,
}

/// The keys part of a sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeysReport {
    /// `copy`, `verify`, or why keys were skipped.
    pub mode: String,
    /// Why this mode was chosen.
    pub reason: String,
    /// Selected and resident `apikey-*` keys read from the source.
    pub source_keys: u64,
    /// Differences between the sides (selected keys only).
    pub drift: DriftCount,
    /// Sessions written to the passive side.
    pub copied: u64,
    /// Keys deleted from the passive side (really deleted on the source, or resident).
    pub deleted: u64,
    /// Keys kept in the active region by residency rules.
    pub resident: u64,
    /// Resident keys found in the passive region (replicated there, or copied before the rule).
    pub residency_violations: u64,
    /// Sessions whose residency could not be decided (not JSON); never copied.
    pub unreadable: u64,
    /// Batches that still failed after retries, and other errors.
    pub errors: Vec<String>,
    /// Wall time of the keys part.
    pub seconds: f64,
}

/// Opens a connection to `host:port` with timeouts sized for large pipelines.
pub async fn connect(addr: &str, password: Option<&str>) -> Result<MultiplexedConnection, String> {
    crate::probes::redis::connect_with(
        addr,
        password,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .await
}

/// `Some(primary)` when this server is a replica (of `primary`).
pub async fn replicates_from(con: &mut MultiplexedConnection) -> Result<Option<String>, String> {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(con)
        .await
        .map_err(|e| e.to_string())?;
    let map = crate::probes::redis::parse_info(&info);
    Ok(
        (map.get("role").map(String::as_str) == Some("slave")).then(|| {
            format!(
                "{}:{}",
                map.get("master_host").cloned().unwrap_or_default(),
                map.get("master_port").cloned().unwrap_or_default()
            )
        }),
    )
}

/// Every key matching `pattern` (SCAN, bounded by [`MAX_SCANS`] round trips).
pub async fn scan(
    con: &mut MultiplexedConnection,
    pattern: &str,
    count: u32,
) -> Result<Vec<String>, String> {
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    for _ in 0..MAX_SCANS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count)
            .query_async(con)
            .await
            .map_err(|e| format!("SCAN: {e}"))?;
        out.extend(keys);
        if next == 0 {
            out.sort_unstable();
            out.dedup();
            return Ok(out);
        }
        cursor = next;
    }
    Err(format!(
        "SCAN did not finish within {MAX_SCANS} round trips"
    ))
}

/// Syncs (or verifies) every `apikey-*` key.
pub async fn sync_all(
    rules: &KeySync,
    src: &MultiplexedConnection,
    dst: &MultiplexedConnection,
    action: KeyAction,
    report: &mut KeysReport,
) {
    let started = Instant::now();
    let pattern = format!("{PREFIX}*");
    let keys = match scan(&mut src.clone(), &pattern, rules.batch_size).await {
        Ok(k) => k,
        Err(e) => {
            report
                .errors
                .push(format!("reading the source failed, nothing changed: {e}"));
            return;
        }
    };
    sync_keys(rules, src, dst, &keys, action, report).await;
    // Extras: on the passive side only. Deleted only after the source confirms they are gone.
    match scan(&mut dst.clone(), &pattern, rules.batch_size).await {
        Ok(theirs) => {
            let ours: HashSet<&String> = keys.iter().collect();
            let extra: Vec<String> = theirs.into_iter().filter(|k| !ours.contains(k)).collect();
            sync_keys(rules, src, dst, &extra, action, report).await;
        }
        Err(e) => report
            .errors
            .push(format!("reading the passive keys failed: {e}")),
    }
    report.seconds = started.elapsed().as_secs_f64();
}

/// Syncs the named keys (a full pass's batch, or the hashes of a `KeySpaceUpdateNotification`).
pub async fn sync_keys(
    rules: &KeySync,
    src: &MultiplexedConnection,
    dst: &MultiplexedConnection,
    keys: &[String],
    action: KeyAction,
    report: &mut KeysReport,
) {
    let batch = rules.batch_size.max(1) as usize;
    let results: Vec<Result<Batch, String>> = stream::iter(keys.chunks(batch))
        .map(|chunk| batch_sync(rules, src.clone(), dst.clone(), chunk, action))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(b) => b.add_to(report),
            Err(e) => report.errors.push(e),
        }
    }
}

/// One batch's outcome.
#[derive(Default)]
struct Batch {
    seen: u64,
    drift: Vec<(&'static str, String)>,
    copied: u64,
    deleted: u64,
    resident: u64,
    violations: u64,
    unreadable: u64,
}

impl Batch {
    fn add_to(self, r: &mut KeysReport) {
        r.source_keys += self.seen;
        for (kind, key) in &self.drift {
            r.drift.note(kind, key);
        }
        r.copied += self.copied;
        r.deleted += self.deleted;
        r.resident += self.resident;
        r.residency_violations += self.violations;
        r.unreadable += self.unreadable;
    }
}

type Read = (Option<Vec<u8>>, i64);

async fn read_source(
    con: &mut MultiplexedConnection,
    keys: &[&String],
) -> Result<Vec<Read>, String> {
    let mut p = redis::pipe();
    for k in keys {
        p.cmd("GET").arg(*k).cmd("PTTL").arg(*k);
    }
    let flat: Vec<redis::Value> = p
        .query_async(con)
        .await
        .map_err(|e| format!("source read: {e}"))?;
    flat.chunks(2)
        .map(|pair| {
            let v: Option<Vec<u8>> =
                redis::from_redis_value(&pair[0]).map_err(|e| e.to_string())?;
            let ttl: i64 = redis::from_redis_value(&pair[1]).map_err(|e| e.to_string())?;
            Ok((v, ttl))
        })
        .collect()
}

async fn read_target(
    con: &mut MultiplexedConnection,
    keys: &[&String],
) -> Result<Vec<Option<Vec<u8>>>, String> {
    let mut p = redis::pipe();
    for k in keys {
        p.cmd("GET").arg(*k);
    }
    p.query_async(con)
        .await
        .map_err(|e| format!("passive read: {e}"))
}

async fn batch_sync(
    rules: &KeySync,
    mut src: MultiplexedConnection,
    mut dst: MultiplexedConnection,
    chunk: &[String],
    action: KeyAction,
) -> Result<Batch, String> {
    let all: Vec<&String> = chunk.iter().collect();
    let mut pending = all.clone();
    let mut out = Batch::default();
    let mut writes = redis::pipe();
    let mut nwrites = 0;
    for round in 0..=LAG_REREADS {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (theirs, ours) = (
            read_source(&mut src, &pending).await?,
            read_target(&mut dst, &pending).await?,
        );
        let mut differ = Vec::new();
        let last = action != KeyAction::VerifyReplica || round == LAG_REREADS;
        for ((key, (value, ttl)), target) in pending.iter().zip(theirs).zip(ours) {
            let Some(value) = value else {
                // Really gone on the source (the read succeeded): the passive copy goes too.
                if target.is_some() {
                    if !last {
                        differ.push(*key);
                    } else {
                        out.drift.push(("extra", (*key).clone()));
                        writes.cmd("DEL").arg(*key).ignore();
                        nwrites += 1;
                        out.deleted += 1;
                    }
                }
                continue;
            };
            if round == 0 {
                out.seen += 1;
            }
            match key_verdict(rules, &value) {
                KeyVerdict::Resident => {
                    if round == 0 {
                        out.resident += 1;
                    }
                    if target.is_some() && (last || round == 0) {
                        out.violations += 1;
                        writes.cmd("DEL").arg(*key).ignore();
                        nwrites += 1;
                        out.deleted += 1;
                    }
                }
                KeyVerdict::Unreadable => out.unreadable += (round == 0) as u64,
                KeyVerdict::Sync => {
                    let kind = match &target {
                        None => "missing",
                        Some(t) if *t != value => "different",
                        Some(_) => continue,
                    };
                    if !last {
                        differ.push(*key);
                        continue;
                    }
                    out.drift.push((kind, (*key).clone()));
                    match ttl {
                        -2 => {}
                        t if t > 0 => {
                            writes
                                .cmd("SET")
                                .arg(*key)
                                .arg(&value)
                                .arg("PX")
                                .arg(t)
                                .ignore();
                            nwrites += 1;
                            out.copied += 1;
                        }
                        _ => {
                            writes.cmd("SET").arg(*key).arg(&value).ignore();
                            nwrites += 1;
                            out.copied += 1;
                        }
                    }
                }
            }
        }
        if differ.is_empty() || last {
            break;
        }
        pending = differ;
    }
    if action != KeyAction::Copy {
        // Resident keys on the passive side are reported, never deleted, when only verifying.
        out.deleted = 0;
        out.copied = 0;
        return Ok(out);
    }
    if nwrites == 0 {
        return Ok(out);
    }
    let mut last_err = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        match writes.query_async::<()>(&mut dst).await {
            Ok(()) => return Ok(out),
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(format!(
        "a batch of {} writes to the passive Redis failed {ATTEMPTS} times: {last_err}",
        nwrites
    ))
}
