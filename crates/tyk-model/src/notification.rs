//! Cluster notifications on the Redis pub/sub channel `tyk.cluster.notifications`.
//!
//! Wire format and signing follow Tyk's `gateway/redis_signals.go`: JSON
//! `{"command","payload","signature","algorithm"}` where `signature` is the lowercase hex SHA-256 of
//! `command ‖ payload ‖ node_secret` (plain concatenation, not HMAC) and `algorithm` is Go's
//! `crypto.SHA256` (the number 5). We accept a missing `algorithm` too, but never a missing or wrong
//! signature, and never anything when no node secret is configured.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::util::to_hex;

/// The pub/sub channel Tyk gateways listen on.
pub const NOTIFICATION_CHANNEL: &str = "tyk.cluster.notifications";

/// Go's `crypto.SHA256` value, which Tyk writes in the `algorithm` field.
pub const ALGORITHM_SHA256: i64 = 5;

/// What a notification asks gateways to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An API definition changed: reload.
    ApiUpdated,
    /// An API definition was added: reload.
    ApiAdded,
    /// An API definition was removed: reload.
    ApiRemoved,
    /// A policy changed: reload.
    PolicyChanged,
    /// Reload every gateway in the group.
    GroupReload,
    /// Drop these key hashes from session caches (payload: comma-separated hashes).
    KeySpaceUpdate,
    /// Anything else; ignored by the gateway.
    Other(String),
}

impl Command {
    /// Tyk's wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ApiUpdated => "ApiUpdated",
            Self::ApiAdded => "ApiAdded",
            Self::ApiRemoved => "ApiRemoved",
            Self::PolicyChanged => "PolicyChanged",
            Self::GroupReload => "GroupReload",
            Self::KeySpaceUpdate => "KeySpaceUpdateNotification",
            Self::Other(s) => s,
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Self {
        match s {
            "ApiUpdated" => Self::ApiUpdated,
            "ApiAdded" => Self::ApiAdded,
            "ApiRemoved" => Self::ApiRemoved,
            "PolicyChanged" => Self::PolicyChanged,
            "GroupReload" => Self::GroupReload,
            "KeySpaceUpdateNotification" => Self::KeySpaceUpdate,
            other => Self::Other(other.to_string()),
        }
    }

    /// Whether this command makes a gateway reload its APIs.
    pub fn triggers_reload(&self) -> bool {
        matches!(
            self,
            Self::ApiUpdated
                | Self::ApiAdded
                | Self::ApiRemoved
                | Self::PolicyChanged
                | Self::GroupReload
        )
    }
}

/// A notification as published on [`NOTIFICATION_CHANNEL`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Command wire name.
    #[serde(default)]
    pub command: String,
    /// Command argument (for `KeySpaceUpdateNotification`: comma-separated key hashes).
    #[serde(default)]
    pub payload: String,
    /// Hex SHA-256 of command ‖ payload ‖ node secret.
    #[serde(default)]
    pub signature: String,
    /// Signature algorithm (Go `crypto.Hash`; 5 = SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<i64>,
}

fn signature_for(command: &str, payload: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(command.as_bytes());
    h.update(payload.as_bytes());
    h.update(secret.as_bytes());
    to_hex(&h.finalize())
}

impl Notification {
    /// Build and sign a notification with the node secret.
    pub fn signed(command: &Command, payload: &str, node_secret: &str) -> Self {
        Self {
            command: command.as_str().to_string(),
            payload: payload.to_string(),
            signature: signature_for(command.as_str(), payload, node_secret),
            algorithm: Some(ALGORITHM_SHA256),
        }
    }

    /// Parse a pub/sub message body.
    pub fn from_json(raw: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    /// Serialize for publishing.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The parsed command.
    pub fn command(&self) -> Command {
        Command::parse(&self.command)
    }

    /// Constant-time signature check, as Tyk's `isPayloadSignatureValid`: an empty `node_secret` is a
    /// secret like any other (Tyk signs with it and accepts what it signed). False for an empty
    /// signature or another algorithm.
    pub fn verify(&self, node_secret: &str) -> bool {
        if self.signature.is_empty() {
            return false;
        }
        if !matches!(self.algorithm, None | Some(ALGORITHM_SHA256)) {
            return false;
        }
        let expected = signature_for(&self.command, &self.payload, node_secret);
        expected.as_bytes().ct_eq(self.signature.as_bytes()).into()
    }

    /// Key hashes named by a `KeySpaceUpdateNotification` (Tyk strips any `:suffix`).
    pub fn key_hashes(&self) -> Vec<String> {
        self.payload
            .split(',')
            .map(|k| k.split(':').next().unwrap_or_default().trim().to_string())
            .filter(|k| !k.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let n = Notification::signed(&Command::GroupReload, "", "s3cret");
        // sha256("GroupReload" + "" + "s3cret")
        assert_eq!(n.signature, to_hex(&Sha256::digest(b"GroupReloads3cret")));
        assert!(n.verify("s3cret"));
        assert!(!n.verify("other"));
        assert!(!n.verify(""));
        // An empty secret verifies what was signed with it (Tyk), nothing else.
        let open = Notification::signed(&Command::GroupReload, "", "");
        assert!(open.verify("") && !open.verify("s3cret"));
        let parsed = Notification::from_json(n.to_json().as_bytes()).unwrap();
        assert_eq!(parsed.algorithm, Some(5));
        assert!(parsed.verify("s3cret"));
        let mut tampered = parsed.clone();
        tampered.payload = "x".into();
        assert!(!tampered.verify("s3cret"));
        let unsigned = Notification {
            command: "GroupReload".into(),
            ..Default::default()
        };
        assert!(!unsigned.verify("s3cret"));
    }

    #[test]
    fn key_space_payload() {
        let n = Notification::signed(&Command::KeySpaceUpdate, "abc,def:hashed, ,", "s");
        assert_eq!(n.command(), Command::KeySpaceUpdate);
        assert_eq!(n.key_hashes(), vec!["abc", "def"]);
        assert!(Command::parse("ApiAdded").triggers_reload());
        assert!(!Command::parse("Whatever").triggers_reload());
    }
}
