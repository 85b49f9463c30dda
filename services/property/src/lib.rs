//! The property service: companies and compounds, typed disclosures in a signed RFC 6962 transparency log.
//!
//! `domain` holds the values (credentials, periods, disclosure contents that must add up, the
//! log entry), `store` the SQL (companies and compounds; `store/log.rs` disclosures and the
//! Merkle log with its signed heads), `grpc` the protobuf adapter. The hashing and proofs are
//! `jiceng-merkle`'s.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod store;

use std::sync::Arc;

use jiceng_auth::Authenticator;
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{GrpcServer, server::MAX_MESSAGE_BYTES};
use jiceng_proto::property::{
    disclosure_service_server::DisclosureServiceServer,
    linkage_service_server::LinkageServiceServer, property_service_server::PropertyServiceServer,
};
use tonic::service::interceptor::InterceptedService;

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
        Migration {
            version: 3,
            name: "reminders and overdue notices sent",
            postgres: include_str!("../migrations/postgres/0003_notices.sql"),
            sqlite: include_str!("../migrations/sqlite/0003_notices.sql"),
        },
        Migration {
            version: 4,
            name: "three-party linkage: meetings, decisions, assessments, orders",
            postgres: include_str!("../migrations/postgres/0004_linkage.sql"),
            sqlite: include_str!("../migrations/sqlite/0004_linkage.sql"),
        },
    ],
};

/// Adds `PropertyService`, `DisclosureService` and `LinkageService` to `server`, every call
/// authenticated.
pub fn add_services(server: &mut GrpcServer, api: PropertyApi, authenticator: &Arc<Authenticator>) {
    server.add_service(InterceptedService::new(
        PropertyServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
    server.add_service(InterceptedService::new(
        LinkageServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
    server.add_service(InterceptedService::new(
        DisclosureServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
}

/// How far ahead a reminder goes out: three days before an item is due.
pub const REMINDER_LEAD: std::time::Duration = std::time::Duration::from_secs(3 * 86_400);

/// Sends reminders and overdue notices every `every` until `shutdown` completes. Several
/// replicas may run it at once: each item is announced once.
pub async fn announce_due(
    store: PropertyStore,
    every: std::time::Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let lead = i64::try_from(REMINDER_LEAD.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store.announce_due(store.now(), lead).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "disclosure reminders and notices sent"),
            Err(err) => tracing::warn!(error = %err, "disclosure reminders failed"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
