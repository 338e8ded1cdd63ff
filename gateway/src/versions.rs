//! Tyk's API versioning and endpoint lists (its `VersionCheck` middleware), compiled per route at load.
//!
//! Semantics follow Tyk's classic API definitions (`gateway/api_definition.go`, `mw_version_check.go`,
//! `mw_access_rights.go`, `internal/httputil/mux.go`):
//! - **Version name**: `definition.location` `header` (header `definition.key`), `url-param` (query
//!   parameter `key`) or `url` (first non-empty path segment after the listen path). None given →
//!   `version_data.default_version`; none of either → 403 `Version information not found`; unknown → 403
//!   `This API version does not seem to exist` (unless `definition.fallback_to_default`); past its `expires`
//!   (`2006-01-02 15:04`, UTC) → 403 `Api Version has expired, ...`.
//! - **`not_versioned`**: the request's version is ignored; the version used is the only one, else the one
//!   named `Default`, `default` or `""` (Tyk 5); its `expires` is not checked and keys' `versions` are not
//!   checked. Several candidates, or none, is a load error here (Tyk answers 403 to every request).
//! - **Endpoint lists** (`extended_paths` when `use_extended_paths`, else old-style `paths`): entries are
//!   tried in Tyk's order `ignored`, `black_list`, `white_list`, and the first whose path and method match
//!   decides: ignored → proxied without auth or key limits, black-listed → 403 `Requested endpoint is
//!   forbidden`, white-listed → proxied. With a non-empty white list anything else is refused (403, same
//!   text). `internal` endpoints are refused from outside, as Tyk does without looping.
//! - **Patterns**: `{name}` becomes `([^/]+)`; the rest is a regular expression matched *unanchored*
//!   (Tyk's default: `enable_path_prefix_matching` and `enable_path_suffix_matching` off), so `/users`
//!   also matches `/users/1` and `/v1/users`; write `^/users$` for an exact match. A pattern is tried
//!   against the path without the listen path (and, for `url` versions that are stripped, without the
//!   version segment), then against the full path.
//! - **Methods**: an entry's `method_actions` (older shape) applies to the listed methods only (`no_action`
//!   applies the list, `reply` answers with the configured mock, anything else refuses); without it, the
//!   newer `method` field (empty = every method).
//!
//! Cost: a definition that is not versioned and has no lists (the common case) compiles to an "open"
//! state decided at load ([`RouteVersions::is_open`]); [`RouteVersions::check`] is then one branch, and
//! the upstream path/query helpers one branch each: no allocation, hashing or regex per request.
//!
//! Not done (see `gateway/README.md`): other `extended_paths` middleware (logged once per load and
//! ignored), `mock_response` entries, the API-level `expiration`, `X-Tyk-API-Expires`, `slug` in URL
//! versions, gateway-wide `ignore_endpoint_case` / prefix / suffix matching options.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;
use tyk_model::apidef::{EndpointMeta, VersionDefinition, VersionInfo};
use tyk_model::{ApiDefinition, DefinitionError};

use crate::error::{GwError, MockReply};
use crate::proxy::RequestMeta;

/// What the version check decided for a request it lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission<'r> {
    /// The endpoint is on an `ignored` list: proxy it without auth and without key limits.
    pub ignored: bool,
    /// The version a key must be granted; `None` when the API is not versioned (no version check).
    pub access: Option<VersionAccess<'r>>,
}

impl Admission<'static> {
    /// Nothing to check: not ignored, no version.
    pub const OPEN: Self = Self {
        ignored: false,
        access: None,
    };
}

/// The version a request resolved to, as the key's `access_rights[api].versions` must grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionAccess<'r> {
    /// The version name.
    pub name: &'r str,
    /// With `fallback_to_default`, Tyk also admits keys granted the default version.
    pub or_default: Option<&'r str>,
}

impl VersionAccess<'_> {
    /// Whether a key granted `versions` may call this version (Tyk: an empty list grants none).
    pub fn granted_by<S: AsRef<str>>(&self, versions: &[S]) -> bool {
        let has = |n: &str| versions.iter().any(|v| v.as_ref() == n);
        has(self.name) || self.or_default.is_some_and(has)
    }
}

/// The compiled `version_data` + `definition` of one route.
#[derive(Debug, Default)]
pub struct RouteVersions {
    mode: Mode,
    strip: Option<Strip>,
}

#[derive(Debug, Default)]
enum Mode {
    /// Not versioned and no lists: nothing to do per request.
    #[default]
    Open,
    /// Not versioned, one version with lists.
    Single(Box<Lists>),
    /// Versioned.
    Versioned(Box<Versioned>),
}

#[derive(Debug)]
struct Versioned {
    listen_path: Box<str>,
    location: Location,
    default_name: Option<Box<str>>,
    fallback: bool,
    versions: Box<[VersionSpec]>,
}

#[derive(Debug)]
enum Location {
    /// No location: every request gets the default version.
    Nowhere,
    /// Header name, lowercase.
    Header(Box<str>),
    /// Query parameter name.
    Param(Box<str>),
    /// First path segment after the listen path.
    Url,
}

#[derive(Debug)]
struct VersionSpec {
    name: Box<str>,
    /// Unix seconds; `None` = never.
    expires: Option<i64>,
    lists: Option<Box<Lists>>,
}

/// What is removed before proxying (`strip_versioning_data`, or `strip_path` for `url`).
#[derive(Debug)]
enum Strip {
    Header(HeaderName),
    Param(Box<str>),
    /// The version segment, when it matches `url_versioning_pattern` (if set).
    UrlSegment(Option<Regex>),
}

#[derive(Debug)]
struct Lists {
    /// Listen path, to match patterns against the path without it.
    listen_path: Box<str>,
    /// `url` location with stripping: also match without the version segment.
    strip_version: bool,
    internal: Box<[Entry]>,
    /// `ignored`, `black_list`, `white_list`, in Tyk's order.
    entries: Box<[Entry]>,
    white_list: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ignored,
    Black,
    White,
}

#[derive(Debug)]
struct Entry {
    matcher: Matcher,
    kind: Kind,
    rule: MethodRule,
}

#[derive(Debug)]
enum Matcher {
    /// No regex metacharacters: a substring test (what the unanchored regex would do).
    Contains(Box<str>),
    Regex(Regex),
}

#[derive(Debug)]
enum MethodRule {
    /// Newer `{path, method}` shape; `None` = every method.
    Method(Option<Box<str>>),
    /// Older `method_actions`: only the listed methods.
    Actions(Box<[(Box<str>, Action)]>),
}

#[derive(Debug)]
enum Action {
    Apply,
    Reply(Arc<MockReply>),
    /// Unknown action: Tyk blocks.
    Block,
}

enum UrlStatus<'r> {
    Ok,
    Ignore,
    NotAllowed,
    Reply(&'r Arc<MockReply>),
}

// === per request ===

impl RouteVersions {
    /// Tyk's VersionCheck for one request: resolve the version, check expiry and endpoint lists.
    /// A single branch for routes that are not versioned and have no lists.
    #[inline]
    pub fn check<'r>(&'r self, req: &RequestMeta<'_>) -> Result<Admission<'r>, GwError> {
        match &self.mode {
            Mode::Open => Ok(Admission::OPEN),
            _ => self.check_slow(req, || req.now.unix_secs()),
        }
    }

    #[inline(never)]
    fn check_slow<'r>(
        &'r self,
        req: &RequestMeta<'_>,
        now: impl FnOnce() -> i64,
    ) -> Result<Admission<'r>, GwError> {
        let (lists, access) = match &self.mode {
            Mode::Open => return Ok(Admission::OPEN),
            Mode::Single(l) => (Some(&**l), None),
            Mode::Versioned(v) => {
                let (spec, access) = v.resolve(req)?;
                if spec.expires.is_some_and(|e| now() >= e) {
                    return Err(GwError::VersionExpired);
                }
                (spec.lists.as_deref(), Some(access))
            }
        };
        let status = match lists {
            None => UrlStatus::Ok,
            Some(l) => l.status(req.method, req.path),
        };
        match status {
            UrlStatus::Ok => Ok(Admission {
                ignored: false,
                access,
            }),
            UrlStatus::Ignore => Ok(Admission {
                ignored: true,
                access,
            }),
            UrlStatus::NotAllowed => Err(GwError::EndpointForbidden),
            UrlStatus::Reply(r) => Err(GwError::Reply(r.clone())),
        }
    }

    /// The header to remove before proxying (`header` location with `strip_versioning_data`).
    pub fn strip_header(&self) -> Option<&HeaderName> {
        match &self.strip {
            Some(Strip::Header(h)) => Some(h),
            _ => None,
        }
    }

    /// `path` without the version segment when the version is in the URL and stripped (Tyk removes
    /// `<version>/` after the listen path; a version that ends the path stays).
    pub fn upstream_path<'p>(&self, listen_path: &str, path: &'p str) -> Cow<'p, str> {
        let Some(Strip::UrlSegment(pattern)) = &self.strip else {
            return Cow::Borrowed(path);
        };
        let Some((start, seg)) = url_segment(listen_path, path) else {
            return Cow::Borrowed(path);
        };
        let end = start + seg.len();
        if path.as_bytes().get(end) != Some(&b'/')
            || pattern.as_ref().is_some_and(|p| !p.is_match(seg))
        {
            return Cow::Borrowed(path);
        }
        Cow::Owned(format!("{}{}", &path[..start], &path[end + 1..]))
    }

    /// `query` without the version parameter (`url-param` location with `strip_versioning_data`).
    pub fn upstream_query<'q>(&self, query: Option<&'q str>) -> Option<Cow<'q, str>> {
        let Some(Strip::Param(key)) = &self.strip else {
            return query.map(Cow::Borrowed);
        };
        let q = query?;
        let kept: Vec<&str> = q
            .split('&')
            .filter(|kv| !kv.is_empty() && decode(kv.split('=').next().unwrap_or("")) != **key)
            .collect();
        (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
    }
}

/// Start offset and text of the first non-empty path segment after the listen path.
fn url_segment<'p>(listen_path: &str, path: &'p str) -> Option<(usize, &'p str)> {
    let from = if path.starts_with(listen_path) {
        listen_path.len()
    } else {
        0
    };
    let rest = &path[from..];
    let skip = rest.len() - rest.trim_start_matches('/').len();
    let start = from + skip;
    let seg = path[start..].split('/').next()?;
    (!seg.is_empty()).then_some((start, seg))
}

/// Percent-decoding of a query component (`+` is a space), as Go's `url.ParseQuery`.
fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

impl Versioned {
    fn find(&self, name: &str) -> Option<&VersionSpec> {
        self.versions.iter().find(|v| &*v.name == name)
    }

    fn requested<'a>(&self, req: &RequestMeta<'a>) -> Option<Cow<'a, str>> {
        let v = match &self.location {
            Location::Nowhere => None,
            Location::Header(h) => req
                .headers
                .header(h)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(Cow::Borrowed),
            Location::Param(p) => req.query.and_then(|q| {
                q.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k) == **p).then(|| decode(v))
                })
            }),
            Location::Url => None,
        };
        v.filter(|v| !v.is_empty())
    }

    fn resolve<'r>(
        &'r self,
        req: &RequestMeta<'_>,
    ) -> Result<(&'r VersionSpec, VersionAccess<'r>), GwError> {
        let requested = match &self.location {
            Location::Url => {
                url_segment(&self.listen_path, req.path).map(|(_, s)| Cow::Borrowed(s))
            }
            _ => self.requested(req),
        };
        let default = self.default_name.as_deref();
        let spec = match requested.as_deref() {
            None => {
                let d = default.ok_or(GwError::VersionNotFound)?;
                self.find(d).ok_or(GwError::VersionDoesNotExist)?
            }
            Some(name) => match self.find(name) {
                Some(s) => s,
                None if self.fallback => default
                    .and_then(|d| self.find(d))
                    .ok_or(GwError::VersionDoesNotExist)?,
                None => return Err(GwError::VersionDoesNotExist),
            },
        };
        Ok((
            spec,
            VersionAccess {
                name: &spec.name,
                or_default: default.filter(|_| self.fallback),
            },
        ))
    }
}

impl Lists {
    /// Tyk's `URLAllowedAndIgnored`.
    fn status(&self, method: &str, path: &str) -> UrlStatus<'_> {
        let clean = strip_listen_path(&self.listen_path, path);
        let no_version = self
            .strip_version
            .then(|| strip_version_segment(&clean))
            .flatten();
        let matches = |m: &Matcher| {
            no_version.as_deref().is_some_and(|p| m.is_match(p))
                || m.is_match(&clean)
                || m.is_match(path)
        };
        if self.internal.iter().any(|e| {
            matches!(&e.rule, MethodRule::Method(Some(m)) if &**m == method) && matches(&e.matcher)
        }) {
            return UrlStatus::NotAllowed;
        }
        for e in self.entries.iter() {
            if !matches(&e.matcher) {
                continue;
            }
            let listed = match e.kind {
                Kind::Ignored => UrlStatus::Ignore,
                Kind::Black => UrlStatus::NotAllowed,
                Kind::White => UrlStatus::Ok,
            };
            match &e.rule {
                MethodRule::Method(None) => return listed,
                MethodRule::Method(Some(m)) if &**m == method => return listed,
                MethodRule::Method(Some(_)) => continue,
                MethodRule::Actions(actions) => {
                    match actions.iter().find(|(m, _)| &**m == method) {
                        None => continue,
                        Some((_, Action::Apply)) => return listed,
                        Some((_, Action::Reply(r))) => return UrlStatus::Reply(r),
                        Some((_, Action::Block)) => return UrlStatus::NotAllowed,
                    }
                }
            }
        }
        if self.white_list {
            UrlStatus::NotAllowed
        } else {
            UrlStatus::Ok
        }
    }
}

impl Matcher {
    fn is_match(&self, path: &str) -> bool {
        match self {
            Matcher::Contains(s) => path.contains(&**s),
            Matcher::Regex(r) => r.is_match(path),
        }
    }
}

/// Tyk's `StripListenPath`: the path without the listen path, always starting with `/`.
fn strip_listen_path<'p>(listen_path: &str, path: &'p str) -> Cow<'p, str> {
    let rest = path.strip_prefix(listen_path).unwrap_or(path);
    if rest.starts_with('/') {
        Cow::Borrowed(rest)
    } else if listen_path.ends_with('/') && path.len() > rest.len() {
        // The listen path's own trailing slash.
        Cow::Borrowed(&path[path.len() - rest.len() - 1..])
    } else {
        Cow::Owned(format!("/{rest}"))
    }
}

/// Tyk's `StripVersionPath`: `/v1/users` → `/users`; `None` when nothing changes.
fn strip_version_segment(clean: &str) -> Option<String> {
    let part = clean.trim_matches('/').split('/').next()?;
    let needle = format!("/{part}/");
    clean
        .contains(&needle)
        .then(|| clean.replacen(&needle, "/", 1))
}

mod compile;
#[cfg(test)]
mod tests;
