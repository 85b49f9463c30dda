//! Conformance suite of what hangs off units: positions, alliances, joint meetings, projects,
//! venues and bookings, and the events each change writes in its own transaction. Every case
//! runs on SQLite and on PostgreSQL.

use jiceng_db::now_millis;
use jiceng_org::{
    MIGRATIONS, OrgStore,
    domain::{
        Unit, UnitId, UnitKind, UnitName,
        alliances::{AllianceKind, AllianceMemberRef, CreditCode},
        meetings::{DecisionStatus, Host, ProjectStage, Topic},
        positions::{Holder, NewPosition, PositionRole},
        text::Person,
        venues::{Attendance, Booker, BookingStatus, NewBooking, NewVenue, OpeningHours},
    },
    store::{Mutation, NewMeeting, NewProjectMeeting, StoreError},
};
use jiceng_testkit::{TestDatabase, on_both_backends};
use sqlx::Row as _;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

struct District {
    store: OrgStore,
    street: Unit,
    committee: Unit,
    centre: Unit,
}

async fn district(db: &TestDatabase) -> District {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database.migrate(&MIGRATIONS).await.expect("org");
    let store = OrgStore::new(database, "//jiceng/310115/org".into());
    let root = store
        .ensure_root(
            &UnitId::district_root("310115"),
            UnitKind::DistrictCommittee,
            &name("中共上海市浦东新区委员会"),
            None,
        )
        .await
        .expect("root");
    let street = add(
        &store,
        &root,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let committee = add(
        &store,
        &street,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let centre = add(
        &store,
        &street,
        UnitKind::PartyMassServiceCentre,
        "陆家嘴党群服务中心",
    )
    .await;
    District {
        store,
        street,
        committee,
        centre,
    }
}

fn name(text: &str) -> UnitName {
    UnitName::parse(text).expect("name")
}

async fn add(store: &OrgStore, parent: &Unit, kind: UnitKind, text: &str) -> Unit {
    store
        .create(&admin(), &parent.id, kind, &name(text), None)
        .await
        .expect("create")
}

fn admin() -> Mutation {
    Mutation {
        actor: "admin".into(),
        request_id: None,
        trace_id: None,
    }
}

fn member(id: &str) -> Holder {
    Holder::Member(format!("01937f6e-0000-7000-8000-00000000000{id}"))
}

async fn event_types(store: &OrgStore) -> Vec<String> {
    sqlx::query("SELECT event_type FROM outbox_events ORDER BY created_at, event_id")
        .fetch_all(store.database().pool())
        .await
        .expect("events")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

/// Makes every write to the outbox fail, so that the next change that publishes an event fails
/// in its transaction.
async fn break_outbox(store: &OrgStore) {
    sqlx::query("ALTER TABLE outbox_events RENAME TO outbox_events_unavailable")
        .execute(store.database().pool())
        .await
        .expect("rename");
}

async fn mend_outbox(store: &OrgStore) {
    sqlx::query("ALTER TABLE outbox_events_unavailable RENAME TO outbox_events")
        .execute(store.database().pool())
        .await
        .expect("rename back");
}

async fn a_hand_over_changes_who_holds_the_role_and_keeps_history(db: TestDatabase) {
    let d = district(&db).await;
    let now = now_millis();
    let first = NewPosition::new(
        d.committee.id.clone(),
        PositionRole::Secretary,
        member("1"),
        None,
        now - DAY,
        None,
    )
    .expect("valid");
    let first = d
        .store
        .appoint(&admin(), &first, false)
        .await
        .expect("appoint");
    let holders = d
        .store
        .current_holders(&d.committee.id, PositionRole::Secretary, now)
        .await
        .expect("holders");
    assert_eq!(holders, vec![first.clone()]);

    let second = NewPosition::new(
        d.committee.id.clone(),
        PositionRole::Secretary,
        member("2"),
        None,
        now + HOUR,
        None,
    )
    .expect("valid");
    let refused = d.store.appoint(&admin(), &second, false).await;
    assert!(
        matches!(refused, Err(StoreError::Precondition { kind: "HELD", .. })),
        "{refused:?}"
    );
    let second = d
        .store
        .appoint(&admin(), &second, true)
        .await
        .expect("hand over");
    let before = d
        .store
        .current_holders(&d.committee.id, PositionRole::Secretary, now)
        .await
        .expect("before");
    let after = d
        .store
        .current_holders(&d.committee.id, PositionRole::Secretary, now + 2 * HOUR)
        .await
        .expect("after");
    assert_eq!(
        before.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&first.id]
    );
    assert_eq!(
        after.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&second.id]
    );
    let history = d
        .store
        .positions(&d.committee.id, true, now + 2 * HOUR)
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    let ended = history
        .iter()
        .find(|p| p.id == first.id)
        .expect("first term");
    assert_eq!(ended.term_end, Some(now + HOUR));
    assert_eq!(ended.end_reason.as_deref(), Some("handed over"));
    // Many deputies may serve at once.
    for i in ["3", "4"] {
        let deputy = NewPosition::new(
            d.committee.id.clone(),
            PositionRole::DeputySecretary,
            member(i),
            None,
            now,
            None,
        )
        .expect("valid");
        d.store
            .appoint(&admin(), &deputy, false)
            .await
            .expect("deputy");
    }
    let deputies = d
        .store
        .current_holders(&d.committee.id, PositionRole::DeputySecretary, now + 1)
        .await
        .expect("deputies");
    assert_eq!(deputies.len(), 2);
    assert_eq!(
        event_types(&d.store)
            .await
            .iter()
            .filter(|t| t.ends_with("position.changed"))
            .count(),
        5
    );
}

async fn part_time_committee_members_come_from_stationed_units(db: TestDatabase) {
    let d = district(&db).await;
    let person = Person::parse("王某", "某银行陆家嘴支行").expect("person");
    let position = NewPosition::new(
        d.street.id.clone(),
        PositionRole::PartTimeCommitteeMember,
        Holder::Person(person),
        Some("某银行陆家嘴支行".into()),
        now_millis(),
        None,
    )
    .expect("valid");
    let appointed = d
        .store
        .appoint(&admin(), &position, false)
        .await
        .expect("appoint");
    assert_eq!(
        appointed.stationed_unit_name.as_deref(),
        Some("某银行陆家嘴支行")
    );
    let ended = d
        .store
        .end_position(&admin(), &appointed.id, now_millis() + 1, "term over")
        .await
        .expect("end");
    assert!(ended.term_end.is_some());
}

async fn the_three_meetings_go_in_order(db: TestDatabase) {
    let d = district(&db).await;
    let refused = d
        .store
        .create_project(&admin(), &d.street.id, "加装电梯", "")
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Precondition {
                kind: "PROJECT_UNIT",
                ..
            })
        ),
        "streets run no projects"
    );
    let project = d
        .store
        .create_project(&admin(), &d.committee.id, "梅园一村加装电梯", "3号楼")
        .await
        .expect("project");
    assert_eq!(project.next_stage, Some(ProjectStage::Hearing));
    let meeting = |stage| NewProjectMeeting {
        stage,
        held_at: now_millis(),
        attendees: vec![],
        opinions: vec!["同意".into()],
        outcome: "通过".into(),
        vote: None,
    };
    let skipped = d
        .store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Coordination))
        .await;
    assert!(
        matches!(skipped, Err(StoreError::Precondition { kind: "STAGE", .. })),
        "{skipped:?}"
    );
    d.store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Hearing))
        .await
        .expect("hearing");
    let repeated = d
        .store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Hearing))
        .await;
    assert!(
        matches!(
            repeated,
            Err(StoreError::Precondition { kind: "STAGE", .. })
        ),
        "{repeated:?}"
    );
    d.store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Coordination))
        .await
        .expect("coordination");
    let done = d
        .store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Evaluation))
        .await
        .expect("evaluation");
    assert_eq!(done.next_stage, None);
    assert_eq!(
        done.meetings.iter().map(|m| m.stage).collect::<Vec<_>>(),
        ProjectStage::ALL
    );
    let after = d
        .store
        .record_project_meeting(&admin(), &project.id, &meeting(ProjectStage::Evaluation))
        .await;
    assert!(matches!(
        after,
        Err(StoreError::Precondition { kind: "STAGE", .. })
    ));
}

async fn alliances_join_units_and_outside_organisations(db: TestDatabase) {
    let d = district(&db).await;
    let alliance = d
        .store
        .create_alliance(
            &admin(),
            "洋泾街区党建联盟",
            AllianceKind::StreetBlock,
            &d.street.id,
            "街区共建",
        )
        .await
        .expect("alliance");
    let unit = AllianceMemberRef::Unit(d.committee.id.clone());
    let company = AllianceMemberRef::Organisation {
        name: "某科技有限公司".into(),
        credit_code: CreditCode::parse("91350100M000100Y43").expect("code"),
    };
    let joined = d
        .store
        .join_alliance(&admin(), &alliance.id, &unit, now_millis())
        .await
        .expect("join");
    d.store
        .join_alliance(&admin(), &alliance.id, &company, now_millis())
        .await
        .expect("join");
    let again = d
        .store
        .join_alliance(&admin(), &alliance.id, &company, now_millis())
        .await;
    assert!(
        matches!(again, Err(StoreError::Precondition { kind: "MEMBER", .. })),
        "{again:?}"
    );
    assert_eq!(
        d.store
            .alliance(&alliance.id)
            .await
            .expect("alliance")
            .current_member_count,
        2
    );
    assert_eq!(
        d.store
            .alliances_of(&d.committee.id)
            .await
            .expect("of committee")
            .len(),
        1
    );
    d.store
        .leave_alliance(&admin(), &joined.id, now_millis() + 1, "合并")
        .await
        .expect("leave");
    assert!(
        d.store
            .alliances_of(&d.committee.id)
            .await
            .expect("of committee")
            .is_empty()
    );
    assert_eq!(
        d.store
            .alliance_members(&alliance.id, false)
            .await
            .expect("current")
            .len(),
        1
    );
    assert_eq!(
        d.store
            .alliance_members(&alliance.id, true)
            .await
            .expect("all")
            .len(),
        2
    );
}

async fn decisions_come_due_and_overdue_once(db: TestDatabase) {
    let d = district(&db).await;
    let meeting = NewMeeting {
        host: Host::Unit(d.street.id.clone()),
        title: "行政党组会议".into(),
        topic: Topic::Text("老旧小区停车难".into()),
        scheduled_at: now_millis() + DAY,
    };
    let meeting = d
        .store
        .schedule_meeting(&admin(), &meeting)
        .await
        .expect("schedule");
    let now = now_millis();
    let soon = d
        .store
        .add_decision(
            &admin(),
            &meeting.id,
            "划定临时车位",
            &d.committee.id,
            now + HOUR,
        )
        .await
        .expect("soon");
    let later = d
        .store
        .add_decision(
            &admin(),
            &meeting.id,
            "协调共享车位",
            &d.committee.id,
            now + 7 * DAY,
        )
        .await
        .expect("later");
    assert_eq!(
        d.store.scan_decisions(now, DAY).await.expect("scan"),
        1,
        "one comes due within a day"
    );
    assert_eq!(
        d.store.scan_decisions(now, DAY).await.expect("scan"),
        0,
        "and is announced once"
    );
    assert_eq!(
        d.store
            .scan_decisions(now + 2 * HOUR, DAY)
            .await
            .expect("scan"),
        1,
        "then it is overdue"
    );
    let overdue = d
        .store
        .overdue_decisions(&d.street, now + 2 * HOUR)
        .await
        .expect("overdue");
    assert_eq!(
        overdue.iter().map(|x| &x.id).collect::<Vec<_>>(),
        [&soon.id]
    );
    d.store
        .close_decision(&admin(), &soon.id, DecisionStatus::Done, "已划线")
        .await
        .expect("close");
    assert!(
        d.store
            .overdue_decisions(&d.street, now + 2 * HOUR)
            .await
            .expect("overdue")
            .is_empty()
    );
    let reclosed = d
        .store
        .close_decision(&admin(), &soon.id, DecisionStatus::Dropped, "")
        .await;
    assert!(matches!(
        reclosed,
        Err(StoreError::Precondition { kind: "CLOSED", .. })
    ));
    let types = event_types(&d.store).await;
    assert_eq!(
        types,
        [
            "jiceng.org.v1.meeting.scheduled",
            "jiceng.org.v1.decision.due",
            "jiceng.org.v1.decision.overdue"
        ]
    );
    let _ = later;
}

async fn venue(d: &District, requires_confirmation: bool) -> String {
    let new = NewVenue {
        unit_id: d.centre.id.clone(),
        name: "多功能厅".into(),
        capacity: 60,
        facilities: vec!["投影".into()],
        opening_hours: (1..=7)
            .map(|day| OpeningHours::parse(day, 0, 24 * 60).expect("hours"))
            .collect(),
        bookable_by: vec![],
        requires_confirmation,
    };
    d.store
        .create_venue(&admin(), &new)
        .await
        .expect("venue")
        .id
}

fn booking(venue_id: &str, d: &District, start_at: i64, hours: i64) -> NewBooking {
    NewBooking {
        venue_id: venue_id.to_owned(),
        booker: Booker::Unit(d.committee.id.clone()),
        title: "主题党日".into(),
        expected_attendees: 30,
        start_at,
        end_at: start_at + hours * HOUR,
    }
}

/// 08:00 Beijing time (midnight UTC) a few days ahead: the slots of a test stay within that day.
fn ahead() -> i64 {
    (now_millis() / DAY + 3) * DAY
}

async fn concurrent_bookings_of_one_slot_let_exactly_one_win(db: TestDatabase) {
    let d = district(&db).await;
    let venue_id = venue(&d, false).await;
    let start = ahead();
    for round in 0..4 {
        let slot = start + round * 3 * HOUR;
        let (a, b) = (
            booking(&venue_id, &d, slot, 2),
            booking(&venue_id, &d, slot + HOUR, 2),
        );
        let (first, second) = (admin(), admin());
        let results = tokio::join!(
            d.store.book(&first, &a, now_millis()),
            d.store.book(&second, &b, now_millis())
        );
        let wins = [&results.0, &results.1]
            .iter()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        let loser = if results.0.is_err() {
            &results.0
        } else {
            &results.1
        };
        assert!(
            matches!(
                loser,
                Err(StoreError::Precondition {
                    kind: "SLOT_TAKEN",
                    ..
                })
            ),
            "{loser:?}"
        );
    }
    let bookings = d
        .store
        .bookings(&venue_id, i64::MIN, i64::MAX)
        .await
        .expect("bookings");
    assert_eq!(bookings.len(), 4);
    // Half-open slots: one that starts when another ends does not clash.
    let slot = start + 12 * HOUR;
    d.store
        .book(&admin(), &booking(&venue_id, &d, slot, 1), now_millis())
        .await
        .expect("first");
    d.store
        .book(
            &admin(),
            &booking(&venue_id, &d, slot + HOUR, 1),
            now_millis(),
        )
        .await
        .expect("adjacent");
}

async fn bookings_are_checked_confirmed_cancelled_and_attended(db: TestDatabase) {
    let d = district(&db).await;
    let venue_id = venue(&d, true).await;
    let start = ahead();
    let past = d
        .store
        .book(
            &admin(),
            &booking(&venue_id, &d, now_millis() - HOUR, 1),
            now_millis(),
        )
        .await;
    assert!(matches!(
        past,
        Err(StoreError::Precondition { kind: "PAST", .. })
    ));
    let crowd = NewBooking {
        expected_attendees: 61,
        ..booking(&venue_id, &d, start, 1)
    };
    let crowded = d.store.book(&admin(), &crowd, now_millis()).await;
    assert!(matches!(
        crowded,
        Err(StoreError::Precondition {
            kind: "CAPACITY",
            ..
        })
    ));
    let pending = d
        .store
        .book(&admin(), &booking(&venue_id, &d, start, 2), now_millis())
        .await
        .expect("book");
    assert_eq!(pending.status, BookingStatus::Pending);
    let confirmed = d
        .store
        .confirm_booking(&admin(), &pending.id)
        .await
        .expect("confirm");
    assert_eq!(confirmed.status, BookingStatus::Confirmed);
    let early = Attendance {
        member_ids: vec![],
        headcount: 20,
        note: String::new(),
        recorded_at: now_millis(),
    };
    let too_early = d
        .store
        .record_attendance(&admin(), &pending.id, early.clone(), now_millis())
        .await;
    assert!(matches!(
        too_early,
        Err(StoreError::Precondition {
            kind: "BOOKING_STATE",
            ..
        })
    ));
    let attended = d
        .store
        .record_attendance(&admin(), &pending.id, early, start + HOUR)
        .await
        .expect("attendance");
    assert_eq!(attended.status, BookingStatus::Completed);
    assert_eq!(attended.attendance.map(|a| a.headcount), Some(20));
    let other = d
        .store
        .book(
            &admin(),
            &booking(&venue_id, &d, start + 3 * HOUR, 1),
            now_millis(),
        )
        .await
        .expect("book");
    let cancelled = d
        .store
        .cancel_booking(&admin(), &other.id, "改期")
        .await
        .expect("cancel");
    assert_eq!(
        (cancelled.status, cancelled.cancel_reason.as_deref()),
        (BookingStatus::Cancelled, Some("改期"))
    );
    // A cancelled booking frees its slot.
    d.store
        .book(
            &admin(),
            &booking(&venue_id, &d, start + 3 * HOUR, 1),
            now_millis(),
        )
        .await
        .expect("rebook");
    let types = event_types(&d.store).await;
    assert_eq!(
        types,
        [
            "jiceng.org.v1.booking.confirmed",
            "jiceng.org.v1.attendance.recorded",
            "jiceng.org.v1.booking.cancelled"
        ]
    );
}

async fn a_failed_transaction_leaves_neither_the_change_nor_its_event(db: TestDatabase) {
    let d = district(&db).await;
    let venue_id = venue(&d, false).await;
    let start = ahead();
    let confirmed = d
        .store
        .book(&admin(), &booking(&venue_id, &d, start, 1), now_millis())
        .await
        .expect("book");
    let project_meeting = NewMeeting {
        host: Host::Unit(d.street.id.clone()),
        title: "联席会议".into(),
        topic: Topic::Text("议题".into()),
        scheduled_at: start,
    };
    let events_before = event_types(&d.store).await;
    break_outbox(&d.store).await;

    let position = NewPosition::new(
        d.committee.id.clone(),
        PositionRole::Secretary,
        member("1"),
        None,
        now_millis(),
        None,
    )
    .expect("valid");
    assert!(d.store.appoint(&admin(), &position, false).await.is_err());
    assert!(
        d.store
            .schedule_meeting(&admin(), &project_meeting)
            .await
            .is_err()
    );
    assert!(
        d.store
            .book(
                &admin(),
                &booking(&venue_id, &d, start + 2 * HOUR, 1),
                now_millis()
            )
            .await
            .is_err()
    );
    assert!(
        d.store
            .cancel_booking(&admin(), &confirmed.id, "改期")
            .await
            .is_err()
    );
    let attendance = Attendance {
        member_ids: vec![],
        headcount: 5,
        note: String::new(),
        recorded_at: start,
    };
    assert!(
        d.store
            .record_attendance(&admin(), &confirmed.id, attendance, start + 1)
            .await
            .is_err()
    );

    mend_outbox(&d.store).await;
    assert!(
        d.store
            .positions(&d.committee.id, true, now_millis())
            .await
            .expect("positions")
            .is_empty()
    );
    let meetings: i64 = sqlx::query("SELECT COUNT(*) FROM org_meetings")
        .fetch_one(d.store.database().pool())
        .await
        .expect("count")
        .get(0);
    assert_eq!(meetings, 0);
    assert_eq!(
        d.store
            .bookings(&venue_id, i64::MIN, i64::MAX)
            .await
            .expect("bookings")
            .len(),
        1
    );
    assert_eq!(
        d.store
            .booking(&confirmed.id)
            .await
            .expect("booking")
            .status,
        BookingStatus::Confirmed
    );
    assert_eq!(
        event_types(&d.store).await,
        events_before,
        "no event without its change"
    );
}

on_both_backends!(
    a_hand_over_changes_who_holds_the_role_and_keeps_history,
    part_time_committee_members_come_from_stationed_units,
    the_three_meetings_go_in_order,
    alliances_join_units_and_outside_organisations,
    decisions_come_due_and_overdue_once,
    concurrent_bookings_of_one_slot_let_exactly_one_win,
    bookings_are_checked_confirmed_cancelled_and_attended,
    a_failed_transaction_leaves_neither_the_change_nor_its_event,
);
