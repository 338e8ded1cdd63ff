//! End-to-end: zones, records and health checks created in a real moto_server through the SDK,
//! answered by tyk-dr-dns, queried with a real DNS client over UDP and TCP.

mod common;

use std::time::Duration;

use common::{answers, eventually, query, HealthTarget, Moto};
use hickory_client::proto::op::ResponseCode;
use hickory_client::proto::rr::RecordType;
use tyk_dr_aws::route53::{Failover, HealthCheck, RecordSet, Route53, Zone};
use tyk_dr_dns::{serve, Config, ServerHandle};

fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        refresh: Duration::from_millis(200),
        health_interval_override: Some(Duration::from_millis(100)),
        ..Config::default()
    }
}

async fn start(moto: &Moto) -> (Route53, ServerHandle) {
    let r53 = moto.route53().await;
    let handle = serve(r53.clone(), config()).await.expect("serve");
    (r53, handle)
}

async fn zone(r53: &Route53, name: &str, private: bool) -> Zone {
    let vpc = private.then_some(("vpc-12345678", "us-east-1"));
    let z = r53.create_zone(name, vpc).await.expect("create zone");
    assert_eq!(z.private, private, "zone {name} private flag");
    z
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txt_cname_chain_nxdomain_and_refusal() {
    let moto = Moto::start();
    let r53 = moto.route53().await;
    let public = zone(&r53, "example.test", false).await;
    let private = zone(&r53, "tyk-dr.internal", true).await;
    for (z, rs) in [
        (
            &public,
            RecordSet::simple("www.example.test", "A", 1, &["127.0.1.21"]),
        ),
        (
            &public,
            RecordSet::simple("v6.example.test", "AAAA", 2, &["::1"]),
        ),
        (
            &public,
            RecordSet::simple(
                "fence.example.test",
                "TXT",
                300,
                &[r#""active=a epoch=7" "second""#],
            ),
        ),
        (
            &public,
            RecordSet::simple("one.example.test", "CNAME", 5, &["two.example.test"]),
        ),
        (
            &public,
            RecordSet::simple("two.example.test", "CNAME", 6, &["redis.tyk-dr.internal"]),
        ),
        (
            &private,
            RecordSet::simple(
                "redis.tyk-dr.internal",
                "CNAME",
                7,
                &["primary.tyk-dr.internal"],
            ),
        ),
        (
            &private,
            RecordSet::simple("primary.tyk-dr.internal", "A", 8, &["127.0.1.10"]),
        ),
        (
            &public,
            RecordSet::simple("\\052.wild.example.test", "A", 9, &["127.0.9.9"]),
        ),
    ] {
        r53.upsert_record(&z.id, &rs).await.expect("upsert");
    }
    let dns = serve(r53.clone(), config()).await.expect("serve");
    let addr = dns.local_addr();

    let m = query(addr, "WWW.example.test.", RecordType::A, false).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert_eq!(answers(&m), [(RecordType::A, "127.0.1.21".into())]);
    assert_eq!(m.answers()[0].ttl(), 1);

    let m = query(addr, "v6.example.test.", RecordType::AAAA, false).await;
    assert_eq!(answers(&m), [(RecordType::AAAA, "::1".into())]);
    assert_eq!(m.answers()[0].ttl(), 2);

    let m = query(addr, "fence.example.test.", RecordType::TXT, false).await;
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.answers()[0].ttl(), 300);
    let txt = m.answers()[0].data().as_txt().expect("TXT").clone();
    let strings: Vec<&[u8]> = txt.iter().map(|s| &s[..]).collect();
    assert_eq!(strings, [&b"active=a epoch=7"[..], &b"second"[..]]);

    // CNAME → CNAME → (private zone) CNAME → A: the whole chain, each with its own TTL.
    let m = query(addr, "one.example.test.", RecordType::A, false).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(
        answers(&m),
        [
            (RecordType::CNAME, "two.example.test.".into()),
            (RecordType::CNAME, "redis.tyk-dr.internal.".into()),
            (RecordType::CNAME, "primary.tyk-dr.internal.".into()),
            (RecordType::A, "127.0.1.10".into()),
        ]
    );
    let ttls: Vec<u32> = m.answers().iter().map(|r| r.ttl()).collect();
    assert_eq!(ttls, [5, 6, 7, 8]);

    // Asking for the CNAME itself does not follow it.
    let m = query(addr, "one.example.test.", RecordType::CNAME, false).await;
    assert_eq!(
        answers(&m),
        [(RecordType::CNAME, "two.example.test.".into())]
    );

    let m = query(addr, "anything.wild.example.test.", RecordType::A, false).await;
    assert_eq!(answers(&m), [(RecordType::A, "127.0.9.9".into())]);

    let m = query(addr, "missing.example.test.", RecordType::A, false).await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(m.answers().is_empty());
    assert_eq!(
        m.name_servers().first().map(|r| r.record_type()),
        Some(RecordType::SOA)
    );

    // Existing name, other type: NODATA.
    let m = query(addr, "www.example.test.", RecordType::TXT, false).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());

    let m = query(addr, "www.elsewhere.test.", RecordType::A, false).await;
    assert_eq!(m.response_code(), ResponseCode::Refused);

    // The same over TCP.
    let m = query(addr, "one.example.test.", RecordType::A, true).await;
    assert_eq!(m.answers().len(), 4);
    assert_eq!(
        answers(&m).last().cloned(),
        Some((RecordType::A, "127.0.1.10".into()))
    );
    let m = query(addr, "missing.example.test.", RecordType::A, true).await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);

    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_through_route53_is_answered_quickly() {
    let moto = Moto::start();
    let (r53, dns) = start(&moto).await;
    let z = zone(&r53, "global.test", false).await;
    let addr = dns.local_addr();
    let name = "api.global.test.";

    r53.upsert_record(&z.id, &RecordSet::simple(name, "A", 1, &["127.0.1.21"]))
        .await
        .unwrap();
    // The zone itself appeared after the server started: picked up by the refresher.
    let (_, took) = eventually("first value", Duration::from_secs(10), || async {
        let m = query(addr, name, RecordType::A, false).await;
        (answers(&m) == [(RecordType::A, "127.0.1.21".to_string())]).then_some(())
    })
    .await;
    eprintln!("new zone + record answered after {took:?}");

    // The `upsert` flip mode: UPSERT the global name to the passive region.
    r53.upsert_record(&z.id, &RecordSet::simple(name, "A", 1, &["127.0.2.21"]))
        .await
        .unwrap();
    let (_, took) = eventually("upserted value", Duration::from_secs(10), || async {
        let m = query(addr, name, RecordType::A, false).await;
        (answers(&m) == [(RecordType::A, "127.0.2.21".to_string())]).then_some(())
    })
    .await;
    eprintln!("UPSERT answered after {took:?}");
    // Refresh is 200 ms: the change must show within a few refresh periods.
    assert!(
        took < Duration::from_secs(3),
        "UPSERT took {took:?} to be answered"
    );
    dns.shutdown().await;
}

async fn failover_pair(
    r53: &Route53,
    zone_id: &str,
    name: &str,
    primary: &HealthTarget,
    secondary: &HealthTarget,
    threshold: u32,
) {
    for (role, target, value) in [
        (Failover::Primary, primary, "127.0.1.21"),
        (Failover::Secondary, secondary, "127.0.2.21"),
    ] {
        let mut hc = HealthCheck::http(
            target.ip(),
            target.addr.port(),
            "/hello/ready",
            10,
            threshold,
        );
        hc.fqdn = Some("gateway.local".into());
        let hc_id = r53.create_health_check(&hc).await.expect("health check");
        let rs = RecordSet {
            set_identifier: Some(format!("{role:?}").to_lowercase()),
            failover: Some(role),
            health_check_id: Some(hc_id),
            ..RecordSet::simple(name, "A", 1, &[value])
        };
        r53.upsert_record(zone_id, &rs)
            .await
            .expect("failover record");
    }
}

async fn wait_for_a(addr: std::net::SocketAddr, name: &str, want: &str, tcp: bool) -> Duration {
    let want = want.to_string();
    eventually(
        &format!("{name} -> {want}"),
        Duration::from_secs(15),
        || {
            let want = want.clone();
            async move {
                let m = query(addr, name, RecordType::A, tcp).await;
                (answers(&m) == [(RecordType::A, want)]).then_some(())
            }
        },
    )
    .await
    .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_records_follow_probed_health() {
    let moto = Moto::start();
    let r53 = moto.route53().await;
    let z = zone(&r53, "global.test", false).await;
    let mut primary = HealthTarget::start().await;
    let secondary = HealthTarget::start().await;
    let name = "api.global.test.";
    failover_pair(&r53, &z.id, name, &primary, &secondary, 3).await;
    let dns = serve(r53.clone(), config()).await.expect("serve");
    let addr = dns.local_addr();

    // Healthy primary is answered.
    wait_for_a(addr, name, "127.0.1.21", false).await;
    assert_eq!(
        dns.shared().health.ids().len(),
        2,
        "both health checks probed"
    );

    // Fenced: the primary's health path answers 503 → SECONDARY after FailureThreshold probes.
    primary.set_status(503);
    let took = wait_for_a(addr, name, "127.0.2.21", false).await;
    eprintln!("503 → SECONDARY after {took:?}");
    // 3 failures at 100 ms: not before ~200 ms, and well within 3 s.
    assert!(
        took >= Duration::from_millis(150),
        "flipped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "flip took {took:?}");

    // Recovered: back to PRIMARY after FailureThreshold successes.
    primary.set_status(200);
    let took = wait_for_a(addr, name, "127.0.1.21", true).await;
    eprintln!("recovery → PRIMARY after {took:?}");

    // Region killed: connections refused → SECONDARY again.
    let port = primary.addr.port();
    primary.stop().await;
    let took = wait_for_a(addr, name, "127.0.2.21", false).await;
    eprintln!("stopped → SECONDARY after {took:?}");

    // Both down: Route 53 answers the PRIMARY.
    let mut secondary = secondary;
    secondary.stop().await;
    wait_for_a(addr, name, "127.0.1.21", false).await;

    // Primary back on the same port → PRIMARY (and stays there).
    let _primary = HealthTarget::start_on(port).await;
    wait_for_a(addr, name, "127.0.1.21", false).await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_weighted_and_private_over_public() {
    let moto = Moto::start();
    let r53 = moto.route53().await;
    let public = zone(&r53, "shared.test", false).await;
    let private = zone(&r53, "shared.test", true).await;
    r53.upsert_record(
        &public.id,
        &RecordSet::simple("www.shared.test", "A", 5, &["192.0.2.1"]),
    )
    .await
    .unwrap();
    r53.upsert_record(
        &private.id,
        &RecordSet::simple("www.shared.test", "A", 5, &["10.0.0.1"]),
    )
    .await
    .unwrap();
    r53.upsert_record(
        &private.id,
        &RecordSet::simple("target.shared.test", "A", 42, &["10.0.0.42"]),
    )
    .await
    .unwrap();
    let alias = RecordSet {
        ttl: None,
        values: Vec::new(),
        alias_target: Some(tyk_dr_aws::route53::AliasTarget {
            hosted_zone_id: private.id.clone(),
            dns_name: "target.shared.test.".into(),
            evaluate_target_health: false,
        }),
        ..RecordSet::simple("alias.shared.test", "A", 0, &[])
    };
    r53.upsert_record(&private.id, &alias).await.unwrap();
    for (id, weight, value) in [("light", 10, "10.0.1.1"), ("heavy", 90, "10.0.1.2")] {
        let rs = RecordSet {
            set_identifier: Some(id.into()),
            weight: Some(weight),
            ..RecordSet::simple("weighted.shared.test", "A", 3, &[value])
        };
        r53.upsert_record(&private.id, &rs).await.unwrap();
    }
    let dns = serve(r53.clone(), config()).await.expect("serve");
    let addr = dns.local_addr();

    let m = query(addr, "www.shared.test.", RecordType::A, false).await;
    assert_eq!(
        answers(&m),
        [(RecordType::A, "10.0.0.1".into())],
        "private zone wins"
    );
    let m = query(addr, "alias.shared.test.", RecordType::A, false).await;
    assert_eq!(answers(&m), [(RecordType::A, "10.0.0.42".into())]);
    assert_eq!(
        m.answers()[0].ttl(),
        42,
        "alias answers carry the target's TTL"
    );
    let m = query(addr, "weighted.shared.test.", RecordType::A, false).await;
    assert_eq!(
        answers(&m),
        [(RecordType::A, "10.0.1.2".into())],
        "highest weight"
    );
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_from_endpoint_flag() {
    let moto = Moto::start();
    let r53 = moto.route53().await;
    let z = zone(&r53, "bin.test", false).await;
    r53.upsert_record(
        &z.id,
        &RecordSet::simple("ok.bin.test", "A", 4, &["127.0.0.4"]),
    )
    .await
    .unwrap();
    let port = common::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tyk-dr-dns"))
        .args([
            "--listen",
            &addr.to_string(),
            "--endpoint-url",
            &moto.endpoint,
            "--region",
            "us-east-1",
            "--refresh",
            "200ms",
            "--health-interval-override",
            "100ms",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start tyk-dr-dns");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut guard = Kill(child);
    let (_, took) = eventually("binary answers", Duration::from_secs(15), || async {
        // The binary may not be listening yet: a refused/timed-out UDP query is retried.
        let m = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::spawn(async move { query(addr, "ok.bin.test.", RecordType::A, false).await }),
        )
        .await
        .ok()?
        .ok()?;
        (answers(&m) == [(RecordType::A, "127.0.0.4".to_string())]).then_some(())
    })
    .await;
    eprintln!("binary answered after {took:?}");
    assert!(
        guard.0.try_wait().ok().flatten().is_none(),
        "tyk-dr-dns exited early"
    );
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fqdn_health_check_target_resolved_from_served_zones() {
    let moto = Moto::start();
    let r53 = moto.route53().await;
    let private = zone(&r53, "tyk-dr.internal", true).await;
    let primary = HealthTarget::start().await;
    // The primary's health check names its target only by FQDN, which exists only in a
    // private zone this server serves.
    r53.upsert_record(
        &private.id,
        &RecordSet::simple("gw-a.tyk-dr.internal", "A", 1, &["127.0.0.1"]),
    )
    .await
    .unwrap();
    let mut hc = HealthCheck::http(primary.ip(), primary.addr.port(), "/hello", 10, 2);
    hc.ip = None;
    hc.fqdn = Some("gw-a.tyk-dr.internal".into());
    let hc_id = r53.create_health_check(&hc).await.unwrap();
    for (role, value, hc) in [
        (Failover::Primary, "127.0.1.10", Some(hc_id)),
        (Failover::Secondary, "127.0.2.10", None),
    ] {
        let rs = RecordSet {
            set_identifier: Some(format!("{role:?}")),
            failover: Some(role),
            health_check_id: hc,
            ..RecordSet::simple("redis.tyk-dr.internal", "A", 1, &[value])
        };
        r53.upsert_record(&private.id, &rs).await.unwrap();
    }
    let dns = serve(r53.clone(), config()).await.expect("serve");
    let addr = dns.local_addr();
    wait_for_a(addr, "redis.tyk-dr.internal.", "127.0.1.10", false).await;
    primary.set_status(500);
    wait_for_a(addr, "redis.tyk-dr.internal.", "127.0.2.10", false).await;
    primary.set_status(302);
    wait_for_a(addr, "redis.tyk-dr.internal.", "127.0.1.10", false).await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_emulator_keeps_last_table_then_recovers() {
    let moto = Moto::start();
    let (r53, dns) = start(&moto).await;
    let z = zone(&r53, "hang.test", false).await;
    let addr = dns.local_addr();
    let name = "api.hang.test.";
    r53.upsert_record(&z.id, &RecordSet::simple(name, "A", 1, &["127.0.1.21"]))
        .await
        .unwrap();
    wait_for_a(addr, name, "127.0.1.21", false).await;

    // The emulator hangs (SIGSTOP): answers keep coming from the last table.
    moto.signal("STOP");
    struct Cont<'a>(&'a Moto);
    impl Drop for Cont<'_> {
        fn drop(&mut self) {
            self.0.signal("CONT");
        }
    }
    let cont = Cont(&moto);
    for _ in 0..10 {
        let m = query(addr, name, RecordType::A, false).await;
        assert_eq!(answers(&m), [(RecordType::A, "127.0.1.21".to_string())]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(cont);

    // Back: changes are picked up again.
    r53.upsert_record(&z.id, &RecordSet::simple(name, "A", 1, &["127.0.2.21"]))
        .await
        .unwrap();
    let took = wait_for_a(addr, name, "127.0.2.21", false).await;
    eprintln!("after SIGCONT, UPSERT answered in {took:?}");
    dns.shutdown().await;
}
