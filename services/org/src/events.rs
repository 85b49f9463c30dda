//! The events the org service publishes through its outbox, as CloudEvents drafts whose data is
//! the protobuf of the resource concerned. The types are stable names consumers subscribe to.

use jiceng_outbox::EventDraft;

use crate::{
    domain::{
        Unit, UnitId,
        meetings::{Decision, JointMeeting},
        positions::Position,
        venues::Booking,
    },
    proto,
};
use jiceng_proto::org as pb;

pub use jiceng_proto::event_types::{
    ATTENDANCE_RECORDED, BOOKING_CANCELLED, BOOKING_CONFIRMED, DECISION_DUE, DECISION_OVERDUE,
    MEETING_SCHEDULED, POSITION_CHANGED, UNIT_MOVED,
};

/// A unit moved with its subtree; `tree_generation` is the generation the move committed at.
pub fn unit_moved(
    unit: &Unit,
    old_parent: &UnitId,
    new_parent: &UnitId,
    tree_generation: i64,
) -> EventDraft {
    let event = pb::UnitMovedEvent {
        unit_id: unit.id.to_string(),
        old_parent_id: old_parent.to_string(),
        new_parent_id: new_parent.to_string(),
        tree_generation,
    };
    EventDraft::of(UNIT_MOVED, unit.id.as_str(), &event)
}

/// A term began or ended.
pub fn position_changed(position: &Position) -> EventDraft {
    EventDraft::of(
        POSITION_CHANGED,
        &position.id,
        &proto::positions::position_to_proto(position),
    )
}

pub fn meeting_scheduled(meeting: &JointMeeting) -> EventDraft {
    EventDraft::of(
        MEETING_SCHEDULED,
        &meeting.id,
        &proto::meetings::meeting_to_proto(meeting),
    )
}

/// A decision comes due soon, or (`overdue`) is past due and still open.
pub fn decision_due(decision: &Decision, overdue: bool) -> EventDraft {
    let event_type = if overdue {
        DECISION_OVERDUE
    } else {
        DECISION_DUE
    };
    EventDraft::of(
        event_type,
        &decision.id,
        &proto::meetings::decision_to_proto(decision),
    )
}

/// A booking was confirmed or cancelled, or its attendance recorded (`event_type`).
pub fn booking(event_type: &str, booking: &Booking) -> EventDraft {
    EventDraft::of(
        event_type,
        &booking.id,
        &proto::venues::booking_to_proto(booking),
    )
}
