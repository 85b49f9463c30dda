//! How a case and its history and change requests are laid out in their tables: column lists,
//! the rows read by them, and the columns a report binds.

use std::collections::BTreeMap;

use sqlx::{
    Any, Encode, Type,
    any::AnyArguments,
    query::{QueryAs, QueryScalar},
};

use super::NewCase;
use crate::{
    domain::{
        Point,
        case::{
            Case, CaseState, ChangeRequest, HistoryEvent, ReporterKind, RequestKind, RequestState,
            Urgency,
        },
    },
    store::{Result, StoreError},
};

pub(super) const CASE_COLUMNS: &str = "id, category_code, urgency, description, attributes, latitude, longitude, address, \
    grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id, attachments, state, \
    handler_org_id, handled_by, step_started_at, step_due_at, overall_due_at, paused_at, escalation_level, \
    escalated_org_id, satisfaction, evaluation, version, created_at, updated_at, closed_at, contact_sealed, \
    contact_masked, duplicate_of, deferred_until";

/// A row of `grid_cases` as read: its fields are the columns of [`CASE_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(super) struct CaseRow {
    id: String,
    category_code: String,
    urgency: String,
    description: String,
    attributes: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    address: String,
    grid_id: Option<String>,
    owner_org_id: String,
    org_path: String,
    reporter_kind: String,
    reporter: String,
    source: String,
    external_id: String,
    attachments: String,
    state: String,
    handler_org_id: String,
    handled_by: String,
    step_started_at: Option<i64>,
    step_due_at: Option<i64>,
    overall_due_at: Option<i64>,
    paused_at: Option<i64>,
    escalation_level: i64,
    escalated_org_id: String,
    satisfaction: Option<i64>,
    evaluation: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    closed_at: Option<i64>,
    contact_sealed: Option<String>,
    contact_masked: String,
    duplicate_of: Option<String>,
    deferred_until: Option<i64>,
}

pub(super) const HISTORY_COLUMNS: &str =
    "seq, action, from_state, to_state, actor, note, evidence, org_id, trace_id, at";

/// A row of `grid_case_history` as read: its fields are the columns of [`HISTORY_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(super) struct HistoryRow {
    seq: i64,
    action: String,
    from_state: String,
    to_state: String,
    actor: String,
    note: String,
    evidence: String,
    org_id: String,
    trace_id: String,
    at: i64,
}

pub(super) const REQUEST_COLUMNS: &str = "id, case_id, kind, reason, minutes, until_at, state, requested_by, decided_by, \
    decision_note, requested_at";

/// A row of `grid_case_requests` as read: its fields are the columns of [`REQUEST_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    id: String,
    case_id: String,
    kind: String,
    reason: String,
    minutes: Option<i64>,
    until_at: Option<i64>,
    state: String,
    requested_by: String,
    decided_by: String,
    decision_note: String,
    requested_at: i64,
}

impl NewCase {
    /// The reporter's contact as its two columns: sealed (or NULL) and masked (or empty).
    pub(super) fn contact_columns(&self) -> (Option<String>, String) {
        match &self.contact {
            Some((sealed, masked)) => (Some(sealed.clone()), masked.clone()),
            None => (None, String::new()),
        }
    }
}

/// A case's INSERT, reading back what it wrote: a report reads the case ([`CaseRow`]), an
/// import the ids.
pub(super) trait Insert<'q>: Sized {
    fn bind<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self;
}

impl<'q> Insert<'q> for QueryAs<'q, Any, CaseRow, AnyArguments> {
    fn bind<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self {
        QueryAs::bind(self, value)
    }
}

impl<'q> Insert<'q> for QueryScalar<'q, Any, String, AnyArguments> {
    fn bind<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self {
        QueryScalar::bind(self, value)
    }
}

/// Binds what a report says of a case, `category_code` to `attachments` in the column order of
/// a case's INSERT: a report and an import write the same columns.
pub(super) fn bind_reported<'q, Q: Insert<'q>>(query: Q, new: &'q NewCase) -> Q {
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

impl TryFrom<CaseRow> for Case {
    type Error = StoreError;

    fn try_from(row: CaseRow) -> Result<Self> {
        let bad = |what: &str| StoreError::corrupt(format!("case {what}"));
        let attributes: BTreeMap<String, String> =
            serde_json::from_str(&row.attributes).map_err(|_| bad("attributes"))?;
        Ok(Case {
            id: row.id,
            category_code: row.category_code,
            urgency: Urgency::parse(&row.urgency).ok_or_else(|| bad("urgency"))?,
            description: row.description,
            attributes,
            location: row
                .latitude
                .zip(row.longitude)
                .map(|(latitude, longitude)| Point {
                    latitude,
                    longitude,
                }),
            address: row.address,
            grid_id: row.grid_id,
            owner_org_id: row.owner_org_id,
            org_path: row.org_path,
            reporter_kind: ReporterKind::parse(&row.reporter_kind)
                .ok_or_else(|| bad("reporter kind"))?,
            reporter: row.reporter,
            source: row.source,
            external_id: row.external_id,
            attachments: json_strings(&row.attachments).ok_or_else(|| bad("attachments"))?,
            state: CaseState::parse(&row.state).ok_or_else(|| bad("state"))?,
            handler_org_id: row.handler_org_id,
            handled_by: row.handled_by,
            step_started_at: row.step_started_at,
            step_due_at: row.step_due_at,
            overall_due_at: row.overall_due_at,
            paused_at: row.paused_at,
            escalation_level: row.escalation_level,
            escalated_org_id: row.escalated_org_id,
            satisfaction: row.satisfaction,
            evaluation: row.evaluation,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
            contact_sealed: row.contact_sealed,
            contact_masked: row.contact_masked,
            duplicate_of: row.duplicate_of,
            deferred_until: row.deferred_until,
        })
    }
}

impl TryFrom<HistoryRow> for HistoryEvent {
    type Error = StoreError;

    fn try_from(row: HistoryRow) -> Result<Self> {
        let state =
            |text: &str| CaseState::parse(text).ok_or_else(|| StoreError::corrupt("history state"));
        Ok(HistoryEvent {
            seq: row.seq,
            action: row.action,
            from_state: state(&row.from_state)?,
            to_state: state(&row.to_state)?,
            actor: row.actor,
            note: row.note,
            evidence: json_strings(&row.evidence)
                .ok_or_else(|| StoreError::corrupt("history evidence"))?,
            org_id: row.org_id,
            trace_id: row.trace_id,
            at: row.at,
        })
    }
}

impl TryFrom<RequestRow> for ChangeRequest {
    type Error = StoreError;

    fn try_from(row: RequestRow) -> Result<Self> {
        Ok(ChangeRequest {
            id: row.id,
            case_id: row.case_id,
            kind: RequestKind::parse(&row.kind)
                .ok_or_else(|| StoreError::corrupt("request kind"))?,
            reason: row.reason,
            minutes: row.minutes,
            until: row.until_at,
            state: RequestState::parse(&row.state)
                .ok_or_else(|| StoreError::corrupt("request state"))?,
            requested_by: row.requested_by,
            decided_by: row.decided_by,
            decision_note: row.decision_note,
            requested_at: row.requested_at,
        })
    }
}
