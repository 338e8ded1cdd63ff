//! `tyk-dr sync --watch`: a full pass every interval, and in between the active region's cluster
//! notifications (`tyk.cluster.notifications`) as triggers: `KeySpaceUpdateNotification` copies (or
//! deletes) just the named keys, API and policy notifications re-sync definitions and policies.
//!
//! Tyk announces key updates and deletions but not newly generated keys; when the active Redis has
//! keyspace notifications on (`notify-keyspace-events` with `K` and `$g` or `A`; tyk-dr never changes
//! server config), `apikey-*` writes, deletions and expiries are followed through them as well.
//!
//! Notifications are only hints to re-read the source, so their signatures are not checked (tyk-dr
//! does not hold the node secret): a forged one can cause a read, never a write the source does not back.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tyk_model::{Command, Notification, NOTIFICATION_CHANNEL};

use super::keys::{self, KeyAction, KeysReport};
use super::{Plan, SyncReport};

/// Notifications gathered before acting on them, so a burst of key writes becomes one batch.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Most key hashes taken from notifications before a batch is flushed.
const MAX_PENDING: usize = 10_000;

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Time between full passes.
    pub interval: Duration,
    /// Stop after this many full passes (default: until Ctrl-C).
    pub count: Option<u64>,
}

/// What happened between two full passes.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Followed {
    /// Keys re-synced because a notification named them.
    pub keys: KeysReport,
    /// Definition/policy passes triggered by notifications.
    pub definition_passes: Vec<SyncReport>,
}

/// Runs until Ctrl-C or `count` full passes; `emit` sees every full pass and every followed batch.
pub async fn watch(
    plan: &Plan,
    opts: WatchOptions,
    mut emit: impl FnMut(&SyncReport, Option<&Followed>),
) -> u64 {
    let mut passes = 0u64;
    loop {
        let report = plan.run(false).await;
        passes += 1;
        emit(&report, None);
        if opts.count.is_some_and(|c| passes >= c) {
            return passes;
        }
        let key_action = report.keys.as_ref().map(|k| k.mode.as_str()) == Some("copy");
        let deadline = Instant::now() + opts.interval;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return passes,
            () = follow(plan, key_action, deadline, &mut emit) => {}
        }
    }
}

/// Follows notifications until `deadline` (or just sleeps when Redis is not configured or unreachable).
async fn follow(
    plan: &Plan,
    copy_keys: bool,
    deadline: Instant,
    emit: &mut impl FnMut(&SyncReport, Option<&Followed>),
) {
    let sleep_rest = || tokio::time::sleep_until(deadline.into());
    let Some((active, _)) = plan.redis.clone() else {
        return sleep_rest().await;
    };
    let mut pubsub = match subscribe(&active, plan.redis_password.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow cluster notifications; syncing at the interval only");
            return sleep_rest().await;
        }
    };
    let conns = match plan.redis_connections().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open Redis connections for followed keys");
            return sleep_rest().await;
        }
    };
    let mut stream = pubsub.on_message();
    while Instant::now() < deadline {
        let Ok(Some(first)) = tokio::time::timeout_at(deadline.into(), stream.next()).await else {
            return;
        };
        let mut msgs = vec![first];
        let flush_at = tokio::time::Instant::now() + DEBOUNCE;
        while msgs.len() < MAX_PENDING {
            match tokio::time::timeout_at(flush_at, stream.next()).await {
                Ok(Some(m)) => msgs.push(m),
                _ => break,
            }
        }
        let mut hashes = Vec::new();
        let mut names = Vec::new();
        let mut definitions = false;
        for m in &msgs {
            if let Some((_, key)) = m.get_channel_name().split_once("__:") {
                if key.starts_with(keys::PREFIX) {
                    names.push(key.to_owned());
                }
                continue;
            }
            let Ok(n) = Notification::from_json(m.get_payload_bytes()) else {
                continue;
            };
            match n.command() {
                Command::KeySpaceUpdate => hashes.extend(n.key_hashes()),
                c if c.triggers_reload() => definitions = true,
                _ => {}
            }
        }
        let mut followed = Followed::default();
        names.extend(hashes.iter().map(|h| format!("{}{h}", keys::PREFIX)));
        names.sort_unstable();
        names.dedup();
        if copy_keys && !names.is_empty() {
            followed.keys.mode = "copy".into();
            followed.keys.reason = format!("{} key(s) named by notifications", names.len());
            keys::sync_keys(
                &plan.settings.keys,
                &conns.0,
                &conns.1,
                &names,
                KeyAction::Copy,
                &mut followed.keys,
            )
            .await;
        }
        if definitions {
            followed
                .definition_passes
                .push(plan.run_definitions(false).await);
        }
        if followed.keys.source_keys + followed.keys.deleted > 0
            || !followed.definition_passes.is_empty()
        {
            emit(&SyncReport::default(), Some(&followed));
        }
    }
}

async fn subscribe(addr: &str, password: Option<&str>) -> Result<redis::aio::PubSub, String> {
    let client = crate::probes::redis::client(addr, password)?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| format!("{addr}: connect timed out"))?
        .map_err(|e| e.to_string())?;
    let keyspace = keyspace_events_on(&client).await;
    pubsub
        .subscribe(NOTIFICATION_CHANNEL)
        .await
        .map_err(|e| e.to_string())?;
    if keyspace {
        pubsub
            .psubscribe(format!("__keyspace@*__:{}*", keys::PREFIX))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(pubsub)
}

/// Whether the server publishes keyspace events for string writes and generic commands (DEL, EXPIRE).
/// `CONFIG` may be refused (ElastiCache): then only cluster notifications are followed.
async fn keyspace_events_on(client: &redis::Client) -> bool {
    let connect = client.get_multiplexed_async_connection();
    let Ok(Ok(mut con)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
        return false;
    };
    let reply: Result<Vec<String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(&mut con)
        .await;
    let flags = reply
        .ok()
        .and_then(|v| v.get(1).cloned())
        .unwrap_or_default();
    flags.contains('K') && (flags.contains('A') || (flags.contains('$') && flags.contains('g')))
}
