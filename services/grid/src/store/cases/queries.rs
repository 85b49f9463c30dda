//! Reading cases: one case, its history, lists and counts of a subtree, and the duplicate
//! candidates near a case.

use super::{
    CaseFilter, fetch,
    rows::{CASE_COLUMNS, CaseRow, HISTORY_COLUMNS, HistoryRow},
};
use crate::{
    domain::case::{Case, CaseState, HistoryEvent},
    store::{GridStore, ListQuery, Result, StoreError, subtree_range},
};

impl GridStore {
    /// Case `id`, read to show its reporter's contact in clear: `reveal` is recorded in the
    /// same transaction, or nothing is read.
    pub async fn reveal_case(
        &self,
        id: &str,
        reveal: &jiceng_pii_audit::Reveal<'_>,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        let case = fetch(&mut tx, id).await?;
        jiceng_pii_audit::record(&self.db, &mut tx, reveal, now).await?;
        tx.commit().await?;
        Ok(case)
    }

    pub async fn case(&self, id: &str) -> Result<Case> {
        let mut tx = self.db.begin().await?;
        let case = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(case)
    }

    /// A case's history, oldest first.
    pub async fn history(&self, case_id: &str) -> Result<Vec<HistoryEvent>> {
        sqlx::query_as::<_, HistoryRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {HISTORY_COLUMNS}
             FROM grid_case_history WHERE case_id = $1 ORDER BY seq"
        )))
        .bind(case_id)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(HistoryEvent::try_from)
        .collect()
    }

    /// Cases matching `filter`, newest first, after the page position `after` (created_at, id).
    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Case>> {
        let mut query = ListQuery::select(CASE_COLUMNS, "grid_cases");
        if let Some(path) = &filter.subtree {
            query.subtree(path);
        }
        if let Some(grid) = &filter.grid_id {
            query.filter().push("grid_id = ").push_bind(grid);
        }
        if let Some(reporter) = &filter.reporter {
            query.filter().push("reporter = ").push_bind(reporter);
        }
        if let Some(state) = filter.state {
            query.filter().push("state = ").push_bind(state.as_str());
        }
        if let Some(at) = filter.overdue_at {
            query
                .filter()
                .push(format_args!(
                    "state IN ({OPEN_STATES_SQL}) AND paused_at IS NULL"
                ))
                .push(" AND (step_due_at < ")
                .push_bind(at)
                .push(" OR overall_due_at < ")
                .push_bind(at)
                .push(")");
        }
        query.page(after, limit);
        query.fetch::<CaseRow, Case>(&self.db).await
    }

    /// Counts of the subtree's cases per state, and how many open ones are overdue at `now`:
    /// one pass over the subtree's range of the dashboard index.
    pub async fn count_cases(
        &self,
        org_path: &str,
        now: i64,
    ) -> Result<(Vec<(CaseState, i64)>, i64)> {
        let (lo, hi) = subtree_range(org_path);
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT state, COUNT(*),
                 SUM(CASE WHEN state IN ({OPEN_STATES_SQL})
                     AND paused_at IS NULL AND (step_due_at < $3 OR overall_due_at < $3)
                     THEN 1 ELSE 0 END)
             FROM grid_cases WHERE org_path >= $1 AND org_path < $2 GROUP BY state"
        )))
        .bind(&lo)
        .bind(&hi)
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        let mut overdue = 0;
        for (state, count, overdue_of_state) in rows {
            let state =
                CaseState::parse(&state).ok_or_else(|| StoreError::corrupt("case state"))?;
            counts.push((state, count));
            overdue += overdue_of_state.unwrap_or_default();
        }
        Ok((counts, overdue))
    }

    /// Open cases of `case`'s category reported within `radius_m` metres of it and within
    /// `window_ms` either side of its report, nearest first, at most `limit`. A case without a
    /// location has no candidates: nearness is all that makes one.
    pub async fn duplicate_candidates(
        &self,
        case: &Case,
        radius_m: f64,
        window_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Case, f64)>> {
        let Some(centre) = case.location else {
            return Ok(Vec::new());
        };
        // A box around the circle narrows the rows read; the exact distance decides.
        const METRES_PER_DEGREE: f64 = 111_320.0;
        let d_lat = radius_m / METRES_PER_DEGREE;
        let d_lng = radius_m / (METRES_PER_DEGREE * centre.latitude.to_radians().cos().max(0.01));
        let rows = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM grid_cases
             WHERE category_code = $1 AND created_at >= $2 AND created_at <= $3
                 AND state IN ({OPEN_STATES_SQL}) AND id <> $4
                 AND latitude BETWEEN $5 AND $6 AND longitude BETWEEN $7 AND $8"
        )))
        .bind(&case.category_code)
        .bind(case.created_at.saturating_sub(window_ms))
        .bind(case.created_at.saturating_add(window_ms))
        .bind(&case.id)
        .bind(centre.latitude - d_lat)
        .bind(centre.latitude + d_lat)
        .bind(centre.longitude - d_lng)
        .bind(centre.longitude + d_lng)
        .fetch_all(self.db.pool())
        .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let candidate = Case::try_from(row)?;
            let Some(at) = candidate.location else {
                continue;
            };
            let distance = centre.distance_to(&at);
            if distance <= radius_m {
                candidates.push((candidate, distance));
            }
        }
        candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        candidates.truncate(limit);
        Ok(candidates)
    }
}

/// The open states as an SQL list, for the overdue queries.
const OPEN_STATES_SQL: &str = "'reported', 'accepted', 'dispatched', 'in_progress', 'handled'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_list_of_open_states_matches_the_workflow() {
        let open: Vec<String> = CaseState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(open.join(", "), OPEN_STATES_SQL);
    }
}
