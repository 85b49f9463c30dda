//! Change requests: the handling org asks the level above for a return, an extension, a
//! deferral or a backlog entry, and the level above decides (the clock rules of the decision are
//! the domain's [`decide_change`]).

use super::{
    Entry, fetch, pending_request, record,
    rows::{REQUEST_COLUMNS, RequestRow},
    save,
};
use crate::{
    domain::case::{
        Case, CaseState, ChangeRequest, DecidedChange, RequestKind, RequestState, decide_change,
    },
    store::{GridStore, Result, StoreError, load_calendar, load_category, precondition},
};

impl GridStore {
    /// The handling org asks the level above for a change. A return, deferral or backlog
    /// request stops the step's clock while it waits.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_change(
        &self,
        case_id: &str,
        actor: &str,
        kind: RequestKind,
        reason: &str,
        minutes: Option<i64>,
        until: Option<i64>,
        now: i64,
    ) -> Result<ChangeRequest> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        if !matches!(case.state, CaseState::Dispatched | CaseState::InProgress) {
            return Err(precondition(
                "cases",
                "CASE_STATE",
                format!(
                    "changes are asked for while a case is being handled, not while it is {}",
                    case.state.as_str()
                ),
            ));
        }
        if let Some(waiting) = pending_request(&mut tx, case_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request already waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO grid_case_requests ({REQUEST_COLUMNS}, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, '', '', $8, NULL)"
        )))
        .bind(&id)
        .bind(case_id)
        .bind(kind.as_str())
        .bind(reason)
        .bind(minutes)
        .bind(until)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await;
        // Two requests at once on PostgreSQL: the pending-request index lets one through.
        if let Err(sqlx::Error::Database(err)) = &inserted
            && err.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                "another request already waits for the level above",
            ));
        }
        inserted?;
        let read_version = case.version;
        if kind.stops_clock() {
            case.paused_at = Some(now);
        }
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action: "request",
                from: case.state,
                to: case.state,
                actor,
                note: &format!("{}: {reason}", kind.as_str()),
                evidence: &[],
                org_id: "",
            },
            now,
        )
        .await?;
        let request = sqlx::query_as::<_, RequestRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM grid_case_requests WHERE id = $1"
        )))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        request.try_into()
    }

    /// The waiting change request of a case, if any.
    pub async fn pending_change(&self, case_id: &str) -> Result<Option<ChangeRequest>> {
        let mut tx = self.db.begin().await?;
        let request = pending_request(&mut tx, case_id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Approves or rejects the waiting change request of a case: the request records the
    /// decision, the case takes what [`decide_change`] makes of it, and its history says so.
    pub async fn decide_change(
        &self,
        case_id: &str,
        actor: &str,
        approve: bool,
        note: &str,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        let case = fetch(&mut tx, case_id).await?;
        let request = pending_request(&mut tx, case_id)
            .await?
            .ok_or_else(|| StoreError::not_found("waiting change request of case", case_id))?;
        let category = load_category(&mut tx, &case.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        let state = if approve {
            RequestState::Approved
        } else {
            RequestState::Rejected
        };
        sqlx::query(
            "UPDATE grid_case_requests SET state = $1, decided_by = $2, decision_note = $3, decided_at = $4
             WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(actor)
        .bind(note)
        .bind(now)
        .bind(&request.id)
        .execute(&mut *tx)
        .await?;
        let read_version = case.version;
        let from = case.state;
        let DecidedChange { mut case, action } =
            decide_change(&case, &request, approve, &category, &calendar, now)
                .map_err(|d| precondition("cases", "CASE_STATE", d))?;
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action,
                from,
                to: case.state,
                actor,
                note: &format!("{}: {note}", request.kind.as_str()),
                evidence: &[],
                org_id: "",
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }
}
