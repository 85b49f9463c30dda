//! The member service's events: development status, transfers and points.

use jiceng_org_client::OrgDirectory;
use jiceng_proto::{cloudevents::CloudEvent, event_types, member as pb};

use super::{Outcome, Publication, RecipientSpec, secretary_of, vars};
use crate::domain::Priority;

/// The member hears of reaching a stage of development; other statuses call for nothing.
pub(super) async fn status_changed(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let member: pb::Member = event_types::data_of(event)?;
    let status = match pb::MemberStatus::try_from(member.status) {
        Ok(pb::MemberStatus::Activist) => "入党积极分子",
        Ok(pb::MemberStatus::DevelopmentTarget) => "发展对象",
        Ok(pb::MemberStatus::Probationary) => "预备党员",
        Ok(pb::MemberStatus::Full) => "正式党员",
        _ => return Ok(None),
    };
    Ok(Some(Publication {
        category: "member.status.changed",
        priority: Priority::Normal,
        variables: vars(&[("name", member.name.clone()), ("status", status.to_owned())]),
        link: format!("members/{}", member.id),
        recipients: vec![RecipientSpec::Member(member.id.clone())],
    }))
}

/// The receiving unit's secretary hears of a transfer to accept.
pub(super) async fn transfer_requested(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let transfer: pb::Transfer = event_types::data_of(event)?;
    Ok(Some(Publication {
        category: "member.transfer.requested",
        priority: Priority::High,
        variables: vars(&[("unit", org.unit_name(&transfer.to_org_id).await?)]),
        link: format!("transfers/{}", transfer.id),
        recipients: vec![secretary_of(&transfer.to_org_id)],
    }))
}

pub(super) async fn points_approved(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let entry: pb::LedgerEntry = event_types::data_of(event)?;
    Ok(Some(Publication {
        category: "member.points.approved",
        priority: Priority::Low,
        variables: vars(&[
            ("points", entry.amount.to_string()),
            ("reason", entry.reason.clone()),
        ]),
        link: format!("ledger/{}", entry.id),
        recipients: vec![RecipientSpec::Member(entry.member_id.clone())],
    }))
}
