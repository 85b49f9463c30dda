//! The gRPC adapter: authorises each call, converts between protobuf and domain types, and maps
//! store errors to statuses. No SQL and no business rules live here.
//!
//! One module per gRPC service of the `jiceng.org.v1` package; this one holds what they share:
//! scope checks, conversions of units, kinds and times, and error mapping.

mod alliances;
pub(crate) mod meetings;
pub(crate) mod positions;
mod tree;
pub(crate) mod venues;

use jiceng_auth::{Caller, Role};
pub(crate) use jiceng_grpc::{millis_of, timestamp};
use jiceng_proto::org as pb;
use tonic::Status;

use crate::{
    domain::{Level, RequestId, Unit, UnitId, UnitKind, UnitStatus},
    store::{Mutation, OrgStore, StoreError},
};

pub use alliances::AllianceApi;
pub use meetings::MeetingApi;
pub use positions::PositionApi;
pub use tree::OrgApi;
pub use venues::VenueApi;

/// Roles that may change the tree inside their scope.
pub(crate) const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

pub(crate) fn mutation(caller: &Caller, request_id: Option<RequestId>) -> Mutation {
    Mutation {
        actor: caller.subject.clone(),
        request_id,
        trace_id: jiceng_telemetry::current_trace_id(),
    }
}

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

pub fn kind_from_proto(value: i32) -> Result<UnitKind, &'static str> {
    KINDS
        .iter()
        .find(|(proto, _)| *proto as i32 == value)
        .map(|(_, kind)| *kind)
        .ok_or("must be a known unit kind")
}

pub fn kind_to_proto(kind: UnitKind) -> pb::UnitKind {
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

fn level_to_proto(level: Level) -> pb::Level {
    match level {
        Level::City => pb::Level::City,
        Level::District => pb::Level::District,
        Level::Street => pb::Level::Street,
        Level::Community => pb::Level::Community,
        Level::Branch => pb::Level::Branch,
        Level::Grid => pb::Level::Grid,
    }
}

pub fn unit_to_proto(unit: &Unit) -> pb::Unit {
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

/// Loads a unit the caller may see: NOT_FOUND when it does not exist, PERMISSION_DENIED
/// when it lies outside the caller's subtree.
pub(crate) async fn visible_unit(
    store: &OrgStore,
    caller: &Caller,
    id: &UnitId,
) -> Result<Unit, Status> {
    let unit = store.get(id).await?;
    if caller.is_platform() || unit.is_within(&caller.scope_org) {
        Ok(unit)
    } else {
        Err(Status::permission_denied(
            "the unit is outside the caller's scope",
        ))
    }
}

/// The unit the caller's authority is rooted at: for the platform's own services, the root.
pub(crate) async fn scope_unit(store: &OrgStore, caller: &Caller) -> Result<Unit, Status> {
    if caller.is_platform() {
        return store
            .root()
            .await?
            .ok_or_else(|| Status::failed_precondition("the district has no root unit yet"));
    }
    let id = UnitId::parse(&caller.scope_org)
        .map_err(|_| Status::permission_denied("the token's scope org is not a unit id"))?;
    store.get(&id).await.map_err(|err| match err {
        StoreError::NotFound { .. } => {
            Status::permission_denied("the token's scope org does not exist")
        }
        other => Status::from(other),
    })
}

/// District-wide rules and records belong to district admins whose scope is the district root,
/// not to one scoped lower down.
pub(crate) async fn require_whole_district_admin(
    store: &OrgStore,
    caller: &Caller,
) -> Result<(), Status> {
    caller.require_any(&[Role::DistrictAdmin])?;
    if scope_unit(store, caller).await?.parent_id.is_some() {
        return Err(Status::permission_denied(
            "only an admin of the whole district may do this",
        ));
    }
    Ok(())
}

/// A unit an admin may restructure: strictly below their scope org.
pub(crate) async fn changeable_unit(
    store: &OrgStore,
    caller: &Caller,
    id: &UnitId,
) -> Result<Unit, Status> {
    let unit = visible_unit(store, caller, id).await?;
    if unit.id.as_str() == caller.scope_org {
        return Err(Status::permission_denied(
            "an admin cannot move or dissolve their own scope org",
        ));
    }
    Ok(unit)
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
