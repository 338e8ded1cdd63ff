//! End-to-end tests: the real gateway binary against real redis-server, an echo upstream and a test DNS server.
//!
//! Most checks are tables of [`Case`]s (what, request, expected status, expected body) run in order
//! by [`check_all`]; what is really sequential (Redis going away, reloads, restarts) sits between.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tyk_model::{generate_token, hash_token, Command as Cmd, HashAlgo, Notification};

const T: Duration = Duration::from_secs(15);
const CHANNEL: &str = "tyk.cluster.notifications";
/// A path of the keyed fixture API.
const KEYED: &str = "/otto/a";

// The gateway's `error` texts (Tyk's).
const MISSING: &str = "Authorization field missing";
const DENIED: &str = "Access to this API has been disallowed";
const INACTIVE: &str = "Key is inactive, please renew";
const EXPIRED: &str = "Key has expired, please renew";
const RATE_LIMITED: &str = "Rate Limit Exceeded";
const QUOTA: &str = "Quota exceeded";
const STORE_DOWN: &str = "Key store unavailable, please retry";

fn session(extra: &str) -> String {
    format!(
        r#"{{"rate":1000,"per":1,"quota_max":-1,"org_id":"default",
            "access_rights":{{"1":{{"api_id":"1","api_name":"Tyk Test API","versions":["Default"]}}}}{extra}}}"#
    )
}

/// A session limited to `rate` requests per `per` seconds.
fn rate_session(rate: u32, per: u32) -> String {
    let limit = format!(r#""rate":{rate},"per":{per}"#);
    session("").replace(r#""rate":1000,"per":1"#, &limit)
}

/// A session with a quota of `max` requests an hour.
fn quota_session(max: i64) -> String {
    let quota = format!(r#""quota_max":{max},"quota_renewal_rate":3600"#);
    session("").replace(r#""quota_max":-1"#, &quota)
}

/// The Redis name of `token`'s quota counter.
fn quota_counter(token: &str) -> String {
    format!("quota-{}", hash_token(token))
}

/// A keyless API definition proxying `listen_path` to `up`, stripping the listen path if `strip`.
fn keyless_api(api_id: &str, listen_path: &str, up: SocketAddr, strip: bool) -> Value {
    let mut proxy = json!({"listen_path": listen_path, "target_url": format!("http://{up}")});
    if strip {
        proxy["strip_listen_path"] = json!(true);
    }
    json!({"api_id": api_id, "use_keyless": true, "proxy": proxy})
}

/// One request to the gateway.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Req {
    fn new(method: &'static str, path: &str) -> Req {
        Req {
            method,
            path: path.to_string(),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// GET without credentials.
    fn get(path: &str) -> Req {
        Req::new("GET", path)
    }

    /// GET with `token` in the Authorization header.
    fn key(path: &str, token: &str) -> Req {
        Req::get(path).header("authorization", token)
    }

    /// A management call with the configured secret.
    fn admin(method: &'static str, path: &str, body: &str) -> Req {
        Req::new(method, path)
            .header("x-tyk-authorization", SECRET)
            .body(body)
    }

    fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.push((name, value.to_string()));
        self
    }

    fn body(mut self, body: &str) -> Req {
        self.body = body.to_string();
        self
    }

    async fn send(&self, gw: &Gateway) -> Resp {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        call(self.method, &gw.url(&self.path), &headers, &self.body).await
    }
}

/// GET the keyed fixture API with `token`.
fn keyed(token: &str) -> Req {
    Req::key(KEYED, token)
}

/// What a case's response body must show, besides the status.
#[derive(Clone, Debug)]
enum Body {
    /// Not checked.
    Any,
    /// This JSON `error` text.
    Error(&'static str),
    /// This text somewhere.
    Has(&'static str),
    /// This JSON value at this pointer.
    Json(&'static str, Value),
}
use Body::*;

/// A table row: what is checked, the request, the expected status and body.
type Case<'a> = (&'a str, Req, u16, Body);

/// Send the case's request and check the answer, naming the case; the response, for more checks.
async fn check(gw: &Gateway, (what, req, status, body): Case<'_>) -> Resp {
    let r = req.send(gw).await;
    let (method, path) = (req.method, &req.path);
    let answer = &r.body;
    assert_eq!(
        r.status, status,
        "{what}: {method} {path} answered {answer}"
    );
    match body {
        Any => {}
        Error(text) => assert_eq!(r.json()["error"], text, "{what}: {}", r.body),
        Has(text) => assert!(r.body.contains(text), "{what}: no {text:?} in {}", r.body),
        Json(at, want) => {
            let got = r.json().pointer(at).cloned();
            assert_eq!(got, Some(want), "{what}: {at} in {}", r.body);
        }
    }
    r
}

/// [`check`] each case, in order.
async fn check_all(gw: &Gateway, cases: impl IntoIterator<Item = Case<'_>>) {
    for case in cases {
        check(gw, case).await;
    }
}

/// Poll until `req` is answered with `status`.
async fn until_status(gw: &Gateway, what: &str, req: Req, status: u16) {
    eventually(what, T, || async {
        (req.send(gw).await.status == status).then_some(())
    })
    .await
}

/// Poll until Redis holds `want` at `key`.
async fn until_redis(redis: &Redis, what: &str, key: &str, want: &str) {
    eventually(what, T, || async {
        (redis.get(key).as_deref() == Some(want)).then_some(())
    })
    .await
}

/// Poll until the metrics contain every one of `lines`.
async fn until_metrics(gw: &Gateway, what: &str, lines: &[&str]) {
    eventually(what, T, || async {
        let m = metrics(gw).await;
        lines.iter().all(|l| m.contains(l)).then_some(())
    })
    .await
}

/// Redis, the echo upstream and a gateway (standard secrets plus `extra` config) serving the Tyk
/// fixtures and whatever `more_apps` writes.
async fn gateway_with(
    extra: &str,
    more_apps: impl FnOnce(&Path, SocketAddr),
) -> (Redis, SocketAddr, Gateway) {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let extra = format!("{}\n{extra}", standard_extra());
    let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| {
        write_fixture_apps(apps, up);
        more_apps(apps, up);
    })
    .await;
    (redis, up, gw)
}

/// [`gateway_with`] the fixtures only.
async fn fixture_gateway() -> (Redis, SocketAddr, Gateway) {
    gateway_with("", |_, _| {}).await
}

/// Start GET /quickstart/slow (the upstream takes 700 ms) and give it 200 ms to be in flight.
async fn slow_request_in_flight(gw: &Gateway) -> tokio::task::JoinHandle<Resp> {
    let url = gw.url("/quickstart/slow");
    let in_flight = tokio::spawn(async move { get(&url, &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_load_keyless_proxy_and_health() {
    let (_redis, up, gw) = gateway_with("", |apps, _| {
        std::fs::write(apps.join("broken.json"), "{ not json").unwrap();
        let badpath =
            r#"{"api_id":"x","proxy":{"listen_path":"nope","target_url":"http://127.0.0.1:1"}}"#;
        std::fs::write(apps.join("badpath.json"), badpath).unwrap();
    })
    .await;

    // Keyless API, listen path stripped, forwarding headers added, region header set.
    let keyless = Req::get("/quickstart/get?a=1").header("host", "example.test");
    let r = check(&gw, ("keyless API", keyless, 200, Any)).await;
    let region = r.header("x-tyk-dr-region");
    assert_eq!(region, Some("test-region"), "keyless API: region header");
    let echo = r.json();
    let up = up.to_string();
    for (at, want) in [
        ("/path", "/get?a=1"),
        ("/headers/x-forwarded-for", "127.0.0.1"),
        ("/headers/x-forwarded-host", "example.test"),
        ("/headers/x-forwarded-proto", "http"),
        ("/headers/host", &up),
    ] {
        let seen = echo.pointer(at).and_then(Value::as_str);
        assert_eq!(seen, Some(want), "keyless API: upstream saw {at} in {echo}");
    }
    let via = echo["headers"]["via"].as_str().unwrap_or_default();
    assert!(via.contains("tyk-dr-gateway"), "keyless API: via in {echo}");

    #[rustfmt::skip]
    let cases = [
        ("keyed fixture without a token", Req::get("/otto/x"), 401, Error(MISSING)),
        ("unknown path", Req::get("/nope"), 404, Error("Not found")),
    ];
    check_all(&gw, cases).await;

    // /hello in Tyk's shape; readiness 200 once Redis is seen.
    let hello = eventually("hello pass", T, || async {
        let r = get(&gw.url("/hello"), &[]).await;
        (r.json()["status"] == "pass").then_some(r)
    })
    .await;
    assert_eq!(hello.status, 200, "hello: {}", hello.body);
    let j = hello.json();
    let health = &j["details"]["redis"];
    assert_eq!(health["componentType"], "datastore", "hello: {j}");
    assert_eq!(health["status"], "pass", "hello: {j}");
    let described = j["version"].is_string() && j["description"].is_string();
    assert!(described, "hello: {j}");
    let ready = Req::get("/ready");
    check(&gw, ("ready once redis is seen", ready, 200, Any)).await;

    // The management API lists exactly the two valid fixtures.
    assert_eq!(loaded_api_ids(&gw).await, ["1", "3"], "loaded APIs");

    let m = metrics(&gw).await;
    for line in [
        r#"tyk_gw_requests_total{api="3",code="200"} 1"#,
        "tyk_gw_redis_up 1",
    ] {
        assert!(m.contains(line), "metrics lack {line}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_rate_limit_and_quota() {
    let (redis, _up, gw) = fixture_gateway().await;

    // A plain token (stored under its murmur32 digest), generated tokens for every other algorithm,
    // both session fixtures, and sessions the gateway must refuse.
    let plain = "default0123456789";
    let bearer = format!("Bearer {plain}");
    let murmur32 = HashAlgo::Murmur32.hex_digest(plain.as_bytes());
    redis.set(&format!("apikey-{murmur32}"), &session(""));
    let generated = [HashAlgo::Murmur64, HashAlgo::Murmur128, HashAlgo::Sha256].map(|algo| {
        let token = generate_token("default", &format!("id-{}", algo.name()), Some(algo));
        redis.put_key(&token, &session(""));
        (format!("generated {} token", algo.name()), token)
    });
    let fixture = |file: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tyk-model/tests/fixtures");
        std::fs::read_to_string(dir.join(file)).unwrap()
    };
    #[rustfmt::skip]
    let keys = [
        ("fixfull", fixture("session_full.json")),
        ("fixmin", fixture("session_minimal.json")),
        ("inactive", session(r#","is_inactive":true"#)),
        ("expired", session(r#","expires":1000"#)),
        ("norights", r#"{"access_rights":{"9":{"api_id":"9"}}}"#.to_string()),
        ("garbage", "{not json".to_string()),
    ];
    for (token, s) in keys {
        redis.put_key(token, &s);
    }
    #[rustfmt::skip]
    let cases = [
        ("plain murmur32 token", keyed(plain), 200, Any),
        ("plain token with a Bearer prefix", keyed(&bearer), 200, Any),
        ("session_full.json", keyed("fixfull"), 200, Any),
        ("session_minimal.json", keyed("fixmin"), 200, Any),
        ("unknown key", keyed("unknown"), 403, Error(DENIED)),
        ("inactive key", keyed("inactive"), 403, Error(INACTIVE)),
        ("expired key", keyed("expired"), 401, Error(EXPIRED)),
        ("key without a right to the API", keyed("norights"), 403, Error(DENIED)),
        ("session that is not JSON", keyed("garbage"), 403, Error(DENIED)),
    ];
    let generated = generated
        .iter()
        .map(|(what, t)| (what.as_str(), keyed(t), 200, Any));
    check_all(&gw, generated.chain(cases)).await;

    // Rate limit: 3 per 60 s → 3 × 200 then 429, with the limit headers on each.
    redis.put_key("ratekey", &rate_session(3, 60));
    #[rustfmt::skip]
    let cases = [
        ("rate limit: request 1 of 3", 200, Any, "2"),
        ("rate limit: request 2 of 3", 200, Any, "1"),
        ("rate limit: request 3 of 3", 200, Any, "0"),
        ("rate limit: request 4 of 3", 429, Error(RATE_LIMITED), "0"),
    ];
    for (what, status, body, remaining) in cases {
        let r = check(&gw, (what, keyed("ratekey"), status, body)).await;
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"), "{what}");
        assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining), "{what}");
    }

    // Quota: 2 an hour → 2 × 200 then 403. Usage recorded by another gateway (a pre-seeded
    // counter) is honoured.
    redis.put_key("quotakey", &quota_session(2));
    redis.set(&quota_counter("usedkey"), "5");
    redis.put_key("usedkey", &quota_session(5));
    #[rustfmt::skip]
    let cases = [
        ("quota: request 1 of 2", keyed("quotakey"), 200, Any),
        ("quota: request 2 of 2", keyed("quotakey"), 200, Any),
        ("quota: request 3 of 2", keyed("quotakey"), 403, Error(QUOTA)),
        ("quota used up elsewhere", keyed("usedkey"), 403, Error(QUOTA)),
    ];
    check_all(&gw, cases).await;
    // The counter lands in Redis with the renewal period as its TTL; the refused request counts too (Tyk).
    let counter = quota_counter("quotakey");
    until_redis(&redis, "quota counter synced to redis", &counter, "3").await;
    let ttl = redis.ttl(&counter);
    assert!(ttl > 3500 && ttl <= 3600, "quota counter ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_and_fencing() {
    let (redis, up, gw) = fixture_gateway().await;

    let wrong = Req::get("/tyk/apis").header("x-tyk-authorization", "wrong");
    #[rustfmt::skip]
    let cases = [
        ("keys without a secret", Req::get("/tyk/keys"), 403, Any),
        ("apis with a wrong secret", wrong, 403, Any),
        ("fence without a secret", Req::new("POST", "/tyk/dr/fence"), 403, Any),
    ];
    check_all(&gw, cases).await;

    // Create a key: generated base64-JSON token, stored hashed with its algorithm.
    let create = Req::admin("POST", "/tyk/keys", &session(""));
    let j = check(&gw, ("create key", create, 200, Any)).await.json();
    let token = j["key"].as_str().unwrap().to_string();
    let info = tyk_model::decode_token(&token).expect("generated token is base64 JSON");
    assert_eq!(info.h, "murmur64", "created token {token}");
    assert_eq!(info.org, "default", "created token {token}");
    assert_eq!(j["key_hash"], hash_token(&token), "created key's hash");
    let stored = redis.get(&format!("apikey-{}", hash_token(&token)));
    assert!(stored.is_some(), "created key not in redis");

    // Use, read, update (make inactive), delete.
    let key_path = format!("/tyk/keys/{}", token.replace('/', "%2F"));
    let (active, inactive) = (session(""), session(r#","is_inactive":true"#));
    #[rustfmt::skip]
    let cases = [
        ("created key proxies", Req::key("/otto/x", &token), 200, Any),
        ("read key", Req::admin("GET", &key_path, ""), 200, Json("/org_id", json!("default"))),
        ("make key inactive", Req::admin("PUT", &key_path, &inactive), 200, Any),
        ("inactive key refused", Req::key("/otto/x", &token), 403, Error(INACTIVE)),
        ("delete key", Req::admin("DELETE", &key_path, ""), 200, Any),
        ("read deleted key", Req::admin("GET", &key_path, ""), 404, Any),
        ("update unknown key", Req::admin("PUT", "/tyk/keys/nosuch", &active), 404, Any),
        // Bad JSON bodies are 400, not a crash.
        ("create key from bad JSON", Req::admin("POST", "/tyk/keys", "{oops"), 400, Any),
        ("create API from bad JSON", Req::admin("POST", "/tyk/apis", "[1,2"), 400, Any),
    ];
    check_all(&gw, cases).await;

    // APIs: add a definition file, reload, route; delete, reload, gone.
    let mut def = keyless_api("new1", "/new/", up, true);
    def["name"] = json!("new");
    let add = Req::admin("POST", "/tyk/apis", &def.to_string());
    check(&gw, ("add API", add, 200, Any)).await;
    let written = gw.app_path().join("new1.json").is_file();
    assert!(written, "add API: no new1.json");
    let gopher = r#"{"api_id":"b","proxy":{"listen_path":"/b/","target_url":"gopher://x"}}"#;
    let gopher = Req::admin("POST", "/tyk/apis", gopher);
    #[rustfmt::skip]
    let cases = [
        ("new API before reload", Req::get("/new/x"), 404, Any),
        ("reload", Req::admin("GET", "/tyk/reload", ""), 200, Any),
        ("new API after reload", Req::get("/new/x"), 200, Json("/path", json!("/x"))),
        ("add API with a gopher target", gopher, 400, Has("proxy.target_url")),
        ("delete API", Req::admin("DELETE", "/tyk/apis/new1", ""), 200, Any),
        ("delete API by a path", Req::admin("DELETE", "/tyk/apis/..%2Fx", ""), 400, Any),
        ("reload with a trailing slash", Req::admin("GET", "/tyk/reload/", ""), 200, Any),
        ("deleted API after reload", Req::get("/new/x"), 404, Any),
    ];
    check_all(&gw, cases).await;

    // Fence: readiness 503 and proxied traffic refused; unfence restores both.
    until_status(&gw, "ready", Req::get("/ready"), 200).await;
    let fenced = "Gateway is fenced: this region is not serving traffic";
    let connected = Json("/connected", json!(true));
    #[rustfmt::skip]
    let cases = [
        ("fence", Req::admin("POST", "/tyk/dr/fence", ""), 200, Any),
        ("ready while fenced", Req::get("/ready"), 503, Has("fenced")),
        ("proxied while fenced", Req::get("/quickstart/x"), 503, Error(fenced)),
        ("hello while fenced", Req::get("/hello"), 200, Any),
        ("unfence", Req::admin("DELETE", "/tyk/dr/fence", ""), 200, Any),
        ("ready after unfence", Req::get("/ready"), 200, Any),
        ("proxied after unfence", Req::get("/quickstart/x"), 200, Any),
        // Reconnect drops pools and comes back.
        ("reconnect", Req::admin("POST", "/tyk/dr/redis/reconnect", ""), 200, connected),
    ];
    check_all(&gw, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_refused_without_configured_secret() {
    let redis = Redis::start("127.0.0.1", free_port());
    let gw = start_gateway(&redis_at(redis.addr), "", |_| {}).await;
    let empty = Req::get("/tyk/apis").header("x-tyk-authorization", "");
    #[rustfmt::skip]
    let cases = [
        ("apis with an empty secret", empty, 403, Any),
        ("apis with the usual secret", Req::admin("GET", "/tyk/apis", ""), 403, Any),
        // No definitions loaded → not ready.
        ("ready without APIs", Req::get("/ready"), 503, Any),
    ];
    check_all(&gw, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_reload_signed_only_and_keyspace_flush() {
    let (redis, up, gw) = fixture_gateway().await;
    eventually("subscribed", T, || async {
        let mut c = redis.conn();
        let n: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query(&mut c)
            .ok()?;
        (n.first()?.1 >= 1).then_some(())
    })
    .await;
    let late = keyless_api("late", "/late/", up, false).to_string();
    std::fs::write(gw.app_path().join("late.json"), late).unwrap();

    // Unsigned and wrongly signed reloads are ignored; so is a message that is not JSON.
    for msg in [
        r#"{"command":"GroupReload","payload":"","signature":""}"#.to_string(),
        Notification::signed(&Cmd::GroupReload, "", "wrong").to_json(),
        "not json at all".to_string(),
    ] {
        redis.publish(CHANNEL, &msg);
    }
    let counted = [
        r#"tyk_gw_notifications_total{command="GroupReload",outcome="bad_signature"} 2"#,
        r#"outcome="malformed"} 1"#,
    ];
    until_metrics(&gw, "bad notifications counted", &counted).await;
    check(&gw, ("late API not loaded", Req::get("/late/x"), 404, Any)).await;

    // A signed ApiAdded reloads.
    let added = Notification::signed(&Cmd::ApiAdded, "late", NODE_SECRET);
    redis.publish(CHANNEL, &added.to_json());
    until_status(&gw, "signed reload", Req::get("/late/x"), 200).await;

    // KeySpaceUpdateNotification drops a cached session: with a 60 s stale window and Redis down,
    // a flushed key can no longer be served from cache.
    redis.put_key("cachedkey", &session(""));
    check(&gw, ("key before the flush", keyed("cachedkey"), 200, Any)).await;
    let flush = Notification::signed(&Cmd::KeySpaceUpdate, &hash_token("cachedkey"), NODE_SECRET);
    redis.publish(CHANNEL, &flush.to_json());
    let accepted =
        r#"tyk_gw_notifications_total{command="KeySpaceUpdateNotification",outcome="accepted"} 1"#;
    until_metrics(&gw, "keyspace notification handled", &[accepted]).await;
    drop(redis);
    let flushed = keyed("cachedkey");
    check(&gw, ("flushed key", flushed, 503, Error(STORE_DOWN))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_serves_cached_keys_503_for_unseen_then_recovers() {
    let (mut redis, _up, gw) = fixture_gateway().await;
    let port = redis.addr.port();
    redis.put_key("seen", &session(""));
    check(&gw, ("seen key, redis up", keyed("seen"), 200, Any)).await;

    redis.kill();
    // Session TTL is 200 ms, so after this the cache entry is stale and Redis must be asked (and fails).
    tokio::time::sleep(Duration::from_millis(300)).await;
    #[rustfmt::skip]
    let cases = [
        ("seen key served from cache (1)", keyed("seen"), 200, Any),
        ("seen key served from cache (2)", keyed("seen"), 200, Any),
        ("seen key served from cache (3)", keyed("seen"), 200, Any),
        ("unseen key, redis down", keyed("unseen"), 503, Error(STORE_DOWN)),
    ];
    check_all(&gw, cases).await;
    until_status(&gw, "not ready, redis down", Req::get("/ready"), 503).await;
    let fail = Json("/details/redis/status", json!("fail"));
    check(&gw, ("hello, redis down", Req::get("/hello"), 200, fail)).await;

    // Redis returns (empty, as after a restart); a key written now is accepted without restarting the gateway.
    let redis2 = Redis::start("127.0.0.1", port);
    redis2.put_key("unseen", &session(""));
    until_status(&gw, "recovered", keyed("unseen"), 200).await;
    until_status(&gw, "ready again", Req::get("/ready"), 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_dns_change_to_new_redis_without_restart() {
    let port = free_port();
    let mut a = Redis::start("127.0.0.1", port);
    let dns = start_dns(Ipv4Addr::new(127, 0, 0, 1)).await;
    let up = start_upstream().await;
    let section = format!(
        "host = \"redis.tyk-dr.test.\"\nport = {port}\nnameserver = \"{}\"",
        dns.addr
    );
    let gw = start_gateway(&section, &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    a.put_key("k1", &session(""));
    until_status(&gw, "served via region A redis", keyed("k1"), 200).await;

    // Fail over: A dies, B (another address) takes over, the DNS answer changes.
    a.kill();
    let b = Redis::start("127.0.0.2", port);
    b.put_key("k2", &session(""));
    *dns.ip.lock().unwrap() = Ipv4Addr::new(127, 0, 0, 2);
    // k2 exists only in B: a 200 proves the gateway reconnected to the new address by itself.
    until_status(&gw, "served via region B redis", keyed("k2"), 200).await;
    let m = metrics(&gw).await;
    assert!(m.contains("tyk_gw_redis_up 1"), "redis up via B: {m}");
    // Pub/sub follows too: a signed reload published on B is acted on.
    let late = keyless_api("late", "/late/", up, false).to_string();
    std::fs::write(gw.app_path().join("late.json"), late).unwrap();
    let reload = Notification::signed(&Cmd::GroupReload, "", NODE_SECRET).to_json();
    eventually("reload via B pub/sub", T, || async {
        b.publish(CHANNEL, &reload);
        (Req::get("/late/x").send(&gw).await.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_and_huge_headers_never_crash() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_redis, _up, gw) = fixture_gateway().await;

    async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
    let big = format!(
        "GET /quickstart/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let bad_length = b"GET /quickstart/ HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n";
    // A non-UTF-8 Authorization header is treated as missing, not a panic.
    let bad_auth =
        b"GET /otto/ HTTP/1.1\r\nHost: x\r\nAuthorization: \xff\xfe\r\nConnection: close\r\n\r\n";
    #[rustfmt::skip]
    let cases: [(&str, &[u8], &str); 4] = [
        ("not HTTP", b"THIS IS NOT HTTP\r\n\r\n", "HTTP/1.1 400"),
        ("200 kB header", big.as_bytes(), "HTTP/1.1 431"),
        ("Content-Length: zz", bad_length, "HTTP/1.1 400"),
        ("non-UTF-8 Authorization", bad_auth, "HTTP/1.1 401"),
    ];
    for (what, bytes, want) in cases {
        let r = raw(gw.addr, bytes).await;
        assert!(r.starts_with(want), "{what}: {r}");
    }
    check(&gw, ("still serving", Req::get("/quickstart/ok"), 200, Any)).await;
}

#[test]
fn bad_config_exits_64_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gw.toml");
    let bad = "region = \"r\"\napp_path = \"/definitely/missing\"\n[redis]\nhost = \"\"\nnameserver = \"bad\"\n";
    let good = format!(
        "region = \"r\"\napp_path = \"{}\"\n[redis]\nhost = \"redis.internal\"\n",
        dir.path().display()
    );
    let named = [
        "gw.toml",
        "`app_path`",
        "`redis.host`",
        "`redis.nameserver`",
    ];
    #[rustfmt::skip]
    let cases: [(&str, &str, i32, &[&str]); 2] = [
        ("bad config", bad, 64, &named),
        ("good config", &good, 0, &[]),
    ];
    for (what, config, code, named) in cases {
        std::fs::write(&p, config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tyk-dr-gateway"))
            .args(["--check-config", "--config"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        for s in named {
            assert!(err.contains(s), "{what}: {s} not in {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keys_global_rate_limit_streaming_and_reload_keeps_in_flight_requests() {
    let (redis, _up, gw) = gateway_with("hash_keys = false", |apps, up| {
        let mut limited = keyless_api("lim", "/lim/", up, false);
        limited["global_rate_limit"] = json!({"rate": 2, "per": 60});
        std::fs::write(apps.join("limited.json"), limited.to_string()).unwrap();
    })
    .await;

    // hash_keys = false: the raw token is the storage name.
    redis.set("apikey-rawtoken", &session(""));
    redis.set("apikey-raw-broken-0123456789", "{not json");
    redis.put_key("hashedonly", &session(""));
    let big = "x".repeat(1024 * 1024);
    let upload = Req::new("POST", "/quickstart/upload").body(&big);
    #[rustfmt::skip]
    let cases = [
        ("raw token stored as is", keyed("rawtoken"), 200, Any),
        ("token stored only hashed", keyed("hashedonly"), 403, Error(DENIED)),
        ("raw token, unreadable session", keyed("raw-broken-0123456789"), 403, Error(DENIED)),
        // global_rate_limit applies to everyone, keyless included.
        ("global limit: request 1 of 2", Req::get("/lim/a"), 200, Any),
        ("global limit: request 2 of 2", Req::get("/lim/a"), 200, Any),
        ("global limit: request 3 of 2", Req::get("/lim/a"), 429, Error("API Rate Limit Exceeded")),
        // Request bodies stream through.
        ("1 MiB upload", upload, 200, Json("/body_len", json!(1024 * 1024))),
    ];
    check_all(&gw, cases).await;
    // The denial is logged, but a raw token is a credential: only its last four characters appear.
    let log = gw.log();
    assert!(log.contains("****6789"), "{log}");
    assert!(
        !log.contains("raw-broken-0123456789"),
        "raw token logged: {log}"
    );

    // A reload that removes the API does not break a request already in flight.
    let in_flight = slow_request_in_flight(&gw).await;
    std::fs::remove_file(gw.app_path().join("quickstart.json")).unwrap();
    #[rustfmt::skip]
    let cases = [
        ("reload without quickstart", Req::admin("GET", "/tyk/reload", ""), 200, Any),
        ("quickstart after the reload", Req::get("/quickstart/x"), 404, Any),
    ];
    check_all(&gw, cases).await;
    let r = in_flight.await.unwrap();
    let what = "request in flight across the reload";
    assert_eq!(r.status, 200, "{what}: {}", r.body);
    assert_eq!(r.json()["path"], "/slow", "{what}: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_replica_triggers_reconnect_and_503() {
    let (redis, _up, gw) = fixture_gateway().await;
    let other = Redis::start("127.0.0.1", free_port());
    let create_key = || Req::admin("POST", "/tyk/keys", &session(""));
    check(&gw, ("create key on the primary", create_key(), 200, Any)).await;
    let reconnects = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("tyk_gw_redis_reconnects_total "))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let replicaof = |host: &str, port: &str| {
        let mut c = redis.conn();
        redis::cmd("REPLICAOF")
            .arg(host)
            .arg(port)
            .query::<()>(&mut c)
            .unwrap()
    };
    let before = reconnects(&metrics(&gw).await);

    // Demote the primary (what a failover does to the old primary): writes now fail with READONLY.
    replicaof("127.0.0.1", &other.addr.port().to_string());
    check(&gw, ("create key on a replica", create_key(), 503, Any)).await;
    let after = reconnects(&metrics(&gw).await);
    assert!(
        after > before,
        "READONLY must drop and re-establish the connection ({before} → {after})"
    );

    // Promoted again: writes succeed without restarting the gateway.
    replicaof("NO", "ONE");
    until_status(&gw, "writes accepted after promotion", create_key(), 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_grant_access_and_limits() {
    let pol_dir = tempfile::tempdir().unwrap();
    let pol = pol_dir.path().join("policies.json");
    std::fs::write(
        &pol,
        r#"{"basic": {"rate": 2, "per": 60, "quota_max": -1, "access_rights": {"1": {"api_id": "1", "versions": ["Default"]}}}}"#,
    )
    .unwrap();
    let extra = format!("policies_path = \"{}\"", pol.display());
    let (redis, _up, gw) = gateway_with(&extra, |_, _| {}).await;
    // The key itself grants nothing and has no limits: the policy supplies both.
    redis.put_key(
        "polkey",
        r#"{"apply_policies":["basic"],"access_rights":{"9":{}}}"#,
    );
    redis.put_key("badpol", r#"{"apply_policies":["missing"]}"#);
    #[rustfmt::skip]
    let cases = [
        ("policy rate: request 1 of 2", keyed("polkey"), 200, Any),
        ("policy rate: request 2 of 2", keyed("polkey"), 200, Any),
        ("policy rate: request 3 of 2", keyed("polkey"), 429, Error(RATE_LIMITED)),
        ("missing policy", keyed("badpol"), 403, Error(DENIED)),
    ];
    check_all(&gw, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let (_redis, _up, mut gw) = fixture_gateway().await;
    let in_flight = slow_request_in_flight(&gw).await;
    let pid = gw.child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(kill.unwrap().success(), "kill -TERM {pid}");
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "in-flight request must complete: {}", r.body);
    let code = eventually("gateway exit", T, || {
        let status = gw.child.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert_eq!(code.code(), Some(0), "exit code after SIGTERM");
    let closed = std::net::TcpStream::connect(gw.addr).is_err();
    assert!(closed, "listener closed after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_without_redis_and_keeps_fence_across_restarts() {
    let port = free_port();
    let up = start_upstream().await;
    let state_dir = tempfile::tempdir().unwrap();
    let fence = state_dir.path().join("fenced");
    let extra = format!("{}\nfence_file = \"{}\"", standard_extra(), fence.display());
    let section = format!("host = \"127.0.0.1\"\nport = {port}");
    let gw = start_gateway(&section, &extra, |apps| write_fixture_apps(apps, up)).await;

    // No Redis yet (a passive region before promotion): keyless traffic works, keyed gets 503, not ready.
    #[rustfmt::skip]
    let cases = [
        ("keyless without redis", Req::get("/quickstart/x"), 200, Any),
        ("keyed without redis", Req::key("/otto/x", "k"), 503, Error(STORE_DOWN)),
        ("ready without redis", Req::get("/ready"), 503, Any),
        ("hello without redis", Req::get("/hello"), 200, Json("/status", json!("fail"))),
    ];
    check_all(&gw, cases).await;

    let redis = Redis::start("127.0.0.1", port);
    redis.put_key("k", &session(""));
    until_status(&gw, "ready once redis appears", Req::get("/ready"), 200).await;
    #[rustfmt::skip]
    let cases = [
        ("keyed once redis appears", Req::key("/otto/x", "k"), 200, Any),
        ("fence", Req::admin("POST", "/tyk/dr/fence", ""), 200, Any),
    ];
    check_all(&gw, cases).await;

    // Fencing is persisted and survives a restart.
    assert!(fence.exists(), "fence file written");
    drop(gw);
    let gw = start_gateway(&section, &extra, |apps| write_fixture_apps(apps, up)).await;
    #[rustfmt::skip]
    let cases = [
        ("ready after restart", Req::get("/ready"), 503, Json("/fenced", json!(true))),
        ("unfence", Req::admin("DELETE", "/tyk/dr/fence", ""), 200, Any),
    ];
    check_all(&gw, cases).await;
    assert!(!fence.exists(), "fence file removed by unfence");
    until_status(&gw, "ready after unfence", Req::get("/ready"), 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_renews_when_the_redis_counter_expires() {
    let (redis, _up, gw) = fixture_gateway().await;
    redis.put_key("renewing", &quota_session(1));
    #[rustfmt::skip]
    let cases = [
        ("quota: request 1 of 1", keyed("renewing"), 200, Any),
        ("quota: request 2 of 1", keyed("renewing"), 403, Error(QUOTA)),
    ];
    check_all(&gw, cases).await;
    // Renewal = the counter disappearing from Redis (its TTL ran out): the exhausted key works again.
    let counter = quota_counter("renewing");
    until_redis(&redis, "usage recorded in redis", &counter, "2").await;
    redis.conn_del(&counter);
    until_status(&gw, "quota renewed", keyed("renewing"), 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_counter_does_not_stop_other_keys_syncing() {
    let (redis, _up, gw) = fixture_gateway().await;
    redis.put_key("badcounter", &quota_session(100));
    redis.put_key("goodcounter", &quota_session(100));
    redis.set(&quota_counter("badcounter"), "not-a-number");
    // Both keys are served (the bad counter is only skipped), and the good key's usage reaches Redis.
    #[rustfmt::skip]
    let cases = [
        ("key with a corrupt counter", keyed("badcounter"), 200, Any),
        ("good key: request 1", keyed("goodcounter"), 200, Any),
        ("good key: request 2", keyed("goodcounter"), 200, Any),
        ("good key: request 3", keyed("goodcounter"), 200, Any),
    ];
    check_all(&gw, cases).await;
    let good = quota_counter("goodcounter");
    until_redis(&redis, "good counter synced", &good, "3").await;
    let bad = redis.get(&quota_counter("badcounter"));
    let bad = bad.as_deref();
    assert_eq!(bad, Some("not-a-number"), "corrupt counter left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_address_is_refused() {
    let redis = Redis::start("127.0.0.1", free_port());
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |_| {}).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tyk-dr-gateway"))
        .arg("--config")
        .arg(gw.dir.path().join("gateway.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "second gateway: {err}");
    assert!(err.contains("cannot listen"), "second gateway: {err}");
}

/// A raw HTTP/1.1 upstream (no hyper) so the gateway's upstream client sees the framings hyper would
/// normalise: chunked with trailers and a stray Content-Length, `Connection: close`, HTTP/1.0 read-until-close,
/// a 100 Continue before the answer, and 204.
async fn start_raw_upstream() -> SocketAddr {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        s.read_line(&mut h).await.unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    s.read_exact(&mut body).await.unwrap();
                    let out: Vec<u8> = match path.as_str() {
                        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec(),
                        "/close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose".to_vec(),
                        "/http10" => b"HTTP/1.0 200 OK\r\n\r\nuntil close".to_vec(),
                        "/continue" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone".to_vec(),
                        "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                        _ => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", body.len() + 3, "ok:")
                            .into_bytes()
                            .into_iter()
                            .chain(body)
                            .collect(),
                    };
                    // Split writes so heads and bodies arrive in pieces.
                    let (a, b) = out.split_at(out.len() / 2);
                    s.get_mut().write_all(a).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    s.get_mut().write_all(b).await.unwrap();
                    if path == "/close" || path == "/http10" {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_framings_pass_through_and_connections_are_reused() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_raw_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        let raw = keyless_api("raw", "/raw/", up, true).to_string();
        std::fs::write(apps.join("raw.json"), raw).unwrap();
    })
    .await;
    // Twice each: the second round runs on pooled connections (or fresh ones after a close).
    for round in 1..=2 {
        #[rustfmt::skip]
        let cases = [
            ("chunked, trailers, stray length", Req::get("/raw/chunked"), 200, "hello, world"),
            ("Connection: close", Req::get("/raw/close"), 200, "close"),
            ("HTTP/1.0 read until close", Req::get("/raw/http10"), 200, "until close"),
            ("100 Continue before the answer", Req::get("/raw/continue"), 201, "done"),
            ("204 No Content", Req::get("/raw/empty"), 204, ""),
            ("POST with a body", Req::new("POST", "/raw/echo").body("payload"), 200, "ok:payload"),
        ];
        for (what, req, status, body) in cases {
            let what = format!("round {round}: {what}");
            let r = check(&gw, (&what, req, status, Any)).await;
            assert_eq!(r.body, body, "{what}");
            assert_eq!(r.header("x-tyk-dr-region"), Some("test-region"), "{what}");
        }
    }
}
