//! Conversions of the case messages: cases, their history, change requests and escalations.

use jiceng_grpc::timestamp;
use jiceng_proto::grid as pb;

use super::{point_to_proto, to_proto};
use crate::domain::case::{
    Case, CaseState, ChangeRequest, Escalation, HistoryEvent, ReporterKind, RequestKind,
    RequestState, Step, Urgency,
};

pub(crate) const CASE_STATES: &[(pb::CaseState, CaseState)] = &[
    (pb::CaseState::Reported, CaseState::Reported),
    (pb::CaseState::Accepted, CaseState::Accepted),
    (pb::CaseState::Rejected, CaseState::Rejected),
    (pb::CaseState::Dispatched, CaseState::Dispatched),
    (pb::CaseState::InProgress, CaseState::InProgress),
    (pb::CaseState::Handled, CaseState::Handled),
    (pb::CaseState::Verified, CaseState::Verified),
    (pb::CaseState::Closed, CaseState::Closed),
    (pb::CaseState::Evaluated, CaseState::Evaluated),
    (pb::CaseState::Backlog, CaseState::Backlog),
    (pb::CaseState::Merged, CaseState::Merged),
];

pub(crate) const URGENCIES: &[(pb::Urgency, Urgency)] = &[
    (pb::Urgency::Normal, Urgency::Normal),
    (pb::Urgency::Urgent, Urgency::Urgent),
    (pb::Urgency::Critical, Urgency::Critical),
];

pub(crate) const REPORTER_KINDS: &[(pb::ReporterKind, ReporterKind)] = &[
    (pb::ReporterKind::GridWorker, ReporterKind::GridWorker),
    (
        pb::ReporterKind::PartyRepresentative,
        ReporterKind::PartyRepresentative,
    ),
    (pb::ReporterKind::Resident, ReporterKind::Resident),
    (pb::ReporterKind::System, ReporterKind::System),
];

pub(crate) const CHANGE_KINDS: &[(pb::ChangeKind, RequestKind)] = &[
    (pb::ChangeKind::Return, RequestKind::Return),
    (pb::ChangeKind::Extension, RequestKind::Extension),
    (pb::ChangeKind::Deferral, RequestKind::Deferral),
    (pb::ChangeKind::Backlog, RequestKind::Backlog),
];

const CHANGE_STATES: &[(pb::ChangeState, RequestState)] = &[
    (pb::ChangeState::Pending, RequestState::Pending),
    (pb::ChangeState::Approved, RequestState::Approved),
    (pb::ChangeState::Rejected, RequestState::Rejected),
];

pub(crate) fn state_to_proto(state: CaseState) -> pb::CaseState {
    to_proto(CASE_STATES, state, pb::CaseState::Unspecified)
}

fn step_to_proto(step: Step) -> pb::Step {
    match step {
        Step::Accept => pb::Step::Accept,
        Step::Dispatch => pb::Step::Dispatch,
        Step::Handle => pb::Step::Handle,
        Step::Verify => pb::Step::Verify,
    }
}

pub(crate) fn case_to_proto(case: &Case) -> pb::Case {
    pb::Case {
        id: case.id.clone(),
        category_code: case.category_code.clone(),
        urgency: to_proto(URGENCIES, case.urgency, pb::Urgency::Unspecified) as i32,
        description: case.description.clone(),
        attributes: case.attributes.clone().into_iter().collect(),
        location: case.location.as_ref().map(point_to_proto),
        address: case.address.clone(),
        grid_id: case.grid_id.clone().unwrap_or_default(),
        owner_org_id: case.owner_org_id.clone(),
        reporter_kind: to_proto(
            REPORTER_KINDS,
            case.reporter_kind,
            pb::ReporterKind::Unspecified,
        ) as i32,
        reporter: case.reporter.clone(),
        source: case.source.clone(),
        external_id: case.external_id.clone(),
        attachment_urls: case.attachments.clone(),
        state: state_to_proto(case.state) as i32,
        handler_org_id: case.handler_org_id.clone(),
        step: case
            .state
            .step()
            .map_or(pb::Step::Unspecified, step_to_proto) as i32,
        step_due_time: case
            .step_due_at
            .filter(|_| case.paused_at.is_none())
            .map(timestamp),
        overall_due_time: case.overall_due_at.map(timestamp),
        clock_stopped: case.paused_at.is_some(),
        deferred_until: case.deferred_until.map(timestamp),
        escalation_level: i32::try_from(case.escalation_level).unwrap_or(i32::MAX),
        escalated_org_id: case.escalated_org_id.clone(),
        satisfaction: case
            .satisfaction
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or_default(),
        evaluation_comment: case.evaluation.clone(),
        etag: jiceng_grpc::etag_of(case.version),
        create_time: Some(timestamp(case.created_at)),
        update_time: Some(timestamp(case.updated_at)),
        close_time: case.closed_at.map(timestamp),
        reporter_contact: case.contact_masked.clone(),
        duplicate_of_case_id: case.duplicate_of.clone().unwrap_or_default(),
    }
}

pub(crate) fn escalation_to_proto(escalation: &Escalation) -> pb::Escalation {
    pb::Escalation {
        case_id: escalation.case_id.clone(),
        step: step_to_proto(escalation.step) as i32,
        from_org_id: escalation.from_org_id.clone(),
        to_org_id: escalation.to_org_id.clone(),
        level: i32::try_from(escalation.level).unwrap_or(i32::MAX),
    }
}

pub(crate) fn request_to_proto(request: &ChangeRequest) -> pb::ChangeRequest {
    pb::ChangeRequest {
        id: request.id.clone(),
        case_id: request.case_id.clone(),
        kind: to_proto(CHANGE_KINDS, request.kind, pb::ChangeKind::Unspecified) as i32,
        reason: request.reason.clone(),
        extension_minutes: request.minutes.unwrap_or_default(),
        defer_until: request.until.map(timestamp),
        state: to_proto(CHANGE_STATES, request.state, pb::ChangeState::Unspecified) as i32,
        requested_by: request.requested_by.clone(),
        decided_by: request.decided_by.clone(),
        decision_note: request.decision_note.clone(),
        request_time: Some(timestamp(request.requested_at)),
    }
}

pub(crate) fn history_event_to_proto(event: &HistoryEvent) -> pb::CaseEvent {
    pb::CaseEvent {
        seq: i32::try_from(event.seq).unwrap_or(i32::MAX),
        action: event.action.clone(),
        from_state: state_to_proto(event.from_state) as i32,
        to_state: state_to_proto(event.to_state) as i32,
        actor: event.actor.clone(),
        note: event.note.clone(),
        org_id: event.org_id.clone(),
        trace_id: event.trace_id.clone(),
        time: Some(timestamp(event.at)),
        evidence_urls: event.evidence.clone(),
    }
}
