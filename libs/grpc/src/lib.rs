//! The gRPC kit: server assembly, client channels with retries, status helpers, page tokens
//! and timestamps.

mod access_log;
pub mod client;
mod deadline;
pub mod etag;
pub mod page;
mod required;
mod rpc_metrics;
pub mod server;
mod server_span;
pub mod status;
pub mod time;

pub use client::{
    RetryPolicy, TracedChannel, bearer, channel, connection_broke, housekeeping_channel,
    is_housekeeping, with_retries,
};
pub use etag::{etag_of, version_in, version_of};
pub use page::{PageRequest, page_size, time_cursor, time_cursor_of};
pub use required::RequiredFields;
pub use rpc_metrics::ClientMetrics;
pub use server::{GrpcServer, GrpcServices, LIVENESS, ServerOptions, shutdown_signal};
pub use status::FieldViolations;
pub use time::{millis_of, timestamp};

/// The platform service a gRPC path belongs to: `org` for `/jiceng.org.v1.OrgService/CreateUnit`;
/// none for what is not the platform's own (health, reflection).
pub(crate) fn platform_service(path: &str) -> Option<&str> {
    path.strip_prefix("/jiceng.")?.split('.').next()
}

/// The gRPC status a response carries in its headers: a handler's error travels there
/// (trailers-only); a success, whose status comes in the trailers, is OK, and so is a response
/// without one. A status that is not a number is UNKNOWN.
pub(crate) fn grpc_status_of(headers: &http::HeaderMap) -> tonic::Code {
    match headers.get("grpc-status") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(tonic::Code::Unknown, tonic::Code::from),
        None => tonic::Code::Ok,
    }
}
