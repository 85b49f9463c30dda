//! The events the property service publishes through its outbox: reminders before a
//! disclosure is due and notices once it is overdue.

use jiceng_outbox::EventDraft;
use jiceng_proto::property as pb;

use crate::{domain::compliance::DueItem, proto::disclosures::due_item_to_proto};

pub use jiceng_proto::event_types::{DISCLOSURE_DUE, DISCLOSURE_OVERDUE};

/// An item is due soon (or, with `overdue`, past due) and not yet disclosed: the company's
/// publishers hear of it, and of an overdue one the compound's committee too.
pub fn disclosure_due(
    item: &DueItem,
    compound_name: &str,
    committee_org_id: &str,
    publishers: &[String],
    overdue: bool,
) -> EventDraft {
    EventDraft::of(
        if overdue {
            DISCLOSURE_OVERDUE
        } else {
            DISCLOSURE_DUE
        },
        &format!(
            "{}/{}/{}",
            item.compound_id,
            item.kind.as_str(),
            item.period
        ),
        &pb::DisclosureDue {
            item: Some(due_item_to_proto(item)),
            compound_name: compound_name.to_owned(),
            committee_org_id: committee_org_id.to_owned(),
            publishers: publishers.to_vec(),
        },
    )
}
