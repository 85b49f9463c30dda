//! The property service: companies and compounds, typed disclosures in a signed RFC 6962 transparency log.
//!
//! `domain` holds the values and their rules (credentials, periods, disclosure contents that must
//! add up, the log entry, when items are due, three-party linkage), `store` the SQL (companies
//! and compounds; `store/log.rs` disclosures and the Merkle log with its signed heads), `grpc` the
//! gRPC adapter (one module per gRPC service: authorisation, request checks, error mapping),
//! `proto` the conversions between domain values and protobuf messages that `grpc` and `events`
//! share, and `events` the events published through the outbox. The hashing and proofs are
//! `jiceng-merkle`'s.

pub mod domain;
pub mod events;
pub mod grpc;
mod proto;
pub mod store;
pub mod witness;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_db::{Migration, Migrations};
use jiceng_grpc::authenticated;
use jiceng_merkle::LogSigner;
use jiceng_proto::property::{
    disclosure_service_server::DisclosureServiceServer,
    linkage_service_server::LinkageServiceServer, property_service_server::PropertyServiceServer,
};
use jiceng_service::{BuildError, Built, Context, Parts, Task};

pub use grpc::{CONSUMED_EVENTS, PropertyApi};
pub use store::{ORG_PATH_HOLDERS, PropertyStore};

pub static MIGRATIONS: Migrations = Migrations {
    component: "property",
    steps: &[
        Migration {
            version: 1,
            name: "companies, compounds, disclosures, the transparency log",
            postgres: include_str!(
                "../migrations/postgres/0001_companies_compounds_disclosures.sql"
            ),
            sqlite: include_str!("../migrations/sqlite/0001_companies_compounds_disclosures.sql"),
        },
        Migration {
            version: 2,
            name: "disclosure schedules",
            postgres: include_str!("../migrations/postgres/0002_schedules.sql"),
            sqlite: include_str!("../migrations/sqlite/0002_schedules.sql"),
        },
        Migration::portable(
            3,
            "reminders and overdue notices sent",
            include_str!("../migrations/0003_notices.sql"),
        ),
        Migration {
            version: 4,
            name: "three-party linkage: meetings, decisions, assessments, orders",
            postgres: include_str!("../migrations/postgres/0004_linkage.sql"),
            sqlite: include_str!("../migrations/sqlite/0004_linkage.sql"),
        },
        Migration::portable(
            5,
            "request ids in the shared shape, with their operation",
            include_str!("../migrations/0005_request_ids.sql"),
        ),
    ],
};

/// How often the property service looks for disclosures coming due or overdue.
pub const DISCLOSURE_SCAN_INTERVAL: Duration = Duration::from_secs(3_600);

/// The property service on `ctx`'s database, its log's tree heads signed by `signer`:
/// `PropertyService`, `DisclosureService` and `LinkageService`, the consumer of org moves, the
/// scanner that sends disclosure reminders and overdue notices, and the log's witnessing by the
/// org service ([`witness`]).
pub fn build(ctx: &Context, signer: LogSigner) -> Result<Built<PropertyStore>, BuildError> {
    let store = PropertyStore::new(ctx.db.clone(), signer, ctx.district.clone());
    let org = ctx.org_for("property")?;
    let api = PropertyApi::new(store.clone(), org.clone(), ctx.vault_for("property")?);
    let auth = &ctx.authenticator;
    let mut parts = Parts::consuming(CONSUMED_EVENTS, Arc::new(api.clone()), ORG_PATH_HOLDERS);
    parts
        .grpc
        .add(authenticated!(
            PropertyServiceServer::new(api.clone()),
            auth
        ))
        .add(authenticated!(LinkageServiceServer::new(api.clone()), auth))
        .add(authenticated!(DisclosureServiceServer::new(api), auth));
    let scanned = store.clone();
    parts
        .tasks
        .push(Task::new("property.disclosure_scan", move |stopping| {
            announce_due(scanned, DISCLOSURE_SCAN_INTERVAL, stopping)
        }));
    let witnessed = store.clone();
    parts
        .tasks
        .push(Task::new("property.log_witness", move |stopping| {
            // From the moment the service starts, appends wait for the first comparison with
            // the witness; a tool writing through the store before (the demo loader) does not.
            witnessed.await_witness();
            witness::keep_witnessed(witnessed, org, witness::WITNESS_INTERVAL, stopping)
        }));
    Ok(Built { store, parts })
}

/// How far ahead a reminder goes out: three days before an item is due.
pub const REMINDER_LEAD: Duration = Duration::from_secs(3 * 86_400);

/// Sends reminders and overdue notices every `every` until `shutdown` completes. Several
/// replicas may run it at once: each item is announced once.
async fn announce_due(store: PropertyStore, every: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let lead = i64::try_from(REMINDER_LEAD.as_millis()).unwrap_or(i64::MAX);
    loop {
        let started = std::time::Instant::now();
        let ok = match store.announce_due(store.now(), lead).await {
            Ok(0) => true,
            Ok(sent) => {
                tracing::info!(sent, "disclosure reminders and notices sent");
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "disclosure reminders failed");
                false
            }
        };
        jiceng_telemetry::metrics::scanner_round("property.disclosure_scan", started.elapsed(), ok);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
