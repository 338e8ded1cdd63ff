//! The `mongo` step against a simulated replica set (`tyk_dr_mongo::fake::FakeSet`): no
//! mongod can run where tyk-dr is built (every install route downloads server binaries at
//! run time), so these tests pin the exact command documents sent, in order.

use std::time::Duration;

use tyk_dr_mongo::bson::{doc, Bson, Document};
use tyk_dr_mongo::fake::{mongo7_config, FakeSet, FORCE_VERSION_BUMP};

use super::Move;
use crate::config::{Mongo, Side};
use crate::playbook::context::Transition;
use crate::playbook::steps::StepError;

const A: [&str; 3] = ["10.10.1.30:27017", "10.10.2.30:27017", "10.10.3.30:27017"];
const P: [&str; 2] = ["10.20.1.30:27017", "10.20.2.30:27017"];

const FAILOVER: Transition = Transition {
    from: Side::Active,
    to: Side::Passive,
};
const FAILBACK: Transition = Transition {
    from: Side::Passive,
    to: Side::Active,
};

fn mongo() -> Mongo {
    let mut m = Mongo::default();
    m.endpoints.active = A.iter().map(|s| s.to_string()).collect();
    m.endpoints.passive = P.iter().map(|s| s.to_string()).collect();
    m
}

fn step<'a>(set: &'a FakeSet, mongo: &'a Mongo, transition: Transition, confirm: bool) -> Move<'a> {
    Move {
        admin: set,
        mongo,
        transition,
        confirm_force: confirm,
        poll: Duration::from_millis(1),
    }
}

/// The set as deployed: active members at priority 2, passive at 1, version 5, A[0] primary.
fn deployed() -> FakeSet {
    FakeSet::new(mongo7_config("tyk", 5, &A, &P, 2.0, 1.0), A[0])
}

/// `mongo7_config` without `term` (never sent back) and with `members` replaced.
fn config_doc(version: i32, members: Vec<Document>) -> Document {
    let mut d = mongo7_config("tyk", version, &A, &P, 2.0, 1.0);
    d.remove("term");
    d.insert(
        "members",
        members.into_iter().map(Bson::Document).collect::<Vec<_>>(),
    );
    d
}

/// A member as MongoDB 7 lists it.
fn member(id: i32, host: &str, priority: f64) -> Document {
    doc! {
        "_id": id, "host": host, "arbiterOnly": false, "buildIndexes": true, "hidden": false,
        "priority": priority, "tags": {}, "secondaryDelaySecs": 0i64, "votes": 1,
    }
}

/// A member added back by tyk-dr: only what it sets; the server fills in the rest.
fn added(id: i32, host: &str, priority: f64) -> Document {
    doc! {"_id": id, "host": host, "priority": priority, "votes": 1}
}

fn reconfig(config: Document, force: bool) -> Document {
    doc! {"replSetReconfig": config, "force": force, "maxTimeMS": 20_000}
}

fn step_down() -> Document {
    doc! {"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": 10}
}

fn writes(set: &FakeSet) -> Vec<(String, Document)> {
    set.writes()
}

fn at(host: &str, cmd: Document) -> (String, Document) {
    (host.to_owned(), cmd)
}

#[tokio::test]
async fn planned_failover_swaps_priorities_then_steps_the_old_primary_down() {
    let set = deployed();
    let m = mongo();
    let s = step(&set, &m, FAILOVER, false);

    let obs = s.observe().await.unwrap();
    assert_eq!(
        obs.actions,
        [
            "replSetReconfig on 10.10.1.30:27017 (version 5 → 6): 10.10.1.30:27017 priority 2 → 1, 10.10.2.30:27017 priority 2 → 1, 10.10.3.30:27017 priority 2 → 1, 10.20.1.30:27017 priority 1 → 2, 10.20.2.30:27017 priority 1 → 2",
            "replSetStepDown on 10.10.1.30:27017 (60 s, secondaries get 10 s to catch up)",
            "wait until a member of 10.20.1.30:27017, 10.20.2.30:27017 is primary",
        ]
    );
    assert_eq!(
        obs.observed["votes"],
        serde_json::json!({"total": 5, "majority": 3, "reachable": 5})
    );
    // Observing (all --dry-run does) reads only.
    assert!(writes(&set).is_empty());
    assert!(set
        .sent()
        .iter()
        .all(|(_, c)| ["hello", "replSetGetConfig"].contains(&tyk_dr_mongo::command_name(c))));

    let facts = s.act().await.unwrap();
    let swapped = config_doc(
        6,
        vec![
            member(0, A[0], 1.0),
            member(1, A[1], 1.0),
            member(2, A[2], 1.0),
            member(3, P[0], 2.0),
            member(4, P[1], 2.0),
        ],
    );
    assert_eq!(
        writes(&set),
        [at(A[0], reconfig(swapped, false)), at(A[0], step_down())]
    );
    assert_eq!(set.primary().as_deref(), Some(P[0]));
    assert_eq!(facts.mongo_primary.as_deref(), Some(P[0]));
    assert_eq!(facts.mongo_config_version, Some(6));
}

#[tokio::test]
async fn a_rerun_after_the_move_sends_nothing() {
    let set = deployed();
    let m = mongo();
    step(&set, &m, FAILOVER, false).act().await.unwrap();
    set.clear_sent();

    let s = step(&set, &m, FAILOVER, false);
    let obs = s.observe().await.unwrap();
    assert!(obs.actions.is_empty(), "{:?}", obs.actions);
    s.act().await.unwrap();
    assert!(writes(&set).is_empty());
}

#[tokio::test]
async fn a_primary_already_on_the_target_with_stale_priorities_gets_only_the_reconfig() {
    // An election moved the primary already (say, the old primary restarted): no step-down.
    let set = FakeSet::new(mongo7_config("tyk", 5, &A, &P, 2.0, 1.0), P[1]);
    let m = mongo();
    step(&set, &m, FAILOVER, false).act().await.unwrap();
    let w = writes(&set);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, P[1]);
    assert_eq!(tyk_dr_mongo::command_name(&w[0].1), "replSetReconfig");
}

#[tokio::test]
async fn a_lost_source_without_the_flag_is_refused_and_nothing_is_written() {
    let set = deployed();
    set.take_down(&A);
    let m = mongo();
    let s = step(&set, &m, FAILOVER, false);

    let obs = s.observe().await.unwrap();
    assert_eq!(
        obs.actions,
        [
            "forced replSetReconfig on 10.20.1.30:27017: only 2 of 5 votes answer (majority 3); keep 10.20.1.30:27017, 10.20.2.30:27017 (2 votes, majority 2), remove 10.10.1.30:27017, 10.10.2.30:27017, 10.10.3.30:27017 (refused without --confirm-force-reconfig)",
            "wait until a member of 10.20.1.30:27017, 10.20.2.30:27017 is primary",
        ]
    );
    let err = s.act().await.unwrap_err();
    let StepError::Failed(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with("refused: forced replSetReconfig on 10.20.1.30:27017"),
        "{msg}"
    );
    assert!(msg.contains("never run unattended"), "{msg}");
    assert!(
        msg.ends_with(
            "confirm the active region is lost, then re-run with --confirm-force-reconfig"
        ),
        "{msg}"
    );
    assert!(writes(&set).is_empty());
    assert_eq!(set.config().version, 5);
}

#[tokio::test]
async fn a_lost_source_with_the_flag_keeps_only_the_members_that_answer() {
    let set = deployed();
    set.take_down(&A);
    let m = mongo();
    let facts = step(&set, &m, FAILOVER, true).act().await.unwrap();

    let forced = config_doc(6, vec![member(3, P[0], 2.0), member(4, P[1], 2.0)]);
    assert_eq!(writes(&set), [at(P[0], reconfig(forced, true))]);
    assert_eq!(facts.mongo_forced_reconfig, Some(true));
    assert_eq!(
        facts.mongo_removed_members,
        Some(A.map(String::from).to_vec())
    );
    assert_eq!(set.primary().as_deref(), Some(P[0]));
    // The server raised the version by its own large step; the majority is now 2 of 2.
    let c = set.config();
    assert_eq!(c.version, 5 + FORCE_VERSION_BUMP);
    assert_eq!((c.total_votes(), c.majority()), (2, 2));
}

#[tokio::test]
async fn failback_after_a_forced_reconfig_adds_the_members_back_one_vote_at_a_time() {
    let set = deployed();
    set.take_down(&A);
    let m = mongo();
    step(&set, &m, FAILOVER, true).act().await.unwrap();
    set.bring_up(&A);
    set.clear_sent();

    let s = step(&set, &m, FAILBACK, false);
    let v = 5 + FORCE_VERSION_BUMP as i32;
    let obs = s.observe().await.unwrap();
    assert_eq!(
        obs.actions,
        [
            format!("replSetReconfig on 10.20.1.30:27017 (version {v} → {}): 10.20.1.30:27017 priority 2 → 1, 10.20.2.30:27017 priority 2 → 1, add 10.10.1.30:27017 (_id 5, priority 2, votes 1)", v + 1),
            format!("replSetReconfig on 10.20.1.30:27017 (version {} → {}): add 10.10.2.30:27017 (_id 6, priority 2, votes 1)", v + 1, v + 2),
            format!("replSetReconfig on 10.20.1.30:27017 (version {} → {}): add 10.10.3.30:27017 (_id 7, priority 2, votes 1)", v + 2, v + 3),
            "replSetStepDown on 10.20.1.30:27017 (60 s, secondaries get 10 s to catch up)".into(),
            "wait until a member of 10.10.1.30:27017, 10.10.2.30:27017, 10.10.3.30:27017 is primary".into(),
        ]
    );

    s.act().await.unwrap();
    let p_low = || vec![member(3, P[0], 1.0), member(4, P[1], 1.0)];
    let with = |n: usize| {
        let mut ms = p_low();
        ms.extend((0..n).map(|i| added(5 + i as i32, A[i], 2.0)));
        ms
    };
    assert_eq!(
        writes(&set),
        [
            at(P[0], reconfig(config_doc(v + 1, with(1)), false)),
            at(P[0], reconfig(config_doc(v + 2, with(2)), false)),
            at(P[0], reconfig(config_doc(v + 3, with(3)), false)),
            at(P[0], step_down()),
        ]
    );
    assert_eq!(set.primary().as_deref(), Some(A[0]));
    let c = set.config();
    assert_eq!((c.total_votes(), c.majority()), (5, 3));

    // And once more: nothing left to do.
    set.clear_sent();
    assert!(s.observe().await.unwrap().actions.is_empty());
    assert!(writes(&set).is_empty());
}

#[tokio::test]
async fn planned_failback_is_the_failover_with_sides_swapped() {
    let set = deployed();
    let m = mongo();
    step(&set, &m, FAILOVER, false).act().await.unwrap();
    set.clear_sent();
    step(&set, &m, FAILBACK, false).act().await.unwrap();
    let original = config_doc(
        7,
        vec![
            member(0, A[0], 2.0),
            member(1, A[1], 2.0),
            member(2, A[2], 2.0),
            member(3, P[0], 1.0),
            member(4, P[1], 1.0),
        ],
    );
    assert_eq!(
        writes(&set),
        [at(P[0], reconfig(original, false)), at(P[0], step_down())]
    );
    assert_eq!(set.primary().as_deref(), Some(A[0]));
}

#[tokio::test]
async fn disabled_mongo_has_nothing_to_do_and_missing_endpoints_are_explained() {
    let set = deployed();
    let mut m = mongo();
    m.enabled = false;
    assert!(step(&set, &m, FAILOVER, false)
        .observe()
        .await
        .unwrap()
        .actions
        .is_empty());
    assert!(set.sent().is_empty());

    let m = Mongo::default();
    let err = step(&set, &m, FAILOVER, false).observe().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("[mongo.endpoints] lists no members"),
        "{err}"
    );
    assert!(set.sent().is_empty());
}

#[tokio::test]
async fn a_member_in_neither_list_stops_the_step() {
    let set = deployed();
    let mut m = mongo();
    m.endpoints.passive.pop();
    let err = step(&set, &m, FAILOVER, false).observe().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "replica set member 10.20.2.30:27017 is in neither [mongo.endpoints] list; add it to `active` or `passive` as the set names it"
    );
}

#[test]
fn the_built_in_playbooks_pause_on_a_failed_mongo_step_with_a_minute_to_converge() {
    use crate::playbook::model::OnFailure;
    for (file, text) in [
        ("failover.yaml", crate::playbook::FAILOVER),
        ("failback.yaml", crate::playbook::FAILBACK),
    ] {
        let pb = crate::playbook::compile(file, text).unwrap();
        let s = pb.steps.iter().find(|s| s.name == "mongo").expect(file);
        assert!(matches!(s.on_failure, OnFailure::Pause), "{file}");
        assert_eq!(s.timeout, Duration::from_secs(60), "{file}");
    }
}
