//! The type of every CloudEvent the services send one another (`CloudEvent.type`), with the
//! message its `proto_data` carries, named once so that producer and consumers cannot drift
//! apart, and the one way a consumer reads an event's data. [`CATALOGUE`] lists them all with
//! what sets each off; `docs/api/EVENTS.md` is written from it.

use prost::Message;
use tonic::Status;

use crate::cloudevents::{CloudEvent, cloud_event::Data};

/// One type of event: its name, the full name of the message its data carries, and when it is
/// sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    pub data: &'static str,
    pub when: &'static str,
}

/// Declares each event type's constant and its [`CATALOGUE`] entry from one line, its doc
/// comment saying when it is sent.
macro_rules! event_types {
    ($(#[doc = $when:literal] $constant:ident = $name:literal carries $data:literal;)*) => {
        $(
            #[doc = $when]
            #[doc = ""]
            #[doc = concat!("Data: `", $data, "`.")]
            pub const $constant: &str = $name;
        )*
        /// Every event type the services send, in the order of the producing services.
        pub const CATALOGUE: &[EventType] = &[
            $(EventType { name: $name, data: $data, when: $when.trim_ascii() },)*
        ];
    };
}

event_types! {
    /// A unit moved with its subtree.
    UNIT_MOVED = "jiceng.org.v1.unit.moved" carries "jiceng.org.v1.UnitMovedEvent";
    /// A position was appointed, handed over or ended.
    POSITION_CHANGED = "jiceng.org.v1.position.changed" carries "jiceng.org.v1.Position";
    /// A joint meeting was scheduled.
    MEETING_SCHEDULED = "jiceng.org.v1.meeting.scheduled" carries "jiceng.org.v1.JointMeeting";
    /// A meeting's decision is due soon.
    DECISION_DUE = "jiceng.org.v1.decision.due" carries "jiceng.org.v1.Decision";
    /// A meeting's decision passed its due time undone.
    DECISION_OVERDUE = "jiceng.org.v1.decision.overdue" carries "jiceng.org.v1.Decision";
    /// A venue booking was confirmed.
    BOOKING_CONFIRMED = "jiceng.org.v1.booking.confirmed" carries "jiceng.org.v1.Booking";
    /// A venue booking was cancelled.
    BOOKING_CANCELLED = "jiceng.org.v1.booking.cancelled" carries "jiceng.org.v1.Booking";
    /// Who attended a booked activity was recorded.
    ATTENDANCE_RECORDED = "jiceng.org.v1.attendance.recorded" carries "jiceng.org.v1.Booking";

    /// A member reached a stage of the pipeline, personal data masked.
    STATUS_CHANGED = "jiceng.member.v1.status.changed" carries "jiceng.member.v1.Member";
    /// A member's transfer awaits the receiving org.
    TRANSFER_REQUESTED = "jiceng.member.v1.transfer.requested" carries "jiceng.member.v1.Transfer";
    /// Points were approved into a member's balance.
    POINTS_APPROVED = "jiceng.member.v1.points.approved" carries "jiceng.member.v1.LedgerEntry";

    /// A case was dispatched to a handling org.
    CASE_DISPATCHED = "jiceng.grid.v1.case.dispatched" carries "jiceng.grid.v1.Case";
    /// A case passed a time limit and went up a level.
    CASE_ESCALATED = "jiceng.grid.v1.case.escalated" carries "jiceng.grid.v1.CaseEscalated";
    /// A handled case failed verification and went back.
    CASE_VERIFICATION_FAILED = "jiceng.grid.v1.case.verification_failed" carries "jiceng.grid.v1.Case";
    /// A duplicate case was merged into the one it repeats.
    CASE_MERGED = "jiceng.grid.v1.case.merged" carries "jiceng.grid.v1.CaseMerged";
    /// A need and a resource were matched into a proposed project.
    PROJECT_PROPOSED = "jiceng.grid.v1.project.proposed" carries "jiceng.grid.v1.ProjectProposed";
    /// A micro-wish was claimed, personal data masked.
    WISH_CLAIMED = "jiceng.grid.v1.wish.claimed" carries "jiceng.grid.v1.Wish";
    /// A group claim named its fellow members, personal data masked.
    WISH_FELLOWS_NAMED = "jiceng.grid.v1.wish.fellows_named" carries "jiceng.grid.v1.Wish";
    /// A claimer reported a wish fulfilled, personal data masked.
    WISH_FULFILLED = "jiceng.grid.v1.wish.fulfilled" carries "jiceng.grid.v1.Wish";
    /// The collecting org confirmed a wish fulfilled, personal data masked.
    WISH_CONFIRMED = "jiceng.grid.v1.wish.confirmed" carries "jiceng.grid.v1.Wish";

    /// A compound's disclosure is due soon.
    DISCLOSURE_DUE = "jiceng.property.v1.disclosure.due" carries "jiceng.property.v1.DisclosureDue";
    /// A compound's disclosure passed its period unpublished.
    DISCLOSURE_OVERDUE = "jiceng.property.v1.disclosure.overdue" carries "jiceng.property.v1.DisclosureDue";
}

/// The catalogue's entry for `name`, when it is one of the platform's event types.
pub fn lookup(name: &str) -> Option<&'static EventType> {
    CATALOGUE.iter().find(|event| event.name == name)
}

/// An event's data as the message its type carries; INVALID_ARGUMENT, which the relay retries
/// and then parks, when the data is not that message in protobuf.
pub fn data_of<M: Message + Default>(event: &CloudEvent) -> Result<M, Status> {
    match &event.data {
        Some(Data::ProtoData(any)) => M::decode(any.value.as_slice())
            .map_err(|_| Status::invalid_argument("event data does not decode")),
        _ => Err(Status::invalid_argument("event data must be protobuf")),
    }
}
