use sqlx::Row;

use crate::{Database, DbError, Dialect, now_millis};

/// One schema change, written once per dialect.
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

/// An arbitrary key for PostgreSQL's advisory lock, so that replicas starting together migrate
/// one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x6a69_6365_6e67;

impl Database {
    /// Applies the component's migrations that have not run yet, all in one transaction. A
    /// migration whose text changed after it was applied is refused rather than silently skipped.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let component = migrations.component;
        let fail = |version: i64| {
            move |source| DbError::Migrate {
                component,
                version,
                source,
            }
        };
        let mut tx = self.begin_write().await.map_err(fail(0))?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .execute(&mut *tx)
                .await
                .map_err(fail(0))?;
        }
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
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(fail(step.version))?;
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
        tx.commit().await.map_err(fail(0))
    }
}

/// A hash of the migration text: enough to notice an edited migration.
fn checksum(sql: &str) -> String {
    format!("{:016x}", crate::fnv1a(sql.as_bytes()))
}
