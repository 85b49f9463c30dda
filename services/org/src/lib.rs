//! The org service: the district's organisation tree, its kind schema, scope checks and audit trail.
//!
//! Beyond the tree it keeps what hangs off units: positions, alliances, joint meetings and the
//! three meetings of residential projects, venues and bookings. `domain` holds the values and
//! rules, `store` the SQL, `grpc` the protobuf adapter (one module per gRPC service), `events`
//! the events published through the outbox.

pub mod domain;
pub mod events;
pub mod grid_cases;
pub mod grpc;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_auth::Authenticator;
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{GrpcServer, server::MAX_MESSAGE_BYTES};
use jiceng_member_client::MemberRoll;
use jiceng_proto::org::{
    alliance_service_server::AllianceServiceServer, meeting_service_server::MeetingServiceServer,
    org_service_server::OrgServiceServer, position_service_server::PositionServiceServer,
    venue_service_server::VenueServiceServer,
};
use tonic::service::interceptor::InterceptedService;

pub use grid_cases::GridCases;
pub use grpc::{AllianceApi, MeetingApi, OrgApi, PositionApi, VenueApi};
pub use store::OrgStore;

/// The org service's own tables (it also runs [`jiceng_outbox::MIGRATIONS`]).
pub static MIGRATIONS: Migrations = Migrations {
    component: "org",
    steps: &[
        Migration {
            version: 1,
            name: "tree, kind rules, audit, request ids",
            postgres: include_str!("../migrations/postgres/0001_tree.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_tree.sql"),
        },
        Migration {
            version: 2,
            name: "positions, alliances, meetings, projects, venues, bookings",
            postgres: include_str!(
                "../migrations/postgres/0002_positions_alliances_meetings_venues.sql"
            ),
            sqlite: include_str!(
                "../migrations/sqlite/0002_positions_alliances_meetings_venues.sql"
            ),
        },
        Migration {
            version: 3,
            name: "the tree's generation, bumped by every change to a unit",
            postgres: include_str!("../migrations/postgres/0003_tree_generation.sql"),
            sqlite: include_str!("../migrations/sqlite/0003_tree_generation.sql"),
        },
        Migration {
            version: 4,
            name: "the generation of the tree's last move",
            postgres: include_str!("../migrations/postgres/0004_paths_generation.sql"),
            sqlite: include_str!("../migrations/sqlite/0004_paths_generation.sql"),
        },
    ],
};

/// Adds the org service's gRPC services to `server`, every call authenticated. Joint meetings
/// about a grid case check with `grid_cases` that it exists; without it they are refused.
pub fn add_services(
    server: &mut GrpcServer,
    store: &OrgStore,
    grid_cases: Option<GridCases>,
    members: Option<MemberRoll>,
    authenticator: &Arc<Authenticator>,
) {
    macro_rules! add {
        ($server:ident, $api:ident) => {
            server.add_service(InterceptedService::new(
                $server::new($api::new(store.clone()))
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES),
                authenticator.interceptor(),
            ));
        };
    }
    add!(OrgServiceServer, OrgApi);
    add!(PositionServiceServer, PositionApi);
    add!(AllianceServiceServer, AllianceApi);
    server.add_service(InterceptedService::new(
        MeetingServiceServer::new(MeetingApi::new(store.clone(), grid_cases))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
    server.add_service(InterceptedService::new(
        VenueServiceServer::new(VenueApi::new(store.clone(), members))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
}

/// How long before a decision's due time its owner is warned.
pub const DECISION_WARNING: Duration = Duration::from_secs(24 * 3600);

/// Publishes decision due and overdue events every `every` until `shutdown` completes.
pub async fn scan_decisions(store: OrgStore, every: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let warning = i64::try_from(DECISION_WARNING.as_millis()).unwrap_or(i64::MAX);
        match store.scan_decisions(store.now(), warning).await {
            Ok(0) => {}
            Ok(written) => tracing::info!(written, "decision due and overdue events written"),
            Err(err) => tracing::warn!(error = %err, "decision scan failed"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
