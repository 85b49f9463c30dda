//! Org paths stored beside another service's rows, and the fence that keeps a stale one out.
//!
//! Member, grid and property store each row's org path (`/root/…/unit/`) so that a subtree is one
//! index range. When a subtree moves, the replica that gets the `unit.moved` event re-paths the
//! rows in the service's database and raises `org_paths_applied` to the move's generation, in one
//! transaction under an exclusive lock. A write that stores a path takes the same lock shared
//! and checks that its path was read at that generation or later: a write that committed first
//! is re-pathed by the move, one that comes after learns that its path predates the move and
//! asks the org service again. So no row keeps a path that was stale when it was written.

use jiceng_db::{Database, LockMode, Migration, Migrations, StoreError, Tx, lock_key};

/// The fence's table, migrated into every database that stores org paths.
pub static MIGRATIONS: Migrations = Migrations {
    component: "org_paths",
    steps: &[
        Migration::portable(
            1,
            "the newest org move applied",
            include_str!("../migrations/0001_org_paths_applied.sql"),
        ),
        Migration::portable(
            2,
            "when org paths were last reconciled",
            include_str!("../migrations/0002_org_paths_reconciled.sql"),
        ),
    ],
};

/// A unit's materialised path `/root/…/unit/` and the org tree generation it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgPath {
    path: String,
    generation: i64,
}

impl OrgPath {
    /// The path of the unit whose ancestry (root first, the unit last) is `ids`.
    pub fn from_ancestry(ids: &[String], generation: i64) -> Self {
        Self {
            path: format!("/{}/", ids.join("/")),
            generation,
        }
    }

    /// A path as it was read at `generation`.
    pub fn read_at(path: impl Into<String>, generation: i64) -> Self {
        Self {
            path: path.into(),
            generation,
        }
    }

    /// A path of a district whose tree has never moved, read from the org store itself: what
    /// the seed and demo loaders write, which refuse a district that already has units.
    pub fn of_unmoved_tree(path: impl Into<String>) -> Self {
        Self::read_at(path, 0)
    }

    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The unit the path ends with.
    pub fn unit_id(&self) -> &str {
        self.path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }
}

/// A write's org path predates a move its database has already applied.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("the org path of {path} predates a move this service has applied")]
    Stale { path: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<FenceError> for StoreError {
    fn from(err: FenceError) -> Self {
        match err {
            FenceError::Stale { path } => StoreError::OrgPathMoved(path),
            FenceError::Database(err) => StoreError::Db(err),
        }
    }
}

fn paths_lock() -> i64 {
    lock_key("org_paths")
}

/// In a write's transaction, before it stores `path`: refuses a path read before the newest
/// move applied here, and holds re-pathing off until the write commits.
pub async fn admit(db: &Database, tx: &mut Tx, path: &OrgPath) -> Result<(), FenceError> {
    db.lock(tx, paths_lock(), LockMode::Shared).await?;
    let applied: i64 = sqlx::query_scalar("SELECT generation FROM org_paths_applied WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    if path.generation < applied {
        return Err(FenceError::Stale {
            path: path.path.clone(),
        });
    }
    Ok(())
}

/// In a re-path's transaction, before the rows are re-pathed: waits for writes holding older
/// paths to commit (so the re-path sees their rows) and raises the fence to `generation`.
pub async fn advance(db: &Database, tx: &mut Tx, generation: i64) -> Result<(), sqlx::Error> {
    db.lock(tx, paths_lock(), LockMode::Exclusive).await?;
    sqlx::query("UPDATE org_paths_applied SET generation = $1 WHERE id = 1 AND generation < $1")
        .bind(generation)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// In a write's transaction, before it reads a row whose org path it copies (a project takes
/// its need's): holds re-pathing off until the write commits, so the copy is re-pathed too.
pub async fn hold(db: &Database, tx: &mut Tx) -> Result<(), sqlx::Error> {
    db.lock(tx, paths_lock(), LockMode::Shared).await
}

/// Gives every row of `holders` below the moved unit `unit_id`
/// the unit's path as the org service has it now (`unit_path`, ending with the unit), and raises
/// the fence to that path's generation, so that writes holding older paths ask again; one
/// transaction. Each table is one range update per old path of the unit found below it: usually
/// one, more when rows were written under paths of several earlier moves. Re-pathing to the
/// paths already stored changes nothing, so a redelivered event is harmless. Returns how many
/// rows took a new path.
pub async fn repath(
    db: &Database,
    holders: &[PathHolder],
    unit_id: &str,
    unit_path: &OrgPath,
) -> Result<u64, sqlx::Error> {
    let marker = format!("/{unit_id}/");
    let (new_lo, new_hi) = subtree_range(unit_path.as_str());
    let mut tx = db.begin_write().await?;
    advance(db, &mut tx, unit_path.generation()).await?;
    let mut moved = 0;
    for table in holders.iter().map(PathHolder::table) {
        loop {
            let sample: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT org_path FROM {table}
                 WHERE org_path LIKE $1 AND NOT (org_path >= $2 AND org_path < $3) LIMIT 1"
            )))
            .bind(format!("%{marker}%"))
            .bind(&new_lo)
            .bind(&new_hi)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(old_unit_path) = sample
                .as_deref()
                .and_then(|path| path.find(&marker).map(|at| &path[..at + marker.len()]))
            else {
                break;
            };
            let (lo, hi) = subtree_range(old_unit_path);
            let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET org_path = $1 || substr(org_path, CAST($2 AS INTEGER))
                 WHERE org_path >= $3 AND org_path < $4"
            )))
            .bind(unit_path.as_str())
            .bind(old_unit_path.chars().count() as i64 + 1)
            .bind(&lo)
            .bind(&hi)
            .execute(&mut *tx)
            .await?;
            moved += updated.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(moved)
}

/// The half-open range of paths below (and including) `path`: `[path, path-with-'0')`.
pub fn subtree_range(path: &str) -> (String, String) {
    let mut upper = path.trim_end_matches('/').to_owned();
    upper.push('0');
    (path.to_owned(), upper)
}

/// Where a service keeps org paths, for [`reconcile`].
#[derive(Clone, Copy, Debug)]
pub enum PathHolder {
    /// Rows holding the path of the unit named in `org_column`.
    ByOrg {
        table: &'static str,
        org_column: &'static str,
    },
    /// Rows holding the path of their parent row (`key_column` = `parent_table.id`), as a
    /// member's balance rows hold the member's.
    ByParent {
        table: &'static str,
        key_column: &'static str,
        parent_table: &'static str,
    },
}

impl PathHolder {
    pub fn table(&self) -> &'static str {
        match self {
            PathHolder::ByOrg { table, .. } | PathHolder::ByParent { table, .. } => table,
        }
    }
}

/// How many rows of a table [`reconcile`] gave their right path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    pub table: &'static str,
    pub rows: u64,
}

/// The units whose paths rows of `holders` store, each with the paths stored for it.
pub async fn stored_paths(
    db: &Database,
    holders: &[PathHolder],
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, sqlx::Error> {
    let mut stored: std::collections::BTreeMap<_, std::collections::BTreeSet<_>> =
        Default::default();
    for holder in holders {
        let PathHolder::ByOrg { table, org_column } = holder else {
            continue;
        };
        let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT {org_column}, org_path FROM {table}"
        )))
        .fetch_all(db.pool())
        .await?;
        for (org_id, org_path) in rows {
            stored.entry(org_id).or_default().insert(org_path);
        }
    }
    Ok(stored)
}

/// Claims the round of reconciliation due at `now` for the replica asking: true when no replica
/// began one within `interval_ms` before, and then none will until that long after `now`.
pub async fn claim_reconciliation(
    db: &Database,
    now: i64,
    interval_ms: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE org_paths_reconciled SET started_at = $1 WHERE id = 1 AND started_at <= $2",
    )
    .bind(now)
    .bind(now.saturating_sub(interval_ms))
    .execute(db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Gives every row of `holders` the path `current` has for its unit (and rows that copy a
/// parent's path their parent's), in one transaction under the lock re-pathing takes. A unit
/// whose current path was read before the newest move applied here is left alone: that move's
/// re-path wrote a newer path than the one in hand. Returns the rows changed, by table.
pub async fn reconcile(
    db: &Database,
    holders: &[PathHolder],
    current: &std::collections::BTreeMap<String, OrgPath>,
) -> Result<Vec<Repaired>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    db.lock(&mut tx, paths_lock(), LockMode::Exclusive).await?;
    let applied: i64 = sqlx::query_scalar("SELECT generation FROM org_paths_applied WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let mut repaired = Vec::new();
    for holder in holders {
        let (table, rows) = match holder {
            PathHolder::ByOrg { table, org_column } => {
                let mut rows = 0;
                for (org_id, path) in current {
                    if path.generation < applied {
                        continue;
                    }
                    rows += sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {table} SET org_path = $1 WHERE {org_column} = $2 AND org_path <> $1"
                    )))
                    .bind(path.as_str())
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                (*table, rows)
            }
            PathHolder::ByParent {
                table,
                key_column,
                parent_table,
            } => {
                let parent_path = format!(
                    "(SELECT p.org_path FROM {parent_table} p WHERE p.id = {table}.{key_column})"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET org_path = {parent_path} WHERE org_path <> {parent_path}"
                )))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (*table, rows)
            }
        };
        repaired.push(Repaired { table, rows });
    }
    tx.commit().await?;
    Ok(repaired)
}
