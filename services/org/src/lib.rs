//! The org service: the district's organisation tree, its kind schema, scope checks and audit trail.
//!
//! Beyond the tree it keeps what hangs off units: positions, alliances, joint meetings and the
//! three meetings of residential projects, venues and bookings. `domain` holds the values and
//! rules, `store` the SQL, `grpc` the protobuf adapter (one module per gRPC service), `proto`
//! the conversions between domain values and protobuf that `grpc` and `events` share, and
//! `events` the events published through the outbox.

pub mod domain;
pub mod events;
pub mod grid_cases;
pub mod grpc;
pub mod proto;
pub mod store;

use std::{future::Future, time::Duration};

use jiceng_db::{Migration, Migrations};
use jiceng_grpc::authenticated;
use jiceng_proto::org::{
    alliance_service_server::AllianceServiceServer, meeting_service_server::MeetingServiceServer,
    org_service_server::OrgServiceServer, position_service_server::PositionServiceServer,
    venue_service_server::VenueServiceServer, witness_service_server::WitnessServiceServer,
};
use jiceng_service::{BuildError, Built, Context, Parts, Task};

pub use grid_cases::GridCases;
pub use grpc::{AllianceApi, MeetingApi, OrgApi, PositionApi, VenueApi, WitnessApi};
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
        Migration::portable(
            2,
            "positions, alliances, meetings, projects, venues, bookings",
            include_str!("../migrations/0002_positions_alliances_meetings_venues.sql"),
        ),
        Migration {
            version: 3,
            name: "the tree's generation, bumped by every change to a unit",
            postgres: include_str!("../migrations/postgres/0003_tree_generation.sql"),
            sqlite: include_str!("../migrations/sqlite/0003_tree_generation.sql"),
        },
        Migration::portable(
            4,
            "the generation of the tree's last move",
            include_str!("../migrations/0004_paths_generation.sql"),
        ),
        Migration::portable(
            5,
            "the witnessed heads of the platform's transparency logs",
            include_str!("../migrations/0005_log_witness.sql"),
        ),
    ],
};

/// How often the org service looks for decisions coming due or overdue.
pub const DECISION_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// The org service on `ctx`'s database: its six gRPC services (the tree, positions, alliances,
/// meetings, venues, and the witness of the platform's transparency logs) and the decision
/// scanner.
/// Joint meetings about a grid case check with the grid service that it exists; where grid runs
/// nowhere this process can reach, they are refused.
pub fn build(ctx: &Context) -> Result<Built<OrgStore>, BuildError> {
    let store = OrgStore::new(ctx.db.clone(), ctx.source("org"));
    let grid_cases = ctx
        .grid_endpoint
        .as_deref()
        .map(|uri| GridCases::new(uri, ctx.service_token.clone()))
        .transpose()
        .map_err(|e| BuildError(format!("grid endpoint: {}", e.message())))?;
    let auth = &ctx.authenticator;
    let mut parts = Parts::default();
    parts
        .grpc
        .add(authenticated!(
            OrgServiceServer::new(OrgApi::new(store.clone())),
            auth
        ))
        .add(authenticated!(
            PositionServiceServer::new(PositionApi::new(store.clone())),
            auth
        ))
        .add(authenticated!(
            AllianceServiceServer::new(AllianceApi::new(store.clone())),
            auth
        ))
        .add(authenticated!(
            MeetingServiceServer::new(MeetingApi::new(store.clone(), grid_cases)),
            auth
        ))
        .add(authenticated!(
            VenueServiceServer::new(VenueApi::new(store.clone(), ctx.members.clone())),
            auth
        ))
        .add(authenticated!(
            WitnessServiceServer::new(WitnessApi::new(store.clone())),
            auth
        ));
    let scanned = store.clone();
    parts
        .tasks
        .push(Task::new("org.decision_scan", move |stopping| {
            scan_decisions(scanned, DECISION_SCAN_INTERVAL, stopping)
        }));
    Ok(Built { store, parts })
}

/// How long before a decision's due time its owner is warned.
pub const DECISION_WARNING: Duration = Duration::from_secs(24 * 3600);

/// Publishes decision due and overdue events every `every` until `shutdown` completes.
async fn scan_decisions(store: OrgStore, every: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let warning = i64::try_from(DECISION_WARNING.as_millis()).unwrap_or(i64::MAX);
        let started = std::time::Instant::now();
        let ok = match store.scan_decisions(store.now(), warning).await {
            Ok(0) => true,
            Ok(written) => {
                tracing::info!(written, "decision due and overdue events written");
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "decision scan failed");
                false
            }
        };
        jiceng_telemetry::metrics::scanner_round("org.decision_scan", started.elapsed(), ok);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
