//! The type of every CloudEvent the services send one another (`CloudEvent.type`), with the
//! message its `proto_data` carries, named once so that producer and consumers cannot drift
//! apart, and the one way a consumer reads an event's data.

use prost::Message;
use tonic::Status;

use crate::cloudevents::{CloudEvent, cloud_event::Data};

/// A unit moved with its subtree: `org.v1.UnitMovedEvent`.
pub const UNIT_MOVED: &str = "jiceng.org.v1.unit.moved";
/// A position was appointed, handed over or ended: `org.v1.Position`.
pub const POSITION_CHANGED: &str = "jiceng.org.v1.position.changed";
/// A joint meeting was scheduled: `org.v1.JointMeeting`.
pub const MEETING_SCHEDULED: &str = "jiceng.org.v1.meeting.scheduled";
/// A meeting's decision is due soon: `org.v1.Decision`.
pub const DECISION_DUE: &str = "jiceng.org.v1.decision.due";
/// A meeting's decision passed its due time undone: `org.v1.Decision`.
pub const DECISION_OVERDUE: &str = "jiceng.org.v1.decision.overdue";
/// A venue booking was confirmed: `org.v1.Booking`.
pub const BOOKING_CONFIRMED: &str = "jiceng.org.v1.booking.confirmed";
/// A venue booking was cancelled: `org.v1.Booking`.
pub const BOOKING_CANCELLED: &str = "jiceng.org.v1.booking.cancelled";
/// Who attended a booked activity was recorded: `org.v1.Booking`.
pub const ATTENDANCE_RECORDED: &str = "jiceng.org.v1.attendance.recorded";

/// A member reached a stage of the pipeline: `member.v1.Member`, personal data masked.
pub const STATUS_CHANGED: &str = "jiceng.member.v1.status.changed";
/// A member's transfer awaits the receiving org: `member.v1.Transfer`.
pub const TRANSFER_REQUESTED: &str = "jiceng.member.v1.transfer.requested";
/// Points were approved into a member's balance: `member.v1.LedgerEntry`.
pub const POINTS_APPROVED: &str = "jiceng.member.v1.points.approved";

/// A case was dispatched to a handling org: `grid.v1.Case`.
pub const CASE_DISPATCHED: &str = "jiceng.grid.v1.case.dispatched";
/// A case passed a time limit and went up a level: `grid.v1.CaseEscalated`.
pub const CASE_ESCALATED: &str = "jiceng.grid.v1.case.escalated";
/// A handled case failed verification and went back: `grid.v1.Case`.
pub const CASE_VERIFICATION_FAILED: &str = "jiceng.grid.v1.case.verification_failed";
/// A duplicate case was merged into the one it repeats: `grid.v1.CaseMerged`.
pub const CASE_MERGED: &str = "jiceng.grid.v1.case.merged";
/// A need and a resource were matched into a proposed project: `grid.v1.ProjectProposed`.
pub const PROJECT_PROPOSED: &str = "jiceng.grid.v1.project.proposed";
/// A micro-wish was claimed: `grid.v1.Wish`, personal data masked.
pub const WISH_CLAIMED: &str = "jiceng.grid.v1.wish.claimed";
/// A group claim named its fellow members: `grid.v1.Wish`, personal data masked.
pub const WISH_FELLOWS_NAMED: &str = "jiceng.grid.v1.wish.fellows_named";
/// A claimer reported a wish fulfilled: `grid.v1.Wish`, personal data masked.
pub const WISH_FULFILLED: &str = "jiceng.grid.v1.wish.fulfilled";
/// The collecting org confirmed a wish fulfilled: `grid.v1.Wish`, personal data masked.
pub const WISH_CONFIRMED: &str = "jiceng.grid.v1.wish.confirmed";

/// A compound's disclosure is due soon: `property.v1.DisclosureDue`.
pub const DISCLOSURE_DUE: &str = "jiceng.property.v1.disclosure.due";
/// A compound's disclosure passed its period unpublished: `property.v1.DisclosureDue`.
pub const DISCLOSURE_OVERDUE: &str = "jiceng.property.v1.disclosure.overdue";

/// An event's data as the message its type carries; INVALID_ARGUMENT, which the relay retries
/// and then parks, when the data is not that message in protobuf.
pub fn data_of<M: Message + Default>(event: &CloudEvent) -> Result<M, Status> {
    match &event.data {
        Some(Data::ProtoData(any)) => M::decode(any.value.as_slice())
            .map_err(|_| Status::invalid_argument("event data does not decode")),
        _ => Err(Status::invalid_argument("event data must be protobuf")),
    }
}
