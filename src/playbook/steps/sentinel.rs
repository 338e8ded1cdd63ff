//! Promotion through Redis Sentinel, for self-managed Redis with `redis.self_managed.sentinels`.
//!
//! Sentinel has no "fail over to this replica" command: `SENTINEL FAILOVER` picks the replica
//! with the lowest non-zero `replica-priority` (then the largest offset). So the target is made
//! the preferred candidate (`replica-priority 1`), the failover is forced through the first
//! Sentinel that answers (a forced failover needs no quorum, so it works with the lost region's
//! Sentinels gone), and the step waits until Sentinel names the target as the master. The
//! target's own priority is put back afterwards. Sentinel later reconfigures the other servers
//! itself; the caller still demotes the old primary at once, because Sentinel leaves it writable
//! for seconds (see DESIGN.md).

use std::time::Duration;

use super::StepError;
use crate::playbook::context::RunContext;
use crate::playbook::facts::RunFacts;
use crate::probes::redis as redis_probe;

/// The preferred candidate's priority: the lowest non-zero value Sentinel accepts.
const PREFERRED: i64 = 1;

async fn query<T: redis::FromRedisValue>(
    ctx: &RunContext,
    addr: &str,
    cmd: &redis::Cmd,
) -> Result<T, String> {
    let mut con = redis_probe::connect(addr, &ctx.redis).await?;
    cmd.query_async(&mut con)
        .await
        .map_err(|e| format!("{addr}: {e}"))
}

/// The master Sentinel currently names, as `host:port`.
async fn master_of(ctx: &RunContext, sentinel: &str, name: &str) -> Result<String, String> {
    let (host, port): (String, String) = query(
        ctx,
        sentinel,
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(name),
    )
    .await?;
    Ok(format!("{host}:{port}"))
}

async fn set_priority(ctx: &RunContext, addr: &str, priority: i64) -> Result<(), StepError> {
    query::<()>(
        ctx,
        addr,
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("replica-priority")
            .arg(priority),
    )
    .await
    .map_err(StepError::Failed)
}

/// The first Sentinel that answers for `name`, with the master it names.
pub(super) async fn find(ctx: &RunContext) -> Result<(String, String), StepError> {
    let sm = ctx
        .config
        .redis
        .self_managed
        .as_ref()
        .ok_or_else(|| StepError::Failed("no [redis.self_managed] section".into()))?;
    let mut errors = Vec::new();
    for s in &sm.sentinels {
        match master_of(ctx, s, &sm.master_name).await {
            Ok(master) => return Ok((s.clone(), master)),
            Err(e) => errors.push(e),
        }
    }
    Err(StepError::Failed(format!(
        "no Sentinel answered for master `{}`: {}",
        sm.master_name,
        errors.join("; ")
    )))
}

/// Makes `target` the master through Sentinel and waits until Sentinel names it.
pub(super) async fn failover(ctx: &RunContext, target: &str) -> Result<RunFacts, StepError> {
    let name = ctx
        .config
        .redis
        .self_managed
        .as_ref()
        .map(|sm| sm.master_name.clone())
        .unwrap_or_default();
    let (sentinel, master) = find(ctx).await?;
    let mut facts = RunFacts {
        sentinel: Some(sentinel.clone()),
        ..Default::default()
    };
    if master == target {
        return Ok(facts);
    }
    let failed = |e: String| StepError::Failed(e);
    let original: Vec<String> = query(
        ctx,
        target,
        redis::cmd("CONFIG").arg("GET").arg("replica-priority"),
    )
    .await
    .map_err(failed)?;
    let original: i64 = original.get(1).and_then(|v| v.parse().ok()).unwrap_or(100);
    if original == 0 {
        return Err(StepError::Failed(format!(
            "{target} has replica-priority 0, so Sentinel will never promote it: set it above 0 (CONFIG SET replica-priority 100) and --resume"
        )));
    }
    set_priority(ctx, target, PREFERRED).await?;
    // Sentinel reads priorities from each replica's INFO, every 10 s: wait until it has seen ours,
    // or it would still pick by the old priorities.
    loop {
        let replicas: Vec<std::collections::HashMap<String, String>> = query(
            ctx,
            &sentinel,
            redis::cmd("SENTINEL").arg("REPLICAS").arg(&name),
        )
        .await
        .map_err(failed)?;
        let seen = replicas.iter().find(|r| {
            r.get("name").map(String::as_str) == Some(target)
                || format!(
                    "{}:{}",
                    r.get("ip").map_or("", String::as_str),
                    r.get("port").map_or("", String::as_str)
                ) == target
        });
        match seen {
            None => {
                return Err(StepError::Failed(format!(
                    "Sentinel {sentinel} does not list {target} as a replica of `{name}`: is it replicating from {master}?"
                )))
            }
            Some(r) if r.get("slave-priority").map(String::as_str) == Some(PREFERRED.to_string().as_str()) => break,
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let forced: Result<(), String> = query(
        ctx,
        &sentinel,
        redis::cmd("SENTINEL").arg("FAILOVER").arg(&name),
    )
    .await;
    if let Err(e) = forced {
        // INPROG: a failover (ours, before a crash) is already running; wait for it.
        if !e.contains("INPROG") {
            return Err(StepError::Failed(format!(
                "SENTINEL FAILOVER {name} through {sentinel}: {e}"
            )));
        }
    }
    // Bounded by the step's timeout, which the engine enforces around this call.
    loop {
        let named = master_of(ctx, &sentinel, &name).await.ok();
        let role = redis_probe::probe(target, &ctx.redis).await;
        if named.as_deref() == Some(target) && role.is_primary() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if original != PREFERRED {
        set_priority(ctx, target, original).await?;
    }
    facts.sentinel_failover_from = Some(master);
    Ok(facts)
}

#[cfg(test)]
mod tests {
    //! Real redis-server processes in Sentinel mode on 127.0.3.x (the local environment uses
    //! 127.0.1.x and 127.0.2.x), stopped by PID when the test ends.

    use std::process::{Child, Command, Stdio};

    use super::*;
    use crate::config::{Config, Side};
    use crate::playbook::context::Transition;

    struct Procs(Vec<Child>, tempfile::TempDir);

    impl Drop for Procs {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    fn redis(procs: &mut Procs, ip: &str, args: &[&str]) {
        // Full syncs write an RDB file: keep it in the test's directory, not the crate's.
        let child = Command::new("redis-server")
            .arg("--dir")
            .arg(procs.1.path())
            .args([
                "--bind",
                ip,
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--replica-announce-ip", ip])
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt install redis-server)");
        procs.0.push(child);
    }

    fn sentinel(procs: &mut Procs, ip: &str) {
        let conf = procs.1.path().join(format!("sentinel-{ip}.conf"));
        std::fs::write(
            &conf,
            format!(
                "bind {ip}\nport 26379\nsentinel announce-ip {ip}\nsentinel monitor tyk 127.0.3.10 6379 2\n\
                 sentinel down-after-milliseconds tyk 1000\nsentinel failover-timeout tyk 10000\n"
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(child);
    }

    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        for _ in 0..300 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn sentinel_promotes_the_target_region_not_the_local_replica() {
        let mut procs = Procs(Vec::new(), tempfile::tempdir().unwrap());
        redis(&mut procs, "127.0.3.10", &[]);
        // The active region's own replica is Sentinel's natural pick (lower priority wins); the
        // target must win anyway.
        redis(
            &mut procs,
            "127.0.3.11",
            &[
                "--replicaof",
                "127.0.3.10",
                "6379",
                "--replica-priority",
                "50",
            ],
        );
        redis(
            &mut procs,
            "127.0.3.20",
            &[
                "--replicaof",
                "127.0.3.10",
                "6379",
                "--replica-priority",
                "90",
            ],
        );
        for ip in ["127.0.3.30", "127.0.3.31", "127.0.3.32"] {
            sentinel(&mut procs, ip);
        }
        let config: Config = toml::from_str(
            r#"project = "t"
[redis]
backend = "self-managed"
auth = false
tls = false
[redis.self_managed]
active = ["127.0.3.10:6379", "127.0.3.11:6379"]
passive = ["127.0.3.20:6379"]
sentinels = ["127.0.3.30:26379", "127.0.3.31:26379", "127.0.3.32:26379"]
"#,
        )
        .unwrap();
        let ctx = RunContext::new(
            config,
            Transition {
                from: Side::Active,
                to: Side::Passive,
            },
            "t".into(),
            0,
        )
        .await;
        // Sentinel must know both replicas, linked and healthy, before it can choose between them.
        until("Sentinel to see both replicas linked", async || {
            query::<Vec<std::collections::HashMap<String, String>>>(
                &ctx,
                "127.0.3.30:26379",
                redis::cmd("SENTINEL").arg("REPLICAS").arg("tyk"),
            )
            .await
            .is_ok_and(|r| {
                r.len() == 2
                    && r.iter().all(|s| {
                        s.get("flags").map(String::as_str) == Some("slave")
                            && s.get("master-link-status").map(String::as_str) == Some("ok")
                    })
            })
        })
        .await;
        let facts =
            tokio::time::timeout(Duration::from_secs(60), failover(&ctx, "127.0.3.20:6379"))
                .await
                .expect("the failover finishes within 60 s")
                .unwrap();
        assert_eq!(
            facts.sentinel_failover_from.as_deref(),
            Some("127.0.3.10:6379")
        );
        for s in ["127.0.3.30:26379", "127.0.3.31:26379"] {
            until("every Sentinel to name the new master", async || {
                master_of(&ctx, s, "tyk").await.as_deref() == Ok("127.0.3.20:6379")
            })
            .await;
        }
        let p = redis_probe::probe("127.0.3.20:6379", &ctx.redis).await;
        assert!(p.is_primary(), "{p:?}");
        // Its own priority is back to what it was, for the day it is a replica again.
        let prio: Vec<String> = query(
            &ctx,
            "127.0.3.20:6379",
            redis::cmd("CONFIG").arg("GET").arg("replica-priority"),
        )
        .await
        .unwrap();
        assert_eq!(prio[1], "90");
        // Running it again changes nothing.
        let again = failover(&ctx, "127.0.3.20:6379").await.unwrap();
        assert!(again.sentinel_failover_from.is_none(), "{again:?}");
    }
}
