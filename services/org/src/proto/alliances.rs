//! Conversions of the alliances messages.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use crate::domain::alliances::{Alliance, AllianceKind, AllianceMember, AllianceMemberRef};

const KINDS: &[(pb::AllianceKind, AllianceKind)] = &[
    (pb::AllianceKind::StreetBlock, AllianceKind::StreetBlock),
    (pb::AllianceKind::Building, AllianceKind::Building),
    (
        pb::AllianceKind::ServiceCentreNetwork,
        AllianceKind::ServiceCentreNetwork,
    ),
    (
        pb::AllianceKind::PromotionAssociation,
        AllianceKind::PromotionAssociation,
    ),
];

pub(crate) fn kind_from_proto(value: i32) -> Result<AllianceKind, &'static str> {
    KINDS
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, k)| *k)
        .ok_or("must be a known alliance kind")
}

pub(crate) fn kind_to_proto(kind: AllianceKind) -> pb::AllianceKind {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(pb::AllianceKind::Unspecified, |(p, _)| *p)
}

pub(crate) fn alliance_to_proto(alliance: &Alliance) -> pb::Alliance {
    pb::Alliance {
        id: alliance.id.clone(),
        name: alliance.name.clone(),
        kind: kind_to_proto(alliance.kind) as i32,
        lead_unit_id: alliance.lead_unit_id.to_string(),
        description: alliance.description.clone(),
        current_member_count: i32::try_from(alliance.current_member_count).unwrap_or(i32::MAX),
        create_time: Some(timestamp(alliance.created_at)),
    }
}

pub(crate) fn member_to_proto(member: &AllianceMember) -> pb::AllianceMember {
    pb::AllianceMember {
        id: member.id.clone(),
        alliance_id: member.alliance_id.clone(),
        member: Some(match &member.member {
            AllianceMemberRef::Unit(unit) => pb::alliance_member::Member::UnitId(unit.to_string()),
            AllianceMemberRef::Organisation { name, credit_code } => {
                pb::alliance_member::Member::Organisation(pb::ExternalOrganisation {
                    name: name.clone(),
                    credit_code: credit_code.as_str().to_owned(),
                })
            }
        }),
        join_time: Some(timestamp(member.joined_at)),
        leave_time: member.left_at.map(timestamp),
        leave_reason: member.leave_reason.clone().unwrap_or_default(),
    }
}
