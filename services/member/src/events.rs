//! The events the member service publishes through its outbox, as CloudEvents drafts whose
//! data is the protobuf of the resource concerned (members with personal numbers masked).

use jiceng_outbox::EventDraft;

use crate::{
    domain::{Member, points::LedgerEntry, transfers::Transfer},
    proto,
};

pub use jiceng_proto::event_types::{POINTS_APPROVED, STATUS_CHANGED, TRANSFER_REQUESTED};

/// A member reached a stage of the pipeline (or a final status).
pub fn status_changed(member: &Member) -> EventDraft {
    EventDraft::of(
        STATUS_CHANGED,
        &member.id,
        &proto::masked_member_to_proto(member),
    )
}

/// A transfer waits for the receiving org.
pub fn transfer_requested(transfer: &Transfer) -> EventDraft {
    EventDraft::of(
        TRANSFER_REQUESTED,
        &transfer.id,
        &proto::transfer_to_proto(transfer),
    )
}

/// Points counted towards a member's balance.
pub fn points_approved(entry: &LedgerEntry) -> EventDraft {
    EventDraft::of(POINTS_APPROVED, &entry.id, &proto::entry_to_proto(entry))
}
