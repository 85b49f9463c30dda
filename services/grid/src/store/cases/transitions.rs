//! Moving a case along its workflow: the actions people take, merges of duplicates, and the
//! joint meetings that join a case's history.

use super::{ActionDetail, Entry, fetch, pending_request, record, replayed, save};
use crate::{
    domain::case::{Action, Case, CaseState},
    events,
    store::{GridStore, Result, StoreError, load_calendar, load_category, precondition},
};

impl GridStore {
    /// Takes `action` on a case: the state machine decides whether it may, the step's clock
    /// restarts when the step changes, and the transition joins the history.
    #[tracing::instrument(name = "grid.store.act", skip_all, fields(action = action.name()))]
    pub async fn act(
        &self,
        case_id: &str,
        actor: &str,
        action: &Action,
        detail: &ActionDetail,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        if let Some(case) = replayed(&mut tx, actor, detail, action.name(), case_id, now).await? {
            tx.commit().await?;
            return Ok(case);
        }
        let mut case = fetch(&mut tx, case_id).await?;
        if detail.expected_version.is_some_and(|v| v != case.version) {
            return Err(StoreError::Stale { what: "case" });
        }
        let from = case.state;
        let to = action
            .apply(from)
            .map_err(|description| precondition("cases", "CASE_STATE", description))?;
        if let Some(waiting) = pending_request(&mut tx, case_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let category = load_category(&mut tx, &case.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        if matches!(action, Action::Verify { .. }) && case.handled_by == actor {
            return Err(precondition(
                "cases",
                "VERIFIER",
                "the case must be verified by someone other than its handler",
            ));
        }
        let read_version = case.version;
        case.state = to;
        let mut org_id = String::new();
        match action {
            Action::Dispatch { handler_org_id } => {
                case.handler_org_id = handler_org_id.clone();
                org_id = handler_org_id.clone();
            }
            Action::Handle => case.handled_by = actor.to_owned(),
            Action::Evaluate { satisfaction } => {
                case.satisfaction = Some(*satisfaction);
                case.evaluation = detail.comment.clone();
            }
            _ => {}
        }
        // A failed verification sends the case back to its handler with a fresh handling limit.
        let reopened = matches!(action, Action::Verify { passed: false });
        if from.step() != to.step() || reopened {
            case.start_step(&category, &calendar, now);
        }
        if matches!(to, CaseState::Closed | CaseState::Rejected) {
            case.closed_at = Some(now);
        }
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action: action.name(),
                from,
                to,
                actor,
                note: &detail.note,
                evidence: &detail.evidence,
                org_id: &org_id,
            },
            now,
        )
        .await?;
        let event = match action {
            Action::Dispatch { .. } => Some(events::dispatched(&case)),
            Action::Verify { passed: false } => Some(events::verification_failed(&case)),
            _ => None,
        };
        if let Some(event) = event {
            jiceng_outbox::enqueue(&mut tx, &self.event_source, event).await?;
        }
        tx.commit().await?;
        Ok(case)
    }

    /// Merges the open case `duplicate_id` into the open case `original_id`: the duplicate is
    /// merged and linked, both histories record it, and both reporters hear of it. Both cases
    /// are written under their versions, so a merge never races another move of either.
    #[tracing::instrument(name = "grid.store.merge", skip_all)]
    pub async fn merge(
        &self,
        duplicate_id: &str,
        original_id: &str,
        actor: &str,
        detail: &ActionDetail,
        now: i64,
    ) -> Result<(Case, Case)> {
        if duplicate_id == original_id {
            return Err(precondition(
                "cases",
                "MERGE",
                "a case cannot be merged into itself",
            ));
        }
        let mut tx = self.db.begin_write().await?;
        if let Some(duplicate) =
            replayed(&mut tx, actor, detail, "MergeCase", duplicate_id, now).await?
        {
            let original = fetch(&mut tx, original_id).await?;
            tx.commit().await?;
            return Ok((duplicate, original));
        }
        let mut duplicate = fetch(&mut tx, duplicate_id).await?;
        if detail
            .expected_version
            .is_some_and(|v| v != duplicate.version)
        {
            return Err(StoreError::Stale { what: "case" });
        }
        let mut original = fetch(&mut tx, original_id).await?;
        let from = duplicate.state;
        let to = Action::Merge
            .apply(from)
            .map_err(|description| precondition("cases", "CASE_STATE", description))?;
        if !original.state.is_open() {
            return Err(precondition(
                "cases",
                "MERGE",
                format!(
                    "the original case is {}: only an open case takes duplicates",
                    original.state.as_str()
                ),
            ));
        }
        if original.category_code != duplicate.category_code {
            return Err(precondition(
                "cases",
                "MERGE",
                "a duplicate has the category of the case it duplicates",
            ));
        }
        if let Some(waiting) = pending_request(&mut tx, duplicate_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let (duplicate_version, original_version) = (duplicate.version, original.version);
        duplicate.state = to;
        duplicate.duplicate_of = Some(original.id.clone());
        duplicate.closed_at = Some(now);
        duplicate.step_started_at = None;
        duplicate.step_due_at = None;
        duplicate.paused_at = None;
        save(&mut tx, &mut duplicate, duplicate_version, now).await?;
        save(&mut tx, &mut original, original_version, now).await?;
        // Each history names the other case, so either leads to both.
        let with_note = |text: String| {
            if detail.note.is_empty() {
                text
            } else {
                format!("{text}: {}", detail.note)
            }
        };
        record(
            &mut tx,
            duplicate_id,
            Entry {
                action: "merge",
                from,
                to,
                actor,
                note: &with_note(format!("duplicate of case {original_id}")),
                evidence: &[],
                org_id: &original.owner_org_id,
            },
            now,
        )
        .await?;
        record(
            &mut tx,
            original_id,
            Entry {
                action: "merge_in",
                from: original.state,
                to: original.state,
                actor,
                note: &with_note(format!("case {duplicate_id} merged in as a duplicate")),
                evidence: &[],
                org_id: &duplicate.owner_org_id,
            },
            now,
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::merged(&duplicate, &original),
        )
        .await?;
        tx.commit().await?;
        Ok((duplicate, original))
    }

    /// Records in a case's history that a joint meeting of the org service takes it up: once per
    /// meeting, however often it is told. False when it was recorded before.
    pub async fn record_meeting(
        &self,
        case_id: &str,
        meeting_id: &str,
        host_org_id: &str,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        let first = sqlx::query(
            "INSERT INTO grid_case_meetings (case_id, meeting_id) VALUES ($1, $2)
             ON CONFLICT (case_id, meeting_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(meeting_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            // A new version, as for any other entry, so that history numbers never collide.
            let read_version = case.version;
            save(&mut tx, &mut case, read_version, now).await?;
            record(
                &mut tx,
                case_id,
                Entry {
                    action: "meeting",
                    from: case.state,
                    to: case.state,
                    actor: "org",
                    note,
                    evidence: &[],
                    org_id: host_org_id,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(first)
    }
}
