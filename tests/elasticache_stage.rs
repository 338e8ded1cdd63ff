//! The local stage's ElastiCache control plane (`localstack/elasticache/server.py`, issue 20):
//! 1. its boto3 self-test (`selftest.py`: real redis-servers, Global Datastore create, failover,
//!    failback, disassociate, every strictness rule, the fault switch), run with the venv's Python;
//! 2. this project's own ElastiCache adapter (`tyk_dr_aws::elasticache`, the Rust SDK) driving it,
//!    so the XML it answers is what the Rust SDK parses, and the data plane follows the calls.
//!
//! Everything runs on loopback (127.20.x for the self-test, 127.21.x here, free ports), bounded in
//! time, and every process started is killed by PID.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tyk_dr_aws::elasticache::{ElastiCache, ReplicationGroupSpec, Tags};

#[path = "common/moto.rs"]
mod moto;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv's Python (`$TYK_DR_VENV`, default /var/tmp/tyk-dr-venv), where boto3 and moto live.
fn venv_python() -> PathBuf {
    let venv = std::env::var("TYK_DR_VENV").unwrap_or_else(|_| "/var/tmp/tyk-dr-venv".into());
    let py = Path::new(&venv).join("bin/python");
    assert!(
        py.is_file(),
        "{} not found: run `scripts/dev setup` to create the venv",
        py.display()
    );
    py
}

/// Processes killed (by PID) when dropped.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Procs {
    fn spawn(&mut self, cmd: &mut Command) -> u32 {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn elasticache_control_plane_selftest_passes() {
    let mut child = Command::new(venv_python())
        .arg(Path::new(ROOT).join("localstack/elasticache/selftest.py"))
        .arg("-v")
        .env("TYK_DR_SELFTEST_TIMEOUT", "240")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run selftest.py");
    // The script bounds itself (240 s) and stops what it started; this is the backstop.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait selftest") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("selftest.py did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("selftest output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(status.success(), "selftest.py failed ({status}):\n{text}");
    assert!(text.contains("checks passed"), "{text}");
}

fn redis_role(addr: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "INFO", "replication"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let role = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("role:"))
        .unwrap_or("?")
        .to_owned();
    let master = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("master_port:"))
        .map(|p| format!(" of :{p}"))
        .unwrap_or_default();
    format!("{role}{master}")
}

fn redis_ping(addr: &str) -> bool {
    let (host, port) = addr.rsplit_once(':').unwrap();
    Command::new("redis-cli")
        .args(["-h", host, "-p", port, "PING"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spec(id: &str, region: &str, global: Option<&str>) -> ReplicationGroupSpec {
    ReplicationGroupSpec {
        id: id.into(),
        description: "tyk-dr".into(),
        node_type: "cache.r7g.large".into(),
        engine_version: "7.1".into(),
        nodes: 2,
        azs: vec![format!("{region}a"), format!("{region}b")],
        subnet_group: "tdr-redis".into(),
        security_group_ids: vec!["sg-1".into()],
        port: 6379,
        transit_encryption: true,
        snapshot_retention: 1,
        global_group_id: global.map(str::to_owned),
        tags: Tags::from([("tyk-dr:project".into(), "tdr".into())]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_adapter_drives_the_control_plane_and_its_redis_servers() {
    let mut procs = Procs::default();
    let dir = tempfile::tempdir().unwrap();
    let mut addr = Vec::new();
    for ip in ["127.21.1.10", "127.21.1.11", "127.21.2.10", "127.21.2.11"] {
        let port = std::net::TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().join(ip);
        std::fs::create_dir_all(&d).unwrap();
        procs.spawn(Command::new("redis-server").args([
            "--bind",
            ip,
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            d.to_str().unwrap(),
        ]));
        addr.push(format!("{ip}:{port}"));
    }
    let (a0, a1, b0, b1) = (&addr[0], &addr[1], &addr[2], &addr[3]);
    let moto = moto::Moto::start();
    let front_port = moto::free_port();
    let config = dir.path().join("elasticache.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "regions": {"us-east-1": {"pools": [[a0, a1]]}, "us-west-2": {"pools": [[b0, b1]]}},
            "delay_scale": 0.2,
            "validate_subnets": false,
        })
        .to_string(),
    )
    .unwrap();
    let moto_hostport = moto.endpoint.trim_start_matches("http://").to_owned();
    procs.spawn(Command::new(venv_python()).args([
        &format!("{ROOT}/localstack/elasticache/server.py"),
        "--listen",
        &format!("127.0.0.1:{front_port}"),
        "--moto",
        &moto_hostport,
        "--config",
        config.to_str().unwrap(),
    ]));
    let endpoint = format!("http://127.0.0.1:{front_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(std::net::TcpStream::connect(("127.0.0.1", front_port)).is_ok()
        && addr.iter().all(|a| redis_ping(a)))
    {
        assert!(
            Instant::now() < deadline,
            "control plane or redis not up in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let ea = &ElastiCache::new(&tyk_dr_aws::emulator_config(&endpoint, "us-east-1").await);
    let eb = &ElastiCache::new(&tyk_dr_aws::emulator_config(&endpoint, "us-west-2").await);
    for ec in [ea, eb] {
        ec.create_subnet_group("tdr-redis", &["subnet-1".into()], &Tags::new())
            .await
            .unwrap();
    }
    assert_eq!(ea.subnet_groups("tdr").await.unwrap()[0].name, "tdr-redis");

    ea.create_replication_group(&spec("tdr-active", "us-east-1", None))
        .await
        .unwrap();
    until("tdr-active available", || async move {
        ea.replication_group("tdr-active")
            .await
            .unwrap()
            .is_some_and(|g| g.status == "available")
    })
    .await;
    let g = ea.replication_group("tdr-active").await.unwrap().unwrap();
    assert_eq!(g.members, 2);
    assert_eq!(
        g.primary_endpoint.as_deref(),
        Some(a0.split(':').next().unwrap())
    );
    assert!(g.automatic_failover && g.transit_encryption && g.global.is_none());
    assert_eq!(ea.tags(&g.arn).await.unwrap()["tyk-dr:project"], "tdr");

    let gid = ea.create_global_group("tdr", "tdr-active").await.unwrap();
    assert_eq!(gid, "ldgnf-tdr");
    until("datastore primary-only", || async move {
        ea.global_groups("tdr").await.unwrap()[0].status == "primary-only"
    })
    .await;
    // The adapter sends no engine, node type or encryption for a secondary: accepted.
    eb.create_replication_group(&spec("tdr-passive", "us-west-2", Some(&gid)))
        .await
        .unwrap();
    until("datastore available", || async move {
        ea.global_groups("tdr").await.unwrap()[0].status == "available"
    })
    .await;
    let members = ea.global_groups("tdr").await.unwrap()[0].members.clone();
    assert_eq!(
        members,
        [
            ("tdr-active".into(), "us-east-1".into(), "primary".into()),
            ("tdr-passive".into(), "us-west-2".into(), "secondary".into()),
        ]
    );
    let a0_port = a0.rsplit(':').next().unwrap();
    let b0_port = b0.rsplit(':').next().unwrap();
    assert_eq!(redis_role(b0), format!("slave of :{a0_port}"));

    // Node-type changes on a member go through the datastore: the adapter's direct call is refused.
    let err = eb
        .modify_replication_group("tdr-passive", Some("cache.r7g.xlarge"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidParameterCombination"), "{err}");

    let status = eb
        .failover_global_group(&gid, "us-west-2", "tdr-passive")
        .await
        .unwrap();
    assert_eq!(status, "modifying");
    let g = eb.replication_group("tdr-passive").await.unwrap().unwrap();
    assert_eq!(g.status, "modifying");
    let err = eb
        .failover_global_group(&gid, "us-west-2", "tdr-passive")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidGlobalReplicationGroupState"), "{err}");
    until("failover done", || async move {
        ea.global_groups("tdr").await.unwrap()[0].status == "available"
    })
    .await;
    let g = eb.replication_group("tdr-passive").await.unwrap().unwrap();
    assert_eq!(g.global, Some((gid.clone(), "primary".into())));
    assert_eq!(redis_role(b0), "master");
    assert_eq!(redis_role(a0), format!("slave of :{b0_port}"));

    // Regional loss path: the old primary (now secondary) leaves; us-west-2 stays standalone.
    ea.disassociate_global_group(&gid, "tdr-active", "us-east-1")
        .await
        .unwrap();
    until("datastore primary-only again", || async move {
        ea.global_groups("tdr").await.unwrap()[0].status == "primary-only"
    })
    .await;
    let g = ea.replication_group("tdr-active").await.unwrap().unwrap();
    assert_eq!((g.status.as_str(), g.global.is_none()), ("available", true));
    assert_eq!(redis_role(a0), "master");
    let err = eb
        .delete_replication_group("tdr-passive")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidReplicationGroupState"), "{err}");
    eb.delete_global_group(&gid).await.unwrap();
    until("datastore gone", || async move {
        ea.global_groups("tdr").await.unwrap().is_empty()
    })
    .await;
    for (ec, id) in [(ea, "tdr-active"), (eb, "tdr-passive")] {
        ec.delete_replication_group(id).await.unwrap();
    }
    until("groups gone", || async move {
        ea.replication_groups("tdr").await.unwrap().is_empty()
            && eb.replication_groups("tdr").await.unwrap().is_empty()
    })
    .await;
    drop(moto);
    drop(procs);
}
