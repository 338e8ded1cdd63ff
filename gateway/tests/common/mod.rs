//! Test harness: real redis-server, a hyper echo upstream, a tiny DNS server and the real gateway binary.
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `f` until it returns Some, at most `timeout` (checked every 50 ms).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    for _ in 0..10_000 {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

// === redis ===

pub struct Redis {
    pub child: Child,
    pub addr: SocketAddr,
}

/// A `redis-server` without persistence, with `args` (bind, ports, TLS, users) added.
pub fn spawn_redis<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Child {
    let bin = which("redis-server").unwrap_or_else(|| {
        panic!("redis-server is not on PATH: install it (apt-get install -y redis-server) to run these tests")
    });
    Command::new(bin)
        .args(["--save", "", "--appendonly", "no"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server")
}

impl Redis {
    pub fn start(ip: &str, port: u16) -> Redis {
        let child = spawn_redis(["--bind", ip, "--port", &port.to_string()]);
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, addr }
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn set(&self, key: &str, value: &str) {
        let mut c = self.conn();
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query::<()>(&mut c)
            .unwrap();
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let mut c = self.conn();
        redis::cmd("GET").arg(key).query(&mut c).unwrap()
    }

    /// Store `session` (JSON) for `token` under its hashed name, as Tyk does (`apikey-{hash}`).
    pub fn put_key(&self, token: &str, session: &str) {
        self.set(&format!("apikey-{}", tyk_model::hash_token(token)), session);
    }

    /// The TTL of `key` in seconds (-1 without one, -2 when missing).
    pub fn ttl(&self, key: &str) -> i64 {
        let mut c = self.conn();
        redis::cmd("TTL").arg(key).query(&mut c).unwrap()
    }

    pub fn conn_del(&self, key: &str) {
        let mut c = self.conn();
        redis::cmd("DEL").arg(key).query::<()>(&mut c).unwrap();
    }

    pub fn publish(&self, channel: &str, msg: &str) -> i64 {
        let mut c = self.conn();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(msg)
            .query(&mut c)
            .unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

// === upstream ===

/// An echo upstream: answers JSON {method, path, headers}.
pub async fn start_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let headers: HashMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    if req.uri().path().contains("slow") {
                        tokio::time::sleep(Duration::from_millis(700)).await;
                    }
                    let method = req.method().to_string();
                    let path = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let v = serde_json::json!({"method": method, "path": path, "headers": headers, "body_len": body.len()});
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        v.to_string(),
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

// === dns ===

/// A DNS server answering every A query with the current IP and TXT queries for the names in `txt`
/// (TTL 1 s; other TXT names: NXDOMAIN). `silent` makes it drop every query (DNS unreachable: resolvers
/// time out).
pub struct Dns {
    pub addr: SocketAddr,
    pub ip: Arc<Mutex<Ipv4Addr>>,
    pub txt: Arc<Mutex<HashMap<String, String>>>,
    pub silent: Arc<std::sync::atomic::AtomicBool>,
}

impl Dns {
    /// Answer TXT queries for `name` with `value` (one string).
    pub fn set_txt(&self, name: &str, value: &str) {
        self.txt
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    /// Drop every query (`true`) or answer again (`false`).
    pub fn set_silent(&self, silent: bool) {
        self.silent
            .store(silent, std::sync::atomic::Ordering::SeqCst);
    }
}

pub async fn start_dns(ip: Ipv4Addr) -> Dns {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{rdata::A, rdata::TXT, RData, Record, RecordType};
    use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dns = Dns {
        addr: sock.local_addr().unwrap(),
        ip: Arc::new(Mutex::new(ip)),
        txt: Arc::default(),
        silent: Arc::default(),
    };
    let (cur, txt, silent) = (dns.ip.clone(), dns.txt.clone(), dns.silent.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((len, src)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            if silent.load(std::sync::atomic::Ordering::SeqCst) {
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
                let rdata = match query.query_type() {
                    RecordType::A => Some(RData::A(A(*cur.lock().unwrap()))),
                    RecordType::TXT => {
                        let name = query.name().to_ascii();
                        let value = txt.lock().unwrap().get(name.trim_end_matches('.')).cloned();
                        if value.is_none() {
                            resp.set_response_code(ResponseCode::NXDomain);
                        }
                        value.map(|v| RData::TXT(TXT::new(vec![v])))
                    }
                    _ => None,
                };
                if let Some(r) = rdata {
                    resp.add_answer(Record::from_rdata(query.name().clone(), 1, r));
                }
            }
            if let Ok(bytes) = resp.to_bytes() {
                let _ = sock.send_to(&bytes, src).await;
            }
        }
    });
    dns
}

// === gateway ===

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Gateway {
    pub fn app_path(&self) -> PathBuf {
        self.dir.path().join("apps")
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    /// Everything the gateway logged so far (debug level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log goes to a file (tests read it); show it when the test failed.
        if std::thread::panicking() {
            eprintln!("--- gateway log ({}) ---\n{}", self.addr, self.log());
        }
    }
}

pub const SECRET: &str = "mgmt-secret";
pub const NODE_SECRET: &str = "node-secret";

/// Copy the Tyk fixtures, pointing them at `upstream`.
pub fn write_fixture_apps(dir: &Path, upstream: SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tyk-model/tests/fixtures");
    for name in ["app_sample.json", "quickstart.json"] {
        let text = std::fs::read_to_string(fixtures.join(name)).unwrap();
        let text = text
            .replace("http://127.0.0.1/", &format!("http://{upstream}/"))
            .replace("http://httpbin.org/", &format!("http://{upstream}/"));
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Start the gateway binary with `redis_section` and extra top-level TOML, apps from `setup`.
pub async fn start_gateway(redis_section: &str, extra: &str, setup: impl FnOnce(&Path)) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    setup(&apps);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = format!(
        "listen = \"{addr}\"\nregion = \"test-region\"\napp_path = \"{}\"\n{extra}\n\
         [cache]\nsession_ttl_ms = 200\nstale_max_age_secs = 60\n\
         [limits]\nsync_interval_ms = 50\n\
         [redis]\n{redis_section}\nhealth_interval_ms = 200\nconnect_timeout_ms = 500\ncommand_timeout_ms = 500\n",
        apps.display()
    );
    let cfg_path = dir.path().join("gateway.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tyk-dr-gateway"))
        .arg("--config")
        .arg(&cfg_path)
        .env("TYK_GW_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .spawn()
        .expect("spawn gateway");
    let gw = Gateway { child, addr, dir };
    eventually("gateway to listen", Duration::from_secs(15), || async {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    })
    .await;
    gw
}

pub fn redis_at(addr: SocketAddr) -> String {
    format!("host = \"{}\"\nport = {}", addr.ip(), addr.port())
}

pub fn standard_extra() -> String {
    format!("secret = \"{SECRET}\"\nnode_secret = \"{NODE_SECRET}\"")
}

// === http client ===

pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut b = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    call("GET", url, headers, "").await
}

pub fn admin() -> [(&'static str, &'static str); 1] {
    [("x-tyk-authorization", SECRET)]
}

/// The gateway's Prometheus metrics text.
pub async fn metrics(gw: &Gateway) -> String {
    get(&gw.url("/metrics"), &[]).await.body
}

/// The `api_id`s the management API lists, sorted.
pub async fn loaded_api_ids(gw: &Gateway) -> Vec<String> {
    let apis = get(&gw.url("/tyk/apis"), &admin()).await.json();
    let mut ids: Vec<String> = apis
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["api_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}
