//! Message heads on the fast path: which requests it takes, the head it sends upstream, how the upstream
//! response is framed, and the head the client gets.
//!
//! Parsing is `httparse` (the parser hyper itself uses). What is hand-written here is the proxy's
//! *selection* and *rewriting* of header lines, kept deliberately narrow: any request whose framing or
//! semantics is not plain (Transfer-Encoding, Expect, Upgrade, duplicate or odd Content-Length or Host,
//! HTTP/1.0, absolute-form targets) is refused by [`scan_request`] and handed to hyper whole, so this file
//! never has to interpret an ambiguous message (the request-smuggling surface stays in hyper).

use std::io::Write;

use crate::apis::ApiRoute;
use crate::error::GwError;
use crate::proxy::headers::{self, tokens, ConnectionOptions, HeaderSink, Known};
use crate::ratelimit::Decision;

/// Most header lines a head may carry (hyper's default too); more goes to hyper, which answers 431.
pub const MAX_HEADERS: usize = 100;

/// Where a complete head ends in `buf` (just past its blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    // One pass over the line ends; a blank line is `\r\n` or, as httparse also accepts (RFC 9112 §2.2),
    // a bare `\n`.
    memchr::memchr_iter(b'\n', buf).find_map(|i| match &buf[i + 1..] {
        [b'\n', ..] => Some(i + 2),
        [b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// `httparse` headers as `(name, value)` pairs, the shape [`crate::proxy::headers`] reads.
#[inline]
pub fn pairs<'a>(
    h: &'a [httparse::Header<'a>],
) -> impl Iterator<Item = (&'a str, &'a [u8])> + Clone {
    h.iter().map(|h| (h.name, h.value))
}

/// What the fast path needs from a request head it accepted.
pub struct RequestHead<'a> {
    /// Method.
    pub method: &'a str,
    /// Path without the query, already in normal form ([`crate::target::is_plain`]).
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// Every header line, in order.
    pub headers: &'a [httparse::Header<'a>],
    /// The `Host` value.
    pub host: &'a [u8],
    /// Body length (0 without `Content-Length`).
    pub content_length: u64,
    /// What its `Connection` headers say (`close`: close after this exchange).
    pub opts: ConnectionOptions,
}

/// What to do with a parsed request head.
pub enum Scan<'a> {
    /// Serve it here.
    Take(RequestHead<'a>),
    /// Hand the connection to hyper (which interprets, normalises or refuses it).
    Handoff,
    /// Refuse it (400) and close: the target has a fragment ([`crate::target`]).
    Refuse(crate::target::TargetError),
}

/// Take `req` on the fast path, hand it to hyper, or refuse it.
pub fn scan_request<'h, 'b>(req: &'h httparse::Request<'h, 'b>) -> Scan<'h> {
    match scan(req) {
        Ok(Some(h)) => Scan::Take(h),
        Ok(None) => Scan::Handoff,
        Err(e) => Scan::Refuse(e),
    }
}

fn scan<'h, 'b>(
    req: &'h httparse::Request<'h, 'b>,
) -> Result<Option<RequestHead<'h>>, crate::target::TargetError> {
    use crate::target;
    if req.version != Some(1) {
        return Ok(None);
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Ok(None);
    };
    if target.contains('#') {
        return Err(target::TargetError::Fragment);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    // Anything not already normal (dot segments, `//`, percent-encodings, odd bytes) is normalised or
    // refused on hyper's path, by the one set of rules in `crate::target`.
    if !target::is_plain(path) || !query.is_none_or(target::is_plain_query) {
        return Ok(None);
    }
    let mut head = RequestHead {
        method,
        path,
        query,
        headers: &*req.headers,
        host: b"",
        content_length: 0,
        opts: ConnectionOptions::default(),
    };
    let (mut seen_length, mut seen_host) = (false, false);
    for h in req.headers.iter() {
        match Known::of(h.name) {
            Known::TransferEncoding | Known::Expect | Known::Upgrade => return Ok(None),
            Known::ContentLength => {
                if seen_length {
                    return Ok(None);
                }
                seen_length = true;
                let Some(n) = parse_length(h.value) else {
                    return Ok(None);
                };
                head.content_length = n;
            }
            Known::Host => {
                if seen_host || h.value.is_empty() {
                    return Ok(None);
                }
                seen_host = true;
                head.host = h.value;
            }
            Known::Connection => head.opts.add(h.value),
            _ => {}
        }
    }
    if head.opts.upgrade || !seen_host {
        return Ok(None);
    }
    Ok(Some(head))
}

/// A `Content-Length` value: ASCII digits only (no sign, no list), at most 18 of them.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The header lookup admission uses ([`crate::proxy::RequestMeta`]).
pub struct RawHeaders<'a>(pub &'a [httparse::Header<'a>]);

impl crate::proxy::HeaderLookup for RawHeaders<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Append the request head sent upstream: origin-form `target`, then the header lines
/// [`headers::forward_request_headers`] writes (the same rules as hyper's path), and the blank line.
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    req: &RequestHead<'_>,
    route: &ApiRoute,
    target: &str,
    client_ip: &[u8],
    xff: &mut Vec<u8>,
) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let fwd = headers::Forwarding {
        host: if route.def.proxy.preserve_host_header {
            req.host
        } else {
            route.authority.as_str().as_bytes()
        },
        client_host: Some(req.host),
        client_ip,
        strip: route.versions.strip_header().map(|h| h.as_str()),
        opts: req.opts,
        chunked: false, // such requests go to hyper's path
    };
    headers::forward_request_headers(pairs(req.headers), &fwd, out, xff);
    out.extend_from_slice(b"\r\n");
}

/// How an upstream response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked: relayed unchanged, its end found by [`super::body::Chunked`].
    Chunked,
    /// Until the upstream closes: the client connection is closed after it too.
    UntilClose,
}

/// What the proxy learned from an upstream response head.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInfo {
    /// Status code.
    pub status: u16,
    /// Body framing.
    pub framing: Framing,
    /// The upstream connection may carry another request afterwards.
    pub reusable: bool,
    /// An interim (1xx) answer: relay it and read the final one.
    pub interim: bool,
    /// What its `Connection` headers say.
    pub opts: ConnectionOptions,
}

/// Decide framing and reuse for an upstream response (to a HEAD request when `head_request`).
pub fn scan_response(
    resp: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<ResponseInfo, GwError> {
    let bad = |what: &str| GwError::Upstream(format!("invalid response from upstream: {what}"));
    // httparse takes any three digits; below 100 is no HTTP status (and would not re-serialise as three).
    let status = resp
        .code
        .filter(|c| *c >= 100)
        .ok_or_else(|| bad("no valid status"))?;
    let mut reusable = resp.version == Some(1);
    let (mut chunked, mut chunked_last, mut length) = (false, false, None::<u64>);
    let mut opts = ConnectionOptions::default();
    for h in resp.headers.iter() {
        let kind = Known::of(h.name);
        if kind == Known::Connection {
            opts.add(h.value);
        } else if kind == Known::TransferEncoding {
            chunked = true;
            // Only a final `chunked` coding delimits the body; anything else reads until close.
            chunked_last = tokens(h.value)
                .filter(|t| !t.is_empty())
                .last()
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if kind == Known::ContentLength {
            let n = parse_length(h.value).ok_or_else(|| bad("Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    if opts.close {
        reusable = false;
    }
    if status == 101 {
        return Err(bad("101 to a request that asked for no upgrade"));
    }
    let interim = (100..200).contains(&status);
    if interim && (chunked || length.is_some()) {
        return Err(bad("framing headers on an interim response"));
    }
    let framing = if interim || head_request || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        if chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    // An upstream that frames one message two ways (Transfer-Encoding and Content-Length, RFC 9112
    // §6.3), or announces a body on a 204, may send bytes nobody asked for: its connection is not
    // trusted with another request (a HEAD or 304 answer may carry the length of the representation).
    if framing == Framing::UntilClose
        || (chunked && length.is_some())
        || (status == 204 && (chunked || length.is_some_and(|l| l > 0)))
    {
        reusable = false;
    }
    Ok(ResponseInfo {
        status,
        framing,
        reusable,
        interim,
        opts,
    })
}

/// What the gateway adds to every response it relays.
pub struct Additions<'a> {
    /// Limit decision for `X-RateLimit-*` (replacing the upstream's).
    pub report: Option<&'a Decision>,
    /// `X-Tyk-DR-Region` value.
    pub region: &'a [u8],
    /// Close the client connection after this response.
    pub close: bool,
}

/// Append the head relayed to the client: the upstream's status and end-to-end headers, our framing,
/// `Via`, rate-limit and region headers.
pub fn write_client_head(
    out: &mut Vec<u8>,
    resp: &httparse::Response<'_, '_>,
    info: &ResponseInfo,
    add: &Additions<'_>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(info.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let n = h.name;
        let kind = Known::of(n);
        let keep = match kind {
            // The body is relayed chunked as it came, so its coding list stays.
            Known::TransferEncoding => info.framing == Framing::Chunked,
            Known::ContentLength => !matches!(info.framing, Framing::Chunked | Framing::UntilClose),
            _ => headers::relay_response_header(
                kind,
                n,
                info.opts,
                pairs(resp.headers),
                add.report.is_some(),
            ),
        };
        if keep {
            out.put(n, h.value);
        }
    }
    if add.close || info.framing == Framing::UntilClose {
        out.extend_from_slice(b"connection: close\r\n");
    }
    finish_head(out, add);
}

/// Our own headers and the blank line.
fn finish_head(out: &mut Vec<u8>, add: &Additions<'_>) {
    out.put("via", headers::VIA);
    if let Some(d) = add.report {
        let mut n = itoa::Buffer::new();
        out.put("x-ratelimit-limit", n.format(d.limit).as_bytes());
        out.put("x-ratelimit-remaining", n.format(d.remaining).as_bytes());
        out.put("x-ratelimit-reset", n.format(d.reset_secs).as_bytes());
    }
    out.put("x-tyk-dr-region", add.region);
    out.extend_from_slice(b"\r\n");
}

/// Append a response the gateway generated itself (an error answer), with its body.
pub fn write_generated(
    out: &mut Vec<u8>,
    resp: &http::Response<bytes::Bytes>,
    region: &[u8],
    close: bool,
) {
    let s = resp.status();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        s.as_u16(),
        s.canonical_reason().unwrap_or("")
    );
    for (n, v) in resp.headers() {
        // Framing is ours (a configured mock reply may carry its own).
        if n != http::header::CONTENT_LENGTH
            && n != http::header::TRANSFER_ENCODING
            && n != http::header::CONNECTION
        {
            out.put(n.as_str(), v.as_bytes());
        }
    }
    let _ = write!(out, "content-length: {}\r\n", resp.body().len());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.put("x-tyk-dr-region", region);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(resp.body());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(close, content_length)` of an accepted request, or what happens to it instead.
    #[derive(Debug, PartialEq)]
    enum Scanned {
        Take(bool, u64),
        Handoff,
        Refuse,
    }
    use Scanned::{Handoff, Refuse};

    fn parse_req(raw: &[u8]) -> Scanned {
        let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Request::new(&mut h);
        assert!(r.parse(raw).unwrap().is_complete());
        match scan_request(&r) {
            Scan::Take(h) => Scanned::Take(h.opts.close, h.content_length),
            Scan::Handoff => Handoff,
            Scan::Refuse(_) => Refuse,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn only_plainly_framed_requests_take_the_fast_path() {
        use Scanned::Take;
        let cases: &[(&[u8], Scanned)] = &[
            (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", Take(false, 0)),
            (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", Take(false, 5)),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", Take(true, 0)),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Mine\r\n\r\n", Take(false, 0)),
            (b"GET /a?b=%2F&c=/d HTTP/1.1\r\nHost: x\r\n\r\n", Take(false, 0)),
            (b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", Handoff),
            (b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", Handoff),
            (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a HTTP/1.1\r\n\r\n", Handoff),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", Handoff),
            (b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Handoff),
            (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Handoff),
            (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", Handoff),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", Handoff),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close, upgrade\r\n\r\n", Handoff),
            // Targets that are not already normal are normalised (or refused) on hyper's path.
            (b"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a/./b HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET //a HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /%61 HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a<b> HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a\"b`c HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a?<b> HTTP/1.1\r\nHost: x\r\n\r\n", Handoff),
            (b"GET /a#/b HTTP/1.1\r\nHost: x\r\n\r\n", Refuse),
            (b"GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n", Refuse),
        ];
        for (raw, want) in cases {
            assert_eq!(&parse_req(raw), want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn head_end_finds_crlf_and_bare_lf_heads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n\nBODY"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    fn framing(raw: &[u8], method: &str) -> Result<(Framing, bool), String> {
        let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut h);
        assert!(r.parse(raw).unwrap().is_complete());
        scan_response(&r, method == "HEAD")
            .map(|i| (i.framing, i.reusable))
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        use Framing::*;
        let ok = |raw: &[u8], m: &str, f: Framing, reuse: bool| {
            assert_eq!(
                framing(raw, m),
                Ok((f, reuse)),
                "{}",
                String::from_utf8_lossy(raw)
            )
        };
        ok(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            "GET",
            Length(3),
            true,
        );
        ok(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            "HEAD",
            Empty,
            true,
        );
        ok(b"HTTP/1.1 204 No Content\r\n\r\n", "GET", Empty, true);
        // Framed two ways: relayed by Transfer-Encoding, and the connection not trusted again.
        ok(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            "GET",
            Chunked,
            false,
        );
        ok(
            b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\n",
            "GET",
            Length(3),
            true,
        );
        ok(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n",
            "GET",
            Empty,
            false,
        );
        ok(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n",
            "GET",
            Empty,
            true,
        );
        ok(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "GET",
            UntilClose,
            false,
        );
        ok(b"HTTP/1.1 200 OK\r\n\r\n", "GET", UntilClose, false);
        ok(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            "GET",
            Length(1),
            false,
        );
        ok(
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            "GET",
            Length(1),
            false,
        );
        ok(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "GET",
            Length(2),
            true,
        );
        assert!(framing(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "GET"
        )
        .is_err());
        assert!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "GET").is_err());
        assert!(framing(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "GET").is_err());
        assert!(framing(b"HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n", "GET").is_err());
        assert!(framing(b"HTTP/1.1 100 Continue\r\nContent-Length: 4\r\n\r\n", "GET").is_err());
    }

    #[test]
    fn client_head_drops_hop_by_hop_and_upstream_copies_of_our_headers() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: t=5\r\n\
X-RateLimit-Limit: 7\r\nX-Tyk-DR-Region: fake\r\nContent-Length: 2\r\nX-App: yes\r\n\r\n";
        let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut h);
        r.parse(raw).unwrap();
        let info = scan_response(&r, false).unwrap();
        let d = Decision {
            allowed: true,
            limit: 10,
            remaining: 9,
            reset_secs: 1,
        };
        let mut out = Vec::new();
        write_client_head(
            &mut out,
            &r,
            &info,
            &Additions {
                report: Some(&d),
                region: b"eu",
                close: true,
            },
        );
        let text = String::from_utf8(out).unwrap().to_ascii_lowercase();
        for gone in ["x-secret", "keep-alive", "x-ratelimit-limit: 7", "fake"] {
            assert!(!text.contains(gone), "{gone} leaked: {text}");
        }
        for kept in [
            "content-length: 2\r\n",
            "x-app: yes\r\n",
            "x-ratelimit-limit: 10\r\n",
            "x-tyk-dr-region: eu\r\n",
            "connection: close\r\n",
            "via: 1.1 tyk-dr-gateway\r\n",
        ] {
            assert!(text.contains(kept), "{kept} missing: {text}");
        }
        assert!(text.starts_with("http/1.1 200 ok\r\n") && text.ends_with("\r\n\r\n"));
    }
}
