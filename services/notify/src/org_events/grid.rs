//! The grid service's events: cases, project matching and micro-wishes.

use jiceng_org_client::OrgDirectory;
use jiceng_proto::{cloudevents::CloudEvent, event_types, grid as pb};

use super::{Outcome, Publication, RecipientSpec, secretary_of, vars};
use crate::domain::Priority;

/// `CASE_DISPATCHED` and `CASE_VERIFICATION_FAILED`: the case is the handler's to work on, so
/// the handling unit's secretary hears of it.
pub(super) async fn case_to_handle(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let case: pb::Case = event_types::data_of(event)?;
    Ok(Some(Publication {
        category: if event.r#type == event_types::CASE_DISPATCHED {
            "grid.case.dispatched"
        } else {
            "grid.case.verification_failed"
        },
        priority: Priority::High,
        variables: vars(&[
            ("description", case.description.clone()),
            ("owner", org.unit_name(&case.owner_org_id).await?),
        ]),
        link: format!("cases/{}", case.id),
        recipients: vec![secretary_of(&case.handler_org_id)],
    }))
}

pub(super) async fn case_merged(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let merged: pb::CaseMerged = event_types::data_of(event)?;
    let (Some(duplicate), Some(original)) = (&merged.duplicate, &merged.original) else {
        return Ok(None);
    };
    // Both reporters hear of it once, even when they are the same person.
    let mut recipients = vec![RecipientSpec::Member(original.reporter.clone())];
    if duplicate.reporter != original.reporter {
        recipients.push(RecipientSpec::Member(duplicate.reporter.clone()));
    }
    Ok(Some(Publication {
        category: "grid.case.merged",
        priority: Priority::Normal,
        variables: vars(&[
            ("description", original.description.clone()),
            ("owner", org.unit_name(&original.owner_org_id).await?),
        ]),
        link: format!("cases/{}", original.id),
        recipients,
    }))
}

pub(super) async fn case_escalated(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let escalated: pb::CaseEscalated = event_types::data_of(event)?;
    let (Some(case), Some(escalation)) = (&escalated.escalated_case, &escalated.escalation) else {
        return Ok(None);
    };
    let step = match pb::Step::try_from(escalation.step) {
        Ok(pb::Step::Accept) => "立案",
        Ok(pb::Step::Dispatch) => "派遣",
        Ok(pb::Step::Handle) => "处置",
        Ok(pb::Step::Verify) => "核查",
        _ => "办理",
    };
    // Both levels hear of it: the one that let it lapse and the one it climbed to.
    let mut recipients = vec![secretary_of(&escalation.from_org_id)];
    if escalation.to_org_id != escalation.from_org_id {
        recipients.push(secretary_of(&escalation.to_org_id));
    }
    Ok(Some(Publication {
        category: "grid.case.escalated",
        priority: Priority::Urgent,
        variables: vars(&[
            ("description", case.description.clone()),
            ("owner", org.unit_name(&case.owner_org_id).await?),
            ("step", step.to_owned()),
            ("level", org.unit_name(&escalation.to_org_id).await?),
        ]),
        link: format!("cases/{}", case.id),
        recipients,
    }))
}

pub(super) async fn project_proposed(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let proposed: pb::ProjectProposed = event_types::data_of(event)?;
    let (Some(project), Some(need), Some(resource)) =
        (&proposed.project, &proposed.need, &proposed.resource)
    else {
        return Ok(None);
    };
    // The side that did not propose answers: the provider, or the community in need.
    let (proposer, recipient) = if project.proposed_by_side == pb::ProjectSide::Need as i32 {
        let recipient = if project.provider_org_id.is_empty() {
            RecipientSpec::Member(project.provider_member_id.clone())
        } else {
            secretary_of(&project.provider_org_id)
        };
        (org.unit_name(&need.org_id).await?, recipient)
    } else {
        let proposer = if project.provider_org_id.is_empty() {
            "一名党员".to_owned()
        } else {
            org.unit_name(&project.provider_org_id).await?
        };
        (proposer, secretary_of(&need.org_id))
    };
    Ok(Some(Publication {
        category: "grid.project.proposed",
        priority: Priority::Normal,
        variables: vars(&[
            ("title", project.title.clone()),
            ("proposer", proposer),
            ("resource", resource.title.clone()),
            ("need", need.title.clone()),
        ]),
        link: format!("projects/{}", project.id),
        recipients: vec![recipient],
    }))
}

/// The members a claimant named to share a wish are asked to take part.
pub(super) async fn wish_fellows_named(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let wish: pb::Wish = event_types::data_of(event)?;
    Ok(Some(Publication {
        category: "grid.wish.fellows_named",
        priority: Priority::Normal,
        variables: vars(&[
            ("title", wish.title.clone()),
            ("beneficiary", wish.beneficiary_name.clone()),
        ]),
        link: format!("wishes/{}", wish.id),
        recipients: wish
            .participant_member_ids
            .iter()
            .map(|member| RecipientSpec::Member(member.clone()))
            .collect(),
    }))
}

/// `WISH_CLAIMED` and `WISH_FULFILLED`: the secretary of the wish's unit follows it up.
pub(super) async fn wish_progress(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let wish: pb::Wish = event_types::data_of(event)?;
    Ok(Some(Publication {
        category: if event.r#type == event_types::WISH_CLAIMED {
            "grid.wish.claimed"
        } else {
            "grid.wish.fulfilled"
        },
        priority: Priority::Normal,
        variables: vars(&[
            ("title", wish.title.clone()),
            ("beneficiary", wish.beneficiary_name.clone()),
        ]),
        link: format!("wishes/{}", wish.id),
        recipients: vec![secretary_of(&wish.org_id)],
    }))
}
