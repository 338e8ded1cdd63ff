//! Test harness: a real `moto_server`, the DNS server in-process, a real DNS client, and a
//! tiny HTTP health check target.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::op::Message;
use hickory_client::proto::rr::{DNSClass, Name, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::tcp::TcpClientStream;
use hickory_client::proto::udp::UdpClientStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tyk_dr_aws::route53::Route53;

/// Where the venv from `scripts/dev setup` puts moto_server.
const VENV_MOTO: &str = "/var/tmp/tyk-dr-venv/bin/moto_server";

/// Finds moto_server (venv first, then PATH) or panics with the fix.
pub fn moto_path() -> PathBuf {
    let venv = PathBuf::from(VENV_MOTO);
    if venv.is_file() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "moto_server not found (looked at {VENV_MOTO} and on PATH): these tests need the AWS \
         emulator. Run `scripts/dev setup` to install it into the venv, or put moto_server on PATH."
    );
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A moto_server process on 127.0.0.1, killed by PID on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto_server on a free port and waits (bounded) until it answers.
    pub async fn start() -> Moto {
        let path = moto_path();
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = moto.child.try_wait() {
                    last_err = format!("moto_server exited with {status}");
                    break;
                }
                if moto_ready(port).await {
                    return moto;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if last_err.is_empty() {
                last_err = "moto_server did not answer within 30 s".into();
            }
        }
        panic!("cannot start moto_server: {last_err}");
    }

    /// Sends a signal (`STOP`, `CONT`) to the emulator process, to simulate a hang.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// A Route 53 adapter pointed at this emulator.
    pub async fn route53(&self) -> Route53 {
        Route53::new(&tyk_dr_aws::emulator_config(&self.endpoint, "us-east-1").await)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto_ready(port: u16) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let req = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if buf.starts_with(b"HTTP/1")
    )
}

/// Sends one query to `server` over UDP (or TCP) with a real DNS client.
pub async fn query(server: SocketAddr, name: &str, rtype: RecordType, tcp: bool) -> Message {
    let name = Name::from_ascii(name).expect("bad name");
    let fut = async {
        if tcp {
            let (stream, sender) = TcpClientStream::new(
                server,
                None,
                Some(Duration::from_secs(2)),
                TokioRuntimeProvider::new(),
            );
            let (mut client, bg) = Client::new(stream, sender, None)
                .await
                .expect("TCP connect");
            let bg = tokio::spawn(bg);
            let response = client.query(name.clone(), DNSClass::IN, rtype).await;
            bg.abort();
            response
        } else {
            let stream = UdpClientStream::builder(server, TokioRuntimeProvider::new())
                .with_timeout(Some(Duration::from_secs(2)))
                .build();
            let (mut client, bg) = Client::connect(stream).await.expect("UDP connect");
            let bg = tokio::spawn(bg);
            let response = client.query(name.clone(), DNSClass::IN, rtype).await;
            bg.abort();
            response
        }
    };
    let response = tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("DNS query timed out")
        .expect("DNS query failed");
    response.into_message()
}

/// The answer section as `(type, data)` text pairs.
pub fn answers(m: &Message) -> Vec<(RecordType, String)> {
    m.answers()
        .iter()
        .map(|r| (r.record_type(), r.data().to_string()))
        .collect()
}

/// Polls `check` every 50 ms until it returns `Some`, at most `limit` (and 1,000 polls).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return (v, start.elapsed());
        }
        if start.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {:?} waiting for {what}", start.elapsed());
}

/// A tiny HTTP server for health checks: answers every request with the current status.
pub struct HealthTarget {
    /// Address it listens on (127.0.0.1).
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    task: Option<JoinHandle<()>>,
}

impl HealthTarget {
    /// Starts on a free port answering 200.
    pub async fn start() -> HealthTarget {
        Self::start_on(0).await
    }

    /// Starts on `port` (0 = free port) answering 200.
    pub async fn start_on(port: u16) -> HealthTarget {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("bind health target");
        let addr = listener.local_addr().expect("local addr");
        let status = Arc::new(AtomicU16::new(200));
        let s = status.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    // Read the request head (bounded), then answer and close.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16_384 {
                        match tokio::time::timeout(Duration::from_secs(2), conn.read(&mut chunk))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                    }
                    let code = s.load(Ordering::Relaxed);
                    let resp = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        HealthTarget {
            addr,
            status,
            task: Some(task),
        }
    }

    /// Changes the status code answered from now on.
    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::Relaxed);
    }

    /// Stops listening (connections are then refused).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Target IP.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }
}

impl Drop for HealthTarget {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
