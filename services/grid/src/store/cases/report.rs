//! Reporting a case, idempotent by the caller's request id or by another system's id for it.

use jiceng_org_client::paths;

use super::{
    Entry, NewCase, fetch, record,
    rows::{CASE_COLUMNS, CaseRow, bind_reported},
};
use crate::{
    domain::case::{Case, CaseState, Step},
    store::{GridStore, REQUEST_IDS, Result, StoreError, load_calendar, load_category},
};

impl GridStore {
    /// Reports a case, with its first step's clock started. A retried `request_id` of the same
    /// caller, or a `source` and `external_id` seen before, returns the first case.
    #[tracing::instrument(name = "grid.store.report", skip_all)]
    pub async fn report(&self, request_id: Option<&str>, new: &NewCase, now: i64) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let category = load_category(&mut tx, &new.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, &new.reporter, request_id, "ReportCase", &id, now)
            .await?
        {
            let case = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(case);
        }
        let limits = category.limits(new.urgency);
        let step_due = limits
            .of(Step::Accept)
            .map(|minutes| calendar.add(now, minutes, category.clock));
        let overall_due =
            (limits.overall > 0).then(|| calendar.add(now, limits.overall, category.clock));
        // The stored case comes back from the insert itself; no row means the report was a
        // repeat of an external one.
        let insert = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude, longitude,
                 address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id,
                 attachments, state, handler_org_id, handled_by, step_started_at, step_due_at,
                 overall_due_at, paused_at, escalation_level, escalated_org_id, satisfaction, evaluation,
                 duplicate_of, version, created_at, updated_at, closed_at, contact_sealed, contact_masked)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '', '',
                 $18, $19, $20, NULL, 0, $10, NULL, '', NULL, 1, $18, $18, NULL, $21, $22)
             ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
             RETURNING {CASE_COLUMNS}"
        )))
        .bind(&id);
        let (contact_sealed, contact_masked) = new.contact_columns();
        let inserted = bind_reported(insert, new)
            .bind(CaseState::Reported.as_str())
            .bind(now)
            .bind(step_due)
            .bind(overall_due)
            .bind(contact_sealed)
            .bind(contact_masked)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(inserted) = inserted else {
            // Another system sent this report before: the first case stands.
            let (first, reporter): (String, String) = sqlx::query_as(
                "SELECT id, reporter FROM grid_cases WHERE source = $1 AND external_id = $2",
            )
            .bind(&new.source)
            .bind(&new.external_id)
            .fetch_one(&mut *tx)
            .await?;
            // Only the system that sent the report gets it back.
            if reporter != new.reporter {
                return Err(StoreError::Conflict(format!(
                    "another reporter's case has source {} and external id {}",
                    new.source, new.external_id
                )));
            }
            if let Some(request_id) = request_id {
                REQUEST_IDS
                    .settle(&mut tx, &new.reporter, request_id, &first, 0)
                    .await?;
            }
            let case = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(case);
        };
        let case = Case::try_from(inserted)?;
        record(
            &mut tx,
            &id,
            Entry {
                action: "report",
                from: CaseState::Reported,
                to: CaseState::Reported,
                actor: &new.reporter,
                note: "",
                evidence: &[],
                org_id: &new.owner_org_id,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }
}
