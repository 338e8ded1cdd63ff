//! Tyk data formats shared by the tyk-dr CLI and the bundled gateway.
//!
//! Everything here mirrors what Tyk itself writes to disk and to Redis, so that tools built on this crate
//! can read and write a live Tyk key store and `app_path` directory:
//! - [`apidef`]: API definition files (`app_path/*.json`),
//! - [`session`]: session objects stored under `apikey-<hash>`,
//! - [`hash`]: Tyk's key hashing (murmur3 32/64/128, sha256),
//! - [`token`]: generated tokens (base64 JSON carrying org, id and hash algorithm),
//! - [`policy`]: security policies and applying them to sessions,
//! - [`notification`]: cluster notifications on `tyk.cluster.notifications` and their signatures.
//!
//! The crate is deliberately light (serde, serde_json, sha2, base64, subtle): no async runtime, no I/O.

pub mod apidef;
pub mod hash;
pub mod notification;
pub mod policy;
pub mod session;
pub mod token;
mod util;

pub use apidef::{ApiDefinition, DefinitionError};
pub use hash::{hash_key, hash_token, HashAlgo};
pub use notification::{Command, Notification, NOTIFICATION_CHANNEL};
pub use policy::{parse_policies, Policies, Policy};
pub use session::{AccessDefinition, Session, SessionLimit};
pub use token::{
    custom_key_token, decode_token, generate_token, lookup_tokens, token_org, TokenInfo,
};
