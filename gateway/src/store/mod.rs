//! The key store. `redis.rs` is the only module that talks to Redis.

pub mod dns;
pub mod redis;

pub use self::redis::{RedisStore, StoreError};
