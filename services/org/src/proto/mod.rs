//! Conversions between the org service's domain values and its protobuf messages, used by the
//! gRPC adapter and by the events the service publishes. One module per gRPC service, like
//! `grpc/`; this one holds units, kinds and levels, which they share.

pub(crate) mod alliances;
pub(crate) mod meetings;
pub(crate) mod positions;
pub(crate) mod tree;
pub(crate) mod venues;
pub(crate) mod witness;

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use crate::domain::{Level, Unit, UnitId, UnitKind, UnitStatus};

/// The one table between the protobuf enum and the domain's kinds.
const KINDS: &[(pb::UnitKind, UnitKind)] = &[
    (pb::UnitKind::CityCommittee, UnitKind::CityCommittee),
    (pb::UnitKind::DistrictCommittee, UnitKind::DistrictCommittee),
    (
        pb::UnitKind::StreetWorkingCommittee,
        UnitKind::StreetWorkingCommittee,
    ),
    (pb::UnitKind::TownCommittee, UnitKind::TownCommittee),
    (
        pb::UnitKind::ResidentialCommittee,
        UnitKind::ResidentialCommittee,
    ),
    (pb::UnitKind::VillageCommittee, UnitKind::VillageCommittee),
    (pb::UnitKind::GeneralBranch, UnitKind::GeneralBranch),
    (pb::UnitKind::Branch, UnitKind::Branch),
    (pb::UnitKind::PartyGroup, UnitKind::PartyGroup),
    (pb::UnitKind::BuildingBranch, UnitKind::BuildingBranch),
    (pb::UnitKind::EnterpriseBranch, UnitKind::EnterpriseBranch),
    (
        pb::UnitKind::SocialOrganisationBranch,
        UnitKind::SocialOrganisationBranch,
    ),
    (pb::UnitKind::GridCommandCentre, UnitKind::GridCommandCentre),
    (pb::UnitKind::Enterprise, UnitKind::Enterprise),
    (pb::UnitKind::StationedUnit, UnitKind::StationedUnit),
    (pb::UnitKind::ServiceTeam, UnitKind::ServiceTeam),
    (pb::UnitKind::BusinessDistrict, UnitKind::BusinessDistrict),
    (pb::UnitKind::ConstructionSite, UnitKind::ConstructionSite),
    (pb::UnitKind::VillagerGroup, UnitKind::VillagerGroup),
    (pb::UnitKind::BuildingGroup, UnitKind::BuildingGroup),
    (pb::UnitKind::Department, UnitKind::Department),
    (pb::UnitKind::Workshop, UnitKind::Workshop),
    (
        pb::UnitKind::PartyMassServiceCentre,
        UnitKind::PartyMassServiceCentre,
    ),
    (
        pb::UnitKind::PartyMassServiceStation,
        UnitKind::PartyMassServiceStation,
    ),
];

pub(crate) fn kind_from_proto(value: i32) -> Result<UnitKind, &'static str> {
    KINDS
        .iter()
        .find(|(proto, _)| *proto as i32 == value)
        .map(|(_, kind)| *kind)
        .ok_or("must be a known unit kind")
}

pub(crate) fn kind_to_proto(kind: UnitKind) -> pb::UnitKind {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(pb::UnitKind::Unspecified, |(proto, _)| *proto)
}

pub(crate) fn kinds_from_proto(values: &[i32]) -> Result<Vec<UnitKind>, &'static str> {
    let mut kinds = values
        .iter()
        .map(|v| kind_from_proto(*v))
        .collect::<Result<Vec<_>, _>>()?;
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

pub(crate) fn level_to_proto(level: Level) -> pb::Level {
    match level {
        Level::City => pb::Level::City,
        Level::District => pb::Level::District,
        Level::Street => pb::Level::Street,
        Level::Community => pb::Level::Community,
        Level::Branch => pb::Level::Branch,
        Level::Grid => pb::Level::Grid,
    }
}

pub(crate) fn unit_to_proto(unit: &Unit) -> pb::Unit {
    pb::Unit {
        id: unit.id.to_string(),
        parent_id: unit
            .parent_id
            .as_ref()
            .map(UnitId::to_string)
            .unwrap_or_default(),
        kind: kind_to_proto(unit.kind) as i32,
        level: level_to_proto(unit.kind.level()) as i32,
        name: unit.name.as_str().to_owned(),
        code: unit
            .code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        status: match unit.status {
            UnitStatus::Active => pb::UnitStatus::Active,
            UnitStatus::Dissolved => pb::UnitStatus::Dissolved,
        } as i32,
        depth: i32::try_from(unit.depth).unwrap_or(i32::MAX),
        etag: jiceng_grpc::etag_of(unit.version),
        create_time: Some(timestamp(unit.created_at)),
        update_time: Some(timestamp(unit.updated_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_kind_has_one_protobuf_kind() {
        for &kind in UnitKind::ALL {
            let proto = kind_to_proto(kind);
            assert_ne!(proto, pb::UnitKind::Unspecified, "{kind:?}");
            assert_eq!(kind_from_proto(proto as i32), Ok(kind));
        }
        assert!(kind_from_proto(0).is_err());
        assert!(kind_from_proto(999).is_err());
    }
}
