//! Both HTTP/1.1 paths on raw sockets, so framing is visible: the fast path (`gateway/src/h1`, the
//! default) and hyper alone (`http1_fast_path = false`) must answer alike. Covers pipelining, a hand-off
//! to hyper in the middle of a connection, bodies that arrive after their head, refused requests whose
//! body must be skipped, conflicting lengths, forwarding headers, and pooled upstream connections the
//! upstream closed without saying so.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One response read off the wire.
#[derive(Debug)]
struct RawResp {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl RawResp {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Split a byte stream into Content-Length framed responses (what both the echo upstream and the
/// gateway's own answers use).
fn parse_all(mut b: &[u8]) -> Vec<RawResp> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let mut h = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut h);
        let n = match r.parse(b) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "bad response head {other:?}: {}",
                String::from_utf8_lossy(b)
            ),
        };
        let headers: HashMap<String, String> = r
            .headers
            .iter()
            .map(|h| {
                let v = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_ascii_lowercase(), v)
            })
            .collect();
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        out.push(RawResp {
            status: r.code.unwrap(),
            body: String::from_utf8_lossy(&b[n..n + len]).into_owned(),
            headers,
        });
        b = &b[n + len..];
    }
    out
}

/// Write `chunks` on one connection (pausing between them), then read until the gateway closes it.
async fn converse(addr: SocketAddr, chunks: &[&[u8]]) -> Vec<RawResp> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        s.write_all(c).await.unwrap();
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway should close after `Connection: close`")
        .unwrap();
    parse_all(&out)
}

fn write_apis(apps: &Path, echo: SocketAddr) {
    std::fs::write(
        apps.join("echo.json"),
        format!(r#"{{"api_id":"echo","use_keyless":true,"proxy":{{"listen_path":"/echo/","target_url":"http://{echo}","strip_listen_path":true}}}}"#),
    )
    .unwrap();
    std::fs::write(
        apps.join("keyed.json"),
        format!(r#"{{"api_id":"keyed","auth":{{"auth_header_name":"authorization"}},"proxy":{{"listen_path":"/keyed/","target_url":"http://{echo}","strip_listen_path":true}}}}"#),
    )
    .unwrap();
}

/// A gateway in front of the echo upstream, on the fast path or on hyper alone.
async fn gateway(redis: &Redis, fast: bool) -> Gateway {
    let up = start_upstream().await;
    let extra = format!("{}\nhttp1_fast_path = {fast}", standard_extra());
    start_gateway(&redis_at(redis.addr), &extra, |apps| write_apis(apps, up)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_and_a_mid_connection_hand_off_to_hyper() {
    let redis = Redis::start("127.0.0.1", free_port());
    for fast in [true, false] {
        let gw = gateway(&redis, fast).await;
        // One write: a proxied GET, the gateway's own /hello, a chunked POST (hyper's on either path),
        // and a last proxied GET.
        let r = converse(
            gw.addr,
            &[b"GET /echo/a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n\
GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\
POST /echo/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n\
GET /echo/d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
        )
        .await;
        let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 200, 200, 200], "fast={fast}: {r:?}");
        assert_eq!(r[0].json()["path"], "/a?x=1", "fast={fast}");
        assert!(r[1].json()["status"].is_string(), "fast={fast}: {:?}", r[1]);
        assert_eq!(
            (
                r[2].json()["method"].as_str(),
                r[2].json()["body_len"].as_u64()
            ),
            (Some("POST"), Some(4))
        );
        assert_eq!(r[3].json()["path"], "/d", "fast={fast}");
        for resp in &r {
            assert_eq!(
                resp.headers.get("x-tyk-dr-region").map(String::as_str),
                Some("test-region")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_bodies_refused_bodies_and_forwarding_headers() {
    let redis = Redis::start("127.0.0.1", free_port());
    for fast in [true, false] {
        let gw = gateway(&redis, fast).await;
        let r = converse(
            gw.addr,
            &[
                // Refused before its body is read: the body must be skipped, not parsed as a request.
                b"POST /keyed/x HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\nGET /echo/smuggled HTTP/1.1\r\n",
                // A body sent after its head, in two pieces.
                b"POST /echo/late HTTP/1.1\r\nHost: front.example\r\nContent-Length: 10\r\n\
Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 10.0.0.1\r\n\r\nabc",
                b"defghij",
                b"GET /echo/z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ],
        )
        .await;
        let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [401, 200, 200], "fast={fast}: {r:?}");
        let late = r[1].json();
        assert_eq!(late["body_len"], 10, "fast={fast}");
        let h = &late["headers"];
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1", "fast={fast}");
        assert_eq!(h["x-forwarded-host"], "front.example", "fast={fast}");
        assert_eq!(h["x-forwarded-proto"], "http", "fast={fast}");
        assert_eq!(h["via"], "1.1 tyk-dr-gateway", "fast={fast}");
        assert!(
            h["host"].as_str().unwrap().starts_with("127.0.0.1:"),
            "fast={fast}: {h}"
        );
        for hop in ["x-hop", "keep-alive", "connection"] {
            assert!(
                h.get(hop).is_none(),
                "fast={fast}: {hop} reached the upstream: {h}"
            );
        }
        assert_eq!(r[2].json()["path"], "/z", "fast={fast}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_lengths_and_bad_heads_get_hyper_s_400() {
    let redis = Redis::start("127.0.0.1", free_port());
    for fast in [true, false] {
        let gw = gateway(&redis, fast).await;
        let bad: [&[u8]; 3] = [
            b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
            b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: -4\r\n\r\nabcd",
            b"GET /echo/x HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        ];
        for raw in bad {
            let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
            s.write_all(raw).await.unwrap();
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            let text = String::from_utf8_lossy(&out);
            assert!(
                text.starts_with("HTTP/1.1 400"),
                "fast={fast}: {raw:?} → {text}"
            );
        }
    }
}

/// An upstream that answers the first request on each connection and closes the connection when the
/// next request arrives, without answering it: the race every keep-alive client meets when a server
/// times out an idle connection just as it is reused.
async fn start_one_shot_upstream(accepted: Arc<AtomicUsize>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                // Wait for the next request, then hang up on it.
                let _ = s.read(&mut chunk).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_connection_closed_under_a_request_is_retried_when_safe() {
    let redis = Redis::start("127.0.0.1", free_port());
    let accepted = Arc::new(AtomicUsize::new(0));
    let up = start_one_shot_upstream(accepted.clone()).await;
    let gw = start_gateway(&redis_at(redis.addr), "", |apps| {
        std::fs::write(
            apps.join("oneshot.json"),
            format!(r#"{{"api_id":"oneshot","use_keyless":true,"proxy":{{"listen_path":"/o/","target_url":"http://{up}"}}}}"#),
        )
        .unwrap();
    })
    .await;
    // GET is idempotent: each request after the first meets a hang-up on the reused connection and is
    // resent on a new one.
    for i in 0..10 {
        let r = get(&gw.url("/o/x"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"), "request {i}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
    // POST is not: the upstream may have acted on it, so the client gets a 502 rather than a replay.
    let r = call("POST", &gw.url("/o/x"), &[], "pay").await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_is_drained_so_the_client_can_finish_sending() {
    let redis = Redis::start("127.0.0.1", free_port());
    let gw = gateway(&redis, true).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let total = 100 * 1024;
    s.write_all(
        format!("POST /keyed/up HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n0123456789")
            .as_bytes(),
    )
    .await
    .unwrap();
    // The refusal arrives, then the gateway's FIN.
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // A client that sends its whole body before reading (curl, most SDKs) is still sending: those writes
    // must land, not meet a reset.
    let chunk = vec![b'x'; 10 * 1024];
    let mut sent = 10;
    while sent < total {
        let n = chunk.len().min(total - sent);
        s.write_all(&chunk[..n])
            .await
            .unwrap_or_else(|e| panic!("write at {sent} of {total}: {e}"));
        sent += n;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A tiny deterministic generator (xorshift64*): the mutation test must be reproducible, and a crate
/// for ten lines of arithmetic is not worth its build time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_get_an_answer_or_a_close_and_never_a_hang() {
    let redis = Redis::start("127.0.0.1", free_port());
    let gw = gateway(&redis, true).await;
    let seeds: [&[u8]; 5] = [
        b"GET /echo/a?q=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
        b"POST /echo/b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /keyed/c HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n",
        b"GET /echo/d HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/e HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ];
    let interesting = b"\r\n: 0-9;,\x00\xff\t";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let mut req = seeds[rng.below(seeds.len())].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(req.len());
            match rng.below(4) {
                0 => req[at] = interesting[rng.below(interesting.len())],
                1 => req.insert(at, interesting[rng.below(interesting.len())]),
                2 => {
                    req.remove(at);
                }
                _ => req[at] = rng.next() as u8,
            }
        }
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let _ = s.write_all(&req).await;
        let _ = s.shutdown().await; // what is missing now will never come
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let shown = String::from_utf8_lossy(&req);
        assert!(
            read.is_ok(),
            "case {case}: no answer and no close for {shown:?}"
        );
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 "),
            "case {case}: {shown:?} → {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    assert_eq!(get(&gw.url("/hello"), &[]).await.status, 200);
    assert_eq!(get(&gw.url("/echo/alive"), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_dribbling_clients_are_closed_active_ones_are_not() {
    let redis = Redis::start("127.0.0.1", free_port());
    for fast in [true, false] {
        let up = start_upstream().await;
        let extra = format!("http1_fast_path = {fast}\nclient_idle_timeout_ms = 300");
        let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| write_apis(apps, up)).await;
        // Silent, and a head dribbled one byte every 50 ms: both closed within a few periods.
        let head = b"GET /echo/slow-loris HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for dribble in [false, true] {
            let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
            let opened = std::time::Instant::now();
            let closed = async {
                let mut byte = [0u8; 1];
                for b in head.iter().cycle() {
                    if dribble && s.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    match tokio::time::timeout(Duration::from_millis(50), s.read(&mut byte)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return,
                        _ => {}
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(3), closed)
                .await
                .unwrap_or_else(|_| panic!("fast={fast} dribble={dribble}: still open after 3 s"));
            assert!(
                opened.elapsed() >= Duration::from_millis(250),
                "fast={fast}: closed too early"
            );
        }
        // A connection that keeps completing requests stays open across several periods.
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        for i in 0..8 {
            s.write_all(b"GET /echo/ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"}") {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "fast={fast}: closed while active, request {i}");
                got.extend_from_slice(&chunk[..n]);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_size_limit_is_the_same_on_both_paths() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let mut by_path = Vec::new();
    for fast in [true, false] {
        let extra = format!(
            "{}\nhttp1_fast_path = {fast}\nmax_header_bytes = 8192",
            standard_extra()
        );
        let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| write_apis(apps, up)).await;
        let mut statuses = Vec::new();
        for size in [4000, 8100, 8191, 8192, 8193, 8300, 12000, 40000] {
            let start = b"GET /echo/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
            let pad = size - start.len() - 4;
            let mut req = start.to_vec();
            req.extend(std::iter::repeat_n(b'a', pad));
            req.extend_from_slice(b"\r\n\r\n");
            assert_eq!(req.len(), size);
            let r = converse(gw.addr, &[&req]).await;
            statuses.push((size, r.first().map_or(0, |r| r.status)));
        }
        by_path.push(statuses);
    }
    eprintln!("head sizes → statuses: {by_path:?}");
    assert_eq!(by_path[0], by_path[1], "fast path vs hyper");
    // Within the limit served, beyond it 431.
    assert!(
        by_path[0]
            .iter()
            .all(|&(size, status)| (size <= 8192) == (status == 200)
                && (size <= 8192 || status == 431)),
        "{:?}",
        by_path[0]
    );
}
