//! Conversions of the positions messages.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use crate::domain::{
    positions::{Holder, Position, PositionRole},
    text::Person,
};

const ROLES: &[(pb::PositionRole, PositionRole)] = &[
    (pb::PositionRole::Secretary, PositionRole::Secretary),
    (
        pb::PositionRole::DeputySecretary,
        PositionRole::DeputySecretary,
    ),
    (
        pb::PositionRole::CommitteeMember,
        PositionRole::CommitteeMember,
    ),
    (
        pb::PositionRole::PartTimeCommitteeMember,
        PositionRole::PartTimeCommitteeMember,
    ),
    (pb::PositionRole::GridLeader, PositionRole::GridLeader),
];

pub(crate) fn role_from_proto(value: i32) -> Result<PositionRole, &'static str> {
    ROLES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, r)| *r)
        .ok_or("must be a known position role")
}

pub(crate) fn role_to_proto(role: PositionRole) -> pb::PositionRole {
    ROLES
        .iter()
        .find(|(_, r)| *r == role)
        .map_or(pb::PositionRole::Unspecified, |(p, _)| *p)
}

pub(crate) fn position_to_proto(position: &Position) -> pb::Position {
    pb::Position {
        id: position.id.clone(),
        unit_id: position.unit_id.to_string(),
        role: role_to_proto(position.role) as i32,
        holder: Some(match &position.holder {
            Holder::Member(id) => pb::position::Holder::MemberId(id.clone()),
            Holder::Person(person) => pb::position::Holder::Person(person_to_proto(person)),
        }),
        stationed_unit_name: position.stationed_unit_name.clone().unwrap_or_default(),
        term_start: Some(timestamp(position.term_start)),
        term_end: position.term_end.map(timestamp),
        end_reason: position.end_reason.clone().unwrap_or_default(),
        create_time: Some(timestamp(position.created_at)),
    }
}

pub(crate) fn person_to_proto(person: &Person) -> pb::ExternalPerson {
    pb::ExternalPerson {
        name: person.name.clone(),
        unit_name: person.unit_name.clone(),
    }
}
