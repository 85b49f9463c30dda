//! The raw-SQL baselines `jiceng bench` holds writes against: the one plain INSERT a write
//! amounts to, outside the service's write path, on the service's own database. A report's
//! baseline writes the case row alone (no category, calendar, history, request id or event); an
//! award's the ledger row alone (no member lock, rule, caps, replay check or balance). Their
//! rows carry [`BASELINE_MARK`] and are deleted after the run.
//!
//! The SQL is written against the services' schemas here, not in their stores, so that no
//! production path carries bench-only statements.

use jiceng_db::Database;
use jiceng_grid::{domain::case::CaseState, store::cases::NewCase};
use jiceng_member::domain::points::{EntryKind, EntryState, periods};

/// The `source` of the case rows and the `actor` of the ledger rows the baselines write; no
/// report or caller names them.
pub const BASELINE_MARK: &str = "jiceng-bench-baseline";

/// A report's case row, on the grid service's database.
pub async fn insert_case(grid: &Database, new: &NewCase, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude, longitude,
             address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id,
             attachments, state, handler_org_id, handled_by, step_started_at, step_due_at,
             overall_due_at, paused_at, escalation_level, escalated_org_id, satisfaction, evaluation,
             duplicate_of, version, created_at, updated_at, closed_at, contact_sealed, contact_masked)
         VALUES ($1, $2, $3, $4, '{}', NULL, NULL, '', $5, $6, $7, $8, $9, $10, '', '[]', $11, '', '',
             $12, $13, $14, NULL, 0, $6, NULL, '', NULL, 1, $12, $12, NULL, NULL, '')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&new.category_code)
    .bind(new.urgency.as_str())
    .bind(&new.description)
    .bind(new.grid_id.as_deref())
    .bind(&new.owner_org_id)
    .bind(new.org_path.as_str())
    .bind(new.reporter_kind.as_str())
    .bind(&new.reporter)
    .bind(BASELINE_MARK)
    .bind(CaseState::Reported.as_str())
    .bind(now)
    .bind(now + 2 * 3_600_000)
    .bind(now + 48 * 3_600_000)
    .execute(grid.pool())
    .await?;
    Ok(())
}

/// Deletes the case rows [`insert_case`] wrote.
pub async fn delete_cases(grid: &Database) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM grid_cases WHERE source = $1")
        .bind(BASELINE_MARK)
        .execute(grid.pool())
        .await?;
    Ok(deleted.rows_affected())
}

/// An award's ledger row, on the member service's database.
pub async fn insert_entry(
    member: &Database,
    member_id: &str,
    rule_code: &str,
    points: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (year, month, day) = periods(now);
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO member_ledger (id, member_id, kind, amount, rule_code, rule_version, reason, evidence,
             source_event_id, state, year, month, day, fingerprint, actor, created_at)
         VALUES ($1, $2, $3, $4, $5, 1, '志愿服务', '', '', $6, $7, $8, $9, $1, $10, $11)",
    )
    .bind(&id)
    .bind(member_id)
    .bind(EntryKind::Award.as_str())
    .bind(points)
    .bind(rule_code)
    .bind(EntryState::Approved.as_str())
    .bind(year)
    .bind(month)
    .bind(day)
    .bind(BASELINE_MARK)
    .bind(now)
    .execute(member.pool())
    .await?;
    Ok(())
}

/// Deletes the ledger rows [`insert_entry`] wrote.
pub async fn delete_entries(member: &Database) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM member_ledger WHERE actor = $1")
        .bind(BASELINE_MARK)
        .execute(member.pool())
        .await?;
    Ok(deleted.rows_affected())
}
