//! The grid service: grids and their staff, issue categories with time limits, and the case workflow with escalation up the org chain.
//!
//! `domain` holds the values, the case workflow with its clock rules and the working calendar,
//! `store` the SQL, `grpc` the protobuf adapter (authorisation and request parsing, one module
//! per gRPC service), `proto` the conversions between domain values and protobuf that `grpc`
//! and `events` share, `events` what it publishes.

pub mod domain;
pub mod events;
pub mod grpc;
mod metrics;
mod proto;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_db::{Migration, Migrations};
use jiceng_grpc::authenticated;
use jiceng_proto::grid::{
    case_service_server::CaseServiceServer, grid_service_server::GridServiceServer,
    project_service_server::ProjectServiceServer, wish_service_server::WishServiceServer,
};
use jiceng_service::{BuildError, Built, Context, Parts, Task};

pub use grpc::{CONSUMED_EVENTS, GridApi};
pub use store::{GridStore, ORG_PATH_HOLDERS};

pub static MIGRATIONS: Migrations = Migrations {
    component: "grid",
    steps: &[
        Migration {
            version: 1,
            name: "grids, staff, categories, calendar",
            postgres: include_str!("../migrations/postgres/0001_grids.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_grids.sql"),
        },
        Migration {
            version: 2,
            name: "cases, history, change requests",
            postgres: include_str!("../migrations/postgres/0002_cases.sql"),
            sqlite: include_str!("../migrations/sqlite/0002_cases.sql"),
        },
        Migration {
            version: 3,
            name: "micro-wishes",
            postgres: include_str!("../migrations/postgres/0003_wishes.sql"),
            sqlite: include_str!("../migrations/sqlite/0003_wishes.sql"),
        },
        Migration::portable(
            4,
            "a subtree's cases in time order",
            include_str!("../migrations/0004_case_lists.sql"),
        ),
        Migration::portable(
            5,
            "reporters' contacts, sealed",
            include_str!("../migrations/0005_reporter_contact.sql"),
        ),
        Migration::portable(
            6,
            "joint meetings about cases",
            include_str!("../migrations/0006_case_meetings.sql"),
        ),
        Migration {
            version: 7,
            name: "needs, resources and projects",
            postgres: include_str!("../migrations/postgres/0007_needs_resources_projects.sql"),
            sqlite: include_str!("../migrations/sqlite/0007_needs_resources_projects.sql"),
        },
        Migration::portable(
            8,
            "wish claim acceptance and fulfilment confirmation",
            include_str!("../migrations/0008_wish_confirmation.sql"),
        ),
        Migration::portable(
            9,
            "the end of an approved deferral",
            include_str!("../migrations/0009_deferred_until.sql"),
        ),
        Migration::portable(
            10,
            "request ids in one table of the shared shape, with their operation",
            include_str!("../migrations/0010_request_ids.sql"),
        ),
    ],
};

/// Cases a scan escalates at most per round.
pub(crate) const SCAN_BATCH: i64 = 500;

/// How often the grid service looks for cases past their step's time limit.
pub const OVERDUE_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// The grid service on `ctx`'s database: `GridService`, `CaseService`, `WishService` and
/// `ProjectService`, the consumer of org moves and meetings, and the overdue scanner.
pub fn build(ctx: &Context) -> Result<Built<GridStore>, BuildError> {
    let store = GridStore::new(ctx.db.clone(), ctx.source("grid"));
    let api = GridApi::new(
        store.clone(),
        ctx.org_for("grid")?,
        ctx.vault_for("grid")?,
        ctx.members.clone(),
    );
    let auth = &ctx.authenticator;
    let mut parts = Parts::consuming(CONSUMED_EVENTS, Arc::new(api.clone()), ORG_PATH_HOLDERS);
    parts
        .grpc
        .add(authenticated!(GridServiceServer::new(api.clone()), auth))
        .add(authenticated!(WishServiceServer::new(api.clone()), auth))
        .add(authenticated!(ProjectServiceServer::new(api.clone()), auth))
        .add(authenticated!(CaseServiceServer::new(api), auth));
    let scanned = store.clone();
    parts
        .tasks
        .push(Task::new("grid.overdue_scan", move |stopping| {
            scan_overdue(scanned, OVERDUE_SCAN_INTERVAL, stopping)
        }));
    Ok(Built { store, parts })
}

/// One round of escalation at `now`, as the scanner and `ScanOverdue` run it: up to
/// [`SCAN_BATCH`] overdue cases escalated, each counted for its street, and the overdue gauge
/// refreshed with what stays overdue afterwards.
pub(crate) async fn escalate_overdue(
    store: &GridStore,
    now: i64,
) -> store::Result<Vec<domain::case::Escalation>> {
    let escalations = store.escalate_overdue(now, SCAN_BATCH).await?;
    for escalation in &escalations {
        metrics::case_escalated(&escalation.street);
    }
    metrics::overdue_counted(store.overdue_by_street(now).await?);
    Ok(escalations)
}

/// Escalates overdue cases every `every` until `shutdown` completes. Several replicas may run
/// it at once: each missed deadline escalates a case once.
pub async fn scan_overdue(store: GridStore, every: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        // A full batch means more may wait: go again soon.
        let mut full = false;
        let started = std::time::Instant::now();
        let ok = match escalate_overdue(&store, store.now()).await {
            Ok(escalations) => {
                if !escalations.is_empty() {
                    full = escalations.len() as i64 == SCAN_BATCH;
                    tracing::info!(escalated = escalations.len(), "overdue cases escalated");
                }
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "overdue scan failed");
                false
            }
        };
        jiceng_telemetry::metrics::scanner_round("grid.overdue_scan", started.elapsed(), ok);
        if full {
            // A backlog drains at half speed: a pause as long as the batch took leaves the
            // database to the requests in between. The pause also lets a stopping process go.
            let pause = started.elapsed().min(every);
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => continue,
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
