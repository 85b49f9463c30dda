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
mod witness;

use std::sync::Arc;

use jiceng_db::{Database, Replay, RequestIds, Target, Tx};

use crate::domain::{
    AuditRecord, RequestId, Unit, UnitCode, UnitId, UnitKind, UnitName, UnitStatus,
};

pub use meetings::{NewMeeting, NewProjectMeeting};
pub use tree::{SubtreeFilter, UnitChanges};

const UNIT_COLUMNS: &str =
    "id, parent_id, kind, name, code, status, path, depth, version, created_at, updated_at";

/// A row of [`UNIT_COLUMNS`]: its fields are that constant's columns. Subtree reads decode
/// thousands of these.
#[derive(sqlx::FromRow)]
struct UnitRow {
    id: String,
    parent_id: Option<String>,
    kind: String,
    name: String,
    code: Option<String>,
    status: String,
    path: String,
    depth: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UnitRow> for Unit {
    type Error = sqlx::Error;

    fn try_from(row: UnitRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt = |column: &str, value: String| {
            sqlx::Error::Decode(format!("invalid {column} {value:?} in org_units").into())
        };
        Ok(Unit {
            id: UnitId::from_stored(row.id).map_err(|v| corrupt("id", v))?,
            parent_id: row
                .parent_id
                .map(|p| UnitId::from_stored(p).map_err(|v| corrupt("parent_id", v)))
                .transpose()?,
            kind: UnitKind::parse(&row.kind).ok_or_else(|| corrupt("kind", row.kind.clone()))?,
            name: UnitName::from_stored(row.name).map_err(|v| corrupt("name", v))?,
            code: row
                .code
                .map(|c| UnitCode::parse_optional(&c).map_err(|_| corrupt("code", c.clone())))
                .transpose()?
                .flatten(),
            status: UnitStatus::parse(&row.status)
                .ok_or_else(|| corrupt("status", row.status.clone()))?,
            path: row.path,
            depth: row.depth,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const AUDIT_COLUMNS: &str = "id, at, actor, action, target_id, details, trace_id";

/// A row of [`AUDIT_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    actor: String,
    action: String,
    target_id: String,
    details: String,
    trace_id: Option<String>,
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        AuditRecord {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target_id: row.target_id,
            details: row.details,
            trace_id: row.trace_id,
        }
    }
}

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

/// The org service's data: the tree, the district's kind rules, the audit trail and request ids.
#[derive(Clone, Debug)]
pub struct OrgStore {
    db: Database,
    /// The CloudEvents `source` of this service's events, e.g. `//jiceng/310115/org`.
    event_source: String,
    /// The tree in memory, shared by the store's clones.
    snapshots: Arc<snapshot::TreeSnapshots>,
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
            "SELECT {AUDIT_COLUMNS} FROM org_audit
             WHERE id < $1 {target_clause} ORDER BY id DESC LIMIT $2"
        );
        // UUIDs are hex and dashes, so "~" sorts after every id.
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or("~"))
            .bind(limit);
        if let Some(target) = target {
            query = query.bind(target);
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
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
    let row = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Unit::try_from)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("unit", id))
}

/// Where the org service keeps its callers' request ids.
const REQUEST_IDS: RequestIds = RequestIds::new("org_requests");

/// Claims the mutation's request id, when it has one, for `operation` on `target`: `None` means
/// go ahead; `Some` is what the first call with this id did.
async fn claim_request(
    tx: &mut Tx,
    now: i64,
    mutation: &Mutation,
    operation: &str,
    target: Target<'_>,
) -> Result<Option<Replay>> {
    let Some(request_id) = &mutation.request_id else {
        return Ok(None);
    };
    REQUEST_IDS
        .claim(
            tx,
            &mutation.actor,
            request_id.as_str(),
            operation,
            target,
            now,
        )
        .await
}

/// Records how many units the mutation changed, for a retry to answer with.
async fn record_affected(
    tx: &mut Tx,
    mutation: &Mutation,
    resource_id: &str,
    affected: i64,
) -> Result<()> {
    if let Some(request_id) = &mutation.request_id {
        REQUEST_IDS
            .settle(
                tx,
                &mutation.actor,
                request_id.as_str(),
                resource_id,
                affected,
            )
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
