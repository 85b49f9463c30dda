//! Cases: reports, transitions with their history, change requests approved by the level above,
//! and the escalation of overdue steps. Every write to a case compares and bumps its version,
//! so two writers (or two scanners on two replicas) never both apply a change to one state.
//!
//! The case and what happens to it are the domain's ([`crate::domain::case`]); here they are
//! stored: `rows` lays them out in their tables, `queries` reads them, `report` and `import`
//! write new ones, `transitions`, `changes` and `escalation` move them.

mod changes;
mod escalation;
mod import;
mod queries;
mod report;
mod rows;
mod transitions;

use std::collections::BTreeMap;

use jiceng_db::Tx;
use jiceng_org_client::OrgPath;

use self::rows::{CASE_COLUMNS, CaseRow, REQUEST_COLUMNS, RequestRow};
use crate::{
    domain::{
        Point,
        case::{CaseState, ReporterKind, Urgency},
    },
    store::{Result, StoreError},
};

pub use self::import::ImportedCase;
pub use crate::domain::case::{Case, ChangeRequest, Escalation, HistoryEvent};

/// A case about to be reported, validated by the caller.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub category_code: String,
    pub urgency: Urgency,
    pub description: String,
    pub attributes: BTreeMap<String, String>,
    pub location: Option<Point>,
    pub address: String,
    pub grid_id: Option<String>,
    pub owner_org_id: String,
    pub org_path: OrgPath,
    pub reporter_kind: ReporterKind,
    pub reporter: String,
    /// How to reach the reporter: sealed, and its mask.
    pub contact: Option<(String, String)>,
    pub source: String,
    pub external_id: String,
    pub attachments: Vec<String>,
}

/// Which cases a list shows.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    /// The org path of a subtree.
    pub subtree: Option<String>,
    pub grid_id: Option<String>,
    pub reporter: Option<String>,
    pub state: Option<CaseState>,
    /// Only the cases overdue at this time.
    pub overdue_at: Option<i64>,
}

/// What an action carries besides the action itself.
#[derive(Clone, Debug, Default)]
pub struct ActionDetail {
    pub note: String,
    pub evidence: Vec<String>,
    pub comment: String,
    /// The version the caller read (etag), when it matters to them.
    pub expected_version: Option<i64>,
    /// The caller's idempotency key: a retry that repeats it answers with the case as it now
    /// stands instead of taking the step again.
    pub request_id: Option<String>,
}

/// Claims the step's request id, when it has one: the case to answer with, if this is a retry.
async fn replayed(
    tx: &mut Tx,
    actor: &str,
    detail: &ActionDetail,
    operation: &str,
    case_id: &str,
    now: i64,
) -> Result<Option<Case>> {
    let first = crate::store::REQUEST_IDS
        .claim_existing(
            tx,
            actor,
            detail.request_id.as_deref(),
            operation,
            case_id,
            now,
        )
        .await?;
    match first {
        Some(id) => Ok(Some(fetch(tx, &id).await?)),
        None => Ok(None),
    }
}

async fn fetch(tx: &mut Tx, id: &str) -> Result<Case> {
    sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM grid_cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("case", id))?
    .try_into()
}

async fn pending_request(tx: &mut Tx, case_id: &str) -> Result<Option<ChangeRequest>> {
    sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM grid_case_requests WHERE case_id = $1 AND state = 'pending'"
    )))
    .bind(case_id)
    .fetch_optional(&mut **tx)
    .await?
    .map(ChangeRequest::try_from)
    .transpose()
}

/// Writes the changed fields of `case` if nobody changed it since it was read at `read_version`.
async fn save(tx: &mut Tx, case: &mut Case, read_version: i64, now: i64) -> Result<()> {
    case.version = read_version + 1;
    case.updated_at = now;
    let saved = sqlx::query(
        "UPDATE grid_cases SET state = $1, handler_org_id = $2, handled_by = $3, step_started_at = $4,
             step_due_at = $5, paused_at = $6, escalation_level = $7, escalated_org_id = $8,
             satisfaction = $9, evaluation = $10, version = $11, updated_at = $12, closed_at = $13,
             overall_due_at = $16, duplicate_of = $17, deferred_until = $18
         WHERE id = $14 AND version = $15",
    )
    .bind(case.state.as_str())
    .bind(&case.handler_org_id)
    .bind(&case.handled_by)
    .bind(case.step_started_at)
    .bind(case.step_due_at)
    .bind(case.paused_at)
    .bind(case.escalation_level)
    .bind(&case.escalated_org_id)
    .bind(case.satisfaction)
    .bind(&case.evaluation)
    .bind(case.version)
    .bind(now)
    .bind(case.closed_at)
    .bind(&case.id)
    .bind(read_version)
    .bind(case.overall_due_at)
    .bind(&case.duplicate_of)
    .bind(case.deferred_until)
    .execute(&mut **tx)
    .await?;
    if saved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale { what: "case" })
    }
}

/// One row of history, numbered after the case's last.
struct Entry<'a> {
    action: &'a str,
    from: CaseState,
    to: CaseState,
    actor: &'a str,
    note: &'a str,
    evidence: &'a [String],
    org_id: &'a str,
}

async fn record(tx: &mut Tx, case_id: &str, entry: Entry<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO grid_case_history (case_id, seq, action, from_state, to_state, actor, note, evidence, org_id, trace_id, at)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10
         FROM grid_case_history WHERE case_id = $1",
    )
    .bind(case_id)
    .bind(entry.action)
    .bind(entry.from.as_str())
    .bind(entry.to.as_str())
    .bind(entry.actor)
    .bind(entry.note)
    .bind(serde_json::to_string(entry.evidence).unwrap_or_else(|_| "[]".into()))
    .bind(entry.org_id)
    .bind(jiceng_telemetry::current_trace_id().unwrap_or_default())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
