//! The platform through its public gRPC API, one module per area, in one test binary so that the
//! suite links once: the authorization matrix of every service and the attacks on it, each
//! service's workflows on both databases, bad input, outages, events and traces across services,
//! and the commands (`seed`, `up --demo`) a platform engineer runs. The scenarios that install
//! telemetry, once per process, are binaries of their own beside this one.

// The matrix's `row!` is used by the modules below it.
#[macro_use]
mod authz;
mod common;

mod authz_abuse;
mod authz_grid;
mod authz_grid_projects;
mod authz_member;
mod authz_notify;
mod authz_org;
mod authz_property;
mod bad_input;
mod demo;
mod events;
mod grid;
mod http_json;
mod idempotency;
mod integration_guide;
mod members;
mod migrations;
mod notify;
mod org_api;
mod org_records;
mod outage;
mod pgbouncer;
mod platform;
mod postgres_tls;
mod property;
mod seed;
mod statements;
