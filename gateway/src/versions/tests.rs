use serde_json::{json, Value};

use super::compile::parse_expiry;
use super::*;

/// A definition listening on `/api/` with these `definition` and `version_data`.
fn def(definition: Value, version_data: Value) -> ApiDefinition {
    serde_json::from_value(json!({
        "api_id": "t",
        "proxy": {"listen_path": "/api/", "target_url": "http://up"},
        "definition": definition,
        "version_data": version_data,
    }))
    .unwrap()
}

fn compile(definition: Value, version_data: Value) -> RouteVersions {
    RouteVersions::compile(&def(definition, version_data)).unwrap()
}

/// Run the check for `method path?query` with headers, at Unix time `now`.
/// What a check returns, simplified: (ignored, version) or the error text.
type Outcome = Result<(bool, Option<String>), String>;

/// (route, uri, headers, expected outcome).
type Case<'a> = (
    &'a RouteVersions,
    &'a str,
    &'a [(&'a str, &'a str)],
    Outcome,
);

fn check_at(
    rv: &RouteVersions,
    now: i64,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Outcome {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            HeaderName::try_from(*k).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let req = RequestMeta {
        method,
        path,
        query,
        headers: &h,
        now: crate::clock::Now::read(),
    };
    rv.check_slow(&req, || now)
        .map(|a| (a.ignored, a.access.map(|v| v.name.to_string())))
        .map_err(|e| match e {
            GwError::Reply(r) => format!("reply {}", r.status.as_u16()),
            e => e.to_string(),
        })
}

fn check(rv: &RouteVersions, method: &str, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    check_at(rv, 1_700_000_000, method, uri, headers)
}

const NOT_FOUND: &str = "Version information not found";
const NO_SUCH: &str = "This API version does not seem to exist";
const EXPIRED: &str =
    "Api Version has expired, please check documentation or contact administrator";
const FORBIDDEN: &str = "Requested endpoint is forbidden";

fn ok(v: &str) -> Outcome {
    Ok((false, Some(v.to_string())))
}

#[test]
fn version_resolution_by_location() {
    let versions = json!({"v1": {"name": "v1"}, "v2": {"name": "v2"}});
    let header = compile(
        json!({"location": "header", "key": "X-Api-Version"}),
        json!({"not_versioned": false, "default_version": "v1", "versions": versions}),
    );
    let no_default = compile(
        json!({"location": "header", "key": "x-api-version"}),
        json!({"not_versioned": false, "versions": versions}),
    );
    let fallback = compile(
        json!({"location": "url-param", "key": "version", "fallback_to_default": true}),
        json!({"not_versioned": false, "default_version": "v1", "versions": versions}),
    );
    let url = compile(
        json!({"location": "url"}),
        json!({"not_versioned": false, "default_version": "v2", "versions": versions}),
    );
    let cases: &[Case] = &[
        (&header, "/api/x", &[("x-api-version", "v2")], ok("v2")),
        (&header, "/api/x", &[], ok("v1")),
        (&header, "/api/x", &[("x-api-version", "")], ok("v1")),
        (
            &header,
            "/api/x",
            &[("x-api-version", "v9")],
            Err(NO_SUCH.into()),
        ),
        (
            &header,
            "/api/x",
            &[("x-api-version", "V2")],
            Err(NO_SUCH.into()),
        ),
        (&no_default, "/api/x", &[], Err(NOT_FOUND.into())),
        (&no_default, "/api/x", &[("x-api-version", "v2")], ok("v2")),
        (&fallback, "/api/x?version=v2", &[], ok("v2")),
        (&fallback, "/api/x?a=1&version=v%32", &[], ok("v2")),
        (&fallback, "/api/x?version=v9", &[], ok("v1")),
        (&fallback, "/api/x", &[], ok("v1")),
        (&url, "/api/v1/users", &[], ok("v1")),
        (&url, "/api//v1", &[], ok("v1")),
        (&url, "/api/", &[], ok("v2")),
        (&url, "/api/users/1", &[], Err(NO_SUCH.into())),
    ];
    for (rv, uri, headers, want) in cases {
        assert_eq!(&check(rv, "GET", uri, headers), want, "{uri} {headers:?}");
    }
    // With fallback_to_default, keys granted the default version are admitted too (Tyk).
    let req_headers = http::HeaderMap::new();
    let req = RequestMeta {
        method: "GET",
        path: "/api/x",
        query: Some("version=v2"),
        headers: &req_headers,
        now: crate::clock::Now::read(),
    };
    let access = fallback.check(&req).unwrap().access.unwrap();
    assert!(
        access.granted_by(&["v1"]) && access.granted_by(&["v2"]) && !access.granted_by(&["v3"])
    );
    let access = header
        .check_slow(&RequestMeta { query: None, ..req }, || 0)
        .unwrap()
        .access
        .unwrap();
    assert!(!access.granted_by(&["v2"]) && !access.granted_by::<&str>(&[]));
}

#[test]
fn not_versioned_uses_the_single_or_default_version_and_skips_checks() {
    // The request's version header is ignored; `expires` of a not-versioned API is not checked.
    let rv = compile(
        json!({"location": "header", "key": "version"}),
        json!({"not_versioned": true, "versions": {"Default": {"name": "Default", "expires": "2000-01-01 00:00",
               "paths": {"black_list": ["/secret"]}}}}),
    );
    assert_eq!(
        check(&rv, "GET", "/api/x", &[("version", "nope")]),
        Ok((false, None))
    );
    assert_eq!(check(&rv, "GET", "/api/secret", &[]), Err(FORBIDDEN.into()));
    // Several versions: the one named `default` is used.
    let rv = compile(
        json!({}),
        json!({"not_versioned": true, "versions": {
            "old": {"name": "old", "paths": {"black_list": ["/x"]}},
            "default": {"name": "default", "paths": {"black_list": ["/y"]}}}}),
    );
    assert_eq!(check(&rv, "GET", "/api/x", &[]), Ok((false, None)));
    assert_eq!(check(&rv, "GET", "/api/y", &[]), Err(FORBIDDEN.into()));
}

#[test]
fn common_definitions_compile_to_the_open_fast_path() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/tyk/apps");
    let local =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tyk-model/tests/fixtures");
    let mut seen = 0;
    for dir in [fixtures, local] {
        for f in ["app_sample.json", "quickstart.json"] {
            let Ok(raw) = std::fs::read(dir.join(f)) else {
                continue;
            };
            let d = ApiDefinition::from_json(&raw).unwrap();
            assert!(RouteVersions::compile(&d).unwrap().is_open(), "{f}");
            seen += 1;
        }
    }
    assert!(seen >= 2);
    // No version_data at all, and not_versioned with empty lists.
    assert!(RouteVersions::compile(&ApiDefinition::default())
        .unwrap()
        .is_open());
    let rv = compile(
        json!(null),
        json!({"not_versioned": true, "versions": {"v": {"use_extended_paths": true,
        "extended_paths": {"white_list": [], "black_list": null}}}}),
    );
    assert!(rv.is_open());
    assert!(!compile(json!({}), json!({"versions": {}})).is_open());
}

#[test]
fn expiry() {
    assert_eq!(parse_expiry(""), Ok(None));
    assert_eq!(parse_expiry("-1"), Ok(None));
    assert_eq!(parse_expiry("1970-01-01 00:00"), Ok(Some(0)));
    assert_eq!(parse_expiry("2024-02-29 23:59"), Ok(Some(1_709_251_140)));
    assert_eq!(parse_expiry("3000-01-02 15:04"), Ok(Some(32_503_820_640)));
    for bad in [
        "2023-02-29 00:00",
        "2024-13-01 00:00",
        "2024-01-01 24:00",
        "2024-01-01",
        "2024-01-01T00:00",
        "2024-1-01 00:00",
        "01/02/2024 10:00",
        "2024-01-01 00:00:00",
        "２０２４-01-01 00:0",
    ] {
        assert!(parse_expiry(bad).is_err(), "{bad}");
    }
    let rv = compile(
        json!({"location": "header", "key": "v"}),
        json!({"versions": {"old": {"expires": "2024-01-01 00:00"}, "new": {"expires": ""}}}),
    );
    let at = |now, v| check_at(&rv, now, "GET", "/api/x", &[("v", v)]);
    assert_eq!(at(1_704_067_199, "old"), ok("old"));
    assert_eq!(at(1_704_067_200, "old"), Err(EXPIRED.into()));
    assert_eq!(at(i64::MAX, "new"), ok("new"));
}

#[test]
fn endpoint_lists() {
    let ext = compile(
        json!({"location": "header", "key": "v"}),
        json!({"default_version": "e", "versions": {
            "e": {"use_extended_paths": true, "extended_paths": {
                "ignored": [{"path": "/health", "method_actions": {"GET": {"action": "no_action"}}},
                            {"path": "/public/{id}", "method": "GET"}],
                "black_list": [{"path": "/users/{id}/delete"},
                               {"path": "/users/{id}", "method": "DELETE"},
                               {"path": "/old", "disabled": true}],
                "white_list": [{"path": "/users", "method_actions": {
                                   "GET": {"action": "no_action"},
                                   "PATCH": {"action": "something_else"},
                                   "PUT": {"action": "reply", "code": 418, "data": "teapot",
                                           "headers": {"x-mock": "1"}}}},
                               {"path": "^/exact$", "method": ""},
                               {"path": "/Mixed", "ignore_case": true},
                               {"path": "/health"}, {"path": "/public"}, {"path": "/old"}],
                "internal": [{"path": "/users/internal", "method": "GET"}],
                "transform": [{"path": "/users", "method": "POST"}]}},
            "legacy": {"paths": {"ignored": ["/open"], "black_list": ["/closed"], "white_list": []}}}}),
    );
    let e = |method: &str, path: &str| check(&ext, method, path, &[]);
    let ign = Ok((true, Some("e".to_string())));
    let cases = [
        // ignored first: GET only for the method_actions entry, the `method` entry likewise
        (e("GET", "/api/health"), ign.clone()),
        (e("POST", "/api/health"), ok("e")),
        (e("GET", "/api/public/7"), ign.clone()),
        (e("POST", "/api/public/7"), ok("e")),
        // `{id}` needs a non-empty segment
        (e("GET", "/api/public/"), ok("e")),
        // black list: every method, or one method
        (e("GET", "/api/users/1/delete"), Err(FORBIDDEN.into())),
        (e("DELETE", "/api/users/1"), Err(FORBIDDEN.into())),
        // white list with method_actions: listed methods only; unknown action refuses; reply answers
        (e("GET", "/api/users/1"), ok("e")),
        (e("GET", "/api/users"), ok("e")),
        (e("POST", "/api/users"), Err(FORBIDDEN.into())),
        (e("PATCH", "/api/users"), Err(FORBIDDEN.into())),
        (e("PUT", "/api/users"), Err("reply 418".into())),
        // unanchored by default (`/users` is inside `/v1/users`), anchored when the pattern says so
        (e("GET", "/api/v1/users"), ok("e")),
        (e("GET", "/api/exact"), ok("e")),
        (e("GET", "/api/exact/more"), Err(FORBIDDEN.into())),
        (e("GET", "/api/mixed/x"), ok("e")),
        (e("GET", "/api/MIXED"), ok("e")),
        // disabled black-list entry does not apply; white list still admits it
        (e("GET", "/api/old"), ok("e")),
        // not on the white list
        (e("GET", "/api/other"), Err(FORBIDDEN.into())),
        // internal endpoints are refused from outside (for their method)
        (e("GET", "/api/users/internal"), Err(FORBIDDEN.into())),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
    let l = |path: &str| check(&ext, "PUT", path, &[("v", "legacy")]);
    assert_eq!(l("/api/open/x"), Ok((true, Some("legacy".into()))));
    assert_eq!(l("/api/closed"), Err(FORBIDDEN.into()));
    assert_eq!(l("/api/anything"), ok("legacy"));
    // The reply carries the configured body and headers.
    let req_headers = http::HeaderMap::new();
    let req = RequestMeta {
        method: "PUT",
        path: "/api/users",
        query: None,
        headers: &req_headers,
        now: crate::clock::Now::read(),
    };
    match ext.check(&req) {
        Err(GwError::Reply(r)) => {
            assert_eq!(&r.body[..], b"teapot");
            assert_eq!(r.headers[0].0, "x-mock");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn url_versions_are_stripped_for_matching_and_upstream() {
    let rv = compile(
        json!({"location": "url", "strip_versioning_data": true}),
        json!({"versions": {"v1": {"use_extended_paths": true, "extended_paths": {
            "white_list": [{"path": "^/users$", "method": "GET"}]}}}}),
    );
    assert_eq!(check(&rv, "GET", "/api/v1/users", &[]), ok("v1"));
    assert_eq!(
        check(&rv, "GET", "/api/v1/other", &[]),
        Err(FORBIDDEN.into())
    );
    let cases = [
        ("/api/v1/users", "/api/users"),
        ("/api/v1/", "/api/"),
        ("/api/v1", "/api/v1"),
        ("/api//v1/x", "/api//x"),
        ("/elsewhere/v1/x", "/v1/x"),
    ];
    for (path, want) in cases {
        assert_eq!(rv.upstream_path("/api/", path), want, "{path}");
    }
    // url_versioning_pattern limits what is stripped; without strip flags nothing is.
    let pat = compile(
        json!({"location": "url", "strip_path": true, "url_versioning_pattern": "^v\\d+$"}),
        json!({"versions": {"v1": {}}}),
    );
    assert_eq!(pat.upstream_path("/api/", "/api/v1/x"), "/api/x");
    assert_eq!(pat.upstream_path("/api/", "/api/users/x"), "/api/users/x");
    let keep = compile(json!({"location": "url"}), json!({"versions": {"v1": {}}}));
    assert_eq!(keep.upstream_path("/api/", "/api/v1/x"), "/api/v1/x");
    // Query parameter and header stripping.
    let param = compile(
        json!({"location": "url-param", "key": "version", "strip_versioning_data": true}),
        json!({"versions": {"v1": {}}}),
    );
    assert_eq!(
        param.upstream_query(Some("a=1&version=v1&b=2")).as_deref(),
        Some("a=1&b=2")
    );
    assert_eq!(param.upstream_query(Some("version=v1")), None);
    assert_eq!(param.upstream_query(None), None);
    assert_eq!(
        keep.upstream_query(Some("version=v1")).as_deref(),
        Some("version=v1")
    );
    let header = compile(
        json!({"location": "header", "key": "X-Version", "strip_versioning_data": true}),
        json!({"versions": {"v1": {}}}),
    );
    assert_eq!(header.strip_header().map(|h| h.as_str()), Some("x-version"));
    assert!(param.strip_header().is_none());
}

#[test]
fn invalid_definitions_name_the_field() {
    let err = |definition: Value, version_data: Value| {
        RouteVersions::compile(&def(definition, version_data))
            .unwrap_err()
            .field
    };
    let hdr = json!({"location": "header", "key": "v"});
    let cases = [
        (
            err(
                hdr.clone(),
                json!({"versions": {"v2": {"expires": "next tuesday"}}}),
            ),
            "version_data.versions.v2.expires",
        ),
        (
            err(
                hdr.clone(),
                json!({"versions": {"v2": {"use_extended_paths": true, "extended_paths": {
                "white_list": [{"path": "/ok"}, {"path": "/users/(unclosed"}]}}}}),
            ),
            "version_data.versions.v2.extended_paths.white_list[1].path",
        ),
        (
            err(
                hdr.clone(),
                json!({"versions": {"v2": {"paths": {"black_list": ["/a["]}}}}),
            ),
            "version_data.versions.v2.paths.black_list[0]",
        ),
        (
            err(
                hdr.clone(),
                json!({"versions": {"v2": {"use_extended_paths": true, "extended_paths": {
                "ignored": [{"path": "/m", "method_actions": {"GET": {"action": "reply", "code": 1000}}}]}}}}),
            ),
            "version_data.versions.v2.extended_paths.ignored[0].method_actions.GET.code",
        ),
        (
            err(
                json!({"location": "cookie", "key": "v"}),
                json!({"versions": {}}),
            ),
            "definition.location",
        ),
        (
            err(
                json!({"location": "url", "strip_path": true, "url_versioning_pattern": "("}),
                json!({"versions": {}}),
            ),
            "definition.url_versioning_pattern",
        ),
        (
            err(
                json!({}),
                json!({"not_versioned": true, "versions": {"a": {}, "b": {}}}),
            ),
            "version_data.versions",
        ),
        (
            err(
                json!({}),
                json!({"not_versioned": true, "versions": {"Default": {}, "default": {}}}),
            ),
            "version_data.versions",
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
    // A not-versioned API ignores `definition` and version expiry, as Tyk does.
    assert!(RouteVersions::compile(&def(
        json!({"location": "cookie"}),
        json!({"not_versioned": true, "versions": {"Default": {"expires": "whenever"}}})
    ))
    .is_ok());
}

#[test]
fn listen_path_and_version_stripping_helpers() {
    assert_eq!(strip_listen_path("/api/", "/api/x"), "/x");
    assert_eq!(strip_listen_path("/api", "/api/x"), "/x");
    assert_eq!(strip_listen_path("/api", "/apix"), "/x");
    assert_eq!(strip_listen_path("/api/", "/api"), "/api");
    assert_eq!(strip_listen_path("/", "/x"), "/x");
    assert_eq!(
        strip_version_segment("/v1/users").as_deref(),
        Some("/users")
    );
    assert_eq!(strip_version_segment("/v1"), None);
    assert_eq!(decode("a%2Fb+c%zz%"), "a/b c%zz%");
}
