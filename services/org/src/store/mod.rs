//! The org service's SQL, and nothing else: every query of the service lives in this module.
//!
//! `tree` holds the organisation tree; the other modules the records that hang off its units.
//! What they share lives here: errors, the audit trail, idempotency keys and unit rows.

mod alliances;
mod meetings;
mod positions;
mod snapshot;
mod tree;
mod venues;

use std::sync::Arc;

use jiceng_db::{Database, Tx};
use sqlx::{Row as _, any::AnyRow};

use crate::domain::{RequestId, Unit, UnitCode, UnitId, UnitKind, UnitName, UnitStatus};

pub use meetings::{NewMeeting, NewProjectMeeting};
pub use tree::{SubtreeFilter, TreeGenerations, UnitChanges};

const UNIT_COLUMNS: &str =
    "id, parent_id, kind, name, code, status, path, depth, version, created_at, updated_at";

/// Why a store operation did not happen.
pub use jiceng_db::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// Who is changing the org service's data, for the audit trail and idempotency.
#[derive(Clone, Debug)]
pub struct Mutation {
    pub actor: String,
    pub request_id: Option<RequestId>,
    pub trace_id: Option<String>,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_id: String,
    pub details: String,
    pub trace_id: Option<String>,
}

/// The org service's data: the tree, the district's kind rules, the audit trail and request ids.
#[derive(Clone, Debug)]
pub struct OrgStore {
    db: Database,
    /// The CloudEvents `source` of this service's events, e.g. `//jiceng/310115/org`.
    event_source: String,
    /// The tree in memory, shared by the store's clones.
    snapshots: Arc<snapshot::TreeSnapshots>,
}

/// What an earlier call with the same request id did.
struct Replay {
    resource_id: String,
    affected: i64,
}

impl OrgStore {
    pub fn new(db: Database, event_source: String) -> Self {
        Self {
            db,
            event_source,
            snapshots: Arc::default(),
        }
    }

    /// The time the store acts at (its database's clock).
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Audit records, newest first, after the record id `before` when given.
    pub async fn audit_records(
        &self,
        target: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let target_clause = if target.is_some() {
            "AND target_id = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT id, at, actor, action, target_id, details, trace_id FROM org_audit
             WHERE id < $1 {target_clause} ORDER BY id DESC LIMIT $2"
        );
        // UUIDs are hex and dashes, so "~" sorts after every id.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or("~"))
            .bind(limit);
        if let Some(target) = target {
            query = query.bind(target);
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get(0)?,
                    at: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    action: row.try_get(3)?,
                    target_id: row.try_get(4)?,
                    details: row.try_get(5)?,
                    trace_id: row.try_get(6)?,
                })
            })
            .collect()
    }

    /// Answers a retried request with the current state of what the first call touched.
    async fn replay(&self, mut tx: Tx, replay: Replay) -> Result<(Unit, i64)> {
        let unit = fetch_unit(&mut tx, &replay.resource_id).await?;
        tx.commit().await?;
        Ok((unit, replay.affected))
    }
}

fn precondition(
    kind: &'static str,
    subject: impl std::fmt::Display,
    description: impl Into<String>,
) -> StoreError {
    StoreError::precondition(kind, subject.to_string(), description)
}

async fn fetch_unit(tx: &mut Tx, id: &str) -> Result<Unit> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| unit_from_row(&row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            what: "unit",
            id: id.to_owned(),
        })
}

/// Records the request id before the change. `None` means go ahead; `Some` is what the first
/// call with this id did. A concurrent duplicate waits on the key until the first commits.
/// Records the request id before the change. `None` means go ahead; `Some` is what the first
/// call with this id did. A concurrent duplicate waits on the key until the first commits.
/// `resource_id` is the resource the call acts on, or the id a create is about to give.
async fn claim_request(
    tx: &mut Tx,
    now: i64,
    mutation: &Mutation,
    operation: &str,
    resource_id: &str,
) -> Result<Option<Replay>> {
    let Some(request_id) = &mutation.request_id else {
        return Ok(None);
    };
    let inserted = sqlx::query(
        "INSERT INTO org_requests (caller, request_id, operation, resource_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caller, request_id) DO NOTHING",
    )
    .bind(mutation.actor.as_str())
    .bind(request_id.as_str())
    .bind(operation)
    .bind(resource_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT operation, resource_id, affected FROM org_requests
         WHERE caller = $1 AND request_id = $2",
    )
    .bind(mutation.actor.as_str())
    .bind(request_id.as_str())
    .fetch_one(&mut **tx)
    .await?;
    let first_operation: String = row.try_get(0)?;
    let first_resource: String = row.try_get(1)?;
    // A create generates its id, so only the operation must match for it.
    let creates = operation.starts_with("Create") || operation.starts_with("Appoint");
    if first_operation != operation || (!creates && first_resource != resource_id) {
        return Err(StoreError::RequestIdReused);
    }
    Ok(Some(Replay {
        resource_id: first_resource,
        affected: row.try_get(2)?,
    }))
}

async fn record_affected(tx: &mut Tx, mutation: &Mutation, affected: i64) -> Result<()> {
    if let Some(request_id) = &mutation.request_id {
        sqlx::query("UPDATE org_requests SET affected = $1 WHERE caller = $2 AND request_id = $3")
            .bind(affected)
            .bind(mutation.actor.as_str())
            .bind(request_id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A list or record stored as JSON text.
fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Reads back what [`json_text`] stored.
fn decode_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> std::result::Result<T, sqlx::Error> {
    serde_json::from_str(text)
        .map_err(|e| sqlx::Error::Decode(format!("invalid {what}: {e}").into()))
}

/// Leaves the audit record of a mutation, in its transaction.
async fn audit(
    tx: &mut Tx,
    now: i64,
    mutation: &Mutation,
    action: &str,
    target: impl AsRef<str>,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_audit (id, at, actor, action, target_id, details, trace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(mutation.actor.as_str())
    .bind(action)
    .bind(target.as_ref())
    .bind(details.to_string())
    .bind(mutation.trace_id.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Decodes a row of [`UNIT_COLUMNS`], by position: subtree reads decode thousands of rows.
fn unit_from_row(row: &AnyRow) -> std::result::Result<Unit, sqlx::Error> {
    let corrupt = |column: &str, value: String| {
        sqlx::Error::Decode(format!("invalid {column} {value:?} in org_units").into())
    };
    let parent_id: Option<String> = row.try_get(1)?;
    let kind: String = row.try_get(2)?;
    let code: Option<String> = row.try_get(4)?;
    let status: String = row.try_get(5)?;
    Ok(Unit {
        id: UnitId::from_stored(row.try_get(0)?).map_err(|v| corrupt("id", v))?,
        parent_id: parent_id
            .map(|p| UnitId::from_stored(p).map_err(|v| corrupt("parent_id", v)))
            .transpose()?,
        kind: UnitKind::parse(&kind).ok_or_else(|| corrupt("kind", kind.clone()))?,
        name: UnitName::from_stored(row.try_get(3)?).map_err(|v| corrupt("name", v))?,
        code: code
            .map(|c| UnitCode::parse_optional(&c).map_err(|_| corrupt("code", c.clone())))
            .transpose()?
            .flatten(),
        status: UnitStatus::parse(&status).ok_or_else(|| corrupt("status", status.clone()))?,
        path: row.try_get(6)?,
        depth: row.try_get(7)?,
        version: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}
