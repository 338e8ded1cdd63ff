//! End to end on the local two-region environment (`localstack/env`): real
//! redis-server processes, the AWS emulator, the Route 53-fed DNS server and
//! real gateways. One test, because the environment uses fixed loopback
//! addresses and only one can run at a time.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

#[path = "common/local.rs"]
mod local;

use local::LocalEnv;

const RUN_DIR: &str = "/tmp/tyk-dr-local-test";
const CONFIG: &str = "examples/local.toml";

fn pids() -> Vec<u32> {
    std::fs::read_dir(format!("{RUN_DIR}/pids"))
        .map(|d| {
            d.filter_map(|e| {
                std::fs::read_to_string(e.ok()?.path())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default()
}

fn running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn redis_cli(host: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", "6379"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn status_json(env: &LocalEnv) -> (i32, serde_json::Value) {
    let o = env.tyk_dr(Path::new(CONFIG), &["-o", "json", "status"], &[]);
    let doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status JSON: {e}: {}", String::from_utf8_lossy(&o.stdout)));
    (o.status.code().unwrap(), doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_environment_serves_through_the_global_name_and_status_tells_readiness() {
    let started = Instant::now();
    let env = LocalEnv::up(RUN_DIR);
    eprintln!("environment up in {:.1} s", started.elapsed().as_secs_f64());
    assert!(env.run(&["up"]).status.success(), "a second up is a no-op");

    // Resolve the global name through the DNS server, as a client would.
    let ns: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    let resolver = TokioResolver::builder_with_config(
        ResolverConfig::from_parts(
            None,
            vec![],
            NameServerConfigGroup::from_ips_clear(&[ns.ip()], ns.port(), true),
        ),
        TokioConnectionProvider::default(),
    )
    .with_options(opts)
    .build();
    let ips: Vec<_> = resolver
        .lookup_ip("api.tyk-dr.test.")
        .await
        .expect("global name resolves")
        .iter()
        .collect();
    assert!(!ips.is_empty());
    assert!(
        ips.iter().all(|ip| ip.to_string().starts_with("127.0.1.2")),
        "global name → region A: {ips:?}"
    );

    // A seeded key through a region-A gateway reaches region A's upstream.
    let key = std::fs::read_to_string(env.file("keys.txt")).unwrap();
    let key = key.lines().next().expect("a seeded key").to_owned();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://{}:8080/echo/anything", ips[0]);
    let resp = client
        .get(&url)
        .header("Host", "api.tyk-dr.test")
        .header("Authorization", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let region = resp
        .headers()
        .get("x-tyk-dr-region")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(region.as_deref(), Some("us-east-1"));
    assert_eq!(resp.text().await.unwrap(), "Hello, world!");
    let denied = client
        .get(&url)
        .header("Authorization", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    // The pair is healthy: status says the passive is ready.
    let (code, doc) = status_json(&env);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["verdict"]["ready"], true);
    assert_eq!(doc["dns"]["redis_points_to"], "active");
    assert_eq!(doc["dns"]["global_points_to"], "active");

    // Break the passive replica's link (it now fails to authenticate to the active primary).
    assert_eq!(
        redis_cli(
            "127.0.2.10",
            &["CONFIG", "SET", "masterauth", "wrong-password"]
        ),
        "OK"
    );
    redis_cli("127.0.2.10", &["CLIENT", "KILL", "TYPE", "master"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, doc) = loop {
        let (code, doc) = status_json(&env);
        if code != 0 || Instant::now() > deadline {
            break (code, doc);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(code, 3, "{doc:#}");
    let reasons = doc["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains(
            "passive Redis 127.0.2.10:6379 has lost its replication link from 127.0.1.10:6379"
        ),
        "{reasons}"
    );
    let table = env.tyk_dr(Path::new(CONFIG), &["status"], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("passive ready to take over: no, because passive Redis 127.0.2.10:6379 has lost its replication link"), "{text}");

    // Down stops exactly what up started.
    let started_pids = pids();
    assert!(started_pids.len() >= 12, "{started_pids:?}");
    assert!(env.run(&["down"]).status.success());
    for pid in started_pids {
        assert!(!running(pid), "pid {pid} still running after down");
    }
    assert!(std::net::TcpStream::connect("127.0.1.10:6379").is_err());
}
