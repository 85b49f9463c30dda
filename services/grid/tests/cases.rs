//! The grid store's conformance suite: grids, the case workflow with its clock, change
//! requests, escalation by concurrent scanners, and micro-wishes. Every case runs on SQLite and PostgreSQL;
//! the clock is the `now` each call is given, so hours pass without waiting.

use jiceng_org_client::OrgPath;
use std::collections::BTreeMap;

use jiceng_db::Migrations;
use jiceng_grid::{
    GridStore, MIGRATIONS,
    domain::{
        Layer, Point,
        calendar::ClockKind,
        case::{Action, CaseState, ReporterKind, RequestKind, Urgency},
        category::{Category, Limits},
        project::{NeedState, ProjectAction, ProjectState, Provider, ResourceState, Side},
        wish::{Claimant, WishState},
    },
    store::{
        NewGrid, StoreError,
        cases::{ActionDetail, Case, CaseFilter, ImportedCase, NewCase},
        projects::{ListFilter, NewNeed, NewResource},
        wishes::{NewWish, WishChange, WishFilter},
    },
};
use jiceng_testkit::{TestDatabase, on_both_backends};
use sqlx::Row as _;

const MINUTE: i64 = 60_000;
/// 2026-11-30, a Monday, 10:00 Beijing.
const T0: i64 = 1_796_004_000_000;
const COMMITTEE: &str = "01937f6e-0000-7000-8000-0000000000c3";
const PATH: &str =
    "/root/01937f6e-0000-7000-8000-0000000000b2/01937f6e-0000-7000-8000-0000000000c3/";
const STREET: &str = "01937f6e-0000-7000-8000-0000000000b2";
const HANDLER: &str = "01937f6e-0000-7000-8000-0000000000d4";

async fn setup(db: &TestDatabase) -> GridStore {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database
        .migrate(&jiceng_org_client::paths::MIGRATIONS)
        .await
        .expect("org paths");
    database.migrate(&MIGRATIONS).await.expect("migrations");
    let store = GridStore::new(database, "//jiceng/310115/grid".into());
    let limits = Limits {
        accept: 60,
        dispatch: 60,
        handle: 120,
        verify: 60,
        overall: 24 * 60,
    };
    store
        .define_category(&Category {
            code: "city.garbage".into(),
            name: "垃圾堆放".into(),
            attributes: Vec::new(),
            default_handler_kind: "residential_committee".into(),
            clock: ClockKind::Calendar,
            limits: [limits; 3],
        })
        .await
        .expect("category");
    store
}

fn new_case(reporter: &str) -> NewCase {
    NewCase {
        category_code: "city.garbage".into(),
        urgency: Urgency::Normal,
        description: "楼道口堆放建筑垃圾".into(),
        attributes: BTreeMap::new(),
        location: None,
        address: "梅园一村12号".into(),
        grid_id: None,
        owner_org_id: COMMITTEE.into(),
        org_path: OrgPath::of_unmoved_tree(PATH),
        reporter_kind: ReporterKind::GridWorker,
        reporter: reporter.into(),
        contact: None,
        source: String::new(),
        external_id: String::new(),
        attachments: Vec::new(),
    }
}

async fn act(store: &GridStore, case: &Case, actor: &str, action: Action, at: i64) -> Case {
    store
        .act(&case.id, actor, &action, &ActionDetail::default(), at)
        .await
        .unwrap_or_else(|err| panic!("{action:?}: {err}"))
}

/// Reports and dispatches a case, returning it in progress at `T0 + 30 min`.
async fn in_progress(store: &GridStore) -> Case {
    let case = store
        .report(None, &new_case("worker-1"), T0)
        .await
        .expect("report");
    let case = act(store, &case, "centre", Action::Accept, T0 + 10 * MINUTE).await;
    let dispatch = Action::Dispatch {
        handler_org_id: HANDLER.into(),
    };
    let case = act(store, &case, "centre", dispatch, T0 + 20 * MINUTE).await;
    act(store, &case, "handler-1", Action::Start, T0 + 30 * MINUTE).await
}

async fn events_of_type(store: &GridStore, event_type: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM outbox_events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(store.database().pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("count")
}

async fn a_case_runs_its_whole_course(db: TestDatabase) {
    let store = setup(&db).await;
    let case = store
        .report(None, &new_case("worker-1"), T0)
        .await
        .expect("report");
    assert_eq!(case.state, CaseState::Reported);
    assert_eq!(case.step_due_at, Some(T0 + 60 * MINUTE));
    assert_eq!(case.overall_due_at, Some(T0 + 24 * 60 * MINUTE));
    let refused = store
        .act(
            &case.id,
            "centre",
            &Action::Close,
            &ActionDetail::default(),
            T0,
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Precondition {
                kind: "CASE_STATE",
                ..
            })
        ),
        "{refused:?}"
    );
    let case = in_progress(&store).await;
    assert_eq!(case.step_due_at, Some(T0 + 20 * MINUTE + 120 * MINUTE));
    let handled = store
        .act(
            &case.id,
            "handler-1",
            &Action::Handle,
            &ActionDetail {
                note: "已清运".into(),
                evidence: vec!["https://files.example/after.jpg".into()],
                ..ActionDetail::default()
            },
            T0 + 60 * MINUTE,
        )
        .await
        .expect("handled");
    // The handler does not verify their own work.
    let own = store
        .act(
            &case.id,
            "handler-1",
            &Action::Verify { passed: true },
            &ActionDetail::default(),
            T0 + 70 * MINUTE,
        )
        .await;
    assert!(
        matches!(
            own,
            Err(StoreError::Precondition {
                kind: "VERIFIER",
                ..
            })
        ),
        "{own:?}"
    );
    // A stale etag is refused.
    let stale = store
        .act(
            &case.id,
            "checker",
            &Action::Verify { passed: true },
            &ActionDetail {
                expected_version: Some(handled.version - 1),
                ..ActionDetail::default()
            },
            T0 + 70 * MINUTE,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let reopened = act(
        &store,
        &handled,
        "checker",
        Action::Verify { passed: false },
        T0 + 80 * MINUTE,
    )
    .await;
    assert_eq!(reopened.state, CaseState::InProgress);
    assert_eq!(reopened.step_due_at, Some(T0 + 80 * MINUTE + 120 * MINUTE));
    let case = act(
        &store,
        &reopened,
        "handler-1",
        Action::Handle,
        T0 + 90 * MINUTE,
    )
    .await;
    let case = act(
        &store,
        &case,
        "checker",
        Action::Verify { passed: true },
        T0 + 100 * MINUTE,
    )
    .await;
    let case = act(&store, &case, "centre", Action::Close, T0 + 110 * MINUTE).await;
    assert_eq!(case.closed_at, Some(T0 + 110 * MINUTE));
    assert_eq!(case.step_due_at, None);
    let case = act(
        &store,
        &case,
        "worker-1",
        Action::Evaluate { satisfaction: 5 },
        T0 + 120 * MINUTE,
    )
    .await;
    assert_eq!(
        (case.state, case.satisfaction),
        (CaseState::Evaluated, Some(5))
    );
    let history = store.history(&case.id).await.expect("history");
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "report",
            "accept",
            "dispatch",
            "start",
            "handle",
            "fail_verification",
            "handle",
            "verify",
            "close",
            "evaluate"
        ]
    );
    assert_eq!(history[4].evidence, ["https://files.example/after.jpg"]);
    assert_eq!(history[2].org_id, HANDLER);
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.case.dispatched").await,
        1
    );
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.case.verification_failed").await,
        1
    );
}

async fn changes_are_decided_by_the_level_above_and_move_the_clock(db: TestDatabase) {
    let store = setup(&db).await;
    let case = in_progress(&store).await;
    let due = case.step_due_at.expect("due");
    store
        .request_change(
            &case.id,
            "handler-1",
            RequestKind::Extension,
            "需协调物业",
            Some(60),
            None,
            T0 + 40 * MINUTE,
        )
        .await
        .expect("extension");
    // One request waits at a time, and the case does not move while it waits.
    let twice = store
        .request_change(
            &case.id,
            "handler-1",
            RequestKind::Backlog,
            "x",
            None,
            None,
            T0,
        )
        .await;
    assert!(
        matches!(
            twice,
            Err(StoreError::Precondition {
                kind: "CHANGE_PENDING",
                ..
            })
        ),
        "{twice:?}"
    );
    let blocked = store
        .act(
            &case.id,
            "handler-1",
            &Action::Handle,
            &ActionDetail::default(),
            T0,
        )
        .await;
    assert!(matches!(blocked, Err(StoreError::Precondition { .. })));
    let extended = store
        .decide_change(&case.id, "street-admin", true, "同意", T0 + 50 * MINUTE)
        .await
        .expect("approve");
    assert_eq!(extended.step_due_at, Some(due + 60 * MINUTE));

    // A deferral stops the clock while it waits and restarts it, with the time left, at its date.
    let due = extended.step_due_at.expect("due");
    let asked = T0 + 60 * MINUTE;
    let until = T0 + 24 * 60 * MINUTE;
    store
        .request_change(
            &case.id,
            "handler-1",
            RequestKind::Deferral,
            "待业委会表决",
            None,
            Some(until),
            asked,
        )
        .await
        .expect("deferral");
    let waiting = store.case(&case.id).await.expect("case");
    assert_eq!(waiting.paused_at, Some(asked));
    assert!(
        !waiting.is_overdue(T0 + 48 * 60 * MINUTE),
        "a stopped clock is not overdue"
    );
    let deferred = store
        .decide_change(&case.id, "street-admin", true, "", T0 + 90 * MINUTE)
        .await
        .expect("approve");
    assert_eq!(deferred.paused_at, None);
    assert_eq!(deferred.deferred_until, Some(until));
    assert_eq!(deferred.step_due_at, Some(until + (due - asked)));
    // The overall limit moved by the extension and by the time the clock stood still.
    assert_eq!(
        deferred.overall_due_at,
        Some(T0 + 24 * 60 * MINUTE + 60 * MINUTE + (until - asked))
    );

    // An approved return sends the case back to be dispatched again.
    store
        .request_change(
            &case.id,
            "handler-1",
            RequestKind::Return,
            "不属于本单位职责",
            None,
            None,
            T0 + 100 * MINUTE,
        )
        .await
        .expect("return");
    let returned = store
        .decide_change(&case.id, "street-admin", true, "改派", T0 + 110 * MINUTE)
        .await
        .expect("approve");
    assert_eq!(returned.state, CaseState::Accepted);
    assert_eq!(returned.handler_org_id, "");
    assert_eq!(returned.step_due_at, Some(T0 + 110 * MINUTE + 60 * MINUTE));
    let history = store.history(&case.id).await.expect("history");
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        &actions[4..],
        ["request", "extend", "request", "defer", "request", "return"]
    );
    let nothing = store
        .decide_change(&case.id, "street-admin", true, "", T0)
        .await;
    assert!(matches!(nothing, Err(StoreError::NotFound { .. })));
}

async fn overdue_cases_climb_the_chain_once_per_missed_deadline(db: TestDatabase) {
    let store = setup(&db).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let case = store
            .report(None, &new_case(&format!("worker-{n}")), T0)
            .await
            .expect("report");
        ids.push(case.id);
    }
    // Nothing is overdue before its deadline.
    assert!(
        store
            .escalate_overdue(T0 + 59 * MINUTE, 100)
            .await
            .expect("scan")
            .is_empty()
    );
    // Two scanners at once, as two replicas would: each case escalates once.
    let other = store.clone();
    let at = T0 + 61 * MINUTE;
    let (first, second) = tokio::join!(
        store.escalate_overdue(at, 100),
        other.escalate_overdue(at, 100)
    );
    let (first, second) = (first.expect("scan"), second.expect("scan"));
    assert_eq!(first.len() + second.len(), 5, "{first:?} {second:?}");
    for escalation in first.iter().chain(&second) {
        assert_eq!(
            (
                escalation.from_org_id.as_str(),
                escalation.to_org_id.as_str()
            ),
            (COMMITTEE, STREET)
        );
    }
    assert!(
        store
            .escalate_overdue(T0 + 62 * MINUTE, 100)
            .await
            .expect("scan")
            .is_empty(),
        "a new deadline runs at the level above"
    );
    let second_climb = store
        .escalate_overdue(T0 + 122 * MINUTE, 100)
        .await
        .expect("scan");
    assert_eq!(second_climb.len(), 5);
    assert!(
        second_climb
            .iter()
            .all(|e| e.to_org_id == "root" && e.level == 2)
    );
    let case = store.case(&ids[0]).await.expect("case");
    assert_eq!(
        (case.escalation_level, case.escalated_org_id.as_str()),
        (2, "root")
    );
    let climbs = store
        .history(&ids[0])
        .await
        .expect("history")
        .into_iter()
        .filter(|e| e.action == "escalate")
        .count();
    assert_eq!(climbs, 2);
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.case.escalated").await,
        10
    );
    // Filing the case starts a new step, owned by the committee again.
    let accepted = act(&store, &case, "centre", Action::Accept, T0 + 130 * MINUTE).await;
    assert_eq!(accepted.escalation_level, 0);
    assert_eq!(accepted.escalated_org_id, COMMITTEE);
}

async fn reports_are_taken_once_and_listed_by_subtree(db: TestDatabase) {
    let store = setup(&db).await;
    let grid = store
        .create_grid(
            "test",
            None,
            &NewGrid {
                code: "PD-MY-001".into(),
                name: "梅园一村第一网格".into(),
                layer: Layer::SocialManagement,
                org_id: COMMITTEE.into(),
                org_path: OrgPath::of_unmoved_tree(PATH),
                polygon: Vec::new(),
            },
        )
        .await
        .expect("grid");
    let again = store
        .create_grid(
            "test",
            None,
            &NewGrid {
                code: "PD-MY-001".into(),
                name: "重复".into(),
                layer: Layer::CityManagement,
                org_id: COMMITTEE.into(),
                org_path: OrgPath::of_unmoved_tree(PATH),
                polygon: Vec::new(),
            },
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let from_system = NewCase {
        reporter_kind: ReporterKind::System,
        source: "12345-hotline".into(),
        external_id: "GD-2026-000123".into(),
        grid_id: Some(grid.id.clone()),
        ..new_case("hotline")
    };
    let first = store.report(None, &from_system, T0).await.expect("report");
    let repeat = store
        .report(None, &from_system, T0 + MINUTE)
        .await
        .expect("again");
    assert_eq!(first.id, repeat.id);
    let impostor = store
        .report(
            None,
            &NewCase {
                reporter: "another-system".into(),
                ..from_system.clone()
            },
            T0,
        )
        .await;
    assert!(
        matches!(impostor, Err(StoreError::Conflict(_))),
        "{impostor:?}"
    );
    let by_request = store
        .report(Some("r-1"), &new_case("worker-1"), T0)
        .await
        .expect("report");
    let retried = store
        .report(Some("r-1"), &new_case("worker-1"), T0 + MINUTE)
        .await
        .expect("retry");
    assert_eq!(by_request.id, retried.id);
    let elsewhere = NewCase {
        owner_org_id: "other".into(),
        org_path: OrgPath::of_unmoved_tree("/root/other/"),
        ..new_case("worker-2")
    };
    store.report(None, &elsewhere, T0).await.expect("report");

    let subtree = |state| CaseFilter {
        subtree: Some(format!("/root/{STREET}/")),
        state,
        ..CaseFilter::default()
    };
    let page = store
        .list_cases(&subtree(None), None, 1)
        .await
        .expect("page");
    assert_eq!(page.len(), 1);
    let rest = store
        .list_cases(
            &subtree(None),
            Some((page[0].created_at, page[0].id.clone())),
            10,
        )
        .await
        .expect("rest");
    assert_eq!(rest.len(), 1, "two cases in the street, in two pages");
    assert_ne!(rest[0].id, page[0].id);
    let in_grid = store
        .list_cases(
            &CaseFilter {
                grid_id: Some(grid.id.clone()),
                ..CaseFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("grid");
    assert_eq!(in_grid.len(), 1);
    let overdue = store
        .list_cases(
            &CaseFilter {
                overdue_at: Some(T0 + 61 * MINUTE),
                ..subtree(None)
            },
            None,
            10,
        )
        .await
        .expect("overdue");
    assert_eq!(overdue.len(), 2);
    act(&store, &first, "centre", Action::Accept, T0 + 5 * MINUTE).await;
    let (counts, overdue) = store
        .count_cases(&format!("/root/{STREET}/"), T0 + 61 * MINUTE)
        .await
        .expect("counts");
    let counts: BTreeMap<_, _> = counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect();
    assert_eq!(counts, BTreeMap::from([("accepted", 1), ("reported", 1)]));
    assert_eq!(overdue, 1, "the accepted case is due at 65 minutes");
}

async fn one_claim_wins_a_wish_and_its_fulfilment_is_announced(db: TestDatabase) {
    let store = setup(&db).await;
    let wish = store
        .collect_wish(
            "worker-1",
            Some("w-1"),
            &NewWish {
                title: "一台助听器".into(),
                description: String::new(),
                beneficiary_sealed: "sealed".into(),
                beneficiary_masked: "王*明".into(),
                phone_sealed: None,
                phone_masked: String::new(),
                org_id: COMMITTEE.into(),
                org_path: OrgPath::of_unmoved_tree(PATH),
                claim_by: Some(T0 + 60 * MINUTE),
            },
            T0,
        )
        .await
        .expect("collect");
    let early = store
        .advance_wish(&wish.id, WishState::Claimed, WishChange::default(), T0)
        .await;
    assert!(
        matches!(
            early,
            Err(StoreError::Precondition {
                kind: "WISH_STATE",
                ..
            })
        ),
        "{early:?}"
    );
    for step in [WishState::Verified, WishState::Published] {
        store
            .advance_wish(&wish.id, step, WishChange::default(), T0)
            .await
            .expect("step");
    }
    let unclaimed = WishFilter {
        unclaimed_at: Some(T0 + 61 * MINUTE),
        ..WishFilter::default()
    };
    assert_eq!(
        store
            .list_wishes(&unclaimed, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    let claim = |member: &str| WishChange {
        claimant: Some(Claimant::Member {
            member_id: member.into(),
            participants: Vec::new(),
            accepted: Vec::new(),
        }),
        ..WishChange::default()
    };
    let other = store.clone();
    let (first, second) = tokio::join!(
        store.advance_wish(&wish.id, WishState::Claimed, claim("a"), T0 + MINUTE),
        other.advance_wish(&wish.id, WishState::Claimed, claim("b"), T0 + MINUTE)
    );
    assert_eq!(
        [first.is_ok(), second.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{first:?} {second:?}"
    );
    let claimed = store.wish(&wish.id).await.expect("wish");
    assert!(matches!(claimed.claimant, Some(Claimant::Member { .. })));
    assert!(
        store
            .list_wishes(&unclaimed, None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    store
        .advance_wish(
            &wish.id,
            WishState::Fulfilled,
            WishChange {
                evidence: vec!["https://files.example/gift.jpg".into()],
                ..WishChange::default()
            },
            T0 + 2 * MINUTE,
        )
        .await
        .expect("fulfil");
    store
        .advance_wish(
            &wish.id,
            WishState::Confirmed,
            WishChange {
                confirmed_by: "centre".into(),
                ..WishChange::default()
            },
            T0 + 3 * MINUTE,
        )
        .await
        .expect("confirm");
    for announced in [
        "jiceng.grid.v1.wish.claimed",
        "jiceng.grid.v1.wish.fulfilled",
        "jiceng.grid.v1.wish.confirmed",
    ] {
        assert_eq!(events_of_type(&store, announced).await, 1, "{announced}");
    }
}

async fn a_moved_subtree_takes_its_cases_along(db: TestDatabase) {
    let store = setup(&db).await;
    let case = store
        .report(None, &new_case("worker-1"), T0)
        .await
        .expect("report");
    let new_path = OrgPath::of_unmoved_tree(format!("/root/other-street/{COMMITTEE}/"));
    assert_eq!(store.repath(COMMITTEE, &new_path).await.expect("repath"), 1);
    let in_street = |street: &str| CaseFilter {
        subtree: Some(format!("/root/{street}/")),
        ..CaseFilter::default()
    };
    assert!(
        store
            .list_cases(&in_street(STREET), None, 10)
            .await
            .expect("old")
            .is_empty()
    );
    let moved = store
        .list_cases(&in_street("other-street"), None, 10)
        .await
        .expect("new");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].org_path, new_path.as_str());
    // Overdue, it now climbs to its new street.
    let escalations = store
        .escalate_overdue(T0 + 61 * MINUTE, 10)
        .await
        .expect("scan");
    assert_eq!(escalations[0].to_org_id, "other-street");
    // A redelivered move changes nothing.
    assert_eq!(store.repath(COMMITTEE, &new_path).await.expect("again"), 0);
    assert_eq!(
        store.case(&case.id).await.expect("case").org_path,
        new_path.as_str()
    );
}

async fn a_step_no_longer_limited_leaves_the_scan(db: TestDatabase) {
    let store = setup(&db).await;
    let case = store
        .report(None, &new_case("worker-1"), T0)
        .await
        .expect("report");
    let mut category = store.category("city.garbage").await.expect("category");
    for tier in &mut category.limits {
        tier.accept = 0;
    }
    store.define_category(&category).await.expect("redefine");
    assert!(
        store
            .escalate_overdue(T0 + 61 * MINUTE, 10)
            .await
            .expect("scan")
            .is_empty()
    );
    assert_eq!(store.case(&case.id).await.expect("case").step_due_at, None);
}

/// Duplicates are the open cases of a category near a case around its time; merging one links
/// it to the original, records both sides and announces it once.
async fn nearby_duplicates_are_found_and_merged_into_the_original(db: TestDatabase) {
    let store = setup(&db).await;
    let at = |latitude: f64, longitude: f64, reporter: &str| NewCase {
        location: Some(Point::new(latitude, longitude).expect("point")),
        ..new_case(reporter)
    };
    let original = store
        .report(None, &at(31.2397, 121.4998, "resident-1"), T0)
        .await
        .expect("original");
    // About 40 m north, an hour later: a candidate.
    let near = store
        .report(
            None,
            &at(31.24006, 121.4998, "resident-2"),
            T0 + 60 * MINUTE,
        )
        .await
        .expect("near");
    // About 400 m away, or four days later: not candidates.
    store
        .report(None, &at(31.2433, 121.4998, "resident-3"), T0)
        .await
        .expect("far");
    store
        .report(
            None,
            &at(31.2397, 121.4998, "resident-4"),
            T0 + 4 * 1_440 * MINUTE,
        )
        .await
        .expect("later");
    let candidates = store
        .duplicate_candidates(&original, 100.0, 72 * 60 * MINUTE, 50)
        .await
        .expect("candidates");
    let ids: Vec<&str> = candidates.iter().map(|(c, _)| c.id.as_str()).collect();
    assert_eq!(ids, [near.id.as_str()]);
    assert!(
        (30.0..50.0).contains(&candidates[0].1),
        "{}",
        candidates[0].1
    );

    let stale = ActionDetail {
        expected_version: Some(near.version + 1),
        ..ActionDetail::default()
    };
    assert!(matches!(
        store
            .merge(
                &near.id,
                &original.id,
                "centre",
                &stale,
                T0 + 2 * 60 * MINUTE
            )
            .await,
        Err(StoreError::Stale { .. })
    ));
    let detail = ActionDetail {
        note: "同一处垃圾".into(),
        ..ActionDetail::default()
    };
    let (merged, kept) = store
        .merge(
            &near.id,
            &original.id,
            "centre",
            &detail,
            T0 + 2 * 60 * MINUTE,
        )
        .await
        .expect("merge");
    assert_eq!(merged.state, CaseState::Merged);
    assert_eq!(merged.duplicate_of.as_deref(), Some(original.id.as_str()));
    assert_eq!(merged.step_due_at, None);
    assert_eq!(kept.state, CaseState::Reported);
    let reread = store.case(&near.id).await.expect("reread");
    assert_eq!(reread.duplicate_of.as_deref(), Some(original.id.as_str()));
    let merge_in = store.history(&original.id).await.expect("history");
    let last = merge_in.last().expect("entry");
    assert_eq!(last.action, "merge_in");
    assert!(last.note.contains(&near.id) && last.note.contains("同一处垃圾"));
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.case.merged").await,
        1
    );
    // A merged case is no longer anyone's candidate, and merges go no further.
    assert!(
        store
            .duplicate_candidates(&original, 100.0, 72 * 60 * MINUTE, 50)
            .await
            .expect("candidates")
            .is_empty()
    );
    for (duplicate, into) in [(&near.id, &original.id), (&original.id, &near.id)] {
        let refused = store
            .merge(
                duplicate,
                into,
                "centre",
                &ActionDetail::default(),
                T0 + 3 * 60 * MINUTE,
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Precondition { .. })),
            "{refused:?}"
        );
    }
    assert!(matches!(
        store
            .merge(
                &original.id,
                &original.id,
                "centre",
                &ActionDetail::default(),
                T0
            )
            .await,
        Err(StoreError::Precondition { .. })
    ));
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.case.merged").await,
        1
    );
}

/// A joint meeting joins a case's history once however often it is told; a meeting about a
/// case that does not exist is NOT_FOUND.
async fn a_meeting_joins_a_case_history_once(db: TestDatabase) {
    let store = setup(&db).await;
    let case = store
        .report(None, &new_case("worker-1"), T0)
        .await
        .expect("report");
    for (n, expect_first) in [(0, true), (1, false)] {
        let first = store
            .record_meeting(
                &case.id,
                "meeting-1",
                STREET,
                "joint meeting",
                T0 + n * MINUTE,
            )
            .await
            .expect("record");
        assert_eq!(first, expect_first);
    }
    let meetings: Vec<_> = store
        .history(&case.id)
        .await
        .expect("history")
        .into_iter()
        .filter(|e| e.action == "meeting")
        .collect();
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0].org_id, STREET);
    assert!(matches!(
        store
            .record_meeting("no-such-case", "meeting-1", STREET, "", T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A need and a resource are matched once: a proposal is answered by the other side, an active
/// project holds both, and its end meets the need or frees both.
async fn needs_and_resources_become_projects(db: TestDatabase) {
    let store = setup(&db).await;
    let need = |title: &str| NewNeed {
        org_id: COMMITTEE.into(),
        org_path: OrgPath::of_unmoved_tree(PATH),
        title: title.into(),
        description: "独居老人每周需要上门理发".into(),
        category: "助老".into(),
    };
    let haircut = store
        .post_need("centre", Some("need-1"), &need("上门理发"), T0)
        .await
        .expect("need");
    let again = store
        .post_need("centre", Some("need-1"), &need("上门理发"), T0 + MINUTE)
        .await
        .expect("retry");
    assert_eq!(again, haircut, "a retried post returns the first need");
    let salon = store
        .offer_resource(
            "street-admin",
            None,
            &NewResource {
                provider: Provider::Org(HANDLER.into()),
                org_id: HANDLER.into(),
                org_path: OrgPath::of_unmoved_tree(format!("/root/{STREET}/{HANDLER}/")),
                title: "美发店志愿服务".into(),
                description: String::new(),
                category: "助老".into(),
            },
            T0,
        )
        .await
        .expect("resource");
    let propose = |need: &str, resource: &str, side: Side| {
        let (store, need, resource) = (store.clone(), need.to_owned(), resource.to_owned());
        async move {
            store
                .propose_project(
                    ("someone", None),
                    side,
                    &need,
                    &resource,
                    "",
                    "",
                    T0 + MINUTE,
                )
                .await
        }
    };
    let project = propose(&haircut.id, &salon.id, Side::Need)
        .await
        .expect("propose");
    assert_eq!(
        (project.state, project.title.as_str()),
        (ProjectState::Proposed, "上门理发")
    );
    assert!(matches!(
        propose(&haircut.id, &salon.id, Side::Resource).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        events_of_type(&store, "jiceng.grid.v1.project.proposed").await,
        1
    );
    let active = store
        .act_on_project(
            &project.id,
            "salon",
            None,
            ProjectAction::Accept,
            "",
            T0 + 2 * MINUTE,
        )
        .await
        .expect("accept");
    assert_eq!(active.state, ProjectState::Active);
    assert_eq!(active.answered_by, "salon");
    assert_eq!(
        store.need(&haircut.id).await.expect("need").state,
        NeedState::Matched
    );
    // A matched need takes no further proposals.
    let other = store
        .offer_resource(
            "member-1",
            None,
            &NewResource {
                provider: Provider::Member("member-1".into()),
                org_id: COMMITTEE.into(),
                org_path: OrgPath::of_unmoved_tree(PATH),
                title: "理发手艺".into(),
                description: String::new(),
                category: "助老".into(),
            },
            T0,
        )
        .await
        .expect("member resource");
    assert!(matches!(
        propose(&haircut.id, &other.id, Side::Resource).await,
        Err(StoreError::Precondition { .. })
    ));
    let done = store
        .act_on_project(
            &project.id,
            "centre",
            None,
            ProjectAction::Complete,
            "每周二上门，已服务12位老人",
            T0 + 3 * MINUTE,
        )
        .await
        .expect("complete");
    assert_eq!(done.state, ProjectState::Completed);
    assert_eq!(done.outcome, "每周二上门，已服务12位老人");
    assert_eq!(
        store.need(&haircut.id).await.expect("need").state,
        NeedState::Met
    );
    assert_eq!(
        store.resource(&salon.id).await.expect("resource").state,
        ResourceState::Available,
        "a resource serves again"
    );
    assert!(
        store
            .act_on_project(&project.id, "centre", None, ProjectAction::Cancel, "x", T0)
            .await
            .is_err()
    );

    // Cancelling an active project frees both sides.
    let tutoring = store
        .post_need("centre", None, &need("课后辅导"), T0 + 4 * MINUTE)
        .await
        .expect("need");
    let second = propose(&tutoring.id, &other.id, Side::Resource)
        .await
        .expect("propose");
    store
        .act_on_project(
            &second.id,
            "centre",
            None,
            ProjectAction::Accept,
            "",
            T0 + 5 * MINUTE,
        )
        .await
        .expect("accept");
    store
        .act_on_project(
            &second.id,
            "member-1",
            None,
            ProjectAction::Cancel,
            "时间冲突",
            T0 + 6 * MINUTE,
        )
        .await
        .expect("cancel");
    assert_eq!(
        store.need(&tutoring.id).await.expect("need").state,
        NeedState::Open
    );
    assert_eq!(
        store.resource(&other.id).await.expect("resource").state,
        ResourceState::Available
    );
    let open = store
        .list_needs(
            &ListFilter {
                subtree: Some(format!("/root/{STREET}/")),
                state: Some(NeedState::Open.as_str()),
                ..ListFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("needs");
    assert_eq!(
        open.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        [tutoring.id.as_str()]
    );
    let mine = store
        .list_projects(
            &ListFilter {
                provider_member: Some("member-1".into()),
                ..ListFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("projects");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].state, ProjectState::Cancelled);
    let withdrawn = store
        .withdraw_need(&tutoring.id, Some(open[0].version), ("centre", None))
        .await
        .expect("withdraw");
    assert_eq!(withdrawn.state, NeedState::Withdrawn);
    assert!(matches!(
        store
            .withdraw_need(&haircut.id, None, ("centre", None))
            .await,
        Err(StoreError::Precondition { .. })
    ));
}

async fn a_backlog_of_overdue_cases_does_not_hold_up_a_shutdown(db: TestDatabase) {
    let store = setup(&db).await;
    let day_ago = jiceng_db::now_millis() - 24 * 60 * MINUTE;
    for n in 0..600 {
        store
            .report(None, &new_case(&format!("worker-{n}")), day_ago)
            .await
            .expect("report");
    }
    // Asked to stop from the start: one batch (500) is escalated, then the scanner returns
    // rather than working through the backlog.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        jiceng_grid::scan_overdue(
            store.clone(),
            std::time::Duration::from_secs(3600),
            std::future::ready(()),
        ),
    )
    .await
    .expect("the scanner stops between batches");
    let left = store
        .escalate_overdue(jiceng_db::now_millis(), 1_000)
        .await
        .expect("scan");
    assert_eq!(
        left.len(),
        100,
        "one batch of 500 escalated before stopping"
    );
}

/// An earlier system's closed cases come in by the hundred per statement: closed or evaluated,
/// never overdue, each with the history entry that says where it came from; the ones with an
/// external id are not written twice by a second import; bad rows refuse the whole import.
async fn closed_cases_from_an_earlier_system_are_imported_once(db: TestDatabase) {
    let store = setup(&db).await;
    let imported: Vec<ImportedCase> = (0..1_000)
        .map(|n| ImportedCase {
            case: NewCase {
                source: if n % 2 == 0 {
                    "12345-hotline".into()
                } else {
                    String::new()
                },
                external_id: if n % 2 == 0 {
                    format!("2025-{n}")
                } else {
                    String::new()
                },
                ..new_case("worker-1")
            },
            reported_at: T0 - 400 * MINUTE + n,
            closed_at: T0 - 100 * MINUTE + n,
            handler_org_id: HANDLER.into(),
            handled_by: "handler-1".into(),
            satisfaction: (n % 4 == 0).then_some(5),
        })
        .collect();
    assert_eq!(
        store.import_closed_cases(&imported).await.expect("import"),
        1_000
    );
    // Again: the 500 with external ids are already there; the others come in again.
    assert_eq!(
        store.import_closed_cases(&imported).await.expect("again"),
        500
    );
    let (counts, overdue) = store
        .count_cases(&format!("/root/{STREET}/"), T0)
        .await
        .expect("counts");
    let mut counts: Vec<(&str, i64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    counts.sort();
    // Every fourth is rated: all of them have external ids, so none came in twice.
    assert_eq!(counts, [("closed", 1_250), ("evaluated", 250)]);
    assert_eq!(overdue, 0, "closed cases are never overdue");
    assert!(
        store
            .escalate_overdue(T0 + 10_000 * MINUTE, 500)
            .await
            .expect("scan")
            .is_empty(),
        "nothing for the scanner"
    );
    let case = store
        .list_cases(
            &CaseFilter {
                subtree: Some(format!("/root/{STREET}/")),
                ..CaseFilter::default()
            },
            None,
            1,
        )
        .await
        .expect("list")
        .remove(0);
    assert_eq!(case.closed_at, Some(case.updated_at));
    let history = store.history(&case.id).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].action.as_str(), history[0].to_state),
        ("import", case.state)
    );

    let mut reopened = imported[1].clone();
    reopened.closed_at = reopened.reported_at - 1;
    let mut unknown = imported[3].clone();
    unknown.case.category_code = "city.unknown".into();
    let mut rated = imported[5].clone();
    rated.satisfaction = Some(6);
    for (bad, expected) in [
        (reopened, "IMPORT_CASES"),
        (rated, "IMPORT_CASES"),
        (unknown, "category"),
    ] {
        let refused = store
            .import_closed_cases(&[imported[7].clone(), bad])
            .await
            .expect_err("refused");
        match refused {
            StoreError::Precondition { kind, .. } => assert_eq!(kind, expected),
            StoreError::NotFound { what, .. } => assert_eq!(what, expected),
            other => panic!("{other:?}"),
        }
    }
    let (counts, _) = store.count_cases("/root/", T0).await.expect("counts");
    assert_eq!(
        counts.iter().map(|(_, n)| n).sum::<i64>(),
        1_500,
        "nothing of a refused import"
    );
}

/// A backlog larger than a batch drains in paced batches, well before the next round is due.
async fn a_backlog_drains_batch_after_batch(db: TestDatabase) {
    let store = setup(&db).await;
    let day_ago = jiceng_db::now_millis() - 24 * 60 * MINUTE;
    for n in 0..600 {
        store
            .report(None, &new_case(&format!("worker-{n}")), day_ago)
            .await
            .expect("report");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scanner = tokio::spawn(jiceng_grid::scan_overdue(
        store.clone(),
        // The next round is an hour away: only the backlog's own pace drains it.
        std::time::Duration::from_secs(3600),
        async move {
            let _ = stopped.await;
        },
    ));
    let store = &store;
    let waiting = || async move {
        store
            .list_cases(&CaseFilter::default(), None, 1_000)
            .await
            .expect("cases")
            .iter()
            .filter(|case| case.escalation_level == 0)
            .count()
    };
    let drained = jiceng_testkit::eventually(std::time::Duration::from_secs(60), || {
        let waiting = waiting();
        async move { (waiting.await == 0).then_some(()) }
    })
    .await;
    assert!(drained.is_some(), "{} not yet escalated", waiting().await);
    let _ = stop.send(());
    scanner.await.expect("the scanner stops");
}

/// Request ids taken before the three tables became one still answer their retries, each with
/// the operation it was taken for, the kind prefix of needs' and resources' ids gone.
async fn request_ids_taken_before_the_shared_shape_still_answer_retries(db: TestDatabase) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database
        .migrate(&jiceng_org_client::paths::MIGRATIONS)
        .await
        .expect("org paths");
    let before = Migrations {
        component: MIGRATIONS.component,
        steps: &MIGRATIONS.steps[..9],
    };
    database.migrate(&before).await.expect("the schema before");
    for statement in [
        "INSERT INTO grid_request_ids (caller, request_id, case_id) VALUES ('reporter-1', 'r-1', 'case-1')",
        "INSERT INTO grid_wish_requests (caller, request_id, wish_id) VALUES ('centre', 'w-1', 'wish-1')",
        "INSERT INTO grid_list_request_ids (caller, request_id, item_id) VALUES ('centre', 'need/n-1', 'need-1')",
        "INSERT INTO grid_list_request_ids (caller, request_id, item_id) VALUES ('member-7', 'resource/o-1', 'resource-1')",
        "INSERT INTO grid_list_request_ids (caller, request_id, item_id) VALUES ('centre', 'resource/w-1', 'resource-2')",
    ] {
        sqlx::query(statement)
            .execute(database.pool())
            .await
            .expect(statement);
    }
    database
        .migrate(&MIGRATIONS)
        .await
        .expect("the shared shape");
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT caller, request_id, operation, resource_id FROM grid_requests
         ORDER BY caller, request_id",
    )
    .fetch_all(database.pool())
    .await
    .expect("request ids");
    let row = |c: &str, r: &str, o: &str, id: &str| (c.into(), r.into(), o.into(), id.into());
    let (centre_w1, rest): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(caller, id, _, _)| caller == "centre" && id == "w-1");
    assert_eq!(
        rest,
        [
            row("centre", "n-1", "PostNeed", "need-1"),
            row("member-7", "o-1", "OfferResource", "resource-1"),
            row("reporter-1", "r-1", "ReportCase", "case-1"),
        ]
    );
    // A wish's id and a resource's that now meet: one of them is kept.
    assert_eq!(centre_w1.len(), 1, "{centre_w1:?}");
}

on_both_backends!(
    request_ids_taken_before_the_shared_shape_still_answer_retries,
    a_backlog_drains_batch_after_batch,
    closed_cases_from_an_earlier_system_are_imported_once,
    a_backlog_of_overdue_cases_does_not_hold_up_a_shutdown,
    needs_and_resources_become_projects,
    a_meeting_joins_a_case_history_once,
    nearby_duplicates_are_found_and_merged_into_the_original,
    a_step_no_longer_limited_leaves_the_scan,
    a_moved_subtree_takes_its_cases_along,
    one_claim_wins_a_wish_and_its_fulfilment_is_announced,
    a_case_runs_its_whole_course,
    changes_are_decided_by_the_level_above_and_move_the_clock,
    overdue_cases_climb_the_chain_once_per_missed_deadline,
    reports_are_taken_once_and_listed_by_subtree,
);
