//! The request target, normalised once: the one path that routing, the gateway's own paths, auth,
//! versions, endpoint lists and the upstream request all use.
//!
//! A proxy that matches its rules on one reading of a path and forwards a path the upstream reads
//! differently can be walked past (`/public/../secret`, `/%61dmin`, `/admin#x`). So the path is brought
//! to one canonical form before anything looks at it, and that form is what the upstream receives:
//!
//! - **Percent-encoding** (RFC 3986 §6.2.2): a `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`)
//!   is decoded; every other `%XX` is kept, with upper-case hex digits. A `%` not followed by two hex
//!   digits is refused (400).
//! - **Encoded separators**: `%2F` (`/`) and `%5C` (`\`) are refused (400) by default, because upstreams
//!   disagree about whether they separate segments (nginx decodes them before resolving `..`). With
//!   `allow_encoded_slashes = true` they are kept encoded and are data, never a separator, in every
//!   check here. A literal `\` is refused too (some servers read it as `/`).
//! - **Characters RFC 3986 does not allow in a path** but the `http` crate passes (`"`, `{`, `}`, `|`,
//!   `^`, `[`, `]`, non-ASCII bytes) are percent-encoded, so no upstream has to guess.
//! - **Dot segments** are removed (RFC 3986 §5.2.4), after decoding, so `%2e%2e` counts as `..`; a
//!   segment that is `.` or `..` followed by `;` parameters (`..;jsessionid=x`) counts as one too,
//!   since servers that strip path parameters (Tomcat, Jetty) read it so. Runs of `/` are merged into
//!   one (what Tyk's default path cleaning and nginx's `merge_slashes` do).
//! - **Fragments**: a `#` in the target is refused (400) where the gateway sees the raw target (the fast
//!   path); hyper's parser (the `http` crate) removes a fragment before anything reads the target, so on
//!   that path it reaches no check and no upstream.
//! - **Case** is kept: paths are case-sensitive (RFC 3986 §6.2.2.1) and so is Tyk's endpoint matching;
//!   an API whose upstream ignores case should set Tyk's `ignore_endpoint_case` (or `ignore_case` per
//!   endpoint), which the endpoint lists honour.
//! - **The query** is passed on as received (Tyk passes `RawQuery` too); only its characters are checked.
//!
//! Tyk differs in one place: by default it answers a path that needs cleaning with a 301 redirect to the
//! cleaned path; this gateway serves the cleaned path directly (same routing and lists, one round trip).

use std::borrow::Cow;

/// Why a request target is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `#` in the request target (RFC 9112 §3.2: the target carries no fragment).
    #[error("the request target has a fragment (`#`)")]
    Fragment,
    /// `%` not followed by two hex digits.
    #[error("the request target has an invalid percent-encoding")]
    BadPercent,
    /// `%2F` or `%5C` with `allow_encoded_slashes` off.
    #[error("the request path has an encoded slash or backslash (%2F, %5C)")]
    EncodedSlash,
    /// A literal backslash in the path.
    #[error("the request path has a backslash")]
    Backslash,
    /// A control character, space or other byte no request target may hold.
    #[error("the request target has an invalid character")]
    BadChar,
    /// Not origin form (`/...`).
    #[error("the request target must start with `/`")]
    NotOriginForm,
}

/// Bytes a normalised path holds literally: RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`) and
/// `/`, plus `%` as the start of a kept encoding.
const fn path_byte_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'%'
            );
        i += 1;
    }
    t
}

const PATH_BYTE: [bool; 256] = path_byte_table();

/// Bytes a query may hold (RFC 3986 `query`: `pchar`, `/`, `?`). Anything else sends the request to
/// hyper's path, whose parser decides.
const fn query_byte_table() -> [bool; 256] {
    let mut t = PATH_BYTE;
    t[b'?' as usize] = true;
    t
}

const QUERY_BYTE: [bool; 256] = query_byte_table();

/// True when `path` is already in normal form and holds no `%`: the fast path's one-pass test. A path
/// for which this is false is not refused by it, only sent to [`normalise`] (on hyper's path).
#[inline]
pub fn is_plain(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let mut prev = b'/';
    for (i, &c) in b.iter().enumerate().skip(1) {
        if !PATH_BYTE[c as usize] || c == b'%' {
            return false;
        }
        if c == b'/' && prev == b'/' {
            return false;
        }
        // A segment that starts with `.`: `.` or `..`, alone or before `;` parameters, is a dot segment.
        if c == b'.' && prev == b'/' {
            let seg = &b[i..];
            let len = seg
                .iter()
                .position(|&x| x == b'/' || x == b';')
                .unwrap_or(seg.len());
            if len == 1 || (len == 2 && seg[1] == b'.') {
                return false;
            }
        }
        prev = c;
    }
    true
}

/// True when every byte of `query` may stand in a query as it is.
#[inline]
pub fn is_plain_query(query: &str) -> bool {
    query.bytes().all(|c| QUERY_BYTE[c as usize])
}

/// The normal form of an origin-form path (see the module doc), borrowed when it already is one.
pub fn normalise(path: &str, allow_encoded_slashes: bool) -> Result<Cow<'_, str>, TargetError> {
    if is_plain(path) {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(TargetError::NotOriginForm);
    }
    let decoded = decode_unreserved(path.as_bytes(), allow_encoded_slashes)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// Check a query's characters (the query itself is forwarded unchanged).
pub fn check_query(query: &str) -> Result<(), TargetError> {
    for c in query.bytes() {
        if c == b'#' {
            return Err(TargetError::Fragment);
        }
        if c <= b' ' || c == 0x7f {
            return Err(TargetError::BadChar);
        }
    }
    Ok(())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn push_encoded(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// Decode `%XX` of unreserved characters, upper-case the other encodings, encode bytes a path may not
/// hold literally, and refuse what [`TargetError`] names.
fn decode_unreserved(b: &[u8], allow_encoded_slashes: bool) -> Result<String, TargetError> {
    let mut out = String::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(TargetError::BadPercent);
                };
                let v = hi << 4 | lo;
                if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                    out.push(v as char);
                } else if matches!(v, b'/' | b'\\') && !allow_encoded_slashes {
                    return Err(TargetError::EncodedSlash);
                } else {
                    push_encoded(&mut out, v);
                }
                i += 3;
                continue;
            }
            b'#' => return Err(TargetError::Fragment),
            b'\\' => return Err(TargetError::Backslash),
            _ if c <= b' ' || c == 0x7f => return Err(TargetError::BadChar),
            _ if PATH_BYTE[c as usize] => out.push(c as char),
            _ => push_encoded(&mut out, c),
        }
        i += 1;
    }
    Ok(out)
}

/// RFC 3986 §5.2.4 `remove_dot_segments` on an absolute path, with runs of `/` merged. The result
/// starts with `/`; a trailing `/`, `/.` or `/..` leaves a trailing `/` (as the RFC's algorithm does).
fn remove_dot_segments(path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/').skip(1) {
        trailing_slash = false;
        // `..;x` is `..` to servers that strip path parameters (Tomcat, Jetty): it counts as one here.
        match seg.split(';').next().unwrap_or(seg) {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segs.pop();
                trailing_slash = true;
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segs.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_brought_to_one_normal_form() {
        let cases: &[(&str, Result<&str, TargetError>)] = &[
            ("/", Ok("/")),
            ("/a/b", Ok("/a/b")),
            ("/a/b/", Ok("/a/b/")),
            ("/lists/public/../secret", Ok("/lists/secret")),
            ("/lists/./admin", Ok("/lists/admin")),
            ("/lists/%61dmin", Ok("/lists/admin")),
            ("/lists/%2e%2e/x", Ok("/x")),
            ("/lists/%2E./x", Ok("/x")),
            ("/open/../PROTECTED/x", Ok("/PROTECTED/x")),
            ("/ol/./admin", Ok("/ol/admin")),
            ("/lists/public/..;x=1/secret", Ok("/lists/secret")),
            ("/lists/public/.;/secret", Ok("/lists/public/secret")),
            ("/a/..b;/c", Ok("/a/..b;/c")),
            ("/a//b///c", Ok("/a/b/c")),
            ("//admin", Ok("/admin")),
            ("/../../x", Ok("/x")),
            ("/a/..", Ok("/")),
            ("/a/b/..", Ok("/a/")),
            ("/a/.", Ok("/a/")),
            ("/a/.b/..c/...", Ok("/a/.b/..c/...")),
            ("/a%20b", Ok("/a%20b")),
            ("/a%3fb", Ok("/a%3Fb")),
            ("/caf\u{e9}", Ok("/caf%C3%A9")),
            ("/a\"b{c}|d^[e]", Ok("/a%22b%7Bc%7D%7Cd%5E%5Be%5D")),
            ("/Admin", Ok("/Admin")),
            ("/a%2Fb", Err(TargetError::EncodedSlash)),
            ("/a%2f..%2fb", Err(TargetError::EncodedSlash)),
            ("/a%5cb", Err(TargetError::EncodedSlash)),
            ("/a\\..\\b", Err(TargetError::Backslash)),
            ("/a%zz", Err(TargetError::BadPercent)),
            ("/a%4", Err(TargetError::BadPercent)),
            ("/a#x", Err(TargetError::Fragment)),
            ("/a b", Err(TargetError::BadChar)),
            ("a/b", Err(TargetError::NotOriginForm)),
            ("*", Err(TargetError::NotOriginForm)),
        ];
        for (raw, want) in cases {
            let got = normalise(raw, false);
            assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{raw:?}");
        }
    }

    #[test]
    fn encoded_slashes_stay_data_when_allowed() {
        assert_eq!(normalise("/a%2fb/../c", true).unwrap(), "/c");
        assert_eq!(normalise("/a%2f..%2fb", true).unwrap(), "/a%2F..%2Fb");
        assert_eq!(normalise("/x/a%5Cb", true).unwrap(), "/x/a%5Cb");
    }

    #[test]
    fn plain_paths_are_exactly_those_normalise_leaves_alone() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/a.b",
            "/.a",
            "/a/..b",
            "/a/b.",
            "/~u/x-y_z",
            "/a:b@c!$&'()*+,;=",
        ] {
            assert!(is_plain(p), "{p}");
            assert_eq!(normalise(p, false).unwrap(), p);
        }
        for p in [
            "", "a", "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/./a", "/../a", "/..;/a",
            "/.;x", "/%61", "/a b", "/a#b", "/a\"b", "/\u{e9}",
        ] {
            assert!(!is_plain(p), "{p}");
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for p in [
            "/a/%2e/b/../%7e/c//d/.",
            "/%41%42%43/%2D%5F/../x%25y",
            "/\u{e9}/../%C3%A9",
            "/a/b/../../../../c",
        ] {
            let once = normalise(p, true).unwrap().into_owned();
            assert_eq!(normalise(&once, true).unwrap(), once, "{p}");
            assert!(is_plain(&once) || once.contains('%'), "{once}");
        }
    }

    #[test]
    fn queries_keep_their_bytes_but_no_fragment() {
        assert!(check_query("a=1&b=%2F/..?").is_ok());
        assert_eq!(check_query("a=1#x"), Err(TargetError::Fragment));
        assert_eq!(check_query("a=1 b"), Err(TargetError::BadChar));
        assert!(is_plain_query("a=1&b=/x?y"));
        assert!(!is_plain_query("a=<b>"));
    }
}
