//! Conversions between the grid service's values and its protobuf messages, used by the gRPC
//! adapter and by the events the service publishes. One module per gRPC service, like `grpc/`;
//! this one holds grids, staff, categories and the table lookups they all use.

pub(crate) mod cases;
pub(crate) mod projects;
pub(crate) mod wishes;

use jiceng_grpc::timestamp;
use jiceng_proto::grid as pb;

use crate::domain::{
    Grid, Layer, Point, Staff, StaffRole,
    calendar::ClockKind,
    category::{AttributeKind, Category, Limits},
};

/// Looks a proto enum value up in a table of pairs.
pub(crate) fn from_proto<P: Copy + Into<i32>, D: Copy>(table: &[(P, D)], value: i32) -> Option<D> {
    table
        .iter()
        .find(|(p, _)| (*p).into() == value)
        .map(|(_, d)| *d)
}

/// The proto enum value of a domain value in a table of pairs; `unspecified` when it has none.
pub(crate) fn to_proto<P: Copy, D: Copy + PartialEq>(
    table: &[(P, D)],
    value: D,
    unspecified: P,
) -> P {
    table
        .iter()
        .find(|(_, d)| *d == value)
        .map_or(unspecified, |(p, _)| *p)
}

pub(crate) const LAYERS: &[(pb::Layer, Layer)] = &[
    (pb::Layer::CityManagement, Layer::CityManagement),
    (pb::Layer::SocialManagement, Layer::SocialManagement),
    (pb::Layer::PartyBuilding, Layer::PartyBuilding),
];

pub(crate) const STAFF_ROLES: &[(pb::StaffRole, StaffRole)] = &[
    (pb::StaffRole::Leader, StaffRole::Leader),
    (pb::StaffRole::Worker, StaffRole::Worker),
    (
        pb::StaffRole::PartyRepresentative,
        StaffRole::PartyRepresentative,
    ),
];

pub(crate) const ATTRIBUTE_KINDS: &[(pb::AttributeKind, AttributeKind)] = &[
    (pb::AttributeKind::Text, AttributeKind::Text),
    (pb::AttributeKind::Number, AttributeKind::Number),
    (pb::AttributeKind::Boolean, AttributeKind::Boolean),
    (pb::AttributeKind::Choice, AttributeKind::Choice),
];

pub(crate) const CLOCK_KINDS: &[(pb::ClockKind, ClockKind)] = &[
    (pb::ClockKind::Calendar, ClockKind::Calendar),
    (pb::ClockKind::Working, ClockKind::Working),
];

pub(crate) fn grid_to_proto(grid: &Grid) -> pb::Grid {
    pb::Grid {
        id: grid.id.clone(),
        code: grid.code.clone(),
        name: grid.name.clone(),
        layer: to_proto(LAYERS, grid.layer, pb::Layer::Unspecified) as i32,
        org_id: grid.org_id.clone(),
        polygon: grid.polygon.iter().map(point_to_proto).collect(),
        create_time: Some(timestamp(grid.created_at)),
    }
}

fn point_to_proto(point: &Point) -> pb::LatLng {
    pb::LatLng {
        latitude: point.latitude,
        longitude: point.longitude,
    }
}

pub(crate) fn staff_to_proto(staff: &Staff) -> pb::GridStaff {
    pb::GridStaff {
        grid_id: staff.grid_id.clone(),
        subject: staff.subject.clone(),
        name: staff.name.clone(),
        role: to_proto(STAFF_ROLES, staff.role, pb::StaffRole::Unspecified) as i32,
        since: Some(timestamp(staff.since)),
    }
}

fn limits_to_proto(limits: &Limits) -> pb::TimeLimits {
    pb::TimeLimits {
        accept_minutes: limits.accept,
        dispatch_minutes: limits.dispatch,
        handle_minutes: limits.handle,
        verify_minutes: limits.verify,
        overall_minutes: limits.overall,
    }
}

/// The limits as given; whether they are in range is the request's to check.
pub(crate) fn limits_from_proto(limits: &pb::TimeLimits) -> Limits {
    Limits {
        accept: limits.accept_minutes,
        dispatch: limits.dispatch_minutes,
        handle: limits.handle_minutes,
        verify: limits.verify_minutes,
        overall: limits.overall_minutes,
    }
}

pub(crate) fn category_to_proto(category: &Category) -> pb::Category {
    pb::Category {
        code: category.code.clone(),
        name: category.name.clone(),
        attributes: category
            .attributes
            .iter()
            .map(|a| pb::Attribute {
                code: a.code.clone(),
                name: a.name.clone(),
                kind: to_proto(ATTRIBUTE_KINDS, a.kind, pb::AttributeKind::Unspecified) as i32,
                required: a.required,
                choices: a.choices.clone(),
            })
            .collect(),
        default_handler_kind: category.default_handler_kind.clone(),
        clock: to_proto(CLOCK_KINDS, category.clock, pb::ClockKind::Unspecified) as i32,
        normal: Some(limits_to_proto(&category.limits[0])),
        urgent: Some(limits_to_proto(&category.limits[1])),
        critical: Some(limits_to_proto(&category.limits[2])),
    }
}
