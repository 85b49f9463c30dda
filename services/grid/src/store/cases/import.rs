//! Closed cases carried over from a district's earlier system, written in bulk.

use jiceng_org_client::paths;

use super::{NewCase, rows::bind_reported};
use crate::{
    domain::case::CaseState,
    store::{GridStore, Result, StoreError, precondition},
};

/// A closed case carried over from a district's earlier system (see
/// [`GridStore::import_closed_cases`]).
#[derive(Clone, Debug)]
pub struct ImportedCase {
    pub case: NewCase,
    /// When it was reported and closed, in milliseconds since the Unix epoch.
    pub reported_at: i64,
    pub closed_at: i64,
    /// The org that handled it, and who there.
    pub handler_org_id: String,
    pub handled_by: String,
    /// The reporter's rating, 1 to 5, when they gave one: the case is then evaluated.
    pub satisfaction: Option<i64>,
}

impl ImportedCase {
    fn state(&self) -> CaseState {
        if self.satisfaction.is_some() {
            CaseState::Evaluated
        } else {
            CaseState::Closed
        }
    }
}

/// Rows per INSERT of an import: within both databases' limits on parameters per statement
/// (34 × 400).
const IMPORT_ROWS_PER_STATEMENT: usize = 400;

impl GridStore {
    /// Writes closed cases carried over from a district's earlier system, hundreds per
    /// statement, each with one history entry that says so (the earlier system's own history
    /// does not come with them). Cases with a `source` and `external_id` already stored are
    /// skipped, so a repeated import of such cases writes nothing twice. Returns how many
    /// were written.
    #[tracing::instrument(name = "grid.store.import_closed_cases", skip_all, fields(cases = cases.len()))]
    pub async fn import_closed_cases(&self, cases: &[ImportedCase]) -> Result<u64> {
        if let Some(bad) = cases.iter().find(|c| c.closed_at < c.reported_at) {
            return Err(precondition(
                "cases",
                "IMPORT_CASES",
                format!(
                    "case \"{}\" is closed before it was reported",
                    bad.case.description
                ),
            ));
        }
        if let Some(bad) = cases
            .iter()
            .find(|c| c.satisfaction.is_some_and(|s| !(1..=5).contains(&s)))
        {
            return Err(precondition(
                "cases",
                "IMPORT_CASES",
                format!(
                    "case \"{}\": a satisfaction is 1 to 5",
                    bad.case.description
                ),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let oldest_path = cases
            .iter()
            .map(|c| &c.case.org_path)
            .min_by_key(|path| path.generation());
        if let Some(oldest_path) = oldest_path {
            paths::admit(&self.db, &mut tx, oldest_path).await?;
        }
        let categories: Vec<String> = sqlx::query_scalar("SELECT code FROM grid_categories")
            .fetch_all(&mut *tx)
            .await?;
        let categories: std::collections::BTreeSet<String> = categories.into_iter().collect();
        if let Some(bad) = cases
            .iter()
            .find(|c| !categories.contains(&c.case.category_code))
        {
            return Err(StoreError::not_found("category", &bad.case.category_code));
        }
        let mut written = 0;
        for chunk in cases.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect();
            let insert = format!(
                "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude,
                     longitude, address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source,
                     external_id, attachments, state, handler_org_id, handled_by, step_started_at,
                     step_due_at, overall_due_at, paused_at, escalation_level, escalated_org_id,
                     satisfaction, evaluation, duplicate_of, version, created_at, updated_at, closed_at,
                     contact_sealed, contact_masked)
                 VALUES {}
                 ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
                 RETURNING id",
                jiceng_db::value_rows(chunk.len(), 34)
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(insert));
            for (id, imported) in ids.iter().zip(chunk) {
                let new = &imported.case;
                let (contact_sealed, contact_masked) = new.contact_columns();
                query = bind_reported(query.bind(id), new)
                    .bind(imported.state().as_str())
                    .bind(&imported.handler_org_id)
                    .bind(&imported.handled_by)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(0_i64)
                    .bind(&new.owner_org_id)
                    .bind(imported.satisfaction)
                    .bind("")
                    .bind(None::<String>)
                    .bind(1_i64)
                    .bind(imported.reported_at)
                    .bind(imported.closed_at)
                    .bind(imported.closed_at)
                    .bind(contact_sealed)
                    .bind(contact_masked);
            }
            let inserted: std::collections::BTreeSet<String> =
                query.fetch_all(&mut *tx).await?.into_iter().collect();
            let entries: Vec<(&String, &ImportedCase)> = ids
                .iter()
                .zip(chunk)
                .filter(|(id, _)| inserted.contains(*id))
                .collect();
            if entries.is_empty() {
                continue;
            }
            let history = format!(
                "INSERT INTO grid_case_history (case_id, seq, action, from_state, to_state, actor,
                     note, evidence, org_id, trace_id, at)
                 VALUES {}",
                jiceng_db::value_rows(entries.len(), 11)
            );
            let trace_id = jiceng_telemetry::current_trace_id().unwrap_or_default();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(history));
            for (id, imported) in &entries {
                let state = imported.state();
                query = query
                    .bind(*id)
                    .bind(1_i64)
                    .bind("import")
                    .bind(state.as_str())
                    .bind(state.as_str())
                    .bind("import")
                    .bind("closed in the district's earlier system")
                    .bind("[]")
                    .bind(&imported.handler_org_id)
                    .bind(&trace_id)
                    .bind(imported.closed_at);
            }
            query.execute(&mut *tx).await?;
            written += entries.len() as u64;
        }
        tx.commit().await?;
        Ok(written)
    }
}
