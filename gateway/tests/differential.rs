//! Differential security test of both HTTP/1.1 paths (the fast path and hyper alone) against a
//! recording upstream that reads requests the way a *lenient* server does: header names with `_` folded
//! into `-` (CGI style), `Transfer-Encoding` before `Content-Length`, bare LF line ends, paths fully
//! percent-decoded with dot segments, `;` parameters and case removed.
//!
//! For every payload, sent on its own connection to each gateway, the test fails when:
//! - the upstream parsed a request whose answer the client never received (a request smuggled past
//!   the gateway, or an answer delivered to someone else);
//! - the upstream received a target the gateway must not have admitted: any `/KEYED` path (no test
//!   sends a valid key), a `/LISTS` path outside the keyless `^/public` endpoint, a `/BL` path with
//!   `/admin` (black-listed), a path outside the four APIs, or a path not in normal form;
//! - a client received an answer meant for another case, or one an upstream injected.
//!
//! The corpus: every case the security review reproduced, then seeded mutations of valid requests
//! (and, in the second test, of upstream responses): a few thousand cases in all.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request the recording upstream parsed.
#[derive(Debug, Clone)]
struct Record {
    seq: u64,
    target: String,
    case: Option<String>,
}

/// How the upstream answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `200`, `X-Up-Seq`, the target as the body.
    Echo,
    /// `/open/r<k>` gets [`evil_response`] `k`; anything else as `Echo`.
    Evil,
}

struct Upstream {
    addr: SocketAddr,
    seq: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Record>>>,
}

impl Upstream {
    fn since(&self, seq: u64) -> Vec<Record> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.seq >= seq)
            .cloned()
            .collect()
    }
}

async fn start_recording_upstream(mode: Mode) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = Upstream {
        addr: listener.local_addr().unwrap(),
        seq: Arc::new(AtomicU64::new(1)),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    let (seq, log) = (up.seq.clone(), up.log.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_lenient(s, mode, seq.clone(), log.clone()));
        }
    });
    up
}

/// `(head length, body length, target, X-Case)` of a request a lenient server read.
type Parsed = (usize, usize, String, Option<String>);

/// Lenient request framing: the request at the start of `buf`, or `None` while incomplete; `Err` for
/// what even a lenient server refuses.
fn lenient_request(buf: &[u8]) -> Result<Option<Parsed>, ()> {
    let mut h = [httparse::EMPTY_HEADER; 128];
    let mut r = httparse::Request::new(&mut h);
    let n = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let get = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.replace('_', "-").eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let target = r.path.unwrap_or("").to_string();
    let case = get("x-case");
    let body = &buf[n..];
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        // Chunked, read leniently: a size line ends at LF, extensions ignored, trailers end at a blank line.
        let mut i = 0;
        loop {
            let Some(lf) = body[i..].iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line = String::from_utf8_lossy(&body[i..i + lf]);
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| ())?;
            i += lf + 1;
            if size == 0 {
                loop {
                    let Some(lf) = body[i..].iter().position(|&b| b == b'\n') else {
                        return Ok(None);
                    };
                    let blank = body[i..i + lf].iter().all(|&b| b == b'\r');
                    i += lf + 1;
                    if blank {
                        return Ok(Some((n, i, target, case)));
                    }
                }
            }
            if body.len() < i + size {
                return Ok(None);
            }
            i += size;
            while i < body.len() && matches!(body[i], b'\r' | b'\n') {
                i += 1;
                if body.get(i - 1) == Some(&b'\n') {
                    break;
                }
            }
        }
    }
    let len = match get("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| ())?,
        None => 0,
    };
    if body.len() < len {
        return Ok(None);
    }
    Ok(Some((n, len, target, case)))
}

async fn serve_lenient(
    mut s: TcpStream,
    mode: Mode,
    seq: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Record>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        loop {
            match lenient_request(&buf) {
                Ok(None) => break,
                Err(()) => {
                    let _ = s
                        .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                Ok(Some((head, body, target, case))) => {
                    buf.drain(..head + body);
                    let n = seq.fetch_add(1, Ordering::SeqCst);
                    log.lock().unwrap().push(Record {
                        seq: n,
                        target: target.clone(),
                        case,
                    });
                    let evil = target
                        .strip_prefix("/OPEN/r")
                        .and_then(|k| k.parse::<usize>().ok())
                        .filter(|_| mode == Mode::Evil);
                    match evil {
                        Some(k) => {
                            let (now, later) = evil_response(k, n);
                            if s.write_all(&now).await.is_err() {
                                return;
                            }
                            if !later.is_empty() {
                                tokio::time::sleep(Duration::from_millis(30)).await;
                                let _ = s.write_all(&later).await;
                            }
                        }
                        None => {
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nX-Up-Seq: {n}\r\nContent-Length: {}\r\n\r\n{target}",
                                target.len()
                            );
                            if s.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// A response an upstream may inject: a client that ever parses it was walked past.
const INJECTED: &str = "HTTP/1.1 200 OK\r\nX-Injected: 1\r\nContent-Length: 0\r\n\r\n";

/// Number of hand-written hostile responses.
const EVIL: usize = 14;

/// Hostile response `k` to request `seq`: what is sent at once, and what is sent 30 ms later.
fn evil_response(k: usize, seq: u64) -> (Vec<u8>, Vec<u8>) {
    let ok = format!("HTTP/1.1 200 OK\r\nX-Up-Seq: {seq}\r\n");
    let now = match k {
        // A bare LF inside a chunk extension; a lenient client ends the size line there.
        0 => format!("{ok}Transfer-Encoding: chunked\r\n\r\n2;x=\n{}\r\nok\r\n0\r\n\r\n", INJECTED.len()),
        // Trailers ending at `\n\r\n`, then a whole response.
        1 => format!("{ok}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\n\r\n{INJECTED}"),
        // `Connection: Content-Length`: the framing must survive.
        2 => format!("{ok}Connection: Content-Length\r\nContent-Length: {}\r\n\r\n{INJECTED}", INJECTED.len()),
        // Framed two ways.
        3 => format!("{ok}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{INJECTED}\r\n0\r\n\r\n", INJECTED.len()),
        // A body on a 204.
        4 => format!("HTTP/1.1 204 No Content\r\nX-Up-Seq: {seq}\r\nContent-Length: {}\r\n\r\n{INJECTED}", INJECTED.len()),
        // More bytes than Content-Length says.
        5 => format!("{ok}Content-Length: 2\r\n\r\nok{INJECTED}"),
        // A complete response, then more later (late bytes on a pooled connection).
        6 => format!("{ok}Content-Length: 2\r\n\r\nok"),
        // An upgrade nobody asked for.
        7 => format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\n{INJECTED}"),
        // Conflicting lengths.
        8 => format!("{ok}Content-Length: 2\r\nContent-Length: {}\r\n\r\nok{INJECTED}", 2 + INJECTED.len()),
        // Bare LF line ends (legal to read, must stay one response).
        9 => format!("HTTP/1.1 200 OK\nX-Up-Seq: {seq}\nContent-Length: 2\n\nok"),
        // An underscore spelling of Content-Length beside the real one.
        10 => format!("{ok}Content_Length: 0\r\nContent-Length: {}\r\n\r\n{INJECTED}", INJECTED.len()),
        // A chunk size line with no size.
        11 => format!("{ok}Transfer-Encoding: chunked\r\n\r\n;x\r\n{INJECTED}0\r\n\r\n"),
        // Obs-fold in trailers.
        12 => format!("{ok}Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n {INJECTED}\r\n\r\n"),
        // A 100 Continue carrying a length.
        _ => format!("HTTP/1.1 100 Continue\r\nContent-Length: {}\r\n\r\n{INJECTED}{ok}Content-Length: 0\r\n\r\n", INJECTED.len()),
    };
    let later = if k == 6 { INJECTED.into() } else { Vec::new() };
    (now.into_bytes(), later)
}

/// One response as a lenient client reads it.
#[derive(Debug)]
struct Seen {
    status: u16,
    seq: Option<u64>,
    injected: bool,
}

/// Read responses leniently (bare LF, chunked sizes ending at LF, until close without framing).
fn lenient_responses(mut b: &[u8], head_request: bool) -> Vec<Seen> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let mut h = [httparse::EMPTY_HEADER; 128];
        let mut r = httparse::Response::new(&mut h);
        let n = match r.parse(b) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => break,
        };
        let get = |name: &str| {
            r.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        let status = r.code.unwrap_or(0);
        out.push(Seen {
            status,
            seq: get("x-up-seq").and_then(|v| v.parse().ok()),
            injected: get("x-injected").is_some(),
        });
        let body = &b[n..];
        let len = if head_request || status == 204 || status == 304 || status < 200 {
            0
        } else if get("transfer-encoding").is_some() {
            let mut i = 0;
            loop {
                let Some(lf) = body[i..].iter().position(|&c| c == b'\n') else {
                    break body.len();
                };
                let size = String::from_utf8_lossy(&body[i..i + lf]);
                let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16);
                i += lf + 1;
                match size {
                    Ok(0) => {
                        while let Some(lf) = body[i..].iter().position(|&c| c == b'\n') {
                            let blank = body[i..i + lf].iter().all(|&c| c == b'\r');
                            i += lf + 1;
                            if blank {
                                break;
                            }
                        }
                        break i.min(body.len());
                    }
                    Ok(s) => i = (i + s + 2).min(body.len()),
                    Err(_) => break body.len(),
                }
            }
        } else {
            get("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(body.len())
                .min(body.len())
        };
        b = &body[len..];
    }
    out
}

fn write_apis(apps: &Path, up: SocketAddr) {
    let api = |id: &str, keyless: bool, listen: &str, base: &str, extra: &str| {
        std::fs::write(
            apps.join(format!("{id}.json")),
            format!(
                r#"{{"api_id":"{id}","use_keyless":{keyless},"auth":{{"auth_header_name":"authorization"}},
                "proxy":{{"listen_path":"{listen}","target_url":"http://{up}{base}","strip_listen_path":true}}{extra}}}"#
            ),
        )
        .unwrap();
    };
    let lists = |list: &str, path: &str| {
        format!(
            r#","version_data":{{"not_versioned":true,"versions":{{"Default":{{"name":"Default","use_extended_paths":true,
            "ignore_endpoint_case":true,"extended_paths":{{"{list}":[{{"path":"{path}","method":""}}]}}}}}}}}"#
        )
    };
    api("open", true, "/open/", "/OPEN", "");
    api("keyed", false, "/keyed/", "/KEYED", "");
    api(
        "lists",
        false,
        "/lists/",
        "/LISTS",
        &lists("ignored", "^/public"),
    );
    api("bl", true, "/bl/", "/BL", &lists("black_list", "/admin"));
}

/// How a lenient upstream reads a path: fully decoded, `\` as `/`, `;` parameters, dot segments,
/// repeated slashes and case removed.
fn lenient_path(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let b = path.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut dec = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                dec.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        dec.push(if b[i] == b'\\' { b'/' } else { b[i] });
        i += 1;
    }
    let dec = String::from_utf8_lossy(&dec).to_ascii_lowercase();
    let mut segs: Vec<&str> = Vec::new();
    for seg in dec.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

/// The gateway's promise for forwarded paths, checked independently of its code: no empty, `.` or
/// `..` segment (nor `..;x`), no `\`, `#` or byte outside RFC 3986's path characters, and every `%`
/// an upper-case encoding of a character that is not unreserved.
fn is_normal(path: &str) -> bool {
    let segs_ok = path.split('/').skip(1).enumerate().all(|(i, seg)| {
        let bare = seg.split(';').next().unwrap_or("");
        (!seg.is_empty() || i == path.split('/').count() - 2) && bare != "." && bare != ".."
    });
    let b = path.as_bytes();
    let chars_ok = b.iter().enumerate().all(|(i, &c)| match c {
        b'%' => match (b.get(i + 1), b.get(i + 2)) {
            (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let up = |x: u8| x.is_ascii_digit() || x.is_ascii_uppercase();
                let v = u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap_or(0);
                up(h) && up(l) && !(v.is_ascii_alphanumeric() || b"-._~".contains(&v))
            }
            _ => false,
        },
        _ => c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c),
    });
    path.starts_with('/') && segs_ok && chars_ok
}

/// Why the upstream must never have received `target`, if it must not.
fn forbidden(target: &str) -> Option<&'static str> {
    let path = target.split('?').next().unwrap_or("");
    if !is_normal(path) {
        return Some("a path not in normal form reached the upstream");
    }
    let p = lenient_path(target);
    let under = |base: &str| p == base || p.starts_with(&format!("{base}/"));
    if under("/keyed") {
        Some("auth bypassed: a keyed API's path reached the upstream without a key")
    } else if under("/lists") && !p.starts_with("/lists/public") {
        Some("auth bypassed: a keyed path outside the ignored endpoint reached the upstream")
    } else if under("/bl") && p.contains("/admin") {
        Some("black list bypassed: /admin reached the upstream")
    } else if !(under("/open") || under("/bl") || under("/lists")) {
        Some("a target outside every API reached the upstream")
    } else {
        None
    }
}

/// Send `payload` on one connection (then half-close) and read everything the gateway answers.
async fn exchange(gw: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(gw).await.unwrap();
    let _ = s.write_all(payload).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    out
}

/// Which upstream answers reached which client, across cases (an answer to a request is checked
/// after every case has run, so a request parsed late is still charged to the case that sent it).
#[derive(Default)]
struct Ledger {
    /// Upstream request seq → the case whose client got its answer.
    delivered: std::collections::HashMap<u64, String>,
    /// `(first upstream seq, case)` for each run, in order.
    runs: Vec<(u64, String)>,
}

impl Ledger {
    /// Every upstream request whose answer no client got: smuggled past the gateway, or swallowed.
    fn undelivered(&self, up: &Upstream) -> Vec<String> {
        up.since(0)
            .into_iter()
            .filter(|r| !self.delivered.contains_key(&r.seq))
            .map(|r| {
                let i = self.runs.partition_point(|(s, _)| *s <= r.seq);
                let during = i.checked_sub(1).map_or("?", |i| self.runs[i].1.as_str());
                format!(
                    "the upstream parsed {:?} (sent as case {:?}, while case {during:?} ran) but no client got its answer",
                    r.target, r.case
                )
            })
            .collect()
    }
}

/// Run `payload` as case `id` through `gw`; every violation seen at once, as text.
async fn check_case(
    up: &Upstream,
    gw: SocketAddr,
    id: &str,
    payload: &[u8],
    ledger: &mut Ledger,
) -> Vec<String> {
    let start = up.seq.load(Ordering::SeqCst);
    ledger.runs.push((start, id.to_string()));
    let head_request = payload.starts_with(b"HEAD ");
    let answers = lenient_responses(&exchange(gw, payload).await, head_request);
    let records = up.since(start);
    let mut bad = Vec::new();
    for r in &records {
        if let Some(why) = forbidden(&r.target) {
            bad.push(format!("{why}: {:?}", r.target));
        }
    }
    for a in &answers {
        if a.injected {
            bad.push(format!(
                "an injected response reached the client ({})",
                a.status
            ));
        }
        if let Some(seq) = a.seq {
            ledger.delivered.insert(seq, id.to_string());
            if !records.iter().any(|r| r.seq == seq) {
                bad.push(format!(
                    "the client got the answer to upstream request #{seq}, not its own"
                ));
            }
        }
    }
    bad
}

// === the corpus ===

const SMUGGLED: &str = "GET /keyed/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n";

/// The cases the security review reproduced (and neighbours), by name.
fn known_cases() -> Vec<(String, Vec<u8>)> {
    let s = SMUGGLED.len();
    let mut v: Vec<(String, String)> = Vec::new();
    for conn in [
        "Content-Length",
        "keep-alive, content-length",
        "close, Content-Length",
        "Host",
        "Transfer-Encoding",
    ] {
        v.push((
            format!("Connection: {conn}"),
            format!("POST /open/x HTTP/1.1\r\nHost: gw\r\nX-Case: {{id}}\r\nConnection: {conn}\r\nContent-Length: {s}\r\n\r\n{SMUGGLED}"),
        ));
    }
    v.push((
        "X-Forwarded-For line merge".into(),
        format!("POST /open/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 1.2.3.4\r\nX-Case: {{id}}\r\nContent-Length: {s}\r\n\r\n{SMUGGLED}"),
    ));
    v.push((
        "X-Forwarded-For then Content_Length".into(),
        format!("POST /open/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 1.2.3.4\r\nContent_Length: 0\r\nX-Case: {{id}}\r\nContent-Length: {s}\r\n\r\n{SMUGGLED}"),
    ));
    v.push((
        "Transfer_Encoding beside Content-Length".into(),
        format!("POST /open/x HTTP/1.1\r\nHost: gw\r\nX-Case: {{id}}\r\nTransfer_Encoding: chunked\r\nContent-Length: {}\r\n\r\n0\r\n\r\n{SMUGGLED}", s + 5),
    ));
    for path in [
        "/lists/secret#/public",
        "/bl/admin#x",
        "/lists/public/../secret",
        "/lists/public/%2e%2e/secret",
        "/lists/public/..;/secret",
        "/lists/public%2F..%2Fsecret",
        "/lists/public\\..\\secret",
        "/bl/%61dmin",
        "/bl/./admin",
        "/bl//admin",
        "/bl/Admin",
        "/bl/x/%2e/admin",
        "/open/../keyed/x",
        "/open/%2e%2e/keyed/x",
        "/open/..%2fkeyed/x",
        "/open/<script>",
        "/open/a\"b`c",
        "/open/x?a=<b>",
        "//keyed/x",
        "/keyed/../open/x",
    ] {
        v.push((
            format!("path {path}"),
            format!("GET {path} HTTP/1.1\r\nHost: gw\r\nX-Case: {{id}}\r\n\r\n"),
        ));
    }
    v.push((
        "CONNECT".into(),
        "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-Case: {id}\r\n\r\n".into(),
    ));
    v.push((
        "absolute-form to a keyed path".into(),
        "GET http://gw/keyed/x HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\n\r\n".into(),
    ));
    v.push((
        "large head".into(),
        format!(
            "GET /open/x HTTP/1.1\r\nHost: gw\r\nX-Case: {{id}}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        ),
    ));
    v.into_iter()
        .map(|(name, p)| (name.clone(), p.replace("{id}", &name).into_bytes()))
        .collect()
}

/// Valid requests the mutations start from.
fn seeds(id: &str) -> Vec<String> {
    vec![
        format!("GET /open/a?x=1 HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\n\r\n"),
        format!("POST /open/b HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\nContent-Length: 4\r\n\r\nbody"),
        format!("POST /bl/c HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"),
        format!("GET /lists/public/d HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n"),
        format!("GET /open/e HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\nConnection: keep-alive\r\n\r\nGET /open/f HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\n\r\n"),
    ]
}

const HEADERS: &[&str] = &[
    "Connection: Content-Length",
    "Connection: Transfer-Encoding",
    "Connection: close, X-Case",
    "Connection: Host",
    "Content-Length: 0",
    "Content-Length: 44",
    "Content_Length: 44",
    "Content-Length : 44",
    " Content-Length: 44",
    "Transfer-Encoding: chunked",
    "Transfer_Encoding: chunked",
    "Transfer-Encoding: identity",
    "Transfer-Encoding: chunked, identity",
    "X-Forwarded-For: 1.1.1.1",
    "X_Forwarded_For: 1.1.1.1",
    "Host: other",
    "Expect: 100-continue",
    "Upgrade: h2c",
    "Connection: Upgrade",
    "TE: trailers",
    "Keep-Alive: timeout=5",
];

const PATH_BITS: &[&str] = &[
    "/", "..", ".", "%2e", "%2E%2e", "%2f", "%5c", "\\", ";", "..;", "admin", "Admin", "%61dmin",
    "public", "secret", "#", "?", "%", "%00", "//", "keyed", "open", "lists", "bl", "x",
];

fn mutate(rng: &mut fastrand::Rng, seed: &str) -> Vec<u8> {
    let mut p = seed.to_string();
    for _ in 0..rng.usize(1..=3) {
        match rng.usize(0..9) {
            0 | 1 => {
                // Insert a header line after the request line.
                let at = p.find("\r\n").map_or(0, |i| i + 2);
                p.insert_str(at, &format!("{}\r\n", HEADERS[rng.usize(..HEADERS.len())]));
            }
            2 => {
                // A new path built from tricky pieces, under one of the listen paths.
                let mut path =
                    ["/open/", "/lists/", "/bl/", "/keyed/", "/"][rng.usize(..5)].to_string();
                for _ in 0..rng.usize(1..6) {
                    path.push_str(PATH_BITS[rng.usize(..PATH_BITS.len())]);
                    if rng.bool() {
                        path.push('/');
                    }
                }
                if let (Some(a), Some(b)) = (p.find(' '), p.find(" HTTP/1.1")) {
                    if a < b {
                        p.replace_range(a + 1..b, &path);
                    }
                }
            }
            3 => p.push_str(SMUGGLED),
            4 => {
                // A CRLF becomes a bare LF or a bare CR.
                let ends: Vec<usize> = p.match_indices("\r\n").map(|(i, _)| i).collect();
                if !ends.is_empty() {
                    let i = ends[rng.usize(..ends.len())];
                    p.replace_range(i..i + 2, if rng.bool() { "\n" } else { "\r" });
                }
            }
            5 => {
                // Duplicate a header line.
                let lines: Vec<&str> = p.split("\r\n").collect();
                if lines.len() > 2 {
                    let l = lines[rng.usize(1..lines.len() - 1)].to_string();
                    let at = p.find("\r\n").map_or(0, |i| i + 2);
                    p.insert_str(at, &format!("{l}\r\n"));
                }
            }
            6 => {
                // A stray byte somewhere.
                let bytes = ["\r", "\n", " ", "\t", ":", ";", ",", "%", "#", "\0", "_"];
                let mut at = rng.usize(0..=p.len());
                while !p.is_char_boundary(at) {
                    at -= 1;
                }
                p.insert_str(at, bytes[rng.usize(..bytes.len())]);
            }
            7 => {
                // The body smuggles a request behind a Content-Length the gateway might drop.
                p = format!(
                    "POST /open/s HTTP/1.1\r\nHost: gw\r\n{}\r\nContent-Length: {}\r\n\r\n{SMUGGLED}",
                    HEADERS[rng.usize(..HEADERS.len())],
                    SMUGGLED.len()
                );
            }
            _ => {
                // Truncate.
                let mut at = rng.usize(p.len() / 2..=p.len());
                while !p.is_char_boundary(at) {
                    at -= 1;
                }
                p.truncate(at);
            }
        }
    }
    p.into_bytes()
}

async fn gateways(redis: &Redis, up: SocketAddr) -> Vec<(&'static str, Gateway)> {
    let mut v = Vec::new();
    for (name, fast) in [("fast path", true), ("hyper", false)] {
        let extra = format!("{}\nhttp1_fast_path = {fast}", standard_extra());
        v.push((
            name,
            start_gateway(&redis_at(redis.addr), &extra, |apps| write_apis(apps, up)).await,
        ));
    }
    v
}

fn report(failures: &[String], cases: usize) {
    assert!(
        failures.is_empty(),
        "{} violation(s) over {cases} case runs; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_passes_the_gateway_unadmitted() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_recording_upstream(Mode::Echo).await;
    let gws = gateways(&redis, up.addr).await;
    let mut corpus = known_cases();
    let mut rng = fastrand::Rng::with_seed(13);
    for i in 0..1500 {
        let id = format!("gen-{i}");
        let seeds = seeds(&id);
        let seed = &seeds[rng.usize(..seeds.len())];
        corpus.push((id, mutate(&mut rng, seed)));
    }
    let mut failures = Vec::new();
    let mut ledger = Ledger::default();
    let mut runs = 0;
    for (name, payload) in &corpus {
        for (path, gw) in &gws {
            runs += 1;
            for v in check_case(
                &up,
                gw.addr,
                &format!("{path}: {name}"),
                payload,
                &mut ledger,
            )
            .await
            {
                failures.push(format!(
                    "[{path}] {name}: {v}\n    payload: {:?}",
                    String::from_utf8_lossy(payload)
                ));
            }
        }
    }
    failures.extend(ledger.undelivered(&up));
    // The corpus must exercise the upstream, or it checks nothing.
    let forwarded = up.seq.load(Ordering::SeqCst) - 1;
    assert!(
        forwarded > corpus.len() as u64 / 2,
        "only {forwarded} requests reached the upstream"
    );
    report(&failures, runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_upstream_response_is_misframed_to_a_client() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_recording_upstream(Mode::Evil).await;
    let gws = gateways(&redis, up.addr).await;
    let mut failures = Vec::new();
    let mut runs = 0;
    for round in 0..20 {
        for k in 0..EVIL {
            for (path, gw) in &gws {
                runs += 1;
                let id = format!("evil-{k}-{round}");
                // The hostile answer, then an ordinary request on the same connection (pipelined, except
                // after the late-bytes answer: bytes that arrive after a request went out are
                // indistinguishable from its answer, for any HTTP/1 proxy), then another client on a
                // fresh connection (it may get the pooled upstream connection).
                let start = up.seq.load(Ordering::SeqCst);
                let hostile =
                    format!("GET /open/r{k} HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\n\r\n");
                let next = format!("GET /open/next HTTP/1.1\r\nHost: gw\r\nX-Case: {id}\r\n\r\n");
                let seen = if k == 6 {
                    let mut s =
                        lenient_responses(&exchange(gw.addr, hostile.as_bytes()).await, false);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    s.extend(lenient_responses(
                        &exchange(gw.addr, next.as_bytes()).await,
                        false,
                    ));
                    s
                } else {
                    let out = exchange(gw.addr, format!("{hostile}{next}").as_bytes()).await;
                    lenient_responses(&out, false)
                };
                let forwarded_next = up
                    .since(start)
                    .into_iter()
                    .find(|r| r.target == "/OPEN/next");
                // The hostile answer is the upstream's to give (it may even be the "injected" text); what
                // must never happen is an extra response, or the next request getting anything but its own.
                if seen.len() > 2 || seen.iter().skip(1).any(|s| s.injected) {
                    failures.push(format!(
                        "[{path}] hostile response {k}: the client read {seen:?}"
                    ));
                }
                if let Some(r) = forwarded_next {
                    if seen.len() != 2 || seen[1].seq != Some(r.seq) {
                        failures.push(format!(
                            "[{path}] hostile response {k}: the next request got something else than its answer: {seen:?}"
                        ));
                    }
                }
                let second =
                    format!("GET /open/after HTTP/1.1\r\nHost: gw\r\nX-Case: {id}-b\r\n\r\n");
                for v in
                    check_case(&up, gw.addr, &id, second.as_bytes(), &mut Ledger::default()).await
                {
                    failures.push(format!("[{path}] after hostile response {k}: {v}"));
                }
            }
        }
    }
    report(&failures, runs);
}
