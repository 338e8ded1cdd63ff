//! Test harness: a real `moto_server`, the DNS server in-process, a real DNS client, and a
//! tiny HTTP health check target.

#![allow(dead_code)]

#[path = "../../../../tests/common/moto.rs"]
mod moto;
pub use moto::{free_port, Moto};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
