//! The migration runner's steps outside a transaction, on both databases: an index built
//! concurrently on PostgreSQL after the steps before it committed, a build that fails leaving
//! an invalid index and is put right by the next run, a text of two statements refused, and
//! migrators racing one another.

use jiceng_db::{Database, DbError, Migration, Migrations};
use jiceng_testkit::{Backend, TestDatabase, on_both_backends};

static STEPS: [Migration; 3] = [
    Migration::portable(
        1,
        "readings",
        "CREATE TABLE readings (id BIGINT PRIMARY KEY, meter TEXT NOT NULL)",
    ),
    Migration {
        version: 2,
        name: "one reading per meter, built without blocking writes",
        postgres: "-- jiceng:outside-transaction\n\
                   CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS readings_meter ON readings (meter)",
        sqlite: "CREATE UNIQUE INDEX IF NOT EXISTS readings_meter ON readings (meter)",
    },
    Migration::portable(
        3,
        "a step after it",
        "CREATE TABLE meters (id TEXT PRIMARY KEY)",
    ),
];

fn all_steps() -> Migrations {
    Migrations {
        component: "test-readings",
        steps: &STEPS,
    }
}

async fn applied(db: &Database) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT version FROM jiceng_migrations WHERE component = 'test-readings' ORDER BY version",
    )
    .fetch_all(db.pool())
    .await
    .expect("applied migrations")
}

async fn an_index_built_outside_the_transaction_survives_a_failed_build(test_db: TestDatabase) {
    let db = test_db.connect().await;
    db.migrate(&Migrations {
        component: "test-readings",
        steps: &STEPS[..1],
    })
    .await
    .expect("the table");
    for (id, meter) in [(1, "m1"), (2, "m1"), (3, "m2")] {
        sqlx::query("INSERT INTO readings (id, meter) VALUES ($1, $2)")
            .bind(id)
            .bind(meter)
            .execute(db.pool())
            .await
            .expect("reading");
    }
    // Two readings of one meter: the unique index cannot be built.
    let failed = db
        .migrate(&all_steps())
        .await
        .expect_err("duplicates stop the build");
    assert!(
        matches!(failed, DbError::Migrate { version: 2, .. }),
        "{failed:?}"
    );
    assert_eq!(applied(&db).await, [1]);
    if test_db.backend == Backend::Postgres {
        let invalid: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE NOT i.indisvalid",
        )
        .fetch_all(db.pool())
        .await
        .expect("invalid indexes");
        assert_eq!(
            invalid,
            ["readings_meter"],
            "a failed concurrent build leaves it"
        );
    }

    // The duplicate removed, the next run drops what the failed build left and builds it.
    sqlx::query("DELETE FROM readings WHERE id = 2")
        .execute(db.pool())
        .await
        .expect("delete");
    db.migrate(&all_steps()).await.expect("the index is built");
    assert_eq!(applied(&db).await, [1, 2, 3]);
    let refused = sqlx::query("INSERT INTO readings (id, meter) VALUES (4, 'm2')")
        .execute(db.pool())
        .await;
    assert!(refused.is_err(), "the unique index holds");
    if test_db.backend == Backend::Postgres {
        let valid: bool = sqlx::query_scalar(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE c.relname = 'readings_meter'",
        )
        .fetch_one(db.pool())
        .await
        .expect("the index");
        assert!(valid);
    }
    // Nothing is left to do.
    db.migrate(&all_steps()).await.expect("again");
    assert_eq!(applied(&db).await, [1, 2, 3]);
}

on_both_backends!(an_index_built_outside_the_transaction_survives_a_failed_build);

static TWO_STATEMENTS: [Migration; 1] = [Migration {
    version: 1,
    name: "two statements where one belongs",
    postgres: "-- jiceng:outside-transaction\n\
               CREATE TABLE a (id BIGINT);\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
    sqlite: "CREATE TABLE a (id BIGINT)",
}];

#[tokio::test]
async fn a_step_outside_the_transaction_holds_one_statement() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let db = test_db.connect().await;
    let refused = db
        .migrate(&Migrations {
            component: "test-two",
            steps: &TWO_STATEMENTS,
        })
        .await
        .expect_err("two statements would share an implicit transaction");
    assert!(
        matches!(
            refused,
            DbError::MigrationOutsideTransaction { version: 1, .. }
        ),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrators_racing_build_the_index_once() {
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let setup = test_db.connect().await;
    setup
        .migrate(&Migrations {
            component: "test-readings",
            steps: &STEPS[..1],
        })
        .await
        .expect("the table");
    sqlx::query(
        "INSERT INTO readings (id, meter) SELECT g, 'm' || g FROM generate_series(1, 20000) g",
    )
    .execute(setup.pool())
    .await
    .expect("readings");
    let mut racing = Vec::new();
    for _ in 0..3 {
        let db = test_db.connect().await;
        racing.push(tokio::spawn(async move {
            db.migrate(&all_steps()).await.map_err(|e| e.to_string())
        }));
    }
    for migrator in racing {
        migrator
            .await
            .expect("migrator")
            .expect("every migrator succeeds");
    }
    assert_eq!(applied(&setup).await, [1, 2, 3]);
}
