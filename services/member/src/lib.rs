//! The member service: party members with sealed personal data, the development pipeline with its history, and the points ledger.
//!
//! `domain` holds the entities, values and the pipeline's rules, `store` the SQL that persists
//! them, `grpc` the protobuf adapter (authorisation, request validation, error mapping), `proto`
//! the conversions between domain values and protobuf messages that `grpc` and `events` (the
//! events published through the outbox) share; personal numbers are sealed and indexed with
//! `jiceng-pii`.

pub mod domain;
pub mod events;
pub mod grpc;
mod proto;
pub mod store;

use std::sync::Arc;

use jiceng_db::{Migration, Migrations};
use jiceng_grpc::authenticated;
use jiceng_proto::member::{
    member_service_server::MemberServiceServer, points_service_server::PointsServiceServer,
};
use jiceng_service::{BuildError, Built, Context, Parts};

pub use grpc::{CONSUMED_EVENTS, MemberApi};
pub use jiceng_pii::PiiVault;
pub use store::{MemberStore, ORG_PATH_HOLDERS};

pub static MIGRATIONS: Migrations = Migrations {
    component: "member",
    steps: &[
        Migration::portable(
            1,
            "members, status history, request ids",
            include_str!("../migrations/0001_members.sql"),
        ),
        Migration::portable(
            2,
            "points rules, ledger, balances",
            include_str!("../migrations/0002_points.sql"),
        ),
        Migration::portable(
            3,
            "transfers",
            include_str!("../migrations/0003_transfers.sql"),
        ),
        Migration::portable(
            4,
            "dual registration, service hours, commitments",
            include_str!("../migrations/0004_community.sql"),
        ),
        Migration::portable(
            5,
            "activities and attendees",
            include_str!("../migrations/0005_activities.sql"),
        ),
        Migration {
            version: 6,
            name: "org paths of members",
            postgres: include_str!("../migrations/postgres/0006_org_paths.sql"),
            sqlite: include_str!("../migrations/sqlite/0006_org_paths.sql"),
        },
        Migration {
            version: 7,
            name: "org paths of balances",
            postgres: include_str!("../migrations/postgres/0007_balance_paths.sql"),
            sqlite: include_str!("../migrations/sqlite/0007_balance_paths.sql"),
        },
        Migration::portable(
            8,
            "request ids in the shared shape, with their operation",
            include_str!("../migrations/0008_request_ids.sql"),
        ),
    ],
};

/// The member service on `ctx`'s database: `MemberService` and `PointsService`, and the
/// consumer of the events that move members (org moves, attendance credited as activities).
pub fn build(ctx: &Context) -> Result<Built<MemberStore>, BuildError> {
    let store = MemberStore::new(ctx.db.clone(), ctx.source("member"));
    let api = MemberApi::new(
        store.clone(),
        ctx.vault_for("member")?,
        ctx.org_for("member")?,
    );
    let auth = &ctx.authenticator;
    let mut parts = Parts::consuming(CONSUMED_EVENTS, Arc::new(api.clone()), ORG_PATH_HOLDERS);
    parts
        .grpc
        .add(authenticated!(PointsServiceServer::new(api.clone()), auth))
        .add(authenticated!(MemberServiceServer::new(api), auth));
    Ok(Built { store, parts })
}
