//! The gRPC kit: server assembly, client channels with retries, status helpers, page tokens
//! and timestamps.

mod access_log;
pub mod client;
pub mod etag;
pub mod page;
pub mod server;
pub mod status;
pub mod time;

pub use client::{
    RetryPolicy, TracedChannel, bearer, channel, connection_broke, housekeeping_channel,
    is_housekeeping, with_retries,
};
pub use etag::{etag_of, version_in, version_of};
pub use page::{PageRequest, page_size, time_cursor, time_cursor_of};
pub use server::{GrpcServer, GrpcServices, LIVENESS, ServerOptions, shutdown_signal};
pub use status::FieldViolations;
pub use time::{millis_of, timestamp};
