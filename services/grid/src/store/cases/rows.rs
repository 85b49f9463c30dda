//! How a case and its history and change requests are laid out in their tables: column lists,
//! row decoding, and the columns a report binds.

use std::collections::BTreeMap;

use sqlx::{Row as _, any::AnyRow};

use super::NewCase;
use crate::{
    domain::{
        Point,
        case::{
            Case, CaseState, ChangeRequest, HistoryEvent, ReporterKind, RequestKind, RequestState,
            Urgency,
        },
    },
    store::{Result, corrupt},
};

pub(super) const CASE_COLUMNS: &str = "id, category_code, urgency, description, attributes, latitude, longitude, address, \
    grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id, attachments, state, \
    handler_org_id, handled_by, step_started_at, step_due_at, overall_due_at, paused_at, escalation_level, \
    escalated_org_id, satisfaction, evaluation, version, created_at, updated_at, closed_at, contact_sealed, \
    contact_masked, duplicate_of, deferred_until";

pub(super) const REQUEST_COLUMNS: &str = "id, case_id, kind, reason, minutes, until_at, state, requested_by, decided_by, \
    decision_note, requested_at";

impl NewCase {
    /// The reporter's contact as its two columns: sealed (or NULL) and masked (or empty).
    pub(super) fn contact_columns(&self) -> (Option<String>, String) {
        match &self.contact {
            Some((sealed, masked)) => (Some(sealed.clone()), masked.clone()),
            None => (None, String::new()),
        }
    }
}

/// Binds what a report says of a case, `category_code` to `attachments` in the column order of
/// a case's INSERT: a report and an import write the same columns.
pub(super) fn bind_reported<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    new: &'q NewCase,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&new.category_code)
        .bind(new.urgency.as_str())
        .bind(&new.description)
        .bind(serde_json::to_string(&new.attributes).unwrap_or_else(|_| "{}".into()))
        .bind(new.location.map(|p| p.latitude))
        .bind(new.location.map(|p| p.longitude))
        .bind(&new.address)
        .bind(new.grid_id.as_deref())
        .bind(&new.owner_org_id)
        .bind(new.org_path.as_str())
        .bind(new.reporter_kind.as_str())
        .bind(&new.reporter)
        .bind(&new.source)
        .bind(&new.external_id)
        .bind(serde_json::to_string(&new.attachments).unwrap_or_else(|_| "[]".into()))
}

fn json_strings(text: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).ok()
}

pub(super) fn case_from_row(row: &AnyRow) -> Result<Case> {
    let bad = |what: &str| corrupt(&format!("case {what}"));
    let attributes: String = row.try_get(4)?;
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&attributes).map_err(|_| bad("attributes"))?;
    let (latitude, longitude): (Option<f64>, Option<f64>) = (row.try_get(5)?, row.try_get(6)?);
    let attachments: String = row.try_get(15)?;
    let urgency: String = row.try_get(2)?;
    let reporter_kind: String = row.try_get(11)?;
    let state: String = row.try_get(16)?;
    Ok(Case {
        id: row.try_get(0)?,
        category_code: row.try_get(1)?,
        urgency: Urgency::parse(&urgency).ok_or_else(|| bad("urgency"))?,
        description: row.try_get(3)?,
        attributes,
        location: latitude.zip(longitude).map(|(latitude, longitude)| Point {
            latitude,
            longitude,
        }),
        address: row.try_get(7)?,
        grid_id: row.try_get(8)?,
        owner_org_id: row.try_get(9)?,
        org_path: row.try_get(10)?,
        reporter_kind: ReporterKind::parse(&reporter_kind).ok_or_else(|| bad("reporter kind"))?,
        reporter: row.try_get(12)?,
        source: row.try_get(13)?,
        external_id: row.try_get(14)?,
        attachments: json_strings(&attachments).ok_or_else(|| bad("attachments"))?,
        state: CaseState::parse(&state).ok_or_else(|| bad("state"))?,
        handler_org_id: row.try_get(17)?,
        handled_by: row.try_get(18)?,
        step_started_at: row.try_get(19)?,
        step_due_at: row.try_get(20)?,
        overall_due_at: row.try_get(21)?,
        paused_at: row.try_get(22)?,
        escalation_level: row.try_get(23)?,
        escalated_org_id: row.try_get(24)?,
        satisfaction: row.try_get(25)?,
        evaluation: row.try_get(26)?,
        version: row.try_get(27)?,
        created_at: row.try_get(28)?,
        updated_at: row.try_get(29)?,
        closed_at: row.try_get(30)?,
        contact_sealed: row.try_get(31)?,
        contact_masked: row.try_get(32)?,
        duplicate_of: row.try_get(33)?,
        deferred_until: row.try_get(34)?,
    })
}

pub(super) fn history_from_row(row: &AnyRow) -> Result<HistoryEvent> {
    let state = |index: usize| -> Result<CaseState> {
        let text: String = row.try_get(index)?;
        CaseState::parse(&text).ok_or_else(|| corrupt("history state"))
    };
    let evidence: String = row.try_get(6)?;
    Ok(HistoryEvent {
        seq: row.try_get(0)?,
        action: row.try_get(1)?,
        from_state: state(2)?,
        to_state: state(3)?,
        actor: row.try_get(4)?,
        note: row.try_get(5)?,
        evidence: json_strings(&evidence).ok_or_else(|| corrupt("history evidence"))?,
        org_id: row.try_get(7)?,
        trace_id: row.try_get(8)?,
        at: row.try_get(9)?,
    })
}

pub(super) fn request_from_row(row: &AnyRow) -> Result<ChangeRequest> {
    let kind: String = row.try_get(2)?;
    let state: String = row.try_get(6)?;
    Ok(ChangeRequest {
        id: row.try_get(0)?,
        case_id: row.try_get(1)?,
        kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("request kind"))?,
        reason: row.try_get(3)?,
        minutes: row.try_get(4)?,
        until: row.try_get(5)?,
        state: RequestState::parse(&state).ok_or_else(|| corrupt("request state"))?,
        requested_by: row.try_get(7)?,
        decided_by: row.try_get(8)?,
        decision_note: row.try_get(9)?,
        requested_at: row.try_get(10)?,
    })
}
