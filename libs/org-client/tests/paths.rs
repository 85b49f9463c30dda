//! The org-path fence, re-pathing and reconciliation on both databases.

use std::collections::BTreeMap;

use jiceng_db::Database;
use jiceng_org_client::{
    OrgPath,
    paths::{self, FenceError, PathHolder},
};
use jiceng_testkit::{TestDatabase, on_both_backends};
use sqlx::Row as _;

const HOLDERS: &[PathHolder] = &[
    PathHolder::ByOrg {
        table: "t_cases",
        org_column: "org_id",
    },
    PathHolder::ByParent {
        table: "t_notes",
        key_column: "case_id",
        parent_table: "t_cases",
    },
];

async fn database(db: &TestDatabase) -> Database {
    let database = db.connect().await;
    database
        .migrate(&paths::MIGRATIONS)
        .await
        .expect("org paths");
    for statement in [
        "CREATE TABLE t_cases (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, org_path TEXT NOT NULL)",
        "CREATE TABLE t_notes (id TEXT PRIMARY KEY, case_id TEXT NOT NULL, org_path TEXT NOT NULL)",
    ] {
        sqlx::query(statement)
            .execute(database.pool())
            .await
            .expect("table");
    }
    database
}

async fn insert(db: &Database, table: &str, id: &str, key: &str, path: &str) {
    let key_column = if table == "t_cases" {
        "org_id"
    } else {
        "case_id"
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (id, {key_column}, org_path) VALUES ($1, $2, $3)"
    )))
    .bind(id)
    .bind(key)
    .bind(path)
    .execute(db.pool())
    .await
    .expect("insert");
}

async fn path_of(db: &Database, table: &str, id: &str) -> String {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT org_path FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(db.pool())
    .await
    .expect("row")
    .try_get(0)
    .expect("path")
}

async fn a_write_holding_a_path_older_than_an_applied_move_is_refused(db: TestDatabase) {
    let db = database(&db).await;
    let admitted = |generation| {
        let db = db.clone();
        async move {
            let mut tx = db.begin_write().await.expect("tx");
            let path = OrgPath::from_ancestry(&["root".into(), "c".into()], generation);
            let admitted = paths::admit(&db, &mut tx, &path).await;
            tx.rollback().await.expect("rollback");
            admitted
        }
    };
    admitted(0).await.expect("nothing applied yet");
    let moved = OrgPath::from_ancestry(&["root".into(), "s2".into(), "c".into()], 7);
    paths::repath(&db, HOLDERS, "c", &moved)
        .await
        .expect("repath");
    assert!(matches!(admitted(6).await, Err(FenceError::Stale { .. })));
    admitted(7).await.expect("read at the move's generation");
    admitted(9).await.expect("read later");
}

async fn a_repath_moves_rows_written_under_several_earlier_paths(db: TestDatabase) {
    let db = database(&db).await;
    insert(&db, "t_cases", "1", "c", "/root/s1/c/").await;
    insert(&db, "t_cases", "2", "c", "/root/s0/c/g/").await;
    insert(&db, "t_cases", "3", "x", "/root/s1/x/").await;
    insert(&db, "t_notes", "n1", "1", "/root/s1/c/").await;
    let now = OrgPath::from_ancestry(&["root".into(), "s2".into(), "c".into()], 3);
    assert_eq!(
        paths::repath(&db, HOLDERS, "c", &now)
            .await
            .expect("repath"),
        3
    );
    assert_eq!(path_of(&db, "t_cases", "1").await, "/root/s2/c/");
    assert_eq!(path_of(&db, "t_cases", "2").await, "/root/s2/c/g/");
    assert_eq!(path_of(&db, "t_cases", "3").await, "/root/s1/x/");
    assert_eq!(path_of(&db, "t_notes", "n1").await, "/root/s2/c/");
    // Delivered again, it changes nothing.
    assert_eq!(
        paths::repath(&db, HOLDERS, "c", &now).await.expect("again"),
        0
    );
}

async fn reconciliation_puts_right_what_differs_and_spares_what_a_newer_move_wrote(
    db: TestDatabase,
) {
    let db = database(&db).await;
    insert(&db, "t_cases", "1", "c", "/root/wrong/c/").await;
    insert(&db, "t_cases", "2", "d", "/root/s1/d/").await;
    insert(&db, "t_notes", "n1", "1", "/root/wrong/c/").await;
    insert(&db, "t_notes", "n2", "2", "/root/stale/d/").await;
    let stored = paths::stored_paths(&db, HOLDERS).await.expect("stored");
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["c", "d"]);
    let current: BTreeMap<String, OrgPath> = [(
        "c".to_owned(),
        OrgPath::from_ancestry(&["root".into(), "s1".into(), "c".into()], 5),
    )]
    .into();
    let repaired = paths::reconcile(&db, HOLDERS, &current)
        .await
        .expect("reconcile");
    assert_eq!(
        repaired
            .iter()
            .map(|r| (r.table, r.rows))
            .collect::<Vec<_>>(),
        [("t_cases", 1), ("t_notes", 2)]
    );
    assert_eq!(path_of(&db, "t_cases", "1").await, "/root/s1/c/");
    assert_eq!(path_of(&db, "t_notes", "n1").await, "/root/s1/c/");
    assert_eq!(path_of(&db, "t_notes", "n2").await, "/root/s1/d/");
    // A move applied after the answer was read: its re-path wrote the newer path.
    let newer = OrgPath::from_ancestry(&["root".into(), "s9".into(), "c".into()], 8);
    paths::repath(&db, HOLDERS, "c", &newer)
        .await
        .expect("repath");
    let repaired = paths::reconcile(&db, HOLDERS, &current)
        .await
        .expect("reconcile");
    assert!(repaired.iter().all(|r| r.rows == 0), "{repaired:?}");
    assert_eq!(path_of(&db, "t_cases", "1").await, "/root/s9/c/");
}

async fn one_replica_claims_each_round_of_reconciliation(db: TestDatabase) {
    let db = database(&db).await;
    const MINUTE: i64 = 60_000;
    let t0 = 1_800_000_000_000;
    assert!(
        paths::claim_reconciliation(&db, t0, MINUTE)
            .await
            .expect("claim")
    );
    assert!(
        !paths::claim_reconciliation(&db, t0 + 1, MINUTE)
            .await
            .expect("claim")
    );
    assert!(
        !paths::claim_reconciliation(&db, t0 + MINUTE - 1, MINUTE)
            .await
            .expect("claim")
    );
    assert!(
        paths::claim_reconciliation(&db, t0 + MINUTE, MINUTE)
            .await
            .expect("claim")
    );
}

on_both_backends!(
    a_write_holding_a_path_older_than_an_applied_move_is_refused,
    a_repath_moves_rows_written_under_several_earlier_paths,
    reconciliation_puts_right_what_differs_and_spares_what_a_newer_move_wrote,
    one_replica_claims_each_round_of_reconciliation,
);
