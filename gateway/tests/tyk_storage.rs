//! A Redis shared with real Tyk gateways: every test writes keys, counters and notifications exactly as
//! Tyk writes them (names from Tyk's `generateToken`/`HashStr`, counters `quota-[<scope>-]<hash>`), or
//! reads what the gateway wrote the way Tyk reads it, never through the gateway's own API alone.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};
use tyk_model::{generate_token, hash_token, HashAlgo, Notification};

const T: Duration = Duration::from_secs(15);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A session for the fixture API `1` (org `default`), with `extra` fields appended.
fn session(extra: &str) -> String {
    format!(
        r#"{{"rate":1000,"per":1,"quota_max":-1,"org_id":"default",
            "access_rights":{{"1":{{"api_id":"1","api_name":"Tyk Test API","versions":["Default"]}}}}{extra}}}"#
    )
}

/// The name Tyk stores a custom key under: `apikey-` + the hash of `generateToken(org, id)`.
fn tyk_custom_name(org: &str, id: &str, algo: Option<HashAlgo>) -> String {
    hash_token(&generate_token(org, id, algo))
}

async fn call_key(gw: &Gateway, path: &str, token: &str) -> Resp {
    get(&gw.url(path), &[("authorization", token)]).await
}

async fn status_of(gw: &Gateway, path: &str, token: &str) -> u16 {
    call_key(gw, path, token).await.status
}

fn error_of(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

/// A keyed API `id` (org `default`) at `listen` proxying to `up`, with `auth` as its `auth` section.
fn keyed_api(id: &str, listen: &str, up: SocketAddr, auth: Value) -> Value {
    json!({
        "api_id": id, "org_id": "default", "use_keyless": false, "auth": auth,
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
        "proxy": {"listen_path": listen, "target_url": format!("http://{up}/"), "strip_listen_path": true}
    })
}

fn write_api(dir: &Path, def: &Value) {
    let id = def["api_id"].as_str().unwrap();
    std::fs::write(dir.join(format!("{id}.json")), def.to_string()).unwrap();
}

async fn start(extra: &str, more: impl FnOnce(&Path, SocketAddr)) -> (Redis, Gateway) {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), extra, |apps| {
        write_fixture_apps(apps, up);
        more(apps, up);
    })
    .await;
    eventually("redis connected", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 200).then_some(())
    })
    .await;
    (redis, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_keys_stored_by_tyk_authenticate() {
    let (redis, gw) = start(&standard_extra(), |_, _| {}).await;
    // Tyk's POST /tyk/keys/my-custom-key with hash_key_function murmur64 stores the session under the
    // hash of {"org":"default","id":"my-custom-key","h":"murmur64"}; clients present `my-custom-key`.
    let name = tyk_custom_name("default", "my-custom-key", Some(HashAlgo::Murmur64));
    redis.set(&format!("apikey-{name}"), &session(""));
    assert_eq!(status_of(&gw, "/otto/a", "my-custom-key").await, 200);
    // `org + id` presented finds the same key (Tyk drops the org prefix).
    assert_eq!(status_of(&gw, "/otto/a", "defaultmy-custom-key").await, 200);
    // A key stored under the raw token's hash (Tyk's hash_keys with plain tokens) still works.
    redis.put_key("plain-token", &session(""));
    assert_eq!(status_of(&gw, "/otto/a", "plain-token").await, 200);
    assert_eq!(status_of(&gw, "/otto/a", "unknown-key").await, 403);

    // A KeySpaceUpdateNotification naming the storage name (what Tyk publishes) drops the cached
    // custom key at once, even though it was cached under the presented token.
    redis.conn_del(&format!("apikey-{name}"));
    let n = Notification::signed(
        &tyk_model::Command::KeySpaceUpdate,
        &name,
        common::NODE_SECRET,
    );
    redis.publish("tyk.cluster.notifications", &n.to_json());
    eventually("custom key dropped", T, || async {
        (status_of(&gw, "/otto/a", "my-custom-key").await == 403).then_some(())
    })
    .await;

    // What the gateway writes for a custom key is what Tyk reads: the same name, the generated token.
    let r = call(
        "POST",
        &gw.url("/tyk/keys/another-key"),
        &admin(),
        &session(""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = generate_token("default", "another-key", Some(HashAlgo::Murmur64));
    assert_eq!(r.json()["key"], json!(token));
    let name = tyk_custom_name("default", "another-key", Some(HashAlgo::Murmur64));
    assert_eq!(r.json()["key_hash"], json!(name));
    assert!(redis.get(&format!("apikey-{name}")).is_some());
    assert_eq!(status_of(&gw, "/otto/a", "another-key").await, 200);
    // Tyk refuses custom ids shorter than min_token_length (3).
    let r = call("POST", &gw.url("/tyk/keys/ab"), &admin(), &session("")).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_custom_keys_with_empty_hash_key_function() {
    let extra = format!("{}\nhash_key_function = \"\"", standard_extra());
    let (redis, gw) = start(&extra, |_, _| {}).await;
    // With an empty hash_key_function Tyk's generateToken is `org + id`, hashed with murmur32.
    let name = tyk_custom_name("default", "legacy-key", None);
    assert_eq!(
        name,
        tyk_model::HashAlgo::Murmur32.hex_digest(b"defaultlegacy-key")
    );
    redis.set(&format!("apikey-{name}"), &session(""));
    assert_eq!(status_of(&gw, "/otto/a", "legacy-key").await, 200);
    assert_eq!(status_of(&gw, "/otto/a", "defaultlegacy-key").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_counters_are_tyks() {
    let pol_dir = tempfile::tempdir().unwrap();
    let pol = pol_dir.path().join("policies.json");
    std::fs::write(
        &pol,
        r#"{"p1": {"rate": 100, "per": 1, "quota_max": 5, "quota_renewal_rate": 3600,
                   "access_rights": {"1": {"api_id": "1", "versions": ["Default"]}}},
            "p2": {"rate": 100, "per": 1, "quota_max": 5, "quota_renewal_rate": 3600,
                   "access_rights": {"two": {"api_id": "two"}}}}"#,
    )
    .unwrap();
    let extra = format!(
        "{}\npolicies_path = \"{}\"",
        standard_extra(),
        pol.display()
    );
    let (redis, gw) = start(&extra, |apps, up| {
        write_api(apps, &keyed_api("two", "/two/", up, json!({})));
    })
    .await;

    // Key-level quota: Tyk's counter `quota-<hash>`, 2 used of 3 by Tyk gateways, expiring in 1000 s.
    let quota = r#","quota_max":3,"quota_renewal_rate":3600"#;
    redis.put_key("qkey", &session("").replace(r#","quota_max":-1"#, quota));
    let counter = format!("quota-{}", hash_token("qkey"));
    redis.set(&counter, "2");
    let _: () = redis::cmd("EXPIRE")
        .arg(&counter)
        .arg(1000)
        .query(&mut redis.conn())
        .unwrap();
    let r = call_key(&gw, "/otto/a", "qkey").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // X-RateLimit-Reset is the Unix time the quota renews (the counter's expiry), as Tyk sends it.
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((reset - (now() + 1000)).abs() <= 3, "reset {reset}");
    let r = call_key(&gw, "/otto/a", "qkey").await;
    assert_eq!((r.status, error_of(&r).as_str()), (403, "Quota exceeded"));
    // Tyk counts the refused request too: 2 + 2.
    eventually("counter 4", T, || async {
        (redis.get(&counter).as_deref() == Some("4")).then_some(())
    })
    .await;
    let ttl = redis.ttl(&counter);
    assert!(ttl > 990 && ttl <= 1000, "ttl {ttl}");

    // Per-API limits on a key without policies: Tyk's scope is the API id, `quota-<api_id>-<hash>`.
    redis.put_key(
        "scoped",
        r#"{"org_id":"default","access_rights":{"1":{"api_id":"1","versions":["Default"],
            "limit":{"rate":100,"per":1,"quota_max":2,"quota_renewal_rate":3600}}}}"#,
    );
    redis.set(&format!("quota-1-{}", hash_token("scoped")), "2");
    let r = call_key(&gw, "/otto/a", "scoped").await;
    assert_eq!((r.status, error_of(&r).as_str()), (403, "Quota exceeded"));

    // Two policies: each API counts under `quota-<policy>-<hash>`; a missing third policy is skipped.
    redis.put_key(
        "multi",
        r#"{"org_id":"default","apply_policies":["p1","p2","gone"]}"#,
    );
    redis.set(&format!("quota-p1-{}", hash_token("multi")), "5");
    let r = call_key(&gw, "/otto/a", "multi").await;
    assert_eq!((r.status, error_of(&r).as_str()), (403, "Quota exceeded"));
    let r = call_key(&gw, "/two/a", "multi").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p2 = format!("quota-p2-{}", hash_token("multi"));
    eventually("p2 counter", T, || async {
        (redis.get(&p2).as_deref() == Some("1")).then_some(())
    })
    .await;
    // One policy: the key's own counter.
    redis.put_key("single", r#"{"org_id":"default","apply_policies":["p1"]}"#);
    redis.set(&format!("quota-{}", hash_token("single")), "5");
    let r = call_key(&gw, "/otto/a", "single").await;
    assert_eq!((r.status, error_of(&r).as_str()), (403, "Quota exceeded"));

    // A custom key counts under the name Tyk stores it under.
    let name = tyk_custom_name("default", "custom-q", Some(HashAlgo::Murmur64));
    redis.set(
        &format!("apikey-{name}"),
        &session("").replace(r#","quota_max":-1"#, quota),
    );
    redis.set(&format!("quota-{name}"), "3");
    let r = call_key(&gw, "/otto/a", "custom-q").await;
    assert_eq!((r.status, error_of(&r).as_str()), (403, "Quota exceeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_kept_and_renewable() {
    let (redis, gw) = start(&standard_extra(), |_, _| {}).await;
    // Written by Tyk: expired yesterday, no TTL.
    redis.put_key(
        "old",
        &session(&format!(r#","expires":{}"#, now() - 86_400)),
    );
    let r = call_key(&gw, "/otto/a", "old").await;
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (401, "Key has expired, please renew")
    );
    // Created through the gateway with an expiry: stored without a TTL, as Tyk stores it.
    let exp = now() + 2;
    let r = call(
        "POST",
        &gw.url("/tyk/keys/expiring"),
        &admin(),
        &session(&format!(r#","expires":{exp}"#)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let name = r.json()["key_hash"].as_str().unwrap().to_string();
    assert_eq!(redis.ttl(&format!("apikey-{name}")), -1);
    assert_eq!(status_of(&gw, "/otto/a", "expiring").await, 200);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let r = call_key(&gw, "/otto/a", "expiring").await;
    assert_eq!(
        (r.status, error_of(&r).as_str()),
        (401, "Key has expired, please renew")
    );
    // Renewed by a PUT.
    let r = call(
        "PUT",
        &gw.url("/tyk/keys/expiring"),
        &admin(),
        &session(&format!(r#","expires":{}"#, now() + 3600)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("renewed", T, || async {
        (status_of(&gw, "/otto/a", "expiring").await == 200).then_some(())
    })
    .await;
    // post_expiry_action "delete" asks for a TTL (Tyk's Lifetime).
    let r = call(
        "POST",
        &gw.url("/tyk/keys/deleting"),
        &admin(),
        &session(&format!(
            r#","expires":{},"post_expiry_action":"delete""#,
            now() + 100
        )),
    )
    .await;
    let name = r.json()["key_hash"].as_str().unwrap().to_string();
    let ttl = redis.ttl(&format!("apikey-{name}"));
    assert!(ttl > 90 && ttl <= 100, "ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_answers_as_tyk() {
    let (redis, gw) = start(&standard_extra(), |_, _| {}).await;
    let quota =
        r#","quota_max":10,"quota_renewal_rate":3600,"date_created":"2024-01-02T03:04:05Z""#;
    let msession = session("").replace(r#","quota_max":-1"#, quota);
    redis.put_key("mkey", &msession);
    let counter = format!("quota-{}", hash_token("mkey"));
    redis.set(&counter, "4");
    // GET: quota_remaining from the counter.
    let r = get(&gw.url("/tyk/keys/mkey"), &admin()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["quota_remaining"], json!(6));
    // PUT with suppress_reset=1 keeps the counter; a plain PUT resets it and sets Tyk's fields.
    let r = call(
        "PUT",
        &gw.url("/tyk/keys/mkey?suppress_reset=1"),
        &admin(),
        &msession,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(redis.get(&counter).as_deref(), Some("4"));
    let r = call("PUT", &gw.url("/tyk/keys/mkey"), &admin(), &msession).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["action"], json!("modified"));
    assert_eq!(redis.get(&counter), None);
    let stored: Value = serde_json::from_str(
        &redis
            .get(&format!("apikey-{}", hash_token("mkey")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["date_created"], json!("2024-01-02T03:04:05Z"));
    let renews = stored["quota_renews"].as_i64().unwrap();
    assert!((renews - (now() + 3600)).abs() <= 3, "{stored}");
    let updated: i64 = stored["last_updated"].as_str().unwrap().parse().unwrap();
    assert!((updated - now()).abs() <= 3);
    // POST sets date_created.
    let r = call("POST", &gw.url("/tyk/keys"), &admin(), &session("")).await;
    let name = r.json()["key_hash"].as_str().unwrap().to_string();
    let stored: Value =
        serde_json::from_str(&redis.get(&format!("apikey-{name}")).unwrap()).unwrap();
    assert!(
        stored["date_created"].as_str().unwrap().ends_with('Z'),
        "{stored}"
    );
    // Tyk's messages.
    let cases = [
        ("PUT", "/tyk/keys/nope", session(""), 404, "Key is not found"),
        ("DELETE", "/tyk/keys/nope", String::new(), 404, "There is no such key found"),
        ("GET", "/tyk/keys/nope", String::new(), 404, "Key not found"),
        ("POST", "/tyk/keys", "{not json".into(), 400, "Request malformed"),
        ("POST", "/tyk/apis", "{not json".into(), 400, "Request malformed"),
        (
            "PUT",
            "/tyk/apis/1",
            json!({"api_id": "2"}).to_string(),
            400,
            "Request APIID does not match that in Definition! For Update operations these must match.",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let r = call(method, &gw.url(path), &admin(), &body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["message"], json!(message), "{method} {path}");
    }
    // /tyk/reload answers Tyk's apiOk("").
    let r = get(&gw.url("/tyk/reload"), &admin()).await;
    assert_eq!(r.json(), json!({"status": "ok", "message": ""}));
    // POST /tyk/apis overwrites an existing id and generates a missing one.
    let existing = get(&gw.url("/tyk/apis/1"), &admin()).await.json();
    let r = call(
        "POST",
        &gw.url("/tyk/apis"),
        &admin(),
        &existing.to_string(),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["action"].clone()),
        (200, json!("added")),
        "{}",
        r.body
    );
    let mut fresh = existing.clone();
    fresh["api_id"] = json!("");
    fresh["proxy"]["listen_path"] = json!("/fresh/");
    let r = call("POST", &gw.url("/tyk/apis"), &admin(), &fresh.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(gw.app_path().join(format!("{id}.json")).exists());
    // DELETE finds a Tyk custom key and removes it with its counter.
    let name = tyk_custom_name("default", "del-me", Some(HashAlgo::Murmur64));
    redis.set(&format!("apikey-{name}"), &session(""));
    redis.set(&format!("quota-{name}"), "1");
    let r = call(
        "DELETE",
        &gw.url("/tyk/keys/del-me?org_id=default"),
        &admin(),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(redis.get(&format!("apikey-{name}")), None);
    assert_eq!(redis.get(&format!("quota-{name}")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_and_url_encoded_param_tokens() {
    let (redis, gw) = start(&standard_extra(), |apps, up| {
        write_api(
            apps,
            &keyed_api(
                "ck",
                "/ck/",
                up,
                json!({"use_cookie": true, "cookie_name": "tyk_auth"}),
            ),
        );
        write_api(
            apps,
            &keyed_api(
                "pm",
                "/pm/",
                up,
                json!({"use_param": true, "param_name": "key"}),
            ),
        );
    })
    .await;
    // A padded token, as Tyk's generated tokens are.
    let token = "c2VjcmV0LXRva2VuLTE=";
    redis.put_key(token, r#"{"org_id":"default","access_rights":{}}"#);
    let r = get(
        &gw.url("/ck/a"),
        &[("cookie", &format!("other=1; tyk_auth={token}"))],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&gw.url("/ck/a"), &[]).await;
    assert_eq!(r.status, 401);
    let r = get(&gw.url("/pm/a?x=1&key=c2VjcmV0LXRva2VuLTE%3D"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_node_secret_accepts_what_tyk_signs() {
    let extra = format!("secret = \"{SECRET}\"\nnode_secret = \"\"");
    let (redis, gw) = start(&extra, |_, _| {}).await;
    redis.put_key("flushme", &session(""));
    assert_eq!(status_of(&gw, "/otto/a", "flushme").await, 200);
    // Tyk with an empty node_secret signs sha256(command + payload).
    let n = Notification::signed(&tyk_model::Command::GroupReload, "", "");
    eventually("notification accepted", T, || async {
        redis.publish("tyk.cluster.notifications", &n.to_json());
        metrics(&gw)
            .await
            .contains("outcome=\"accepted\"")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_url_query_comes_first() {
    let (_redis, gw) = start(&standard_extra(), |apps, up| {
        let def = json!({
            "api_id": "tq", "use_keyless": true,
            "proxy": {"listen_path": "/tq/", "target_url": format!("http://{up}/base?fixed=1"),
                      "strip_listen_path": true}
        });
        write_api(apps, &def);
    })
    .await;
    // Tyk's reverse proxy: `targetQuery + "&" + RawQuery`, or either alone; on both HTTP/1 paths
    // (the fast path serves the first request of a connection, hyper's a request it hands over).
    for (path, want) in [
        ("/tq/a?x=2", "/base/a?fixed=1&x=2"),
        ("/tq/a", "/base/a?fixed=1"),
        ("/tq/a?", "/base/a?fixed=1"),
    ] {
        let r = get(&gw.url(path), &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.json()["path"], json!(want), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_remaining_is_written_back_into_the_session() {
    let (redis, gw) = start(&standard_extra(), |_, _| {}).await;
    let quota = r#","quota_max":5,"quota_renewal_rate":3600"#;
    redis.put_key("wb", &session("").replace(r#","quota_max":-1"#, quota));
    // Spread over several sync rounds (write-backs are at most one a second; the last count must land).
    for _ in 0..2 {
        assert_eq!(status_of(&gw, "/otto/a", "wb").await, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // As Tyk's updateSessionQuota + session save: the stored session says 3 left, renewing with the counter.
    let key = format!("apikey-{}", hash_token("wb"));
    let stored = eventually("quota_remaining written", T, || async {
        let v: Value = serde_json::from_str(&redis.get(&key)?).ok()?;
        (v["quota_remaining"] == json!(3)).then_some(v)
    })
    .await;
    let renews = stored["quota_renews"].as_i64().unwrap();
    let counter_ttl = redis.ttl(&format!("quota-{}", hash_token("wb")));
    assert!((renews - (now() + counter_ttl)).abs() <= 3, "{stored}");
    // Other fields survive the rewrite.
    assert_eq!(
        stored["access_rights"]["1"]["api_name"],
        json!("Tyk Test API")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhashed_keys_as_tyk_stores_them() {
    let extra = format!("{}\nhash_keys = false", standard_extra());
    let (redis, gw) = start(&extra, |_, _| {}).await;
    // hash_keys: false: Tyk stores a custom key under its generated token itself.
    let token = generate_token("default", "raw-custom", Some(HashAlgo::Murmur64));
    redis.set(&format!("apikey-{token}"), &session(""));
    assert_eq!(status_of(&gw, "/otto/a", "raw-custom").await, 200);
    // Tyk refuses a by-hash lookup when keys are not hashed.
    let r = get(&gw.url("/tyk/keys/abc?hashed=1"), &admin()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        json!("Key requested by hash but key hashing is not enabled")
    );
}
