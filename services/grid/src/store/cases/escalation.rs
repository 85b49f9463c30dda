//! The escalation of overdue steps up the owning org's chain.

use super::{Entry, fetch, record, save};
use crate::{
    domain::{calendar::WorkCalendar, case::Escalation},
    events,
    store::{GridStore, Result, StoreError, load_category},
};

impl GridStore {
    /// Escalates up to `batch` cases whose step is past its limit at `now`: each climbs one level
    /// up its owning org's chain (at the top it is flagged again) and gets a new deadline for
    /// the same step, so that staying overdue keeps climbing. Safe with several scanners at
    /// once: a case escalates once per deadline missed.
    #[tracing::instrument(name = "grid.store.escalate_overdue", skip(self))]
    pub async fn escalate_overdue(&self, now: i64, batch: i64) -> Result<Vec<Escalation>> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM grid_cases WHERE step_due_at IS NOT NULL AND step_due_at < $1
                 AND paused_at IS NULL
             ORDER BY step_due_at LIMIT $2",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(self.db.pool())
        .await?;
        let calendar = self.calendar().await?;
        let mut escalations = Vec::new();
        for id in due {
            match self.escalate(&id, &calendar, now).await {
                Ok(Some(escalation)) => escalations.push(escalation),
                // Already escalated by another scanner, or moved on meanwhile.
                Ok(None) | Err(StoreError::Stale { .. }) => {}
                // One case that cannot be escalated does not hold up the others.
                Err(err) => tracing::warn!(case = %id, error = %err, "case not escalated"),
            }
        }
        Ok(escalations)
    }

    /// How many open, unpaused cases are past their overall time limit or their current
    /// step's at `now`, per street (see [`crate::domain::case::Case::street`]): what the grid
    /// dashboard's overdue panel shows.
    #[tracing::instrument(name = "grid.store.overdue_by_street", skip(self))]
    pub async fn overdue_by_street(&self, now: i64) -> Result<Vec<(String, u64)>> {
        // Grouped by path in SQL (a few thousand communities at most), by street here: the
        // dialects split strings differently.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT org_path, COUNT(*) FROM grid_cases
             WHERE closed_at IS NULL AND paused_at IS NULL
               AND ((step_due_at IS NOT NULL AND step_due_at < $1)
                 OR (overall_due_at IS NOT NULL AND overall_due_at < $1))
             GROUP BY org_path",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut per_street: std::collections::BTreeMap<String, u64> = Default::default();
        for (org_path, count) in rows {
            let street = crate::domain::case::street_of(&org_path).to_owned();
            *per_street.entry(street).or_default() += count.max(0) as u64;
        }
        Ok(per_street.into_iter().collect())
    }

    async fn escalate(
        &self,
        case_id: &str,
        calendar: &WorkCalendar,
        now: i64,
    ) -> Result<Option<Escalation>> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        let (Some(step), Some(due)) = (case.state.step(), case.step_due_at) else {
            return Ok(None);
        };
        if due >= now || case.paused_at.is_some() {
            return Ok(None);
        }
        let category = load_category(&mut tx, &case.category_code).await?;
        let read_version = case.version;
        let Some(limit) = category.limits(case.urgency).of(step) else {
            // The category no longer limits this step: the deadline goes, so the case stops
            // coming back to every scan.
            case.step_due_at = None;
            save(&mut tx, &mut case, read_version, now).await?;
            tx.commit().await?;
            return Ok(None);
        };
        let chain = case.chain();
        let from_org = case.escalated_org_id.clone();
        let to_org = chain
            .iter()
            .position(|id| *id == from_org)
            .filter(|at| *at > 0)
            .map_or(from_org.clone(), |at| chain[at - 1].to_owned());
        if to_org != from_org {
            case.escalation_level += 1;
            case.escalated_org_id = to_org.clone();
        }
        case.step_due_at = Some(calendar.add(now, limit, category.clock));
        save(&mut tx, &mut case, read_version, now).await?;
        let escalation = Escalation {
            case_id: case.id.clone(),
            street: case.street().to_owned(),
            step,
            from_org_id: from_org,
            to_org_id: to_org,
            level: case.escalation_level,
        };
        record(
            &mut tx,
            case_id,
            Entry {
                action: "escalate",
                from: case.state,
                to: case.state,
                actor: "scanner",
                note: &format!("{} step overdue", step.as_str()),
                evidence: &[],
                org_id: &escalation.to_org_id,
            },
            now,
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::escalated(&case, &escalation),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(escalation))
    }
}
