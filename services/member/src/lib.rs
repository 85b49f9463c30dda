//! The member service: party members with sealed personal data, the development pipeline with its history, and the points ledger.
//!
//! `domain` holds the values and the pipeline's rules, `store` the SQL, `grpc` the protobuf
//! adapter; personal numbers are sealed and indexed with `jiceng-pii`.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod store;

use std::sync::Arc;

use jiceng_auth::Authenticator;
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{GrpcServer, server::MAX_MESSAGE_BYTES};
use jiceng_proto::member::{
    member_service_server::MemberServiceServer, points_service_server::PointsServiceServer,
};
use tonic::service::interceptor::InterceptedService;

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

/// Adds `MemberService` and `PointsService` to `server`, every call authenticated. The
/// `EventSinkService` that [`MemberApi`] also implements is added by the process.
pub fn add_services(server: &mut GrpcServer, api: MemberApi, authenticator: &Arc<Authenticator>) {
    server.add_service(InterceptedService::new(
        PointsServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
    server.add_service(InterceptedService::new(
        MemberServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
}
