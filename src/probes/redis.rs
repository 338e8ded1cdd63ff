//! Redis probe: replication state from `INFO replication`, and the canary that
//! measures how far behind the passive side really is.
//!
//! The canary is a key holding a millisecond timestamp, written to the active
//! primary and read back from the passive primary. Its age on the passive side
//! is the data a failover would lose right now (the RPO), whatever the
//! replication offsets claim.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use serde::Serialize;

use super::{now_ms, PROBE_TIMEOUT};

/// The key the canary lives under (Tyk never uses this prefix).
pub const CANARY_KEY: &str = "tyk-dr:canary";

/// What one Redis server reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RedisProbe {
    /// `host:port` probed.
    pub addr: String,
    /// It answered.
    pub reachable: bool,
    /// `master` or `slave`.
    pub role: Option<String>,
    /// The primary a replica follows (`host:port`).
    pub primary: Option<String>,
    /// Replication link up (replicas only).
    pub link_up: Option<bool>,
    /// Seconds since the replica last heard from its primary.
    pub last_io_secs: Option<i64>,
    /// Replication offset this server has reached.
    pub offset: Option<i64>,
    /// Connected replicas (primaries only).
    pub replicas: Option<u32>,
    /// Transport or protocol error, when unreachable.
    pub error: Option<String>,
}

impl RedisProbe {
    /// True for a server that takes writes.
    pub fn is_primary(&self) -> bool {
        self.role.as_deref() == Some("master")
    }
}

/// Connection details shared by every probe of one run.
#[derive(Clone)]
pub struct RedisAccess {
    /// AUTH password, if the servers require one. Never printed.
    pub password: Option<String>,
}

impl std::fmt::Debug for RedisAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAccess")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A client for `host:port` (AUTH with `password` when given): the one place tyk-dr turns a
/// configured address into a Redis client.
pub fn client(addr: &str, password: Option<&str>) -> Result<redis::Client, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("`{addr}` is not host:port"))?;
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(host, port),
        redis: redis::RedisConnectionInfo {
            password: password.map(str::to_owned),
            ..Default::default()
        },
    };
    redis::Client::open(info).map_err(|e| e.to_string())
}

/// Opens a connection with the given timeouts (long responses for `sync`'s big pipelines).
pub async fn connect_with(
    addr: &str,
    password: Option<&str>,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<redis::aio::MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(connect_timeout)
        .set_response_timeout(response_timeout);
    client(addr, password)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())
}

/// Opens a connection with the probe timeouts (also used by the playbook's Redis steps).
pub async fn connect(
    addr: &str,
    access: &RedisAccess,
) -> Result<redis::aio::MultiplexedConnection, String> {
    connect_with(
        addr,
        access.password.as_deref(),
        PROBE_TIMEOUT,
        PROBE_TIMEOUT,
    )
    .await
}

/// Reads `INFO replication` from one server.
pub async fn probe(addr: &str, access: &RedisAccess) -> RedisProbe {
    let mut out = RedisProbe {
        addr: addr.to_owned(),
        ..Default::default()
    };
    let info: Result<String, String> = async {
        let mut con = connect(addr, access).await?;
        redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut con)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let info = match info {
        Ok(i) => i,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    out.reachable = true;
    let fields = parse_info(&info);
    let get = |k: &str| fields.get(k).map(String::as_str);
    out.role = get("role").map(str::to_owned);
    if out.is_primary() {
        out.offset = get("master_repl_offset").and_then(|v| v.parse().ok());
        out.replicas = get("connected_slaves").and_then(|v| v.parse().ok());
    } else {
        out.primary = match (get("master_host"), get("master_port")) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            _ => None,
        };
        out.link_up = get("master_link_status").map(|s| s == "up");
        out.last_io_secs = get("master_last_io_seconds_ago").and_then(|v| v.parse().ok());
        out.offset = get("slave_repl_offset").and_then(|v| v.parse().ok());
    }
    out
}

/// `key:value` lines of an INFO section.
pub fn parse_info(info: &str) -> HashMap<String, String> {
    info.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The canary as seen from both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CanaryProbe {
    /// Timestamp written to the active primary this run (ms since epoch), if the write succeeded.
    pub written_ms: Option<i64>,
    /// Timestamp found on the passive primary (ms since epoch).
    pub passive_ms: Option<i64>,
    /// How old the passive side's canary is: an upper bound of the data a failover would lose.
    pub age_ms: Option<i64>,
    /// Why the canary could not be written or read.
    pub error: Option<String>,
}

/// Writes a fresh canary to `active`, then reads `passive` until it catches up or `wait` runs out.
/// `active_reachable = false` (its probe just failed) skips the write: a dead or hung primary
/// then costs nothing, and the passive side's canary age still bounds the data at risk.
pub async fn canary(
    active: &str,
    active_reachable: bool,
    passive: &str,
    access: &RedisAccess,
    wait: Duration,
) -> CanaryProbe {
    let mut out = CanaryProbe::default();
    let connected = if active_reachable {
        connect(active, access).await
    } else {
        Err("unreachable (probe failed); canary not written".to_owned())
    };
    match connected {
        Ok(mut con) => {
            let now = now_ms();
            match con.set::<_, _, ()>(CANARY_KEY, now).await {
                Ok(()) => out.written_ms = Some(now),
                Err(e) => out.error = Some(format!("writing the canary to {active}: {e}")),
            }
        }
        Err(e) => out.error = Some(format!("active primary {active}: {e}")),
    }
    let mut con = match connect(passive, access).await {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(format!("passive primary {passive}: {e}"));
            return out;
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let seen: Option<i64> = con.get(CANARY_KEY).await.ok().flatten();
        out.passive_ms = seen;
        let caught_up = matches!((seen, out.written_ms), (Some(s), Some(w)) if s >= w);
        if caught_up || out.written_ms.is_none() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.age_ms = out.passive_ms.map(|seen| (now_ms() - seen).max(0));
    if out.passive_ms.is_none() && out.error.is_none() {
        out.error = Some(format!("no canary on passive primary {passive} yet"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replica_info() {
        let info = "# Replication\r\nrole:slave\r\nmaster_host:127.0.1.10\r\nmaster_port:6379\r\nmaster_link_status:down\r\n";
        let f = parse_info(info);
        assert_eq!(f["role"], "slave");
        assert_eq!(f["master_link_status"], "down");
        assert!(!f.contains_key("# Replication"));
    }

    #[test]
    fn password_is_redacted_in_debug_output() {
        let a = RedisAccess {
            password: Some("hunter2".into()),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
