//! End-to-end: Tyk versioning and endpoint lists through the real gateway binary, redis-server and an
//! echo upstream.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::*;
use serde_json::json;
use tyk_model::hash_token;

/// A keyed API versioned by header (`x-api-version`, stripped before proxying) with endpoint lists, and
/// a keyless API versioned by the first URL segment (stripped).
fn write_apps(apps: &Path, up: SocketAddr) {
    let target = format!("http://{up}/");
    let keyed = json!({
        "name": "Versioned", "api_id": "ver", "org_id": "default", "use_keyless": false,
        "auth": {"auth_header_name": "authorization"},
        "definition": {"location": "header", "key": "X-API-Version", "strip_versioning_data": true},
        "version_data": {"not_versioned": false, "default_version": "v1", "versions": {
            "v1": {"name": "v1", "expires": "", "use_extended_paths": true, "extended_paths": {
                "ignored": [{"path": "/health", "method_actions": {"GET": {"action": "no_action", "code": 200, "data": "", "headers": {}}}}],
                "black_list": [{"path": "/admin", "method_actions": {
                    "GET": {"action": "no_action", "code": 200, "data": "", "headers": {}},
                    "POST": {"action": "no_action", "code": 200, "data": "", "headers": {}}}}],
                "white_list": [],
                "transform": [{"path": "/items", "method": "POST", "template_data": {}}]}},
            "v2": {"name": "v2", "use_extended_paths": true, "extended_paths": {
                "ignored": [{"path": "/open", "method": "GET"}],
                "white_list": [{"path": "/items/{id}", "method": "GET"}]}},
            "old": {"name": "old", "expires": "2001-01-01 00:00"}}},
        "proxy": {"listen_path": "/ver/", "target_url": target, "strip_listen_path": true}
    });
    let by_url = json!({
        "name": "By URL", "api_id": "urlv", "org_id": "default", "use_keyless": true,
        "definition": {"location": "url", "key": "", "strip_path": true},
        "version_data": {"not_versioned": false, "versions": {"v1": {"name": "v1"}, "v2": {"name": "v2"}}},
        "proxy": {"listen_path": "/urlv/", "target_url": target, "strip_listen_path": true}
    });
    // Rejected at load, naming the field.
    let broken = json!({
        "api_id": "broken", "use_keyless": true,
        "definition": {"location": "header", "key": "v"},
        "version_data": {"not_versioned": false, "versions": {"v2": {"name": "v2", "use_extended_paths": true,
            "extended_paths": {"white_list": [{"path": "/users/(", "method": "GET"}]}}}},
        "proxy": {"listen_path": "/broken/", "target_url": target}
    });
    for (name, def) in [
        ("ver.json", keyed),
        ("urlv.json", by_url),
        ("broken.json", broken),
    ] {
        std::fs::write(apps.join(name), def.to_string()).unwrap();
    }
    // The shared Tyk fixtures, pointed at the upstream.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/tyk/apps");
    for entry in std::fs::read_dir(&shared).expect("shared Tyk fixtures") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("http://127.0.0.1/", &target)
                .replace("http://httpbin.org/", &target);
            std::fs::write(apps.join(path.file_name().unwrap()), text).unwrap();
        }
    }
}

/// What a case expects: the upstream saw this path (200), or the gateway answered with this error.
enum Want {
    Upstream(&'static str),
    Error(u16, &'static str),
}

/// (method, path, version header, token, expected).
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Want,
);

const DENIED: &str = "Access to this API has been disallowed";
const FORBIDDEN: &str = "Requested endpoint is forbidden";
const NO_SUCH: &str = "This API version does not seem to exist";
const EXPIRED: &str =
    "Api Version has expired, please check documentation or contact administrator";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_endpoint_lists() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_apps(apps, up)
    })
    .await;
    let session = |versions: serde_json::Value| {
        json!({"rate": 1000, "per": 1, "quota_max": -1, "org_id": "default",
               "access_rights": {"ver": {"api_id": "ver", "api_name": "Versioned", "versions": versions}}})
        .to_string()
    };
    redis.set(
        &format!("apikey-{}", hash_token("only-v1")),
        &session(json!(["v1"])),
    );
    redis.set(
        &format!("apikey-{}", hash_token("all-versions")),
        &session(json!(["v1", "v2", "old"])),
    );

    use Want::*;
    let cases: &[Case] = &[
        // No version header: the default version (v1), no lists in the way.
        (
            "GET",
            "/ver/items/1",
            None,
            Some("only-v1"),
            Upstream("/items/1"),
        ),
        // The key is limited to v1.
        (
            "GET",
            "/ver/items/1",
            Some("v2"),
            Some("only-v1"),
            Error(403, DENIED),
        ),
        (
            "GET",
            "/ver/items/1?x=1",
            Some("v2"),
            Some("all-versions"),
            Upstream("/items/1?x=1"),
        ),
        // v2 has a white list: anything else is refused, before auth.
        (
            "GET",
            "/ver/other",
            Some("v2"),
            Some("all-versions"),
            Error(403, FORBIDDEN),
        ),
        (
            "POST",
            "/ver/items/1",
            Some("v2"),
            None,
            Error(403, FORBIDDEN),
        ),
        // v1 black list, for the listed methods only.
        (
            "POST",
            "/ver/admin/users",
            Some("v1"),
            Some("all-versions"),
            Error(403, FORBIDDEN),
        ),
        (
            "DELETE",
            "/ver/admin/users",
            Some("v1"),
            Some("all-versions"),
            Upstream("/admin/users"),
        ),
        // Ignored endpoints pass without a key; other methods still need one.
        ("GET", "/ver/health", None, None, Upstream("/health")),
        (
            "POST",
            "/ver/health",
            None,
            None,
            Error(401, "Authorization field missing"),
        ),
        ("GET", "/ver/open/x", Some("v2"), None, Upstream("/open/x")),
        // Unknown and expired versions.
        (
            "GET",
            "/ver/items/1",
            Some("v9"),
            Some("all-versions"),
            Error(403, NO_SUCH),
        ),
        (
            "GET",
            "/ver/items/1",
            Some("old"),
            Some("all-versions"),
            Error(403, EXPIRED),
        ),
        // Version in the URL, stripped before proxying (after the listen path).
        (
            "GET",
            "/urlv/v2/things?q=1",
            None,
            None,
            Upstream("/things?q=1"),
        ),
        ("GET", "/urlv/v1/", None, None, Upstream("/")),
        ("GET", "/urlv/v3/things", None, None, Error(403, NO_SUCH)),
        (
            "GET",
            "/urlv/",
            None,
            None,
            Error(403, "Version information not found"),
        ),
        // The shared fixtures (not versioned) keep working.
        ("GET", "/quickstart/get", None, None, Upstream("/get")),
    ];
    for (i, (method, path, version, token, want)) in cases.iter().enumerate() {
        let mut headers = Vec::new();
        if let Some(v) = version {
            headers.push(("x-api-version", *v));
        }
        if let Some(t) = token {
            headers.push(("authorization", *t));
        }
        let r = call(method, &gw.url(path), &headers, "").await;
        let what = format!("case {i}: {method} {path} version {version:?} token {token:?}");
        match want {
            Upstream(p) => {
                assert_eq!(r.status, 200, "{what}: {}", r.body);
                let echo = r.json();
                assert_eq!(echo["path"], *p, "{what}");
                assert!(
                    echo["headers"].get("x-api-version").is_none(),
                    "{what}: version header reached the upstream"
                );
            }
            Error(status, text) => {
                assert_eq!(r.status, *status, "{what}: {}", r.body);
                assert_eq!(r.json()["error"], *text, "{what}");
            }
        }
    }

    // The fixtures and both versioned APIs loaded; the broken one is rejected naming the field.
    assert_eq!(loaded_api_ids(&gw).await, ["1", "3", "urlv", "ver"]);
    let rejected = get(&gw.url("/tyk/dr/apis/rejected"), &admin()).await.json();
    let rejected = rejected["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["api_id"], "broken");
    let reason = rejected[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("field `version_data.versions.v2.extended_paths.white_list[0].path`"),
        "{reason}"
    );
}
