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
use crate::ratelimit::Decision;

/// Most header lines a head may carry (hyper's default too); more goes to hyper, which answers 431.
pub const MAX_HEADERS: usize = 100;

/// Header names the proxy treats specially. Recognised by length first, so most names are compared
/// with at most one candidate: comparing every header against a dozen names, case-insensitively, was
/// visible in profiles at this request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Describes one connection, never forwarded (RFC 9110 §7.6.1): `TE`, `Trailer`, `Keep-Alive`,
    /// `Proxy-Authenticate`, `Proxy-Authorization`.
    HopByHop,
    Connection,
    Upgrade,
    TransferEncoding,
    ContentLength,
    Host,
    Expect,
    ForwardedFor,
    ForwardedProto,
    ForwardedHost,
    Region,
    RateLimit,
    Other,
}

impl Known {
    fn of(name: &str) -> Self {
        let eq = |s: &str| name.eq_ignore_ascii_case(s);
        match name.len() {
            2 if eq("te") => Self::HopByHop,
            4 if eq("host") => Self::Host,
            6 if eq("expect") => Self::Expect,
            7 if eq("upgrade") => Self::Upgrade,
            7 if eq("trailer") => Self::HopByHop,
            10 if eq("connection") => Self::Connection,
            10 if eq("keep-alive") => Self::HopByHop,
            14 if eq("content-length") => Self::ContentLength,
            15 if eq("x-forwarded-for") => Self::ForwardedFor,
            15 if eq("x-tyk-dr-region") => Self::Region,
            16 if eq("x-forwarded-host") => Self::ForwardedHost,
            17 if eq("transfer-encoding") => Self::TransferEncoding,
            17 if eq("x-forwarded-proto") => Self::ForwardedProto,
            18 if eq("proxy-authenticate") => Self::HopByHop,
            19 if eq("proxy-authorization") => Self::HopByHop,
            17..=21 if name.as_bytes()[..12].eq_ignore_ascii_case(b"x-ratelimit-") => {
                Self::RateLimit
            }
            _ => Self::Other,
        }
    }

    /// Never crosses the proxy (`Transfer-Encoding` included: the proxy frames each hop itself).
    fn hop_by_hop(self) -> bool {
        matches!(
            self,
            Self::HopByHop | Self::Connection | Self::Upgrade | Self::TransferEncoding
        )
    }
}

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

fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(<[u8]>::trim_ascii)
}

/// True when `name` is listed in a `Connection` header (so it is hop-by-hop too). Only asked when such a
/// header names something besides `close`/`keep-alive`, which is rare.
fn named_by_connection(name: &str, headers: &[httparse::Header<'_>]) -> bool {
    headers
        .iter()
        .filter(|h| Known::of(h.name) == Known::Connection)
        .flat_map(|h| tokens(h.value))
        .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
}

/// True when a header `kind`/`name` must not cross the proxy.
fn drop_hop(
    kind: Known,
    name: &str,
    headers: &[httparse::Header<'_>],
    connection_names: bool,
) -> bool {
    kind.hop_by_hop() || (connection_names && named_by_connection(name, headers))
}

/// What the fast path needs from a request head it accepted.
pub struct RequestHead<'a> {
    /// Method.
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// Every header line, in order.
    pub headers: &'a [httparse::Header<'a>],
    /// The `Host` value.
    pub host: &'a [u8],
    /// Body length (0 without `Content-Length`).
    pub content_length: u64,
    /// The client asked to close after this exchange.
    pub close: bool,
    /// A `Connection` header names further hop-by-hop headers.
    pub connection_names: bool,
}

/// Take `req` on the fast path, or `None` to hand the connection to hyper.
pub fn scan_request<'h, 'b>(req: &'h httparse::Request<'h, 'b>) -> Option<RequestHead<'h>> {
    if req.version != Some(1) {
        return None;
    }
    let method = req.method?;
    let target = req.path?;
    if !target.starts_with('/') {
        return None;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut head = RequestHead {
        method,
        path,
        query,
        headers: &*req.headers,
        host: b"",
        content_length: 0,
        close: false,
        connection_names: false,
    };
    let (mut seen_length, mut seen_host) = (false, false);
    for h in req.headers.iter() {
        match Known::of(h.name) {
            Known::TransferEncoding | Known::Expect | Known::Upgrade => return None,
            Known::ContentLength => {
                if seen_length {
                    return None;
                }
                seen_length = true;
                head.content_length = parse_length(h.value)?;
            }
            Known::Host => {
                if seen_host || h.value.is_empty() {
                    return None;
                }
                seen_host = true;
                head.host = h.value;
            }
            Known::Connection => {
                for t in tokens(h.value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        head.close = true;
                    } else if t.eq_ignore_ascii_case(b"upgrade") {
                        return None;
                    } else if !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") {
                        head.connection_names = true;
                    }
                }
            }
            _ => {}
        }
    }
    seen_host.then_some(head)
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

/// Append the request head sent upstream: origin-form `target`, hop-by-hop headers dropped, `Host`
/// rewritten (unless `preserve_host_header`), and the forwarding headers hyper's path adds too.
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    req: &RequestHead<'_>,
    route: &ApiRoute,
    target: &str,
    client_ip: &[u8],
) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    if route.def.proxy.preserve_host_header {
        out.extend_from_slice(req.host);
    } else {
        out.extend_from_slice(route.authority.as_str().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let mut forwarded_for = false;
    // A version header Tyk strips (`strip_versioning_data`) stays here too.
    let version_header = route.versions.strip_header().map(|h| h.as_str());
    for h in req.headers {
        let n = h.name;
        let kind = Known::of(n);
        if matches!(
            kind,
            Known::Host | Known::ForwardedProto | Known::ForwardedHost
        ) || drop_hop(kind, n, req.headers, req.connection_names)
            || version_header.is_some_and(|v| n.eq_ignore_ascii_case(v))
        {
            continue;
        }
        if kind == Known::ForwardedFor {
            // Every earlier hop, in order, then this client.
            out.extend_from_slice(if forwarded_for {
                b", "
            } else {
                b"x-forwarded-for: "
            });
            out.extend_from_slice(h.value);
            forwarded_for = true;
            continue;
        }
        header_line(out, n.as_bytes(), h.value);
    }
    out.extend_from_slice(if forwarded_for {
        b", "
    } else {
        b"x-forwarded-for: "
    });
    out.extend_from_slice(client_ip);
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\nx-forwarded-host: ");
    out.extend_from_slice(req.host);
    out.extend_from_slice(b"\r\nvia: 1.1 tyk-dr-gateway\r\n\r\n");
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
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
}

/// Decide framing and reuse for an upstream response (to a HEAD request when `head_request`).
pub fn scan_response(
    resp: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<ResponseInfo, GwError> {
    let bad = |what: &str| GwError::Upstream(format!("invalid response from upstream: {what}"));
    let status = resp.code.ok_or_else(|| bad("no status"))?;
    let mut reusable = resp.version == Some(1);
    let (mut chunked, mut chunked_last, mut length) = (false, false, None::<u64>);
    for h in resp.headers.iter() {
        let kind = Known::of(h.name);
        if kind == Known::TransferEncoding {
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
        } else if kind == Known::Connection
            && tokens(h.value).any(|t| t.eq_ignore_ascii_case(b"close"))
        {
            reusable = false;
        }
    }
    if status == 101 {
        return Err(bad("101 to a request that asked for no upgrade"));
    }
    let interim = (100..200).contains(&status);
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
    if framing == Framing::UntilClose {
        reusable = false;
    }
    Ok(ResponseInfo {
        status,
        framing,
        reusable,
        interim,
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
    let names = resp
        .headers
        .iter()
        .filter(|h| Known::of(h.name) == Known::Connection)
        .flat_map(|h| tokens(h.value))
        .any(|t| !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive"));
    for h in resp.headers.iter() {
        let n = h.name;
        let kind = Known::of(n);
        if kind == Known::TransferEncoding && info.framing == Framing::Chunked {
            // The body is relayed chunked as it came, so its coding list stays.
            header_line(out, n.as_bytes(), h.value);
            continue;
        }
        if drop_hop(kind, n, resp.headers, names)
            || kind == Known::Region
            || (kind == Known::RateLimit && add.report.is_some())
            || (kind == Known::ContentLength
                && matches!(info.framing, Framing::Chunked | Framing::UntilClose))
        {
            continue;
        }
        header_line(out, n.as_bytes(), h.value);
    }
    if add.close || info.framing == Framing::UntilClose {
        out.extend_from_slice(b"connection: close\r\n");
    }
    finish_head(out, add);
}

/// Our own headers and the blank line.
fn finish_head(out: &mut Vec<u8>, add: &Additions<'_>) {
    out.extend_from_slice(b"via: 1.1 tyk-dr-gateway\r\n");
    if let Some(d) = add.report {
        let mut n = itoa::Buffer::new();
        header_line(out, b"x-ratelimit-limit", n.format(d.limit).as_bytes());
        header_line(
            out,
            b"x-ratelimit-remaining",
            n.format(d.remaining).as_bytes(),
        );
        header_line(out, b"x-ratelimit-reset", n.format(d.reset_secs).as_bytes());
    }
    header_line(out, b"x-tyk-dr-region", add.region);
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
            header_line(out, n.as_str().as_bytes(), v.as_bytes());
        }
    }
    let _ = write!(out, "content-length: {}\r\n", resp.body().len());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    header_line(out, b"x-tyk-dr-region", region);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(resp.body());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(close, content_length, connection_names)` of an accepted request.
    type Scanned = Option<(bool, u64, bool)>;

    fn parse_req(raw: &[u8]) -> Scanned {
        let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Request::new(&mut h);
        assert!(r.parse(raw).unwrap().is_complete());
        scan_request(&r).map(|h| (h.close, h.content_length, h.connection_names))
    }

    #[test]
    fn only_plainly_framed_requests_take_the_fast_path() {
        let cases: [(&[u8], Scanned); 12] = [
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                Some((false, 0, false)),
            ),
            (
                b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                Some((false, 5, false)),
            ),
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Some((true, 0, false)),
            ),
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Mine\r\n\r\n",
                Some((false, 0, true)),
            ),
            (b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", None),
            (b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", None),
            (b"GET /a HTTP/1.1\r\n\r\n", None),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", None),
            (
                b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                None,
            ),
            (
                b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                None,
            ),
            (
                b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
                None,
            ),
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                None,
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_req(raw), want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn header_names_are_recognised_whatever_their_case() {
        use Known::*;
        let cases = [
            ("Host", Host),
            ("TE", HopByHop),
            ("Keep-Alive", HopByHop),
            ("Proxy-Authorization", HopByHop),
            ("Transfer-Encoding", TransferEncoding),
            ("Content-Length", ContentLength),
            ("content-lengths", Other),
            ("X-Forwarded-For", ForwardedFor),
            ("X-FORWARDED-PROTO", ForwardedProto),
            ("X-Tyk-DR-Region", Region),
            ("X-RateLimit-Remaining", RateLimit),
            ("x-ratelimit-reset", RateLimit),
            ("x-ratelimit-used", Other),
            ("Authorization", Other),
        ];
        for (name, kind) in cases {
            assert_eq!(Known::of(name), kind, "{name}");
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
        ok(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            "GET",
            Chunked,
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
