use jiceng_db::Database;
use sqlx::{Connection as _, Executor as _};

/// The environment variable naming the PostgreSQL server for tests.
pub const DATABASE_URL_VAR: &str = "JICENG_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a SQLite file in a temporary folder, or a PostgreSQL
/// database created for the test and dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database on `backend`; panics when PostgreSQL is asked for but not configured.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres()
                .await
                .expect("JICENG_TEST_DATABASE_URL is not set"),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}/test.db", dir.path().display());
        Self {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` when no server is configured outside CI.
    pub async fn postgres() -> Option<Self> {
        let admin_url = match std::env::var(DATABASE_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("{DATABASE_URL_VAR} must be set in CI: PostgreSQL tests may not be skipped")
            }
            _ => return None,
        };
        Some(Self::postgres_on(&admin_url).await)
    }

    /// A fresh database on the PostgreSQL server that `admin_url` names (a test's own server,
    /// say), dropped after the test.
    pub async fn postgres_on(admin_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = format!("jiceng_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .expect("connect to the test server");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let url = with_database(admin_url, &name);
        Self {
            backend: Backend::Postgres,
            url,
            _dir: None,
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// A copy of the database as it is now, as a backup taken at this point would hold it
    /// (PostgreSQL: a database made from it as a template; nothing may be connected to it).
    /// Dropped after the test like any other.
    pub async fn backup(&self) -> Self {
        match &self.postgres {
            Some((admin_url, name)) => {
                let copy = format!("jiceng_test_{}", uuid::Uuid::now_v7().simple());
                admin_execute(
                    admin_url,
                    &format!("CREATE DATABASE {copy} TEMPLATE {name}"),
                )
                .await;
                Self {
                    backend: Backend::Postgres,
                    url: with_database(admin_url, &copy),
                    _dir: None,
                    postgres: Some((admin_url.clone(), copy)),
                }
            }
            None => {
                let copy = Self::sqlite();
                copy_sqlite(&self.url, &copy.url);
                copy
            }
        }
    }

    /// Puts `backup` in this database's place, as a restore does: what was written since the
    /// backup is gone. Nothing may be connected to it (PostgreSQL drops it by force).
    pub async fn restore_from(&self, backup: &Self) {
        match (&self.postgres, &backup.postgres) {
            (Some((admin_url, name)), Some((_, backup_name))) => {
                admin_execute(admin_url, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
                admin_execute(
                    admin_url,
                    &format!("CREATE DATABASE {name} TEMPLATE {backup_name}"),
                )
                .await;
            }
            (None, None) => copy_sqlite(&backup.url, &self.url),
            _ => panic!("a backup is restored to a database of its own backend"),
        }
    }

    /// Connects a [`Database`] to it.
    pub async fn connect(&self) -> Database {
        Database::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee; a thread of its own can block on the drop.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::AnyConnection::connect(&admin_url).await.ok()?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

async fn admin_execute(admin_url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(admin_url)
        .await
        .expect("connect to the test server");
    admin
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// Copies the SQLite database at `from` (a `sqlite://` URL) over the one at `to`, with its
/// write-ahead log: what a file backup of a stopped process holds.
fn copy_sqlite(from: &str, to: &str) {
    let path = |url: &str| url.trim_start_matches("sqlite://").to_owned();
    let (from, to) = (path(from), path(to));
    for suffix in ["", "-wal", "-shm"] {
        let source = format!("{from}{suffix}");
        let target = format!("{to}{suffix}");
        if std::path::Path::new(&source).exists() {
            std::fs::copy(&source, &target).expect("copy the database file");
        } else {
            let _ = std::fs::remove_file(&target);
        }
    }
}

/// Replaces the database name (the path) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1", "x"),
            "postgres://127.0.0.1/x"
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
