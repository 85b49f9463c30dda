//! One database handle over PostgreSQL and SQLite: connection, per-dialect migrations, error mapping.
//!
//! Stores write portable SQL (`$1` placeholders, BIGINT epoch milliseconds, TEXT ids, INTEGER
//! flags); the few places where the dialects differ branch on [`Dialect`] here, not in stores.

mod errors;
pub mod idempotency;
mod migrate;
mod pool_metrics;

use std::{
    ops::{Deref, DerefMut},
    path::Path,
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use sqlx::{
    AnyConnection, AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use errors::{DbError, StoreError, failed_precondition, status_from_sqlx};
pub use idempotency::{Replay, RequestIds, Target};
pub use migrate::{Migration, Migrations};
pub use sqlx;

/// The SQL dialect behind a [`Database`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// Recognises a database URL by its scheme.
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }

    /// The statement that opens a transaction that will write. SQLite must take the write lock
    /// up front: a deferred transaction that later upgrades fails with SQLITE_BUSY under
    /// concurrency instead of waiting for the lock.
    fn begin_write(self) -> &'static str {
        match self {
            Self::Postgres => "BEGIN",
            Self::Sqlite => "BEGIN IMMEDIATE",
        }
    }
}

/// How a [`Database::lock`] is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// How long a write waits for its turn, as SQLite's own `busy_timeout` would have it wait.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one service's database, PostgreSQL or SQLite.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite only: one write transaction of this process at a time, the others queued in
    /// arrival order. SQLite admits one writer anyway, and a writer that finds the lock taken
    /// sleeps in its busy handler in steps of up to 100 ms instead of being woken when the lock
    /// is free: under load that sleep, not the work, was the tail of every write.
    write_turn: Option<Arc<Semaphore>>,
    /// The time the service's records are stamped with and compared against.
    clock: Clock,
    /// The name the pool's metrics go by, once [`Database::observed_as`] gave it one.
    observed_as: Option<Arc<str>>,
}

/// A transaction on a [`Database`]; it derefs to its connection, as sqlx's own does.
#[derive(Debug)]
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    /// The SQLite writer's turn, given back when the transaction ends (fields drop in order:
    /// the transaction first).
    _turn: Option<OwnedSemaphorePermit>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

impl Database {
    /// Connects to a `postgres://…` or `sqlite:…` URL with the default pool (see
    /// [`Database::connect_with_pool`]).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with_pool(url, None).await
    }

    /// Connects to a `postgres://…` or `sqlite:…` URL, keeping `pool_size` connections at the
    /// most (16 on PostgreSQL and 8 on SQLite when `None`): a deployment sizes it so that its
    /// pods at the autoscalers' maxima stay within the server's `max_connections`. A SQLite file
    /// (and its folder) is created when missing and runs in WAL mode so that readers never wait
    /// for the writer.
    pub async fn connect_with_pool(url: &str, pool_size: Option<u32>) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        jiceng_telemetry::set_database_system(dialect == Dialect::Postgres);
        let url = match dialect {
            Dialect::Postgres => url.to_owned(),
            Dialect::Sqlite => prepare_sqlite_url(url)?,
        };
        let options = AnyConnectOptions::from_str(&url).map_err(DbError::Connect)?;
        let max_connections = pool_size.unwrap_or(match dialect {
            Dialect::Postgres => 16,
            Dialect::Sqlite => 8,
        });
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        let write_turn = (dialect == Dialect::Sqlite).then(|| Arc::new(Semaphore::new(1)));
        Ok(Self {
            pool,
            dialect,
            write_turn,
            clock: Clock::system(),
            observed_as: None,
        })
    }

    /// This database with its pool reported in the `db.client.connection.*` metrics under
    /// `name` (the service's), and its transactions that wait in vain for a connection counted.
    pub fn observed_as(self, name: &str) -> Self {
        let name: Arc<str> = Arc::from(name);
        pool_metrics::observe(Arc::clone(&name), self.pool.clone());
        Self {
            observed_as: Some(name),
            ..self
        }
    }

    /// Counts a transaction that found no connection in time, then hands the error on.
    fn counted(&self, error: sqlx::Error) -> sqlx::Error {
        if let (sqlx::Error::PoolTimedOut, Some(name)) = (&error, &self.observed_as) {
            pool_metrics::timed_out(name);
        }
        error
    }

    /// This database with its records stamped by `clock`'s time rather than the system's.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The time the service acts at: what its stores stamp records with and compare terms, due
    /// times and limits against.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Analyses every table now, as after a bulk load: the planner should not meet a million
    /// rows it has no statistics for while autovacuum or `PRAGMA optimize` catch up. On
    /// PostgreSQL it vacuums too, which sets the visibility map: until then an index-only scan
    /// (a street's dashboard over its covering index) reads every row's page instead, 1.1 s
    /// rather than 5 ms for a street of a million-case district.
    pub async fn analyze(&self) -> Result<(), DbError> {
        let statement = match self.dialect {
            Dialect::Postgres => "VACUUM (ANALYZE)",
            Dialect::Sqlite => "ANALYZE",
        };
        sqlx::raw_sql(statement)
            .execute(&self.pool)
            .await
            .map_err(DbError::Statistics)?;
        Ok(())
    }

    /// Brings the planner's statistics up to date where the database does not do it itself:
    /// SQLite's bounded `PRAGMA optimize`, at start, before any request holds the write lock
    /// (PostgreSQL's autovacuum analyses on its own).
    pub async fn refresh_statistics(&self) -> Result<(), DbError> {
        if self.dialect == Dialect::Sqlite {
            sqlx::raw_sql("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")
                .execute(&self.pool)
                .await
                .map_err(DbError::Statistics)?;
        }
        Ok(())
    }

    /// Opens a transaction that reads only.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx {
            inner: self.pool.begin().await.map_err(|e| self.counted(e))?,
            _turn: None,
        })
    }

    /// Opens a transaction that will write (see [`Dialect::begin_write`]); on SQLite it first
    /// waits for this process's write turn (see `Database::write_turn`), before it takes a
    /// connection, so that queued writers leave the pool's connections to readers.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let turn = match &self.write_turn {
            Some(turn) => Some(
                tokio::time::timeout(WRITE_TURN_TIMEOUT, Arc::clone(turn).acquire_owned())
                    .await
                    .map_err(|_| self.counted(sqlx::Error::PoolTimedOut))?
                    .map_err(|_| sqlx::Error::PoolClosed)?,
            ),
            None => None,
        };
        Ok(Tx {
            inner: self
                .pool
                .begin_with(self.dialect.begin_write())
                .await
                .map_err(|e| self.counted(e))?,
            _turn: turn,
        })
    }

    /// Takes a transaction-scoped lock named by `key`: shared locks coexist, an exclusive one
    /// waits for all others. On SQLite every write transaction already excludes the others
    /// (see [`Database::begin_write`]), so there is nothing to take.
    pub async fn lock(&self, tx: &mut Tx, key: i64, mode: LockMode) -> Result<(), sqlx::Error> {
        let sql = match (self.dialect, mode) {
            (Dialect::Sqlite, _) => return Ok(()),
            (Dialect::Postgres, LockMode::Shared) => "SELECT pg_advisory_xact_lock_shared($1)",
            (Dialect::Postgres, LockMode::Exclusive) => "SELECT pg_advisory_xact_lock($1)",
        };
        sqlx::query(sql).bind(key).execute(&mut **tx).await?;
        Ok(())
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes sure a SQLite URL creates its file, and that the file's folder exists.
fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        // Each pooled connection to `:memory:` would see its own empty database.
        return Err(DbError::UnsupportedUrl);
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(DbError::CreateFolder)?;
    }
    let query = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The key of a [`Database::lock`] named by text, e.g. `venue:<id>`, so that unrelated
/// resources lock independently.
pub fn lock_key(name: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(name.as_bytes()).to_ne_bytes())
}

/// FNV-1a: a small, stable, non-cryptographic hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `$first, $first+1, …` for `count` parameters: the list of an `IN (…)`.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $width), ($width+1, …)` for `rows` rows of a multi-row VALUES: an import writes
/// hundreds of rows in one statement.
pub fn value_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(row * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds since the Unix epoch: the portable representation of every stored time.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// The time a service acts at: the system's, or (for tests of time limits) the system's moved
/// ahead by hand, so that hours pass without waiting.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    ahead: Option<Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that runs with the system's and can be moved ahead with [`Clock::advance`].
    pub fn adjustable() -> Self {
        Self {
            ahead: Some(Default::default()),
        }
    }

    pub fn now(&self) -> i64 {
        let ahead = self
            .ahead
            .as_ref()
            .map_or(0, |ahead| ahead.load(std::sync::atomic::Ordering::Relaxed));
        now_millis() + ahead
    }

    /// Moves an adjustable clock ahead by `millis`; the system clock cannot be moved.
    pub fn advance(&self, millis: i64) {
        if let Some(ahead) = &self.ahead {
            ahead.fetch_add(millis, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_keeps_the_connections_the_deployment_sized_it_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/org.db", dir.path().display());
        let sized = Database::connect_with_pool(&url, Some(3))
            .await
            .expect("db");
        assert_eq!(sized.pool().options().get_max_connections(), 3);
        let default = Database::connect(&url).await.expect("db");
        assert_eq!(default.pool().options().get_max_connections(), 8);
    }

    #[test]
    fn sqlite_urls_are_made_to_create_their_file() {
        let dir = std::env::temp_dir().join("jiceng-db-url-test");
        let url = format!("sqlite://{}/org.db", dir.display());
        assert_eq!(
            prepare_sqlite_url(&url).expect("valid"),
            format!("sqlite://{}/org.db?mode=rwc", dir.display())
        );
        assert!(dir.is_dir());
        assert_eq!(
            prepare_sqlite_url("sqlite:x.db?mode=ro").expect("valid"),
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn memory_and_unknown_urls_are_refused() {
        assert!(matches!(
            prepare_sqlite_url("sqlite::memory:"),
            Err(DbError::UnsupportedUrl)
        ));
        assert!(matches!(
            Dialect::of_url("mysql://x"),
            Err(DbError::UnsupportedUrl)
        ));
        assert_eq!(
            Dialect::of_url("postgresql://h/db").ok(),
            Some(Dialect::Postgres)
        );
    }
}
