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
use jiceng_service::{BuildError, Built, Consumer, Context, Parts};

pub use grpc::{CONSUMED_EVENTS, MemberApi};
pub use jiceng_pii::PiiVault;
pub use store::{MemberStore, ORG_PATH_HOLDERS};

pub static MIGRATIONS: Migrations = Migrations {
    component: "member",
    steps: &[
        Migration {
            version: 1,
            name: "members, status history, request ids",
            postgres: include_str!("../migrations/postgres/0001_members.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_members.sql"),
        },
        Migration {
            version: 2,
            name: "points rules, ledger, balances",
            postgres: include_str!("../migrations/postgres/0002_points.sql"),
            sqlite: include_str!("../migrations/sqlite/0002_points.sql"),
        },
        Migration {
            version: 3,
            name: "transfers",
            postgres: include_str!("../migrations/postgres/0003_transfers.sql"),
            sqlite: include_str!("../migrations/sqlite/0003_transfers.sql"),
        },
        Migration {
            version: 4,
            name: "dual registration, service hours, commitments",
            postgres: include_str!("../migrations/postgres/0004_community.sql"),
            sqlite: include_str!("../migrations/sqlite/0004_community.sql"),
        },
        Migration {
            version: 5,
            name: "activities and attendees",
            postgres: include_str!("../migrations/postgres/0005_activities.sql"),
            sqlite: include_str!("../migrations/sqlite/0005_activities.sql"),
        },
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
    let mut parts = Parts {
        consumer: Some(Consumer {
            event_types: CONSUMED_EVENTS,
            sink: Arc::new(api.clone()),
        }),
        path_holders: ORG_PATH_HOLDERS,
        ..Parts::default()
    };
    parts
        .grpc
        .add(authenticated!(PointsServiceServer::new(api.clone()), auth))
        .add(authenticated!(MemberServiceServer::new(api), auth));
    Ok(Built { store, parts })
}
