//! End-to-end tests: the real gateway binary against real redis-server, an echo upstream and a test DNS server.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use tyk_model::{generate_token, hash_token, Command as Cmd, HashAlgo, Notification};

const T: Duration = Duration::from_secs(15);

fn session(extra: &str) -> String {
    format!(
        r#"{{"rate":1000,"per":1,"quota_max":-1,"org_id":"default",
            "access_rights":{{"1":{{"api_id":"1","api_name":"Tyk Test API","versions":["Default"]}}}}{extra}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_load_keyless_proxy_and_health() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up);
        std::fs::write(apps.join("broken.json"), "{ not json").unwrap();
        std::fs::write(
            apps.join("badpath.json"),
            r#"{"api_id":"x","proxy":{"listen_path":"nope","target_url":"http://127.0.0.1:1"}}"#,
        )
        .unwrap();
    })
    .await;

    // Keyless API, listen path stripped, forwarding headers added, region header set.
    let r = get(&gw.url("/quickstart/get?a=1"), &[("host", "example.test")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-tyk-dr-region"), Some("test-region"));
    let echo = r.json();
    assert_eq!(echo["path"], "/get?a=1");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(echo["headers"]["x-forwarded-host"], "example.test");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "http");
    assert!(echo["headers"]["via"]
        .as_str()
        .unwrap()
        .contains("tyk-dr-gateway"));
    assert_eq!(echo["headers"]["host"], up.to_string());

    // Keyed fixture without a token: 401 Tyk-style.
    let r = get(&gw.url("/otto/x"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "Authorization field missing");
    // Unknown path.
    assert_eq!(get(&gw.url("/nope"), &[]).await.status, 404);

    // /hello in Tyk's shape; readiness 200 once Redis is seen.
    let hello = eventually("hello pass", T, || async {
        let r = get(&gw.url("/hello"), &[]).await;
        (r.json()["status"] == "pass").then_some(r)
    })
    .await;
    assert_eq!(hello.status, 200);
    let j = hello.json();
    assert_eq!(j["details"]["redis"]["componentType"], "datastore");
    assert_eq!(j["details"]["redis"]["status"], "pass");
    assert!(j["version"].is_string() && j["description"].is_string());
    assert_eq!(get(&gw.url("/ready"), &[]).await.status, 200);

    // The management API lists exactly the two valid fixtures.
    assert_eq!(loaded_api_ids(&gw).await, ["1", "3"]);

    let m = get(&gw.url("/metrics"), &[]).await.body;
    assert!(
        m.contains("tyk_gw_requests_total{api=\"3\",code=\"200\"} 1"),
        "{m}"
    );
    assert!(m.contains("tyk_gw_redis_up 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_rate_limit_and_quota() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;

    // Plain token (murmur32) and generated tokens for every algorithm.
    let plain = "default0123456789";
    redis.set(
        &format!("apikey-{}", HashAlgo::Murmur32.hex_digest(plain.as_bytes())),
        &session(""),
    );
    for algo in [HashAlgo::Murmur64, HashAlgo::Murmur128, HashAlgo::Sha256] {
        let t = generate_token("default", &format!("id-{}", algo.name()), Some(algo));
        redis.set(&format!("apikey-{}", hash_token(&t)), &session(""));
        let r = get(&gw.url("/otto/a"), &[("authorization", &t)]).await;
        assert_eq!(r.status, 200, "{}: {}", algo.name(), r.body);
    }
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", plain)])
            .await
            .status,
        200
    );
    assert_eq!(
        get(
            &gw.url("/otto/a"),
            &[("authorization", &format!("Bearer {plain}"))]
        )
        .await
        .status,
        200
    );
    // Both session fixtures load.
    for (tok, file) in [
        ("fixfull", "session_full.json"),
        ("fixmin", "session_minimal.json"),
    ] {
        let raw = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../crates/tyk-model/tests/fixtures")
                .join(file),
        )
        .unwrap();
        redis.set(&format!("apikey-{}", hash_token(tok)), &raw);
        assert_eq!(
            get(&gw.url("/otto/a"), &[("authorization", tok)])
                .await
                .status,
            200,
            "{file}"
        );
    }

    // Unknown, inactive, expired, no access right, bad session JSON.
    let cases = [
        ("unknown", None, 403),
        ("inactive", Some(session(r#","is_inactive":true"#)), 403),
        ("expired", Some(session(r#","expires":1000"#)), 401),
        (
            "norights",
            Some(r#"{"access_rights":{"9":{"api_id":"9"}}}"#.to_string()),
            403,
        ),
        ("garbage", Some("{not json".to_string()), 403),
    ];
    for (tok, s, want) in cases {
        if let Some(s) = s {
            redis.set(&format!("apikey-{}", hash_token(tok)), &s);
        }
        let r = get(&gw.url("/otto/a"), &[("authorization", tok)]).await;
        assert_eq!(r.status, want, "{tok}: {}", r.body);
    }

    // Rate limit: 3 per 60 s → 3 × 200 then 429 with headers.
    redis.set(
        &format!("apikey-{}", hash_token("ratekey")),
        &session("").replace(r#""rate":1000,"per":1"#, r#""rate":3,"per":60"#),
    );
    for i in 0..3 {
        let r = get(&gw.url("/otto/a"), &[("authorization", "ratekey")]).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(&*(2 - i).to_string())
        );
    }
    let r = get(&gw.url("/otto/a"), &[("authorization", "ratekey")]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "Rate limit exceeded");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));

    // Quota: 2 per hour → 2 × 200 then 403 "Quota exceeded"; the counter lands in Redis with a TTL.
    let qhash = hash_token("quotakey");
    redis.set(
        &format!("apikey-{qhash}"),
        &session("").replace(
            r#""quota_max":-1"#,
            r#""quota_max":2,"quota_renewal_rate":3600"#,
        ),
    );
    for _ in 0..2 {
        assert_eq!(
            get(&gw.url("/otto/a"), &[("authorization", "quotakey")])
                .await
                .status,
            200
        );
    }
    let r = get(&gw.url("/otto/a"), &[("authorization", "quotakey")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "Quota exceeded");
    eventually("quota counter synced to redis", T, || async {
        (redis.get(&format!("quota-{qhash}")).as_deref() == Some("2")).then_some(())
    })
    .await;
    let mut c = redis.conn();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("quota-{qhash}"))
        .query(&mut c)
        .unwrap();
    assert!(ttl > 3500 && ttl <= 3600, "ttl {ttl}");

    // Quota usage recorded by another gateway (pre-seeded counter) is honoured.
    let h2 = hash_token("usedkey");
    redis.set(&format!("quota-{h2}"), "5");
    redis.set(
        &format!("apikey-{h2}"),
        &session("").replace(
            r#""quota_max":-1"#,
            r#""quota_max":5,"quota_renewal_rate":3600"#,
        ),
    );
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "usedkey")])
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_and_fencing() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;

    // Refused without or with a wrong secret.
    assert_eq!(get(&gw.url("/tyk/keys"), &[]).await.status, 403);
    assert_eq!(
        get(&gw.url("/tyk/apis"), &[("x-tyk-authorization", "wrong")])
            .await
            .status,
        403
    );
    assert_eq!(
        call("POST", &gw.url("/tyk/dr/fence"), &[], "").await.status,
        403
    );

    // Create a key: generated base64-JSON token, stored hashed with its algorithm.
    let r = call("POST", &gw.url("/tyk/keys"), &admin(), &session("")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let token = j["key"].as_str().unwrap().to_string();
    let info = tyk_model::decode_token(&token).expect("generated token is base64 JSON");
    assert_eq!(info.h, "murmur64");
    assert_eq!(info.org, "default");
    assert_eq!(j["key_hash"], hash_token(&token));
    assert!(redis
        .get(&format!("apikey-{}", hash_token(&token)))
        .is_some());
    assert_eq!(
        get(&gw.url("/otto/x"), &[("authorization", &token)])
            .await
            .status,
        200
    );

    // Read, update (make inactive), delete.
    let enc = token.replace('/', "%2F");
    let r = get(&gw.url(&format!("/tyk/keys/{enc}")), &admin()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["org_id"], "default");
    let r = call(
        "PUT",
        &gw.url(&format!("/tyk/keys/{enc}")),
        &admin(),
        &session(r#","is_inactive":true"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(&gw.url("/otto/x"), &[("authorization", &token)])
            .await
            .status,
        403
    );
    assert_eq!(
        call("DELETE", &gw.url(&format!("/tyk/keys/{enc}")), &admin(), "")
            .await
            .status,
        200
    );
    assert_eq!(
        get(&gw.url(&format!("/tyk/keys/{enc}")), &admin())
            .await
            .status,
        404
    );
    assert_eq!(
        call("PUT", &gw.url("/tyk/keys/nosuch"), &admin(), &session(""))
            .await
            .status,
        404
    );
    // Bad JSON bodies are 400, not a crash.
    assert_eq!(
        call("POST", &gw.url("/tyk/keys"), &admin(), "{oops")
            .await
            .status,
        400
    );
    assert_eq!(
        call("POST", &gw.url("/tyk/apis"), &admin(), "[1,2")
            .await
            .status,
        400
    );

    // APIs: add a definition file, reload, route; delete, reload, gone.
    let def = format!(
        r#"{{"name":"new","api_id":"new1","use_keyless":true,"proxy":{{"listen_path":"/new/","target_url":"http://{up}","strip_listen_path":true}}}}"#
    );
    let r = call("POST", &gw.url("/tyk/apis"), &admin(), &def).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(gw.app_path().join("new1.json").is_file());
    assert_eq!(
        get(&gw.url("/new/x"), &[]).await.status,
        404,
        "not before reload"
    );
    assert_eq!(get(&gw.url("/tyk/reload"), &admin()).await.status, 200);
    assert_eq!(get(&gw.url("/new/x"), &[]).await.json()["path"], "/x");
    let bad = r#"{"api_id":"b","proxy":{"listen_path":"/b/","target_url":"gopher://x"}}"#;
    let r = call("POST", &gw.url("/tyk/apis"), &admin(), bad).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("proxy.target_url"), "{}", r.body);
    assert_eq!(
        call("DELETE", &gw.url("/tyk/apis/new1"), &admin(), "")
            .await
            .status,
        200
    );
    assert_eq!(
        call("DELETE", &gw.url("/tyk/apis/..%2Fx"), &admin(), "")
            .await
            .status,
        400
    );
    assert_eq!(
        call("GET", &gw.url("/tyk/reload/"), &admin(), "")
            .await
            .status,
        200
    );
    assert_eq!(get(&gw.url("/new/x"), &[]).await.status, 404);

    // Fence: readiness 503 and proxied traffic refused; unfence restores both.
    eventually("ready", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 200).then_some(())
    })
    .await;
    assert_eq!(
        call("POST", &gw.url("/tyk/dr/fence"), &admin(), "")
            .await
            .status,
        200
    );
    let r = get(&gw.url("/ready"), &[]).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("fenced"));
    assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 503);
    assert_eq!(get(&gw.url("/hello"), &[]).await.status, 200);
    assert_eq!(
        call("DELETE", &gw.url("/tyk/dr/fence"), &admin(), "")
            .await
            .status,
        200
    );
    assert_eq!(get(&gw.url("/ready"), &[]).await.status, 200);
    assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 200);

    // Reconnect drops pools and comes back.
    let r = call("POST", &gw.url("/tyk/dr/redis/reconnect"), &admin(), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["connected"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_refused_without_configured_secret() {
    let redis = Redis::start("127.0.0.1", free_port());
    let gw = start_gateway(&redis_at(redis.addr), "", |_| {}).await;
    assert_eq!(
        get(&gw.url("/tyk/apis"), &[("x-tyk-authorization", "")])
            .await
            .status,
        403
    );
    assert_eq!(get(&gw.url("/tyk/apis"), &admin()).await.status, 403);
    // No definitions loaded → not ready.
    assert_eq!(get(&gw.url("/ready"), &[]).await.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_reload_signed_only_and_keyspace_flush() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    eventually("subscribed", T, || async {
        let mut c = redis.conn();
        let n: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("tyk.cluster.notifications")
            .query(&mut c)
            .ok()?;
        (n.first()?.1 >= 1).then_some(())
    })
    .await;
    std::fs::write(
        gw.app_path().join("late.json"),
        format!(r#"{{"api_id":"late","use_keyless":true,"proxy":{{"listen_path":"/late/","target_url":"http://{up}"}}}}"#),
    )
    .unwrap();

    // Unsigned and wrongly signed reloads are ignored.
    redis.publish(
        "tyk.cluster.notifications",
        r#"{"command":"GroupReload","payload":"","signature":""}"#,
    );
    redis.publish(
        "tyk.cluster.notifications",
        &Notification::signed(&Cmd::GroupReload, "", "wrong").to_json(),
    );
    redis.publish("tyk.cluster.notifications", "not json at all");
    eventually("bad notifications counted", T, || async {
        let m = get(&gw.url("/metrics"), &[]).await.body;
        (m.contains(
            r#"tyk_gw_notifications_total{command="GroupReload",outcome="bad_signature"} 2"#,
        ) && m.contains(r#"outcome="malformed"} 1"#))
        .then_some(())
    })
    .await;
    assert_eq!(get(&gw.url("/late/x"), &[]).await.status, 404);

    // A signed ApiAdded reloads.
    redis.publish(
        "tyk.cluster.notifications",
        &Notification::signed(&Cmd::ApiAdded, "late", NODE_SECRET).to_json(),
    );
    eventually("reload on signed notification", T, || async {
        (get(&gw.url("/late/x"), &[]).await.status == 200).then_some(())
    })
    .await;

    // KeySpaceUpdateNotification drops a cached session: with a 60 s stale window and Redis down,
    // a flushed key can no longer be served from cache.
    let h = hash_token("cachedkey");
    redis.set(&format!("apikey-{h}"), &session(""));
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "cachedkey")])
            .await
            .status,
        200
    );
    redis.publish(
        "tyk.cluster.notifications",
        &Notification::signed(&Cmd::KeySpaceUpdate, &h, NODE_SECRET).to_json(),
    );
    eventually("keyspace notification handled", T, || async {
        let m = get(&gw.url("/metrics"), &[]).await.body;
        m.contains(r#"tyk_gw_notifications_total{command="KeySpaceUpdateNotification",outcome="accepted"} 1"#).then_some(())
    })
    .await;
    drop(redis);
    let r = get(&gw.url("/otto/a"), &[("authorization", "cachedkey")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_serves_cached_keys_503_for_unseen_then_recovers() {
    let port = free_port();
    let mut redis = Redis::start("127.0.0.1", port);
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    redis.set(&format!("apikey-{}", hash_token("seen")), &session(""));
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "seen")])
            .await
            .status,
        200
    );

    redis.kill();
    // Session TTL is 200 ms, so after this the cache entry is stale and Redis must be asked (and fails).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let r = get(&gw.url("/otto/a"), &[("authorization", "seen")]).await;
        assert_eq!(r.status, 200, "seen key served from cache: {}", r.body);
    }
    let r = get(&gw.url("/otto/a"), &[("authorization", "unseen")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "Key store unavailable, please retry");
    eventually("readiness 503 while redis down", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 503).then_some(())
    })
    .await;
    let h = get(&gw.url("/hello"), &[]).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["details"]["redis"]["status"], "fail");

    // Redis returns (empty, as after a restart); a key written now is accepted without restarting the gateway.
    let redis2 = Redis::start("127.0.0.1", port);
    redis2.set(&format!("apikey-{}", hash_token("unseen")), &session(""));
    eventually("recovered", T, || async {
        (get(&gw.url("/otto/a"), &[("authorization", "unseen")])
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;
    eventually("ready again", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 200).then_some(())
    })
    .await;
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
    a.set(&format!("apikey-{}", hash_token("k1")), &session(""));
    eventually("served via region A redis", T, || async {
        (get(&gw.url("/otto/a"), &[("authorization", "k1")])
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;

    // Fail over: A dies, B (another address) takes over, the DNS answer changes.
    a.kill();
    let b = Redis::start("127.0.0.2", port);
    b.set(&format!("apikey-{}", hash_token("k2")), &session(""));
    *dns.ip.lock().unwrap() = Ipv4Addr::new(127, 0, 0, 2);
    // k2 exists only in B: a 200 proves the gateway reconnected to the new address by itself.
    eventually("served via region B redis", T, || async {
        (get(&gw.url("/otto/a"), &[("authorization", "k2")])
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;
    let m = get(&gw.url("/metrics"), &[]).await.body;
    assert!(m.contains("tyk_gw_redis_up 1"), "{m}");
    // Pub/sub follows too: a signed reload published on B is acted on.
    std::fs::write(
        gw.app_path().join("late.json"),
        format!(r#"{{"api_id":"late","use_keyless":true,"proxy":{{"listen_path":"/late/","target_url":"http://{up}"}}}}"#),
    )
    .unwrap();
    eventually("reload via B pub/sub", T, || async {
        b.publish(
            "tyk.cluster.notifications",
            &Notification::signed(&Cmd::GroupReload, "", NODE_SECRET).to_json(),
        );
        (get(&gw.url("/late/x"), &[]).await.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_and_huge_headers_never_crash() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;

    async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
    let r = raw(gw.addr, b"THIS IS NOT HTTP\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let big = format!(
        "GET /quickstart/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let r = raw(gw.addr, big.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let r = raw(
        gw.addr,
        b"GET /quickstart/ HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // Non-UTF-8 auth header: treated as missing, not a panic.
    let r = raw(
        gw.addr,
        b"GET /otto/ HTTP/1.1\r\nHost: x\r\nAuthorization: \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    // Still alive and serving.
    assert_eq!(get(&gw.url("/quickstart/ok"), &[]).await.status, 200);
}

#[test]
fn bad_config_exits_64_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gw.toml");
    std::fs::write(&p, "region = \"r\"\napp_path = \"/definitely/missing\"\n[redis]\nhost = \"\"\nnameserver = \"bad\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tyk-dr-gateway"))
        .args(["--check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for s in [
        "gw.toml",
        "`app_path`",
        "`redis.host`",
        "`redis.nameserver`",
    ] {
        assert!(err.contains(s), "{s} not in {err}");
    }
    std::fs::write(
        &p,
        format!(
            "region = \"r\"\napp_path = \"{}\"\n[redis]\nhost = \"redis.internal\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tyk-dr-gateway"))
        .args(["--check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keys_global_rate_limit_streaming_and_reload_keeps_in_flight_requests() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let extra = format!("{}\nhash_keys = false", standard_extra());
    let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| {
        write_fixture_apps(apps, up);
        std::fs::write(
            apps.join("limited.json"),
            format!(r#"{{"api_id":"lim","use_keyless":true,"global_rate_limit":{{"rate":2,"per":60}},"proxy":{{"listen_path":"/lim/","target_url":"http://{up}"}}}}"#),
        )
        .unwrap();
    })
    .await;

    // hash_keys = false: the raw token is the storage name.
    redis.set("apikey-rawtoken", &session(""));
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "rawtoken")])
            .await
            .status,
        200
    );
    redis.set(
        &format!("apikey-{}", hash_token("hashedonly")),
        &session(""),
    );
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "hashedonly")])
            .await
            .status,
        403
    );

    // global_rate_limit applies to everyone, keyless included.
    assert_eq!(get(&gw.url("/lim/a"), &[]).await.status, 200);
    assert_eq!(get(&gw.url("/lim/a"), &[]).await.status, 200);
    let r = get(&gw.url("/lim/a"), &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "API Rate limit exceeded");

    // Request bodies stream through.
    let big = "x".repeat(1024 * 1024);
    let r = call("POST", &gw.url("/quickstart/upload"), &[], &big).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body_len"], 1024 * 1024);

    // A reload that removes the API does not break a request already in flight.
    let url = gw.url("/quickstart/slow");
    let in_flight = tokio::spawn(async move { get(&url, &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::remove_file(gw.app_path().join("quickstart.json")).unwrap();
    assert_eq!(get(&gw.url("/tyk/reload"), &admin()).await.status, 200);
    assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 404);
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_replica_triggers_reconnect_and_503() {
    let redis = Redis::start("127.0.0.1", free_port());
    let other = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    assert_eq!(
        call("POST", &gw.url("/tyk/keys"), &admin(), &session(""))
            .await
            .status,
        200
    );
    let reconnects = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("tyk_gw_redis_reconnects_total "))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let before = reconnects(&get(&gw.url("/metrics"), &[]).await.body);

    // Demote the primary (what a failover does to the old primary): writes now fail with READONLY.
    let mut c = redis.conn();
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(other.addr.port())
        .query::<()>(&mut c)
        .unwrap();
    let r = call("POST", &gw.url("/tyk/keys"), &admin(), &session("")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let after = reconnects(&get(&gw.url("/metrics"), &[]).await.body);
    assert!(
        after > before,
        "READONLY must drop and re-establish the connection ({before} → {after})"
    );

    // Promoted again: writes succeed without restarting the gateway.
    redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query::<()>(&mut c)
        .unwrap();
    eventually("writes accepted after promotion", T, || async {
        (call("POST", &gw.url("/tyk/keys"), &admin(), &session(""))
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_grant_access_and_limits() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let pol_dir = tempfile::tempdir().unwrap();
    let pol = pol_dir.path().join("policies.json");
    std::fs::write(
        &pol,
        r#"{"basic": {"rate": 2, "per": 60, "quota_max": -1, "access_rights": {"1": {"api_id": "1", "versions": ["Default"]}}}}"#,
    )
    .unwrap();
    let extra = format!(
        "{}\npolicies_path = \"{}\"",
        standard_extra(),
        pol.display()
    );
    let gw = start_gateway(&redis_at(redis.addr), &extra, |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    // The key itself grants nothing and has no limits: the policy supplies both.
    redis.set(
        &format!("apikey-{}", hash_token("polkey")),
        r#"{"apply_policies":["basic"],"access_rights":{"9":{}}}"#,
    );
    redis.set(
        &format!("apikey-{}", hash_token("badpol")),
        r#"{"apply_policies":["missing"]}"#,
    );
    for _ in 0..2 {
        assert_eq!(
            get(&gw.url("/otto/a"), &[("authorization", "polkey")])
                .await
                .status,
            200
        );
    }
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "polkey")])
            .await
            .status,
        429
    );
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "badpol")])
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let mut gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    let url = gw.url("/quickstart/slow");
    let in_flight = tokio::spawn(async move { get(&url, &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = gw.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "in-flight request must complete: {}", r.body);
    let code = eventually("gateway exit", T, || {
        let status = gw.child.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert_eq!(code.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(gw.addr).is_err(),
        "listener closed after shutdown"
    );
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
    assert_eq!(get(&gw.url("/quickstart/x"), &[]).await.status, 200);
    assert_eq!(
        get(&gw.url("/otto/x"), &[("authorization", "k")])
            .await
            .status,
        503
    );
    assert_eq!(get(&gw.url("/ready"), &[]).await.status, 503);
    assert_eq!(get(&gw.url("/hello"), &[]).await.json()["status"], "fail");

    let redis = Redis::start("127.0.0.1", port);
    redis.set(&format!("apikey-{}", hash_token("k")), &session(""));
    eventually("ready once redis appears", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 200).then_some(())
    })
    .await;
    assert_eq!(
        get(&gw.url("/otto/x"), &[("authorization", "k")])
            .await
            .status,
        200
    );

    // Fencing is persisted and survives a restart.
    assert_eq!(
        call("POST", &gw.url("/tyk/dr/fence"), &admin(), "")
            .await
            .status,
        200
    );
    assert!(fence.exists());
    drop(gw);
    let gw = start_gateway(&section, &extra, |apps| write_fixture_apps(apps, up)).await;
    let r = get(&gw.url("/ready"), &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["fenced"], true);
    assert_eq!(
        call("DELETE", &gw.url("/tyk/dr/fence"), &admin(), "")
            .await
            .status,
        200
    );
    assert!(!fence.exists());
    eventually("ready after unfence", T, || async {
        (get(&gw.url("/ready"), &[]).await.status == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_renews_when_the_redis_counter_expires() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    let h = hash_token("renewing");
    redis.set(
        &format!("apikey-{h}"),
        &session("").replace(
            r#""quota_max":-1"#,
            r#""quota_max":1,"quota_renewal_rate":3600"#,
        ),
    );
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "renewing")])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "renewing")])
            .await
            .status,
        403
    );
    // Renewal = the counter disappearing from Redis (its TTL ran out): the exhausted key works again.
    eventually("usage recorded in redis", T, || async {
        (redis.get(&format!("quota-{h}")).as_deref() == Some("1")).then_some(())
    })
    .await;
    redis.conn_del(&format!("quota-{h}"));
    eventually("quota renewed", T, || async {
        (get(&gw.url("/otto/a"), &[("authorization", "renewing")])
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_counter_does_not_stop_other_keys_syncing() {
    let redis = Redis::start("127.0.0.1", free_port());
    let up = start_upstream().await;
    let gw = start_gateway(&redis_at(redis.addr), &standard_extra(), |apps| {
        write_fixture_apps(apps, up)
    })
    .await;
    let quota = |q: i64| {
        session("").replace(
            r#""quota_max":-1"#,
            &format!(r#""quota_max":{q},"quota_renewal_rate":3600"#),
        )
    };
    let (bad, good) = (hash_token("badcounter"), hash_token("goodcounter"));
    redis.set(&format!("apikey-{bad}"), &quota(100));
    redis.set(&format!("apikey-{good}"), &quota(100));
    redis.set(&format!("quota-{bad}"), "not-a-number");
    // Both keys are served (the bad counter is only skipped), and the good key's usage reaches Redis.
    assert_eq!(
        get(&gw.url("/otto/a"), &[("authorization", "badcounter")])
            .await
            .status,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            get(&gw.url("/otto/a"), &[("authorization", "goodcounter")])
                .await
                .status,
            200
        );
    }
    eventually("good counter synced despite the bad one", T, || async {
        (redis.get(&format!("quota-{good}")).as_deref() == Some("3")).then_some(())
    })
    .await;
    assert_eq!(
        redis.get(&format!("quota-{bad}")).as_deref(),
        Some("not-a-number")
    );
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
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

/// A raw HTTP/1.1 upstream (no hyper) so the gateway's upstream client sees the framings hyper would
/// normalise: chunked with trailers and a stray Content-Length, `Connection: close`, HTTP/1.0 read-until-close,
/// a 100 Continue before the answer, and 204.
async fn start_raw_upstream() -> std::net::SocketAddr {
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
        std::fs::write(
            apps.join("raw.json"),
            format!(r#"{{"api_id":"raw","use_keyless":true,"proxy":{{"listen_path":"/raw/","target_url":"http://{up}","strip_listen_path":true}}}}"#),
        )
        .unwrap();
    })
    .await;
    // Twice each: the second round runs on pooled connections (or fresh ones after a close).
    for _ in 0..2 {
        let r = get(&gw.url("/raw/chunked"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (200, "hello, world"));
        assert_eq!(r.header("x-tyk-dr-region"), Some("test-region"));
        let r = get(&gw.url("/raw/close"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (200, "close"));
        let r = get(&gw.url("/raw/http10"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (200, "until close"));
        let r = get(&gw.url("/raw/continue"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (201, "done"));
        let r = get(&gw.url("/raw/empty"), &[]).await;
        assert_eq!((r.status, r.body.as_str()), (204, ""));
        let r = call("POST", &gw.url("/raw/echo"), &[], "payload").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok:payload"));
    }
}
