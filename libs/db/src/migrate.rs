use std::time::Duration;

use sqlx::Row;

use crate::{Database, DbError, Dialect, Tx, now_millis};

/// One schema change, written once per dialect.
///
/// A PostgreSQL text whose first line is [`OUTSIDE_TRANSACTION`] runs outside the migration's
/// transaction: one statement that PostgreSQL refuses in a transaction, above all
/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, which builds an index on a large table without
/// blocking the previous release's writes while it serves. It must be idempotent (`IF NOT
/// EXISTS`): an interrupted run repeats it. SQLite runs the same step in the transaction, like
/// any other.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl Migration {
    /// A step whose SQL both dialects take as written: one file, kept beside the
    /// per-dialect folders (`migrations/NNNN_name.sql`).
    pub const fn portable(version: i64, name: &'static str, sql: &'static str) -> Self {
        Self {
            version,
            name,
            postgres: sql,
            sqlite: sql,
        }
    }
}

/// The ordered schema changes of one component (a service, or a shared library that owns tables
/// such as the outbox). Several components share one database and one bookkeeping table.
#[derive(Debug)]
pub struct Migrations {
    pub component: &'static str,
    pub steps: &'static [Migration],
}

/// The first line of a PostgreSQL migration that runs outside the migration's transaction.
pub const OUTSIDE_TRANSACTION: &str = "-- jiceng:outside-transaction";

/// An arbitrary key for PostgreSQL's advisory lock, so that replicas starting together migrate
/// one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x6a69_6365_6e67;

/// Whether a PostgreSQL migration's text runs outside the migration's transaction.
fn outside_transaction(sql: &str) -> bool {
    sql.lines()
        .next()
        .is_some_and(|line| line.trim() == OUTSIDE_TRANSACTION)
}

/// The one statement of a step that runs outside a transaction, or why it is not one: a text of
/// several statements would run them in one implicit transaction, which is what such a step
/// must not do.
fn single_statement(sql: &str) -> Result<&str, String> {
    let code: Vec<&str> = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect();
    let statement = code.join("\n");
    let statement = statement.trim().trim_end_matches(';');
    if statement.is_empty() {
        return Err("it has no statement".to_owned());
    }
    if statement.contains(';') {
        return Err("it holds more than one statement; give each its own migration".to_owned());
    }
    Ok(sql)
}

/// The indexes of the current schema that are not valid: the leftovers of an index built
/// concurrently whose build was interrupted, which `IF NOT EXISTS` would otherwise take for
/// done.
const INVALID_INDEXES: &str = "SELECT c.relname::text FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT i.indisvalid AND n.nspname = current_schema()";

impl Database {
    /// Applies the component's migrations that have not run yet, all in one transaction but for
    /// the PostgreSQL steps that run outside one ([`OUTSIDE_TRANSACTION`]): the steps before
    /// such a step commit, it runs alone, and the steps after it take a new transaction. A
    /// migration whose text changed after it was applied is refused rather than silently
    /// skipped.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let component = migrations.component;
        let fail = |version: i64| {
            move |source| DbError::Migrate {
                component,
                version,
                source,
            }
        };
        let in_parts = self.dialect == Dialect::Postgres
            && migrations
                .steps
                .iter()
                .any(|step| outside_transaction(step.postgres));
        // With steps outside a transaction, a transaction of its own holds the lock for the
        // whole run (two connections): it touches no table, so an index built concurrently
        // does not wait for it, and other migrators wait for all of the run.
        let lock = if in_parts {
            Some(self.begin_locked().await.map_err(fail(0))?)
        } else {
            None
        };
        let mut tx = if self.dialect == Dialect::Postgres && !in_parts {
            self.begin_locked().await.map_err(fail(0))?
        } else {
            self.begin_write().await.map_err(fail(0))?
        };
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS jiceng_migrations (
                component TEXT NOT NULL,
                version BIGINT NOT NULL,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at BIGINT NOT NULL,
                PRIMARY KEY (component, version)
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(fail(0))?;
        let applied =
            sqlx::query("SELECT version, checksum FROM jiceng_migrations WHERE component = $1")
                .bind(component)
                .fetch_all(&mut *tx)
                .await
                .map_err(fail(0))?;
        for step in migrations.steps {
            let sql = match self.dialect {
                Dialect::Postgres => step.postgres,
                Dialect::Sqlite => step.sqlite,
            };
            let checksum = checksum(sql);
            let previous = applied
                .iter()
                .find(|row| row.get::<i64, _>(0) == step.version)
                .map(|row| row.get::<String, _>(1));
            match previous {
                Some(previous) if previous == checksum => continue,
                Some(_) => {
                    return Err(DbError::MigrationChanged {
                        component,
                        version: step.version,
                    });
                }
                None => {}
            }
            if in_parts && outside_transaction(sql) {
                let statement = single_statement(sql).map_err(|reason| {
                    DbError::MigrationOutsideTransaction {
                        component,
                        version: step.version,
                        reason,
                    }
                })?;
                tx.commit().await.map_err(fail(step.version))?;
                self.run_outside_transaction(component, step.version, statement)
                    .await?;
                tx = self.begin_write().await.map_err(fail(step.version))?;
            } else {
                sqlx::raw_sql(sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail(step.version))?;
            }
            sqlx::query(
                "INSERT INTO jiceng_migrations (component, version, name, checksum, applied_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(component)
            .bind(step.version)
            .bind(step.name)
            .bind(checksum)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(fail(step.version))?;
            tracing::info!(
                component,
                version = step.version,
                name = step.name,
                "migration applied"
            );
        }
        tx.commit().await.map_err(fail(0))?;
        if let Some(lock) = lock {
            lock.commit().await.map_err(fail(0))?;
        }
        Ok(())
    }

    /// Runs one step outside any transaction, under the migration lock the caller holds. An
    /// index an earlier run's interrupted build left invalid, which `IF NOT EXISTS` would take
    /// for done, is dropped first; the step must leave no index invalid.
    async fn run_outside_transaction(
        &self,
        component: &'static str,
        version: i64,
        statement: &str,
    ) -> Result<(), DbError> {
        let fail = |source| DbError::Migrate {
            component,
            version,
            source,
        };
        for index in self.invalid_indexes().await.map_err(fail)? {
            tracing::warn!(
                component,
                version,
                index,
                "an index left invalid by an interrupted build is dropped and built again"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP INDEX CONCURRENTLY IF EXISTS \"{}\"",
                index.replace('"', "\"\"")
            )))
            .execute(&self.pool)
            .await
            .map_err(fail)?;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&self.pool)
            .await
            .map_err(fail)?;
        let invalid = self.invalid_indexes().await.map_err(fail)?;
        if invalid.is_empty() {
            Ok(())
        } else {
            Err(DbError::MigrationOutsideTransaction {
                component,
                version,
                reason: format!("it left the indexes {invalid:?} invalid"),
            })
        }
    }

    /// A transaction holding the migration lock (PostgreSQL). It is taken by trying, each try
    /// a transaction of its own, rather than by waiting in one: a migrator that waited would
    /// hold a snapshot all the while, and an index being built concurrently waits for every
    /// transaction with an older snapshot to end, while the builder's lock is what it waits for.
    async fn begin_locked(&self) -> Result<Tx, sqlx::Error> {
        let mut pause = Duration::from_millis(20);
        loop {
            let mut tx = self.begin_write().await?;
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .fetch_one(&mut *tx)
                .await?;
            if locked {
                return Ok(tx);
            }
            tx.rollback().await?;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    async fn invalid_indexes(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(INVALID_INDEXES)
            .fetch_all(&self.pool)
            .await
    }
}

/// A hash of the migration text: enough to notice an edited migration.
fn checksum(sql: &str) -> String {
    format!("{:016x}", crate::fnv1a(sql.as_bytes()))
}
