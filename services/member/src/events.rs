//! The events the member service publishes through its outbox, as CloudEvents drafts whose
//! data is the protobuf of the resource concerned (members with personal numbers masked).

use jiceng_outbox::EventDraft;

use crate::{
    domain::points::LedgerEntry,
    grpc,
    store::{MemberRow, transfers::Transfer},
};

pub use jiceng_proto::event_types::{POINTS_APPROVED, STATUS_CHANGED, TRANSFER_REQUESTED};

/// A member reached a stage of the pipeline (or a final status).
pub fn status_changed(member: &MemberRow) -> EventDraft {
    EventDraft::of(
        STATUS_CHANGED,
        &member.id,
        &grpc::masked_member_to_proto(member),
    )
}

/// A transfer waits for the receiving org.
pub fn transfer_requested(transfer: &Transfer) -> EventDraft {
    EventDraft::of(
        TRANSFER_REQUESTED,
        &transfer.id,
        &grpc::transfer_to_proto(transfer),
    )
}

/// Points counted towards a member's balance.
pub fn points_approved(entry: &LedgerEntry) -> EventDraft {
    EventDraft::of(
        POINTS_APPROVED,
        &entry.id,
        &grpc::points::entry_to_proto(entry),
    )
}
