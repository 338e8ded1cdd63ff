//! The Route 53 adapter against a real moto_server: pagination, private zones, health checks,
//! and the DELETE+CREATE compare-and-swap the fencing record relies on.

use std::net::Ipv4Addr;
use std::time::Duration;

use tyk_dr_aws::route53::{Change, HealthCheck, HealthCheckProtocol, RecordSet};

#[path = "../../../tests/common/moto.rs"]
mod moto;

use moto::Moto;

#[tokio::test]
async fn zones_records_health_checks_and_cas() {
    let moto = Moto::start();
    let r53 = moto.route53().await;

    let public = r53.create_zone("example.test", None).await.unwrap();
    let private = r53
        .create_zone("tyk-dr.internal.", Some(("vpc-1234abcd", "us-east-1")))
        .await
        .unwrap();
    assert_eq!(public.name, "example.test.");
    assert!(!public.private && private.private);
    let zones = r53.list_zones().await.unwrap();
    assert!(zones.contains(&public) && zones.contains(&private));

    // More records than one page (Route 53 pages at 300): pagination must collect them all.
    let changes: Vec<Change> = (0..350)
        .map(|i| {
            Change::Create(RecordSet::simple(
                &format!("h{i:03}.example.test"),
                "A",
                60,
                &["127.0.0.1"],
            ))
        })
        .collect();
    r53.change_batch(&public.id, &changes[..300], Some("bulk"))
        .await
        .unwrap();
    r53.change_batch(&public.id, &changes[300..], None)
        .await
        .unwrap();
    r53.upsert_record(
        &public.id,
        &RecordSet::simple("*.wild.example.test", "A", 5, &["127.0.0.9"]),
    )
    .await
    .unwrap();
    let records = r53.list_record_sets(&public.id).await.unwrap();
    let hosts = records.iter().filter(|r| r.name.starts_with('h')).count();
    assert_eq!(hosts, 350, "all pages listed");
    // Small pages: the NextRecordName/Type continuation must neither skip nor repeat records.
    let paged = r53
        .list_record_sets_paged(&public.id, Some(7))
        .await
        .unwrap();
    assert_eq!(paged, records, "paged listing equals the one-shot listing");
    assert!(records.iter().any(|r| r.rtype == "SOA"));
    assert!(
        records.iter().any(|r| r.name == "*.wild.example.test."),
        "\\052 decoded"
    );

    // Fencing compare-and-swap: DELETE(old) + CREATE(new) in one batch.
    let fence = |v: &str| RecordSet::simple("fence.example.test", "TXT", 1, &[v]);
    r53.upsert_record(&public.id, &fence("\"region=a epoch=1\""))
        .await
        .unwrap();
    let swap = |old: &str, new: &str| vec![Change::Delete(fence(old)), Change::Create(fence(new))];
    r53.change_batch(
        &public.id,
        &swap("\"region=a epoch=1\"", "\"region=b epoch=2\""),
        None,
    )
    .await
    .expect("CAS with the current value succeeds");
    let fence_values = || async {
        r53.list_record_sets(&public.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.name == "fence.example.test.")
            .flat_map(|r| r.values)
            .collect::<Vec<String>>()
    };
    assert_eq!(fence_values().await, ["\"region=b epoch=2\""]);
    // Real Route 53 rejects a DELETE whose values do not match (that is what makes the batch a
    // compare-and-swap). moto does not check the values: a stale swap succeeds there. This
    // pins the quirk so the fencing tests elsewhere know the emulator cannot prove the CAS.
    let stale = r53
        .change_batch(
            &public.id,
            &swap("\"region=a epoch=1\"", "\"region=a epoch=3\""),
            None,
        )
        .await;
    if stale.is_ok() {
        eprintln!("moto quirk confirmed: DELETE with stale values accepted");
        assert_eq!(fence_values().await, ["\"region=a epoch=3\""]);
    }

    let spec = HealthCheck::http(Ipv4Addr::LOCALHOST.into(), 8080, "/hello", 10, 2);
    let id = r53.create_health_check(&spec).await.unwrap();
    let got = r53.get_health_check(&id).await.unwrap();
    assert_eq!(got.protocol, HealthCheckProtocol::Http);
    assert_eq!(
        (got.ip, got.port, got.path.as_deref()),
        (spec.ip, Some(8080), Some("/hello"))
    );
    assert_eq!(
        (got.interval, got.failure_threshold),
        (Duration::from_secs(10), 2)
    );
    assert!(r53
        .list_health_checks()
        .await
        .unwrap()
        .iter()
        .any(|h| h.id == id));
}
