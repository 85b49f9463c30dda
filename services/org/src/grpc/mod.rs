//! The gRPC adapter: authorises each call, parses requests into domain values (through
//! [`crate::proto`]'s conversions) and maps store errors to statuses. No SQL and no business
//! rules live here.
//!
//! One module per gRPC service of the `jiceng.org.v1` package; this one holds what they share:
//! scope checks and the mutation context.

mod alliances;
mod meetings;
mod positions;
mod tree;
mod venues;
mod witness;

use jiceng_auth::{Caller, Role};
pub(crate) use jiceng_grpc::millis_of;
use tonic::Status;

use crate::{
    domain::{RequestId, Unit, UnitId},
    store::{Mutation, OrgStore, StoreError},
};

pub use alliances::AllianceApi;
pub use meetings::MeetingApi;
pub use positions::PositionApi;
pub use tree::OrgApi;
pub use venues::VenueApi;
pub use witness::WitnessApi;

/// Roles that may change the tree inside their scope.
pub(crate) const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

pub(crate) fn mutation(caller: &Caller, request_id: Option<RequestId>) -> Mutation {
    Mutation {
        actor: caller.subject.clone(),
        request_id,
        trace_id: jiceng_telemetry::current_trace_id(),
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
