//! The events the grid service publishes through its outbox, as CloudEvents drafts whose data
//! is the protobuf of the case concerned.

use jiceng_outbox::EventDraft;
use jiceng_proto::grid as pb;

use crate::{
    domain::{
        case::{Case, Escalation},
        project::{Need, Project, Resource},
        wish::Wish,
    },
    proto::{
        cases::{case_to_proto, escalation_to_proto},
        projects::{need_to_proto, project_to_proto, resource_to_proto},
        wishes::masked_wish_to_proto,
    },
};

pub use jiceng_proto::event_types::{
    CASE_DISPATCHED, CASE_ESCALATED, CASE_MERGED, CASE_VERIFICATION_FAILED, PROJECT_PROPOSED,
    WISH_CLAIMED, WISH_CONFIRMED, WISH_FELLOWS_NAMED, WISH_FULFILLED,
};

/// A case was sent to a handling org.
pub fn dispatched(case: &Case) -> EventDraft {
    EventDraft::of(CASE_DISPATCHED, &case.id, &case_to_proto(case))
}

/// A handled case failed verification and went back to its handler.
pub fn verification_failed(case: &Case) -> EventDraft {
    EventDraft::of(CASE_VERIFICATION_FAILED, &case.id, &case_to_proto(case))
}

/// A case climbed a level for being overdue: both levels hear of it.
pub fn escalated(case: &Case, escalation: &Escalation) -> EventDraft {
    EventDraft::of(
        CASE_ESCALATED,
        &case.id,
        &pb::CaseEscalated {
            escalated_case: Some(case_to_proto(case)),
            escalation: Some(escalation_to_proto(escalation)),
        },
    )
}

/// A case was merged into the one it duplicates: both reporters hear of it.
pub fn merged(duplicate: &Case, original: &Case) -> EventDraft {
    EventDraft::of(
        CASE_MERGED,
        &duplicate.id,
        &pb::CaseMerged {
            duplicate: Some(case_to_proto(duplicate)),
            original: Some(case_to_proto(original)),
        },
    )
}

/// One side proposed matching a need with a resource: the other side hears of it.
pub fn project_proposed(project: &Project, need: &Need, resource: &Resource) -> EventDraft {
    EventDraft::of(
        PROJECT_PROPOSED,
        &project.id,
        &pb::ProjectProposed {
            project: Some(project_to_proto(project)),
            need: Some(need_to_proto(need)),
            resource: Some(resource_to_proto(resource)),
        },
    )
}

/// A micro-wish was claimed: its collecting org hears who will fulfil it.
pub fn wish_claimed(wish: &Wish) -> EventDraft {
    EventDraft::of(WISH_CLAIMED, &wish.id, &masked_wish_to_proto(wish))
}

/// A member claimed a micro-wish naming fellow members: each hears of it, to accept or decline.
pub fn wish_fellows_named(wish: &Wish) -> EventDraft {
    EventDraft::of(WISH_FELLOWS_NAMED, &wish.id, &masked_wish_to_proto(wish))
}

/// A micro-wish was fulfilled: its collecting org hears of it, to confirm. The resident's
/// details travel masked.
pub fn wish_fulfilled(wish: &Wish) -> EventDraft {
    EventDraft::of(WISH_FULFILLED, &wish.id, &masked_wish_to_proto(wish))
}

/// The collecting org confirmed a micro-wish's fulfilment: the claiming member and the fellow
/// members who accepted earn points (the wish's `accepted_member_ids`).
pub fn wish_confirmed(wish: &Wish) -> EventDraft {
    EventDraft::of(WISH_CONFIRMED, &wish.id, &masked_wish_to_proto(wish))
}
