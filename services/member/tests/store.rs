//! The member store's conformance suite: every case runs on SQLite and on PostgreSQL.

use jiceng_member::{
    MIGRATIONS, MemberStore, PiiVault,
    domain::{
        Date, IdCard, MemberStatus, Phone, community::CommitmentState, transfers::TransferState,
    },
    store::{NewMember, StoreError},
};
use jiceng_org_client::OrgPath;
use jiceng_testkit::{TestDatabase, on_both_backends};
use sqlx::Row as _;

const ORG: &str = "01937f6e-0000-7000-8000-0000000000c1";

async fn store(db: &TestDatabase) -> MemberStore {
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
    MemberStore::new(database, "//jiceng/310115/member".into())
}

fn vault() -> PiiVault {
    PiiVault::new(b"jiceng-test-pii-key-at-least-32-bytes").expect("key")
}

fn member(name: &str, id_card: &str) -> NewMember {
    let vault = vault();
    let phone = Phone::parse("13812345678").expect("phone");
    let id = IdCard::parse(id_card).expect("id card");
    NewMember {
        name: name.into(),
        gender: None,
        birth_date: Some(Date::parse("1980-05-01").expect("date")),
        phone: Some((vault.seal(phone.expose()), phone.masked())),
        id_card: Some((
            vault.seal(id.expose()),
            id.masked(),
            vault.index(id.expose()),
        )),
        join_date: None,
        status: MemberStatus::Applicant,
        org_id: ORG.into(),
        org_path: OrgPath::of_unmoved_tree(format!("/{ORG}/")),
    }
}

async fn personal_numbers_are_stored_sealed_and_found_by_index(db: TestDatabase) {
    let store = store(&db).await;
    let created = store
        .create("admin", None, &member("王某", "11010519491231002X"))
        .await
        .expect("create");
    assert_eq!(created.phone_masked.as_deref(), Some("138****5678"));
    let row = sqlx::query(
        "SELECT phone_sealed, id_card_sealed, id_card_index, phone_masked, id_card_masked FROM member_members",
    )
    .fetch_one(store.database().pool())
    .await
    .expect("row");
    for column in 0..5 {
        let stored: String = row.try_get(column).expect("text");
        assert!(
            !stored.contains("13812345678") && !stored.contains("11010519491231002X"),
            "column {column} holds {stored}"
        );
    }
    let found = store
        .find_by_id_card(&vault().index("11010519491231002X"))
        .await
        .expect("found");
    assert_eq!(found.id, created.id);
    assert_eq!(
        vault()
            .open(found.phone_sealed.as_deref().expect("sealed"))
            .expect("opens"),
        "13812345678"
    );
    let duplicate = store
        .create("admin", None, &member("另一人", "11010519491231002X"))
        .await;
    assert!(
        matches!(&duplicate, Err(StoreError::Conflict(message)) if message == "a member with this ID-card number exists"),
        "the same ID card twice"
    );
}

async fn a_retried_create_returns_the_first_member(db: TestDatabase) {
    let store = store(&db).await;
    let first = store
        .create("admin", Some("r1"), &member("王某", "11010519491231002X"))
        .await
        .expect("create");
    let again = store
        .create("admin", Some("r1"), &member("王某", "11010519491231002X"))
        .await
        .expect("retry");
    assert_eq!(first, again);
}

async fn the_pipeline_advances_one_stage_at_a_time_with_history(db: TestDatabase) {
    let store = store(&db).await;
    let created = store
        .create("admin", None, &member("李某", "11010519491231002X"))
        .await
        .expect("create");
    let date = Date::parse("2026-07-01").expect("date");
    let skipped = store
        .change_status(
            ("admin", None),
            &created.id,
            MemberStatus::Probationary,
            date,
            ORG,
            "",
            None,
        )
        .await;
    assert!(
        matches!(skipped, Err(StoreError::Precondition { .. })),
        "{skipped:?}"
    );
    for to in [
        MemberStatus::Activist,
        MemberStatus::DevelopmentTarget,
        MemberStatus::Probationary,
        MemberStatus::Full,
    ] {
        store
            .change_status(
                ("admin", None),
                &created.id,
                to,
                date,
                ORG,
                "支部大会通过",
                None,
            )
            .await
            .expect("advance");
    }
    let full = store.get(&created.id).await.expect("member");
    assert_eq!(
        (full.status, full.join_date.as_deref()),
        (MemberStatus::Full, Some("2026-07-01"))
    );
    let stale = store
        .change_status(
            ("admin", None),
            &created.id,
            MemberStatus::Removed,
            date,
            ORG,
            "",
            Some(1),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })));
    let history = store.history(&created.id).await.expect("history");
    let path: Vec<_> = history.iter().map(|c| c.to).collect();
    assert_eq!(
        path,
        [
            MemberStatus::Applicant,
            MemberStatus::Activist,
            MemberStatus::DevelopmentTarget,
            MemberStatus::Probationary,
            MemberStatus::Full
        ]
    );
    assert_eq!(history[1].from, Some(MemberStatus::Applicant));
}

async fn a_member_is_held_by_exactly_one_org_through_transfers(db: TestDatabase) {
    let store = store(&db).await;
    let member = store
        .create("admin", None, &member("赵某", "11010519491231002X"))
        .await
        .expect("create");
    let elsewhere = "01937f6e-0000-7000-8000-0000000000c2";
    let transfer = store
        .request_transfer(("admin", None), &member.id, elsewhere, "工作调动")
        .await
        .expect("request");
    assert_eq!(transfer.state, TransferState::Pending);
    let second = store
        .request_transfer(("admin", None), &member.id, elsewhere, "again")
        .await;
    assert!(
        matches!(
            second,
            Err(StoreError::Precondition {
                kind: "TRANSFER",
                ..
            })
        ),
        "one pending at a time"
    );
    assert_eq!(
        store
            .pending_transfers_to(elsewhere)
            .await
            .expect("pending")
            .len(),
        1
    );
    let accepted = store
        .decide_transfer(
            ("receiver", None),
            &transfer.id,
            true,
            "欢迎",
            &OrgPath::of_unmoved_tree("/path/"),
        )
        .await
        .expect("accept");
    assert_eq!(accepted.state, TransferState::Accepted);
    assert_eq!(
        store.get(&member.id).await.expect("member").org_id,
        elsewhere
    );
    let again = store
        .decide_transfer(
            ("receiver", None),
            &transfer.id,
            false,
            "",
            &OrgPath::of_unmoved_tree("/path/"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Precondition { .. })),
        "decided once"
    );
    let back = store
        .request_transfer(("admin", None), &member.id, ORG, "回原单位")
        .await
        .expect("request back");
    store
        .decide_transfer(
            ("receiver", None),
            &back.id,
            false,
            "暂不接收",
            &OrgPath::of_unmoved_tree("/path/"),
        )
        .await
        .expect("reject");
    assert_eq!(
        store.get(&member.id).await.expect("member").org_id,
        elsewhere,
        "a rejection moves nothing"
    );
    assert_eq!(
        store.transfers_of(&member.id).await.expect("history").len(),
        2
    );
}

async fn community_service_and_commitments_are_kept(db: TestDatabase) {
    let store = store(&db).await;
    let created = store
        .create("admin", None, &member("钱某", "11010519491231002X"))
        .await
        .expect("create");
    let community = "01937f6e-0000-7000-8000-0000000000c3";
    let registration = store
        .register_in_community(&created.id, community)
        .await
        .expect("register");
    let again = store
        .register_in_community(&created.id, community)
        .await
        .expect("idempotent");
    assert_eq!(registration.id, again.id, "once per member and community");
    let own = store.register_in_community(&created.id, ORG).await;
    assert!(
        matches!(
            own,
            Err(StoreError::Precondition {
                kind: "REGISTRATION",
                ..
            })
        ),
        "not with the holding org"
    );
    store
        .log_service(
            "community-admin",
            None,
            &registration.id,
            90,
            "2026-11-28",
            "楼道清扫",
        )
        .await
        .expect("log");
    let logged = store
        .log_service(
            "community-admin",
            None,
            &registration.id,
            30,
            "2026-11-29",
            "助老",
        )
        .await
        .expect("log");
    assert_eq!(logged.service_minutes, 120);
    assert_eq!(
        store
            .community_registrations(community)
            .await
            .expect("list")
            .len(),
        1
    );

    let pledge = store
        .publish_commitment(
            "member-admin",
            None,
            &created.id,
            "每月参加一次社区志愿服务",
            "2026-01-31",
        )
        .await
        .expect("publish");
    assert_eq!(
        store
            .overdue_commitments(ORG, "2026-11-29")
            .await
            .expect("overdue")
            .len(),
        1
    );
    let early = store
        .confirm_commitment(&pledge.id, true, "", ("test", None))
        .await;
    assert!(
        matches!(
            early,
            Err(StoreError::Precondition {
                kind: "COMMITMENT",
                ..
            })
        ),
        "not fulfilled yet"
    );
    store
        .fulfil_commitment(&pledge.id, "服务记录 12 次", ("test", None))
        .await
        .expect("fulfil");
    assert!(
        store
            .overdue_commitments(ORG, "2026-11-29")
            .await
            .expect("overdue")
            .is_empty()
    );
    let sent_back = store
        .confirm_commitment(&pledge.id, false, "缺少签到记录", ("test", None))
        .await
        .expect("send back");
    assert_eq!(sent_back.state, CommitmentState::Open);
    store
        .fulfil_commitment(&pledge.id, "签到表", ("test", None))
        .await
        .expect("fulfil again");
    let confirmed = store
        .confirm_commitment(&pledge.id, true, "属实", ("test", None))
        .await
        .expect("confirm");
    assert_eq!(confirmed.state, CommitmentState::Confirmed);
}

on_both_backends!(
    community_service_and_commitments_are_kept,
    a_member_is_held_by_exactly_one_org_through_transfers,
    personal_numbers_are_stored_sealed_and_found_by_index,
    a_retried_create_returns_the_first_member,
    the_pipeline_advances_one_stage_at_a_time_with_history,
);
