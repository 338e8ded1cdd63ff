//! Cluster notifications: subscribe to `tyk.cluster.notifications`, verify signatures, act; and publish.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tyk_model::{Command, Notification, NOTIFICATION_CHANNEL};

use crate::metrics::NotificationLabels;
use crate::state::AppState;
use crate::store::StoreError;

/// What handling a message did (returned for tests and logs).
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Routing table reloaded.
    Reloaded,
    /// Sessions dropped from the cache.
    Flushed(usize),
    /// Not acted on (bad JSON, bad signature, unknown command).
    Ignored(&'static str),
}

fn count(state: &AppState, command: &str, outcome: &str) {
    state
        .metrics
        .notifications
        .get_or_create(&NotificationLabels {
            command: command.into(),
            outcome: outcome.into(),
        })
        .inc();
}

/// Handle one pub/sub message body.
pub fn handle_message(state: &AppState, raw: &[u8]) -> Handled {
    let n = match Notification::from_json(raw) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "malformed cluster notification ignored");
            count(state, "-", "malformed");
            return Handled::Ignored("malformed");
        }
    };
    if !n.verify(&state.settings.raw.node_secret) {
        tracing::warn!(command = %n.command, "cluster notification with missing or invalid signature ignored");
        count(state, &n.command, "bad_signature");
        return Handled::Ignored("bad signature");
    }
    count(state, &n.command, "accepted");
    match n.command() {
        c if c.triggers_reload() => {
            tracing::info!(command = c.as_str(), "reloading on cluster notification");
            state.reload();
            Handled::Reloaded
        }
        Command::KeySpaceUpdate => {
            let hashes = n.key_hashes();
            for h in &hashes {
                state.cache.remove(h);
            }
            Handled::Flushed(hashes.len())
        }
        _ => Handled::Ignored("unknown command"),
    }
}

/// Publish a signed notification.
pub async fn publish(state: &AppState, command: &Command, payload: &str) -> Result<(), StoreError> {
    let n = Notification::signed(command, payload, &state.settings.raw.node_secret);
    state
        .store
        .publish(NOTIFICATION_CHANNEL, &n.to_json())
        .await
        .map(|_| ())
}

/// Keep a subscription alive forever; re-subscribe after errors, reconnects and DNS changes.
pub async fn run(state: Arc<AppState>) {
    let mut signal = state.store.resubscribe_signal();
    loop {
        signal.borrow_and_update();
        match state.store.open_pubsub().await {
            Ok(mut ps) => {
                if let Err(e) = ps.subscribe(NOTIFICATION_CHANNEL).await {
                    tracing::warn!(error = %e, "subscribe failed");
                } else {
                    tracing::info!("subscribed to {NOTIFICATION_CHANNEL}");
                    let mut stream = ps.on_message();
                    loop {
                        tokio::select! {
                            msg = stream.next() => match msg {
                                Some(m) => { handle_message(&state, m.get_payload_bytes()); }
                                None => { tracing::warn!("pub/sub connection closed"); break; }
                            },
                            changed = signal.changed() => {
                                if changed.is_err() { return; }
                                tracing::info!("re-subscribing after redis reconnect");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "pub/sub connect failed"),
        }
        // Wait for a reconnect signal or retry after a short pause.
        let _ = tokio::time::timeout(Duration::from_millis(500), signal.changed()).await;
    }
}
