//! The reveal records on both databases: written in the caller's transaction (so a rolled-back
//! read leaves none), listed newest first page by page with every filter, limited per actor.

use jiceng_pii_audit::{
    AuditError, HOURLY_LIMIT, MIGRATIONS, PERSON, Reason, Reveal, RevealFilter, list, record,
};
use jiceng_testkit::{TestDatabase, on_both_backends};

const T0: i64 = 1_800_000_000_000;

async fn reveal_at(db: &jiceng_db::Database, actor: &str, subject: &str, at: i64, commit: bool) {
    let reason = Reason::parse("核实身份").expect("reason");
    let reveal = Reveal {
        actor,
        subject_kind: PERSON,
        subject_id: subject,
        record: format!("members/{subject}"),
        fields: &["phone"],
        reason: &reason,
    };
    let mut tx = db.begin_write().await.expect("tx");
    record(db, &mut tx, &reveal, at).await.expect("record");
    if commit {
        tx.commit().await.expect("commit");
    } else {
        tx.rollback().await.expect("rollback");
    }
}

async fn reveals_are_listed_by_person_actor_and_time_page_by_page(db: TestDatabase) {
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    for (n, (actor, subject)) in [("a", "p1"), ("b", "p1"), ("a", "p2"), ("a", "p1")]
        .into_iter()
        .enumerate()
    {
        reveal_at(&database, actor, subject, T0 + n as i64 * 1000, true).await;
    }
    reveal_at(&database, "a", "p3", T0 + 9000, false).await;
    let all = list(&database, &RevealFilter::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|r| r.revealed_at).collect::<Vec<_>>(),
        [T0 + 3000, T0 + 2000, T0 + 1000, T0],
        "newest first; the rolled-back one left nothing"
    );
    let first = list(&database, &RevealFilter::default(), None, 2)
        .await
        .expect("page");
    let last = &first[1];
    let rest = list(
        &database,
        &RevealFilter::default(),
        Some((last.revealed_at, last.id.clone())),
        10,
    )
    .await
    .expect("next page");
    assert_eq!([first, rest].concat(), all);
    let of = |filter: RevealFilter| {
        let database = database.clone();
        async move {
            list(&database, &filter, None, 10)
                .await
                .expect("list")
                .len()
        }
    };
    assert_eq!(
        of(RevealFilter {
            subject: Some((PERSON.into(), "p1".into())),
            ..RevealFilter::default()
        })
        .await,
        3
    );
    assert_eq!(
        of(RevealFilter {
            actor: Some("a".into()),
            ..RevealFilter::default()
        })
        .await,
        3
    );
    assert_eq!(
        of(RevealFilter {
            from: Some(T0 + 1000),
            to: Some(T0 + 3000),
            ..RevealFilter::default()
        })
        .await,
        2
    );
}

async fn an_actor_is_refused_past_the_hourly_limit_and_served_an_hour_later(db: TestDatabase) {
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    for n in 0..HOURLY_LIMIT {
        reveal_at(&database, "bulk", "p", T0 + n, true).await;
    }
    let reason = Reason::parse("批量核对").expect("reason");
    let reveal = Reveal {
        actor: "bulk",
        subject_kind: PERSON,
        subject_id: "p",
        record: "members/p".into(),
        fields: &["phone"],
        reason: &reason,
    };
    let mut tx = database.begin_write().await.expect("tx");
    let refused = record(&database, &mut tx, &reveal, T0 + HOURLY_LIMIT).await;
    assert!(matches!(refused, Err(AuditError::RateLimited { .. })));
    drop(tx);
    reveal_at(&database, "someone-else", "p", T0 + HOURLY_LIMIT, true).await;
    reveal_at(&database, "bulk", "p", T0 + 3_600_000 + 1, true).await;
}

on_both_backends!(
    reveals_are_listed_by_person_actor_and_time_page_by_page,
    an_actor_is_refused_past_the_hourly_limit_and_served_an_hour_later,
);
