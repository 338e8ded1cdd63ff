//! Which header lines cross the proxy, and the forwarding headers it adds: one set of rules for both
//! HTTP/1 paths (hyper's, which holds headers in an `http::HeaderMap`, and the fast path in
//! [`crate::h1`], which holds `httparse` slices).
//!
//! The rules:
//! - **Hop-by-hop** headers (RFC 9110 §7.6.1: `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade`,
//!   `Proxy-Authenticate`, `Proxy-Authorization`, and `Transfer-Encoding`, which the proxy re-frames)
//!   never cross, nor do headers a `Connection` header names, **except** the framing and routing
//!   headers (`Content-Length`, `Transfer-Encoding`, `Host`): a message cannot make the proxy drop its
//!   own framing (`Connection: Content-Length` would otherwise turn the body into a second request).
//! - **Underscore spellings** of those names (`Content_Length`, `Transfer_Encoding`, `X_Forwarded_For`,
//!   ...) are dropped: CGI-style servers fold `_` into `-`, so they would read a second, unchecked copy
//!   (nginx drops every underscore header by default; this drops only the ones that impersonate).
//! - **Forwarding** (requests): `Host` is the upstream's (unless `preserve_host_header`),
//!   `X-Forwarded-For` is every earlier hop then the client, `X-Forwarded-Proto`/`-Host` are ours, `Via`
//!   is appended. A client's own `X-Forwarded-Proto`/`-Host` are replaced.
//! - **Responses**: the upstream's copies of the headers the gateway sets (`X-Tyk-DR-Region`, and
//!   `X-RateLimit-*` when it reports a limit) are replaced by the gateway's.

/// Header names the proxy treats specially. Recognised by length first, so most names are compared
/// with at most one candidate: comparing every header against a dozen names, case-insensitively, was
/// visible in profiles at the fast path's request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Describes one connection, never forwarded: `TE`, `Trailer`, `Keep-Alive`,
    /// `Proxy-Authenticate`, `Proxy-Authorization`.
    HopByHop,
    /// `Connection`.
    Connection,
    /// `Upgrade`.
    Upgrade,
    /// `Transfer-Encoding`.
    TransferEncoding,
    /// `Content-Length`.
    ContentLength,
    /// `Host`.
    Host,
    /// `Expect`.
    Expect,
    /// `X-Forwarded-For`.
    ForwardedFor,
    /// `X-Forwarded-Proto`.
    ForwardedProto,
    /// `X-Forwarded-Host`.
    ForwardedHost,
    /// `X-Tyk-DR-Region`.
    Region,
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
    RateLimit,
    /// One of the names above spelt with `_` for `-` (always dropped).
    Impersonation,
    /// Any other header.
    Other,
}

impl Known {
    /// The kind of header `name`.
    #[inline]
    pub fn of(name: &str) -> Self {
        match Self::exact(name) {
            Self::Other if name.len() <= 21 && name.as_bytes().contains(&b'_') => {
                if Self::exact(&name.replace('_', "-")) == Self::Other {
                    Self::Other
                } else {
                    Self::Impersonation
                }
            }
            k => k,
        }
    }

    fn exact(name: &str) -> Self {
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
            17 | 21 if eq("x-ratelimit-limit") || eq("x-ratelimit-reset") => Self::RateLimit,
            21 if eq("x-ratelimit-remaining") => Self::RateLimit,
            _ => Self::Other,
        }
    }

    /// Never crosses the proxy, whatever `Connection` says.
    fn always_dropped(self) -> bool {
        matches!(
            self,
            Self::HopByHop
                | Self::Connection
                | Self::Upgrade
                | Self::TransferEncoding
                | Self::Impersonation
        )
    }

    /// May be made hop-by-hop by a `Connection` header: anything but framing and `Host`.
    fn nominatable(self) -> bool {
        !matches!(
            self,
            Self::ContentLength | Self::TransferEncoding | Self::Host
        )
    }
}

/// The comma-separated tokens of a header value, trimmed.
pub fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(<[u8]>::trim_ascii)
}

/// What a message's `Connection` headers say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `close` is listed.
    pub close: bool,
    /// `upgrade` is listed.
    pub upgrade: bool,
    /// Some other header name is listed (rare: only then is [`nominated`] asked).
    pub names: bool,
}

impl ConnectionOptions {
    /// Read every `Connection` header among `headers`.
    pub fn of<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut o = Self::default();
        for (n, v) in headers {
            if Known::of(n) == Known::Connection {
                o.add(v);
            }
        }
        o
    }

    /// Take in one `Connection` header's value (for callers that already walk the headers).
    #[inline]
    pub fn add(&mut self, value: &[u8]) {
        for t in tokens(value) {
            if t.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if t.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            } else if !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") {
                self.names = true;
            }
        }
    }
}

/// True when a `Connection` header among `headers` lists `name`.
pub fn nominated<'a>(name: &str, mut headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> bool {
    headers.any(|(n, v)| {
        Known::of(n) == Known::Connection
            && tokens(v).any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// True when header `name` (of `kind`) must not cross the proxy. `headers` are the message's headers,
/// read only when `opts.names` says a `Connection` header lists further names.
#[inline]
pub fn is_hop_by_hop<'a, I>(kind: Known, name: &str, opts: ConnectionOptions, headers: I) -> bool
where
    I: Iterator<Item = (&'a str, &'a [u8])>,
{
    kind.always_dropped() || (opts.names && kind.nominatable() && nominated(name, headers))
}

/// Where rewritten header lines go: the fast path's output buffer or hyper's `HeaderMap`.
pub trait HeaderSink {
    /// Add one header line.
    fn put(&mut self, name: &str, value: &[u8]);
}

impl HeaderSink for Vec<u8> {
    #[inline]
    fn put(&mut self, name: &str, value: &[u8]) {
        self.extend_from_slice(name.as_bytes());
        self.extend_from_slice(b": ");
        self.extend_from_slice(value);
        self.extend_from_slice(b"\r\n");
    }
}

impl HeaderSink for http::HeaderMap {
    fn put(&mut self, name: &str, value: &[u8]) {
        // Both come from a parsed message (or from us), so they are valid; a value that is not is dropped.
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            self.append(n, v);
        }
    }
}

/// What the gateway adds to a request it forwards.
pub struct Forwarding<'a> {
    /// The `Host` the upstream gets.
    pub host: &'a [u8],
    /// The client's `Host` (becomes `X-Forwarded-Host`).
    pub client_host: Option<&'a [u8]>,
    /// The client's address (ends `X-Forwarded-For`).
    pub client_ip: &'a [u8],
    /// A header removed before proxying (Tyk's `strip_versioning_data` for header versions).
    pub strip: Option<&'a str>,
    /// What the request's `Connection` headers say ([`ConnectionOptions::of`]).
    pub opts: ConnectionOptions,
    /// The request has `Transfer-Encoding` (so its `Content-Length`, if any, is dropped).
    pub chunked: bool,
}

/// Write the request headers the upstream gets: `Host` first, the client's end-to-end headers in
/// order, then `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Via`.
pub fn forward_request_headers<'a, I>(
    headers: I,
    fwd: &Forwarding<'_>,
    sink: &mut impl HeaderSink,
    xff: &mut Vec<u8>,
) where
    I: Iterator<Item = (&'a str, &'a [u8])> + Clone,
{
    sink.put("host", fwd.host);
    let (opts, chunked) = (fwd.opts, fwd.chunked);
    xff.clear();
    for (n, v) in headers.clone() {
        let kind = Known::of(n);
        match kind {
            Known::Host | Known::ForwardedProto | Known::ForwardedHost => continue,
            // A message with both is framed by Transfer-Encoding (RFC 9112 §6.3): passing its stray
            // Content-Length on would desynchronise the next hop.
            Known::ContentLength if chunked => continue,
            Known::ForwardedFor => {
                if !xff.is_empty() {
                    xff.extend_from_slice(b", ");
                }
                xff.extend_from_slice(v.trim_ascii());
                continue;
            }
            _ => {}
        }
        if is_hop_by_hop(kind, n, opts, headers.clone())
            || fwd.strip.is_some_and(|s| n.eq_ignore_ascii_case(s))
        {
            continue;
        }
        sink.put(n, v);
    }
    if !xff.is_empty() {
        xff.extend_from_slice(b", ");
    }
    xff.extend_from_slice(fwd.client_ip);
    sink.put("x-forwarded-for", xff);
    sink.put("x-forwarded-proto", b"http");
    if let Some(h) = fwd.client_host {
        sink.put("x-forwarded-host", h);
    }
    sink.put("via", VIA);
}

/// The `Via` value the gateway adds to both directions.
pub const VIA: &[u8] = b"1.1 tyk-dr-gateway";

/// True when a response header `name` (of `kind`) is relayed to the client. `own_rate_limit`: the
/// gateway writes its own `X-RateLimit-*`. Framing (`Content-Length`, `Transfer-Encoding`) is decided by
/// the caller, which knows how the body is relayed.
#[inline]
pub fn relay_response_header<'a, I>(
    kind: Known,
    name: &str,
    opts: ConnectionOptions,
    headers: I,
    own_rate_limit: bool,
) -> bool
where
    I: Iterator<Item = (&'a str, &'a [u8])>,
{
    !(is_hop_by_hop(kind, name, opts, headers)
        || kind == Known::Region
        || (kind == Known::RateLimit && own_rate_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("x-ratelimit-limits", Other),
            ("Authorization", Other),
            ("Content_Length", Impersonation),
            ("transfer_encoding", Impersonation),
            ("X_Forwarded_For", Impersonation),
            ("x_custom_header", Other),
        ];
        for (name, kind) in cases {
            assert_eq!(Known::of(name), kind, "{name}");
        }
    }

    fn forwarded(raw: &[(&str, &str)], strip: Option<&str>) -> String {
        let headers = raw.iter().map(|(n, v)| (*n, v.as_bytes()));
        let mut out = Vec::new();
        let fwd = Forwarding {
            host: b"up:9",
            client_host: Some(b"gw"),
            client_ip: b"10.0.0.9",
            strip,
            opts: ConnectionOptions::of(headers.clone()),
            chunked: raw
                .iter()
                .any(|(n, _)| Known::of(n) == Known::TransferEncoding),
        };
        forward_request_headers(headers, &fwd, &mut out, &mut Vec::new());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn connection_cannot_nominate_framing_or_host() {
        let out = forwarded(
            &[
                ("Host", "gw"),
                (
                    "Connection",
                    "keep-alive, Content-Length, Host, Transfer-Encoding, X-Mine",
                ),
                ("Content-Length", "5"),
                ("X-Mine", "1"),
                ("X-Other", "2"),
            ],
            None,
        );
        assert_eq!(
            out,
            "host: up:9\r\nContent-Length: 5\r\nX-Other: 2\r\nx-forwarded-for: 10.0.0.9\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: gw\r\nvia: 1.1 tyk-dr-gateway\r\n"
        );
    }

    #[test]
    fn forwarded_for_keeps_every_hop_on_its_own_line() {
        // The line-merge bug: the client's X-Forwarded-For line was left unterminated and swallowed the
        // next header (here a second Content-Length, which a lenient upstream would then obey).
        let out = forwarded(
            &[
                ("Host", "gw"),
                ("X-Forwarded-For", "1.1.1.1"),
                ("X-Next", "Content-Length: 0"),
                ("x-forwarded-for", " 2.2.2.2 "),
                ("X-Forwarded-Proto", "https"),
                ("X-Api-Version", "v1"),
                ("Content_Length", "0"),
            ],
            Some("x-api-version"),
        );
        assert_eq!(
            out,
            "host: up:9\r\nX-Next: Content-Length: 0\r\n\
             x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\nx-forwarded-proto: http\r\n\
             x-forwarded-host: gw\r\nvia: 1.1 tyk-dr-gateway\r\n"
        );
    }

    #[test]
    fn hop_by_hop_headers_and_their_nominations_are_dropped() {
        let out = forwarded(
            &[
                ("Host", "gw"),
                ("TE", "trailers"),
                ("Keep-Alive", "t=5"),
                ("Proxy-Authorization", "Basic x"),
                ("Upgrade", "h2c"),
                ("Connection", "X-A"),
                ("connection", "x-b"),
                ("X-A", "1"),
                ("X-B", "2"),
                ("Transfer-Encoding", "chunked"),
                ("Content-Length", "3"),
            ],
            None,
        );
        assert_eq!(
            out,
            "host: up:9\r\nx-forwarded-for: 10.0.0.9\r\nx-forwarded-proto: http\r\n\
             x-forwarded-host: gw\r\nvia: 1.1 tyk-dr-gateway\r\n"
        );
    }

    #[test]
    fn responses_keep_their_framing_whatever_connection_says() {
        let h: &[(&str, &[u8])] = &[
            ("Connection", b"Content-Length, X-Secret"),
            ("Content-Length", b"2"),
            ("X-Secret", b"1"),
            ("X-Tyk-DR-Region", b"fake"),
            ("X-RateLimit-Limit", b"7"),
        ];
        let opts = ConnectionOptions::of(h.iter().copied());
        let kept: Vec<&str> = h
            .iter()
            .filter(|(n, _)| relay_response_header(Known::of(n), n, opts, h.iter().copied(), true))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(kept, ["Content-Length"]);
    }
}
