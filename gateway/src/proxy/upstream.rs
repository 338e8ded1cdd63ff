//! Per-thread upstream connection pool over hyper's low-level HTTP/1 client.
//!
//! Each worker thread runs a single-threaded runtime, so its pool is a plain `RefCell` (no locks) and a
//! request, its upstream connection task and every wake-up between them stay on one thread. A connection
//! returns to the pool when its response body has been read to the end; a request that a pooled
//! connection could not even start sending (closed while idle) is retried on a fresh connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::apis::ApiRoute;
use crate::error::GwError;

type Sender = SendRequest<Incoming>;

/// Idle connections kept per upstream and thread.
const MAX_IDLE: usize = 1024;

/// Idle upstream connections of one worker thread, by upstream (`scheme://authority`). Worker threads run
/// single-threaded runtimes, so a `RefCell` suffices (no locks); hyper's path and the fast path
/// ([`crate::h1`]) each keep one, holding their own connection type.
pub struct IdlePool<T> {
    idle: RefCell<HashMap<Arc<str>, Vec<T>, foldhash::fast::RandomState>>,
}

impl<T> Default for IdlePool<T> {
    fn default() -> Self {
        Self {
            idle: RefCell::new(HashMap::default()),
        }
    }
}

impl<T> IdlePool<T> {
    /// The most recently returned connection to `key` that `usable` accepts (others are dropped).
    pub fn take(&self, key: &str, usable: impl Fn(&mut T) -> bool) -> Option<T> {
        let mut p = self.idle.borrow_mut();
        let v = p.get_mut(key)?;
        while let Some(mut c) = v.pop() {
            if usable(&mut c) {
                return Some(c);
            }
        }
        None
    }

    /// Keep `conn` for the next request to `key` (dropped when `MAX_IDLE` are idle already).
    pub fn put(&self, key: &Arc<str>, conn: T) {
        let mut p = self.idle.borrow_mut();
        match p.get_mut(&**key) {
            Some(v) if v.len() < MAX_IDLE => v.push(conn),
            Some(_) => {}
            None => {
                p.insert(key.clone(), vec![conn]);
            }
        }
    }
}

thread_local! {
    static POOL: IdlePool<Sender> = IdlePool::default();
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn checkout(key: &str) -> Option<Sender> {
    POOL.with(|p| p.take(key, |s| !s.is_closed()))
}

fn checkin(key: &Arc<str>, s: Sender) {
    if !s.is_closed() {
        POOL.with(|p| p.put(key, s));
    }
}

/// A new TCP connection (no delay) to the route's upstream host and port.
pub async fn connect_tcp(route: &ApiRoute) -> Result<TcpStream, GwError> {
    let https = route.scheme == http::uri::Scheme::HTTPS;
    let port = route
        .authority
        .port_u16()
        .unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host_for_connect(route), port))
        .await
        .map_err(|e| GwError::Upstream(format!("connect {}: {e}", route.authority)))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

fn host_for_connect(route: &ApiRoute) -> &str {
    route
        .authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
}

async fn connect(route: &ApiRoute, tls: &TlsConnector) -> Result<Sender, GwError> {
    let https = route.scheme == http::uri::Scheme::HTTPS;
    let tcp = connect_tcp(route).await?;
    let io: Box<dyn Io> = if https {
        let host = route.authority.host();
        let host_for_connect = host_for_connect(route);
        let name = rustls_pki_types::ServerName::try_from(host_for_connect.to_string())
            .map_err(|e| GwError::Upstream(format!("tls name {host}: {e}")))?;
        Box::new(tls.connect(name, tcp).await.map_err(|e| {
            GwError::Upstream(format!("tls handshake with {}: {e}", route.authority))
        })?)
    } else {
        Box::new(tcp)
    };
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| GwError::Upstream(format!("http handshake with {}: {e}", route.authority)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

/// Tokens → storage names, memoised per thread: generated tokens need a base64 decode and a JSON parse to
/// learn their hash algorithm, on every request otherwise.
pub fn memo_hash(token: &str, compute: impl FnOnce(&str) -> String) -> String {
    const MAX_TOKEN: usize = 256;
    const MAX_ENTRIES: usize = 16_384;
    thread_local! {
        static MEMO: RefCell<HashMap<Box<str>, Box<str>, foldhash::fast::RandomState>> =
            RefCell::new(HashMap::default());
    }
    if token.len() > MAX_TOKEN {
        return compute(token);
    }
    MEMO.with(|m| {
        if let Some(h) = m.borrow().get(token) {
            return h.to_string();
        }
        let h = compute(token);
        let mut m = m.borrow_mut();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(token.into(), h.as_str().into());
        h
    })
}

/// Send `req` (origin-form URI, headers final) to the route's upstream (`tls` for https ones).
pub async fn send(
    route: &ApiRoute,
    mut req: Request<Incoming>,
    tls: &TlsConnector,
) -> Result<Response<PooledBody>, GwError> {
    // Pooled connections first; a connection closed while idle gives the request back and we try again.
    for _ in 0..8 {
        let (mut sender, fresh) = match checkout(&route.pool_key) {
            Some(s) => (s, false),
            None => (connect(route, tls).await?, true),
        };
        if sender.ready().await.is_err() {
            if fresh {
                return Err(GwError::Upstream(format!(
                    "{}: connection closed",
                    route.authority
                )));
            }
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                let (parts, inner) = resp.into_parts();
                let body = PooledBody {
                    inner,
                    sender: Some(sender),
                    key: route.pool_key.clone(),
                };
                return Ok(Response::from_parts(parts, body));
            }
            Err(mut e) => match e.take_message() {
                Some(r) if !fresh => req = r,
                _ => {
                    return Err(GwError::Upstream(format!(
                        "{}: {}",
                        route.authority,
                        e.into_error()
                    )))
                }
            },
        }
    }
    Err(GwError::Upstream(format!(
        "{}: no usable connection",
        route.authority
    )))
}

/// An upstream response body that gives its connection back to the pool once read to the end.
pub struct PooledBody {
    inner: Incoming,
    sender: Option<Sender>,
    key: Arc<str>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(s) = self.sender.take() {
            checkin(&self.key, s);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.sender = None,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Bodies known to be empty are never polled by the server side: reuse their connection too.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}
