//! The org service: the district's organisation tree, its kind schema, scope checks and audit trail.
//!
//! `domain` holds the values and rules, `store` the SQL, `grpc` the protobuf adapter.

pub mod domain;
pub mod grpc;
pub mod store;

use std::sync::Arc;

use jiceng_auth::{AuthInterceptor, Authenticator};
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::server::MAX_MESSAGE_BYTES;
use jiceng_proto::org::org_service_server::OrgServiceServer;
use tonic::service::interceptor::InterceptedService;

pub use grpc::OrgApi;
pub use store::OrgStore;

/// The org service's own tables (it also runs [`jiceng_outbox::MIGRATIONS`]).
pub static MIGRATIONS: Migrations = Migrations {
    component: "org",
    steps: &[Migration {
        version: 1,
        name: "tree, kind rules, audit, request ids",
        postgres: include_str!("../migrations/postgres/0001_tree.sql"),
        sqlite: include_str!("../migrations/sqlite/0001_tree.sql"),
    }],
};

/// The gRPC service, every call authenticated.
pub fn service(
    store: OrgStore,
    authenticator: &Arc<Authenticator>,
) -> InterceptedService<OrgServiceServer<OrgApi>, AuthInterceptor> {
    let server = OrgServiceServer::new(OrgApi::new(store))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    InterceptedService::new(server, authenticator.interceptor())
}
