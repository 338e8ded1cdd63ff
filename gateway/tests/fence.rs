//! Fencing from the epoch record, through the real gateway binary and real DNS answers: a DNS
//! server in this test answers the epoch TXT record (and can stop answering), and the gateway
//! decides from it alone whether it may serve.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RECORD: &str = "_tyk-dr-epoch.api.fence.test";

/// The test DNS server ([`common::Dns`]) answering the epoch record with `epoch` and A queries with `ip`.
async fn epoch_dns(epoch: &str, ip: Ipv4Addr) -> Dns {
    let dns = start_dns(ip).await;
    dns.set_txt(RECORD, epoch);
    dns
}

/// Top-level settings plus an `[epoch]` table reading `RECORD` from `ns` every 200 ms.
fn epoch_extra(ns: SocketAddr) -> String {
    format!(
        "{}\n[epoch]\nrecord = \"{RECORD}\"\nnameserver = \"{ns}\"\ninterval_ms = 200\ntimeout_ms = 200\n",
        standard_extra()
    )
}

async fn start_fenced_gateway(redis: &Redis, ns: SocketAddr) -> Gateway {
    let upstream = start_upstream().await;
    start_gateway(&redis_at(redis.addr), &epoch_extra(ns), |apps| {
        write_fixture_apps(apps, upstream)
    })
    .await
}

/// Readiness status and document.
async fn readiness(gw: &Gateway) -> (u16, serde_json::Value) {
    let r = get(&gw.url("/ready"), &[]).await;
    (r.status, r.json())
}

fn reasons(doc: &serde_json::Value) -> Vec<String> {
    doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// Polls readiness until `want(status, doc)` holds (at most `secs`).
async fn until_ready_is(
    gw: &Gateway,
    what: &str,
    secs: u64,
    want: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let want = &want;
    eventually(what, Duration::from_secs(secs), || async move {
        let (s, d) = readiness(gw).await;
        want(s, &d).then_some(d)
    })
    .await
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_region_the_epoch_does_not_name_is_a_fenced_standby_until_it_does() {
    let redis = Redis::start("127.0.0.1", free_port());
    let dns = epoch_dns("\"active=other-region epoch=2\"", Ipv4Addr::LOCALHOST).await;
    let gw = start_fenced_gateway(&redis, dns.addr).await;

    let doc = until_ready_is(&gw, "a standby readiness", 10, |s, d| {
        s == 503 && d["standby"] == true && d["takeover_ready"] == true
    })
    .await;
    assert_eq!(
        reasons(&doc),
        vec!["standby: epoch 2 names other-region".to_owned()],
        "{doc}"
    );
    assert_eq!(doc["fenced"], true, "{doc}");
    assert_eq!(doc["epoch"]["active"], "other-region", "{doc}");
    assert_eq!(doc["epoch"]["number"], 2, "{doc}");
    // Fenced: proxied traffic is refused (fence_blocks_traffic defaults to true).
    let r = get(&gw.url("/quickstart/x"), &[]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    // The manual unfence cannot lift the epoch's fence.
    let r = call("DELETE", &gw.url("/tyk/dr/fence"), &admin(), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["fenced"], true, "{}", r.body);
    assert_eq!(readiness(&gw).await.0, 503);
    let m = metrics(&gw).await;
    assert_eq!(metric(&m, "tyk_gw_epoch_standby"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "tyk_gw_epoch_number"), Some(2.0), "{m}");
    assert_eq!(metric(&m, "tyk_gw_fenced"), Some(1.0), "{m}");
    let reconnects = metric(&m, "tyk_gw_redis_reconnects_total").unwrap();

    // A failback names this region: ready and serving within a few reads, with fresh Redis
    // connections (the old ones may reach a primary the epoch no longer names).
    let t = Instant::now();
    dns.set_txt(RECORD, "\"active=test-region epoch=3\"");
    let doc = until_ready_is(&gw, "ready once the epoch names the region", 5, |s, _| {
        s == 200
    })
    .await;
    eprintln!("unfenced {:?} after the epoch change", t.elapsed());
    assert_eq!(doc["standby"], false);
    assert_eq!(doc["fenced"], false);
    assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 200);
    let m = metrics(&gw).await;
    assert!(
        metric(&m, "tyk_gw_redis_reconnects_total").unwrap() > reconnects,
        "{m}"
    );

    // And fenced again when the epoch moves away (a failover): within about one read.
    let t = Instant::now();
    dns.set_txt(RECORD, "\"active=other-region epoch=4\"");
    until_ready_is(
        &gw,
        "fenced once the epoch names the other region",
        5,
        |s, d| s == 503 && d["standby"] == true,
    )
    .await;
    let took = t.elapsed();
    eprintln!("fenced {took:?} after the epoch change");
    assert!(took < Duration::from_millis(1_500), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_cannot_read_the_epoch_at_start_up_is_not_ready_and_says_why() {
    let redis = Redis::start("127.0.0.1", free_port());
    let dns = epoch_dns("\"active=test-region epoch=1\"", Ipv4Addr::LOCALHOST).await;
    dns.set_silent(true);
    let gw = start_fenced_gateway(&redis, dns.addr).await;

    // Redis is up and definitions are loaded: only the epoch stands in the way.
    let doc = until_ready_is(&gw, "a failed epoch read reported", 10, |s, d| {
        s == 503 && reasons(d).iter().any(|r| r.contains("no answer for"))
    })
    .await;
    let why = reasons(&doc);
    assert_eq!(why.len(), 1, "{doc}");
    assert!(
        why[0].starts_with("epoch unknown: no answer for _tyk-dr-epoch.api.fence.test."),
        "{doc}"
    );
    assert_eq!(doc["fenced"], true);
    assert_eq!(doc["standby"], false, "unknown is not standby: {doc}");
    assert_eq!(
        get(&gw.url("/quickstart/x"), &[]).await.status,
        503,
        "fail closed"
    );
    // It keeps trying, and becomes ready as soon as DNS answers.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(readiness(&gw).await.0, 503);
    let m = metrics(&gw).await;
    assert!(
        metric(&m, "tyk_gw_epoch_read_failures_total").unwrap() >= 2.0,
        "{m}"
    );
    assert_eq!(metric(&m, "tyk_gw_epoch_number"), Some(0.0), "{m}");
    dns.set_silent(false);
    until_ready_is(&gw, "ready once DNS answers", 5, |s, _| s == 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_good_read_a_dns_outage_keeps_the_last_epoch_and_says_so() {
    let redis = Redis::start("127.0.0.1", free_port());
    let dns = epoch_dns("\"active=test-region epoch=5\"", Ipv4Addr::LOCALHOST).await;
    let gw = start_fenced_gateway(&redis, dns.addr).await;
    until_ready_is(&gw, "ready", 10, |s, _| s == 200).await;

    dns.set_silent(true);
    let doc = until_ready_is(&gw, "stale epoch reported", 5, |_, d| {
        d["epoch"]["stale"] == true
    })
    .await;
    // Still ready and serving on the last epoch (fail static), with a warning and a metric.
    assert_eq!(doc["status"], "ready", "{doc}");
    assert_eq!(doc["epoch"]["number"], 5, "{doc}");
    let warning = doc["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("epoch stale: no answer for") && warning.contains("keeping epoch 5"),
        "{doc}"
    );
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(readiness(&gw).await.0, 200, "fail static");
        assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = metrics(&gw).await;
    assert_eq!(metric(&m, "tyk_gw_epoch_stale"), Some(1.0), "{m}");

    // DNS back with a new epoch naming another region: fenced.
    dns.set_txt(RECORD, "\"active=other-region epoch=6\"");
    dns.set_silent(false);
    let doc = until_ready_is(&gw, "fenced by the new epoch", 5, |s, _| s == 503).await;
    assert_eq!(doc["standby"], true, "{doc}");
    assert_eq!(doc["epoch"]["stale"], false, "{doc}");
    assert_eq!(metric(&metrics(&gw).await, "tyk_gw_epoch_stale"), Some(0.0));
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// `INFO persistence`'s `rdb_changes_since_last_save`: every write since start (no saves here).
fn redis_writes(redis: &Redis) -> i64 {
    let mut c = redis.conn();
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_was_stopped_is_fenced_from_its_first_answer_and_writes_nothing_stale() {
    // The Redis name resolves through the test DNS: first to `old`, after the "failover" to `new`.
    let old = Redis::start("127.0.0.2", free_port());
    let port = old.addr.port();
    let new = Redis::start("127.0.0.3", port);
    let dns = epoch_dns(
        "\"active=test-region epoch=1\"",
        Ipv4Addr::new(127, 0, 0, 2),
    )
    .await;
    let upstream = start_upstream().await;
    let redis_section = format!(
        "host = \"redis.fence.test\"\nport = {port}\nnameserver = \"{}\"",
        dns.addr
    );
    let gw = start_gateway(&redis_section, &epoch_extra(dns.addr), |apps| {
        write_fixture_apps(apps, upstream)
    })
    .await;
    until_ready_is(&gw, "ready", 10, |s, _| s == 200).await;
    // A key whose rate-limit counters the gateway writes to Redis on every request.
    let key = call(
        "POST",
        &gw.url("/tyk/keys"),
        &admin(),
        r#"{"org_id":"o","rate":1000,"per":1,"quota_max":100000,"quota_renewal_rate":3600,
            "access_rights":{"1":{"api_id":"1","api_name":"Tyk Test API","versions":["Default"]}}}"#,
    )
    .await;
    assert_eq!(key.status, 200, "{}", key.body);
    let token = key.json()["key"].as_str().unwrap().to_owned();
    let auth = [("authorization", token.as_str())];
    for _ in 0..5 {
        get(&gw.url("/otto/x"), &auth).await;
    }

    // The gateway hangs; meanwhile the failover moves the epoch and the Redis name.
    signal(gw.child.id(), "STOP");
    dns.set_txt(RECORD, "\"active=other-region epoch=2\"");
    *dns.ip.lock().unwrap() = Ipv4Addr::new(127, 0, 0, 3);
    // Longer than 2 periods + 1 timeout + 1 s (1.6 s here): "this process was not running".
    std::thread::sleep(Duration::from_millis(2_500));
    let before = redis_writes(&old);
    signal(gw.child.id(), "CONT");

    // From its very first answer it is not ready, and the proxied requests it still takes
    // (fence_blocks_traffic = true: refused) never write to the old primary.
    let until = Instant::now() + Duration::from_secs(3);
    let mut answers = 0;
    while Instant::now() < until {
        let (status, doc) = readiness(&gw).await;
        assert_eq!(status, 503, "ready after waking up: {doc}");
        answers += 1;
        get(&gw.url("/otto/x"), &auth).await;
    }
    assert!(answers > 10);
    let doc = readiness(&gw).await.1;
    assert_eq!(doc["standby"], true, "{doc}");
    assert_eq!(
        redis_writes(&old),
        before,
        "the old primary got writes after the gateway woke up"
    );
    drop(new);
}
