//! The fast HTTP/1.1 proxy path: one task per client connection that parses with `httparse`, runs the
//! same admission as hyper's path ([`crate::proxy::admit`]), and relays heads and bodies between the
//! two sockets itself.
//!
//! Why it exists: on the benchmark (`gateway/bench/run.sh`) hyper's server and client cost about 6 µs of
//! user CPU per proxied request against nginx's 2.4 (two tasks and a channel per exchange, header maps
//! built and re-serialised on both sides), which kept the gateway at 0.82–0.84× nginx's throughput. Here
//! a request costs two reads and two writes, one head parse each way and a few small allocations
//! (token, key hash, upstream path); it measures 1.04–1.06× nginx at 0.91× its CPU per request.
//!
//! What it does not take: anything whose framing or semantics is not plain (see
//! [`head::scan_request`]), gateway-owned paths (`/hello`, readiness, metrics, `/tyk/`), unrouted
//! paths and `https` upstreams. For those the connection, with the bytes already read, is handed to
//! hyper for the rest of its life ([`rewind::Rewind`]), so every edge case keeps hyper's handling.
//! `http1_fast_path = false` in the config serves every connection with hyper.

pub mod body;
pub mod head;
mod pool;
pub mod rewind;

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::apis::ApiRoute;
use crate::error::GwError;
use crate::proxy::RequestMeta;
use crate::ratelimit::Decision;
use crate::state::AppState;
use body::{relay, Remaining, IDLE_TIMEOUT, READ_CHUNK};
use head::{Additions, Framing, RawHeaders, ResponseInfo, MAX_HEADERS};
use pool::UpConn;

/// Most unread request body drained before closing after a refusal (see [`linger`]).
const LINGER_BYTES: usize = 1 << 20;
/// Longest such drain.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

thread_local! {
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
    static DRAINING: Cell<bool> = const { Cell::new(false) };
    /// Scratch for the `X-Forwarded-For` value being built (no allocation per request).
    static XFF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Make this worker's fast-path connections close after their current exchange (shutdown).
pub fn begin_drain() {
    DRAINING.with(|d| d.set(true));
}

/// Requests this worker's fast path is still answering.
pub fn in_flight() -> usize {
    IN_FLIGHT.with(Cell::get)
}

/// Counts a request as in flight until dropped.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        IN_FLIGHT.with(|n| n.set(n.get() + 1));
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with(|n| n.set(n.get() - 1));
    }
}

/// What the connection does after an exchange.
enum Next {
    KeepAlive,
    Close,
    /// Not for the fast path: hyper takes the connection, starting with the unconsumed bytes.
    Handoff,
    /// A target no path may serve ([`crate::target`]): answer 400 and close.
    Refuse(crate::target::TargetError),
}

/// Serve one client connection until it closes, idles out, or is handed to hyper.
pub async fn serve_connection(
    state: &'static AppState,
    mut stream: TcpStream,
    remote: SocketAddr,
    client_ip: http::HeaderValue,
    watcher: Watcher,
) {
    let max_head = state.settings.raw.max_header_bytes.max(8192);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut scratch = Vec::with_capacity(1024);
    // The idle bound costs no timer per read: one sleep per connection, re-armed only when it fires
    // after requests were served. A connection that completes no request for a whole period (idle, or
    // dribbling a head) is closed after one to two periods (`client_idle_timeout_ms`).
    let idle_period = Duration::from_millis(state.settings.raw.client_idle_timeout_ms);
    let idle = tokio::time::sleep(idle_period);
    tokio::pin!(idle);
    let (mut served, mut served_when_armed) = (0u64, 0u64);
    loop {
        let end = loop {
            if let Some(end) = head::head_end(&buf) {
                break end;
            }
            if buf.len() >= max_head {
                break 0; // too large: hyper answers 431
            }
            buf.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                read = stream.read_buf(&mut buf) => match read {
                    Ok(n) if n > 0 => {}
                    _ => return, // closed or broken
                },
                () = &mut idle => {
                    if served == served_when_armed {
                        return;
                    }
                    served_when_armed = served;
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_period);
                }
            }
        };
        served += 1;
        let next = if end == 0 || end > max_head {
            Next::Handoff
        } else {
            let _counted = InFlight::start();
            exchange(state, &mut stream, &mut buf, end, &client_ip, &mut scratch).await
        };
        match next {
            Next::KeepAlive if !DRAINING.with(Cell::get) => {}
            Next::KeepAlive | Next::Close => return,
            Next::Refuse(e) => {
                state.metrics.request("-", 400);
                let mut out = Vec::new();
                let resp = GwError::BadTarget(e).render();
                head::write_generated(&mut out, &resp, state.region.as_bytes(), true);
                if stream.write_all(&out).await.is_ok() {
                    linger(&mut stream).await;
                }
                return;
            }
            Next::Handoff => {
                let io = rewind::Rewind::new(buf.freeze(), stream);
                return crate::server::serve_hyper(state, io, remote, client_ip, watcher).await;
            }
        }
    }
}

/// The parts of a request the exchange needs once its head is no longer borrowed.
struct Admitted {
    route: Arc<ApiRoute>,
    outcome: Result<Option<Decision>, GwError>,
    content_length: u64,
    close: bool,
    head_request: bool,
    idempotent: bool,
}

/// One request/response exchange; `buf[..end]` is a complete request head.
async fn exchange(
    state: &'static AppState,
    client: &mut TcpStream,
    buf: &mut BytesMut,
    end: usize,
    client_ip: &http::HeaderValue,
    out: &mut Vec<u8>,
) -> Next {
    let now = crate::clock::Now::read();
    out.clear();
    // Uninitialised: filling 100 empty headers per request is measurable at this rate.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let req = {
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(&buf[..end], &mut headers) {
            Ok(httparse::Status::Complete(n)) if n == end => {}
            _ => return Next::Handoff, // hyper answers 400 (or 431 for too many headers)
        }
        let h = match head::scan_request(&req) {
            head::Scan::Take(h) => h,
            head::Scan::Handoff => return Next::Handoff,
            head::Scan::Refuse(e) => return Next::Refuse(e),
        };
        // The gateway's own paths are served by hyper's path.
        if crate::proxy::OwnPath::of(&state.settings.raw, h.path).is_some() {
            return Next::Handoff;
        }
        let Some(route) = state.routes.load().find(h.path).cloned() else {
            return Next::Handoff;
        };
        if route.scheme != http::uri::Scheme::HTTP {
            return Next::Handoff;
        }
        let meta = RequestMeta {
            method: h.method,
            path: h.path,
            query: h.query,
            headers: &RawHeaders(h.headers),
            now,
        };
        let outcome = crate::proxy::admit(state, &route, &meta).await;
        if outcome.is_ok() {
            let target = crate::apis::upstream_path(&route, h.path, h.query);
            XFF.with_borrow_mut(|xff| {
                head::write_upstream_head(out, &h, &route, &target, client_ip.as_bytes(), xff)
            });
        }
        Admitted {
            content_length: h.content_length,
            close: h.opts.close,
            head_request: h.method == "HEAD",
            idempotent: matches!(
                h.method,
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            ),
            outcome,
            route,
        }
    };
    buf.advance(end);
    let route = &req.route;
    let region = state.region.as_bytes();
    let draining = DRAINING.with(Cell::get);
    let (status, next) = match req.outcome {
        Err(e) => {
            // The body was not read: skip it when it is all here, else close rather than parse it as
            // the next request.
            let unread = req.content_length > buf.len() as u64;
            let close = req.close || draining || unread;
            if !close {
                buf.advance(req.content_length as usize);
            }
            let answered = respond_error(client, e, region, close, out).await;
            if unread {
                linger(client).await;
            }
            answered
        }
        Ok(report) => {
            // The request body: what arrived with the head goes out with the upstream head.
            let here = req.content_length.min(buf.len() as u64) as usize;
            out.extend_from_slice(&buf[..here]);
            buf.advance(here);
            let streamed = req.content_length - here as u64;
            let timeout = Duration::from_millis(state.settings.raw.upstream_timeout_ms);
            let upstream = send(route, out, streamed, client, buf, req.idempotent, timeout).await;
            match upstream {
                Err(e) => {
                    let close = req.close || draining || streamed > 0;
                    let answered = respond_error(client, e, region, close, out).await;
                    if streamed > 0 {
                        linger(client).await;
                    }
                    answered
                }
                Ok(up) => {
                    let add = Additions {
                        report: report.as_ref(),
                        region,
                        close: req.close || draining,
                    };
                    relay_response(client, up, route, req.head_request, &add, out).await
                }
            }
        }
    };
    state
        .metrics
        .route_request(&route.counters, &route.def.api_id, status);
    state.metrics.latency.observe_duration(now.mono.elapsed());
    next
}

/// Close after a refusal that left request body unread: send our FIN, then read and discard what the
/// client is still sending (bounded), so its kernel gets our answer before any reset (the "lingering
/// close" of RFC 9112 §9.6 that nginx also does).
async fn linger(client: &mut TcpStream) {
    if client.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, client.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Write a gateway-generated error answer.
async fn respond_error(
    client: &mut TcpStream,
    e: GwError,
    region: &[u8],
    close: bool,
    out: &mut Vec<u8>,
) -> (u16, Next) {
    let resp = e.render();
    out.clear();
    head::write_generated(out, &resp, region, close);
    let status = resp.status().as_u16();
    match client.write_all(out).await {
        Ok(()) if !close => (status, Next::KeepAlive),
        _ => (status, Next::Close),
    }
}

/// Send `bytes` (head and the body bytes already here) and `streamed` more body bytes from the client,
/// then read up to a complete response head. `timeout` bounds connecting and writing, and then the wait
/// for the response head; a body upload is bounded by its own idle timeout instead, so a large upload
/// on a slow link is not cut. A reused connection that fails before any answer (the upstream closed it
/// while idle) is replaced once, when resending is safe: the body is all in `bytes` and the method is
/// idempotent or nothing could be written.
async fn send(
    route: &ApiRoute,
    bytes: &[u8],
    streamed: u64,
    client: &mut TcpStream,
    client_buf: &mut BytesMut,
    idempotent: bool,
    timeout: Duration,
) -> Result<UpConn, GwError> {
    let mut allow_idle = true;
    loop {
        let start = async {
            let mut up = pool::checkout(route, allow_idle).await?;
            let written = up.stream.write_all(bytes).await;
            Ok::<_, GwError>((up, written))
        };
        let (mut up, written) = tokio::time::timeout(timeout, start)
            .await
            .map_err(|_| GwError::UpstreamTimeout)??;
        let result = match &written {
            Err(e) => Err(e.to_string()),
            Ok(()) if streamed > 0 => {
                match relay(
                    Remaining::Length(streamed),
                    client,
                    client_buf,
                    &mut up.stream,
                    &mut Vec::new(),
                )
                .await
                {
                    Ok(()) => read_head(&mut up, timeout).await,
                    Err(e) => Err(format!("request body: {e}")),
                }
            }
            Ok(()) => read_head(&mut up, timeout).await,
        };
        match result {
            Ok(()) => return Ok(up),
            Err(e) if e == TIMED_OUT => return Err(GwError::UpstreamTimeout),
            Err(_)
                if up.reused
                    && streamed == 0
                    && up.buf.is_empty()
                    && (idempotent || written.is_err()) =>
            {
                allow_idle = false;
            }
            Err(e) => return Err(GwError::Upstream(format!("{}: {e}", route.authority))),
        }
    }
}

/// `read_head`'s error when the upstream did not answer in time.
const TIMED_OUT: &str = "timed out";

/// Read until `up.buf` starts with a complete response head, for at most `timeout`.
async fn read_head(up: &mut UpConn, timeout: Duration) -> Result<(), String> {
    tokio::time::timeout(timeout, read_head_unbounded(up))
        .await
        .unwrap_or_else(|_| Err(TIMED_OUT.into()))
}

async fn read_head_unbounded(up: &mut UpConn) -> Result<(), String> {
    loop {
        if head::head_end(&up.buf).is_some() {
            return Ok(());
        }
        if up.buf.len() > MAX_RESPONSE_HEAD {
            return Err("response head too large".into());
        }
        up.buf.reserve(READ_CHUNK);
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) => return Err("connection closed before a response".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Relay the upstream's response (interim 1xx heads first), then give the connection back to the pool
/// when it can carry another request.
async fn relay_response(
    client: &mut TcpStream,
    mut up: UpConn,
    route: &ApiRoute,
    head_request: bool,
    add: &Additions<'_>,
    out: &mut Vec<u8>,
) -> (u16, Next) {
    let info = loop {
        out.clear();
        let parsed = parse_response(&up.buf, head_request, add, out);
        let (info, n) = match parsed {
            Ok(p) => p,
            Err(e) => return respond_error(client, e, add.region, true, out).await,
        };
        up.buf.advance(n);
        if !info.interim {
            break info;
        }
        if client.write_all(out).await.is_err() {
            return (info.status, Next::Close);
        }
        if let Err(e) = read_head(&mut up, IDLE_TIMEOUT).await {
            let e = GwError::Upstream(format!("{}: {e}", route.authority));
            return respond_error(client, e, add.region, true, out).await;
        }
    };
    let left = match info.framing {
        Framing::Empty => Remaining::Length(0),
        Framing::Length(n) => Remaining::Length(n),
        Framing::Chunked => Remaining::Chunked(body::Chunked::default()),
        Framing::UntilClose => Remaining::UntilClose,
    };
    match relay(left, &mut up.stream, &mut up.buf, client, out).await {
        Ok(()) => {
            if info.reusable {
                pool::checkin(&route.pool_key, up);
            }
            let close = add.close || info.framing == Framing::UntilClose;
            (
                info.status,
                if close { Next::Close } else { Next::KeepAlive },
            )
        }
        Err(e) => {
            // The head is out already: the only honest signal left is closing the connection.
            tracing::debug!(upstream = %route.authority, error = %e, "response body relay failed");
            (info.status, Next::Close)
        }
    }
}

/// Parse the response head at the start of `buf` and write the client's version of it into `out`.
/// Returns what was learned and the head's length.
fn parse_response(
    buf: &[u8],
    head_request: bool,
    add: &Additions<'_>,
    out: &mut Vec<u8>,
) -> Result<(ResponseInfo, usize), GwError> {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(GwError::Upstream("incomplete response head".into()))
        }
        Err(e) => return Err(GwError::Upstream(format!("invalid response head: {e}"))),
    };
    let info = head::scan_response(&resp, head_request)?;
    head::write_client_head(out, &resp, &info, add);
    Ok((info, n))
}
