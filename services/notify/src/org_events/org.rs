//! The org service's events: positions, joint meetings, their decisions and venue bookings.

use jiceng_org_client::OrgDirectory;
use jiceng_proto::{
    cloudevents::CloudEvent,
    event_types,
    org::{self as pb, PositionRole},
};

use super::{Outcome, Publication, RecipientSpec, secretary_of, vars};
use crate::domain::Priority;

/// The member who took up or left a position hears of it.
pub(super) async fn position_changed(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let position: pb::Position = event_types::data_of(event)?;
    let Some(pb::position::Holder::MemberId(member)) = &position.holder else {
        return Ok(None);
    };
    let change = if position.term_end.is_some() {
        "任期结束"
    } else {
        "任职开始"
    };
    Ok(Some(Publication {
        category: "org.position.changed",
        priority: Priority::Normal,
        variables: vars(&[
            ("unit", org.unit_name(&position.unit_id).await?),
            ("role", role_name(position.role).to_owned()),
            ("change", change.to_owned()),
        ]),
        link: format!("positions/{}", position.id),
        recipients: vec![RecipientSpec::Member(member.clone())],
    }))
}

/// The host's secretary hears of a meeting; an alliance hosts through its lead unit.
pub(super) async fn meeting_scheduled(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let meeting: pb::JointMeeting = event_types::data_of(event)?;
    let host_unit = match &meeting.host {
        Some(pb::joint_meeting::Host::HostUnitId(unit)) => unit.clone(),
        Some(pb::joint_meeting::Host::HostAllianceId(alliance)) => {
            org.alliance_lead(alliance).await?
        }
        None => return Ok(None),
    };
    let topic = match &meeting.topic {
        Some(pb::joint_meeting::Topic::TopicText(text)) => text.clone(),
        Some(pb::joint_meeting::Topic::GridCaseId(case)) => format!("网格案件 {case}"),
        None => String::new(),
    };
    Ok(Some(Publication {
        category: "org.meeting.scheduled",
        priority: Priority::Normal,
        variables: vars(&[
            ("title", meeting.title.clone()),
            ("host", org.unit_name(&host_unit).await?),
            ("topic", topic),
        ]),
        link: format!("meetings/{}", meeting.id),
        recipients: vec![secretary_of(&host_unit)],
    }))
}

/// `DECISION_DUE` and `DECISION_OVERDUE`: the owner unit's secretary hears of the deadline.
pub(super) async fn decision_deadline(event: &CloudEvent, org: &OrgDirectory) -> Outcome {
    let decision: pb::Decision = event_types::data_of(event)?;
    let overdue = event.r#type == event_types::DECISION_OVERDUE;
    Ok(Some(Publication {
        category: if overdue {
            "org.decision.overdue"
        } else {
            "org.decision.due"
        },
        priority: if overdue {
            Priority::Urgent
        } else {
            Priority::High
        },
        variables: vars(&[
            ("text", decision.text.clone()),
            ("owner", org.unit_name(&decision.owner_unit_id).await?),
        ]),
        link: format!("decisions/{}", decision.id),
        recipients: vec![secretary_of(&decision.owner_unit_id)],
    }))
}

/// `BOOKING_CONFIRMED` and `BOOKING_CANCELLED`: the booker hears of it, a member in person and
/// a unit through its secretary.
pub(super) async fn booking_outcome(event: &CloudEvent, _org: &OrgDirectory) -> Outcome {
    let booking: pb::Booking = event_types::data_of(event)?;
    let recipient = match &booking.booker {
        Some(pb::booking::Booker::MemberId(member)) => RecipientSpec::Member(member.clone()),
        Some(pb::booking::Booker::UnitId(unit)) => secretary_of(unit),
        None => return Ok(None),
    };
    let cancelled = event.r#type == event_types::BOOKING_CANCELLED;
    let mut variables = vars(&[("title", booking.title.clone())]);
    if cancelled {
        variables.insert("reason".into(), booking.cancel_reason.clone());
    }
    Ok(Some(Publication {
        category: if cancelled {
            "org.booking.cancelled"
        } else {
            "org.booking.confirmed"
        },
        priority: Priority::Normal,
        variables,
        link: format!("bookings/{}", booking.id),
        recipients: vec![recipient],
    }))
}

fn role_name(role: i32) -> &'static str {
    match PositionRole::try_from(role) {
        Ok(PositionRole::Secretary) => "书记",
        Ok(PositionRole::DeputySecretary) => "副书记",
        Ok(PositionRole::CommitteeMember) => "委员",
        Ok(PositionRole::PartTimeCommitteeMember) => "兼职委员",
        Ok(PositionRole::GridLeader) => "网格长",
        _ => "职务",
    }
}
