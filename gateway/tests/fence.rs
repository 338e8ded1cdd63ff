//! Fencing from the epoch record, through the real gateway binary and real DNS answers: a DNS
//! server in this test answers the epoch TXT record (and can stop answering), and the gateway
//! decides from it alone whether it may serve.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const RECORD: &str = "_tyk-dr-epoch.api.fence.test";

/// How the test DNS server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answer: the epoch TXT record, A records with `ip`.
    Answer,
    /// Drop every query (DNS unreachable: the resolver times out).
    Silent,
}

/// A DNS server answering the epoch TXT record with `epoch` and A queries with `ip` (TTL 1 s).
struct EpochDns {
    addr: SocketAddr,
    epoch: Arc<Mutex<String>>,
    mode: Arc<Mutex<Mode>>,
    ip: Arc<Mutex<Ipv4Addr>>,
}

impl EpochDns {
    async fn start(epoch: &str, ip: Ipv4Addr) -> Self {
        use hickory_proto::op::{Message, MessageType, ResponseCode};
        use hickory_proto::rr::{rdata::A, rdata::TXT, RData, Record, RecordType};
        use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let dns = EpochDns {
            addr,
            epoch: Arc::new(Mutex::new(epoch.to_owned())),
            mode: Arc::new(Mutex::new(Mode::Answer)),
            ip: Arc::new(Mutex::new(ip)),
        };
        let (epoch, mode, ip) = (dns.epoch.clone(), dns.mode.clone(), dns.ip.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, src)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                if *mode.lock().unwrap() == Mode::Silent {
                    continue;
                }
                let Ok(q) = Message::from_bytes(&buf[..len]) else {
                    continue;
                };
                let mut resp = Message::new();
                resp.set_id(q.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(q.op_code())
                    .set_recursion_desired(q.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true);
                resp.add_queries(q.queries().to_vec());
                for query in q.queries() {
                    let name = query.name().to_ascii();
                    match query.query_type() {
                        RecordType::TXT if name.trim_end_matches('.') == RECORD => {
                            let value = epoch.lock().unwrap().clone();
                            resp.add_answer(Record::from_rdata(
                                query.name().clone(),
                                1,
                                RData::TXT(TXT::new(vec![value])),
                            ));
                        }
                        RecordType::A => {
                            let a = *ip.lock().unwrap();
                            resp.add_answer(Record::from_rdata(
                                query.name().clone(),
                                1,
                                RData::A(A(a)),
                            ));
                        }
                        _ => {
                            resp.set_response_code(ResponseCode::NXDomain);
                        }
                    }
                }
                if let Ok(bytes) = resp.to_bytes() {
                    let _ = sock.send_to(&bytes, src).await;
                }
            }
        });
        dns
    }

    fn set_epoch(&self, value: &str) {
        *self.epoch.lock().unwrap() = value.to_owned();
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
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
    let dns = EpochDns::start("\"active=other-region epoch=2\"", Ipv4Addr::LOCALHOST).await;
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
    dns.set_epoch("\"active=test-region epoch=3\"");
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
    dns.set_epoch("\"active=other-region epoch=4\"");
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
    let dns = EpochDns::start("\"active=test-region epoch=1\"", Ipv4Addr::LOCALHOST).await;
    dns.set_mode(Mode::Silent);
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
    dns.set_mode(Mode::Answer);
    until_ready_is(&gw, "ready once DNS answers", 5, |s, _| s == 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_good_read_a_dns_outage_keeps_the_last_epoch_and_says_so() {
    let redis = Redis::start("127.0.0.1", free_port());
    let dns = EpochDns::start("\"active=test-region epoch=5\"", Ipv4Addr::LOCALHOST).await;
    let gw = start_fenced_gateway(&redis, dns.addr).await;
    until_ready_is(&gw, "ready", 10, |s, _| s == 200).await;

    dns.set_mode(Mode::Silent);
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
    dns.set_epoch("\"active=other-region epoch=6\"");
    dns.set_mode(Mode::Answer);
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
    let dns = EpochDns::start(
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
    dns.set_epoch("\"active=other-region epoch=2\"");
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
