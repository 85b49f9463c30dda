//! The property service: companies and compounds, typed disclosures in a signed RFC 6962 transparency log.
//!
//! `domain` holds the values (credentials, periods, disclosure contents that must add up, the
//! log entry), `store` the SQL (companies and compounds; `store/log.rs` disclosures and the
//! Merkle log with its signed heads), `grpc` the protobuf adapter. The hashing and proofs are
//! `jiceng-merkle`'s.

pub mod domain;
pub mod grpc;
pub mod store;

use std::sync::Arc;

use jiceng_auth::Authenticator;
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{GrpcServer, server::MAX_MESSAGE_BYTES};
use jiceng_proto::property::{
    disclosure_service_server::DisclosureServiceServer,
    property_service_server::PropertyServiceServer,
};
use tonic::service::interceptor::InterceptedService;

pub use grpc::PropertyApi;
pub use store::PropertyStore;

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
    ],
};

/// Adds `PropertyService` and `DisclosureService` to `server`, every call authenticated.
pub fn add_services(server: &mut GrpcServer, api: PropertyApi, authenticator: &Arc<Authenticator>) {
    server.add_service(InterceptedService::new(
        PropertyServiceServer::new(api.clone())
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
