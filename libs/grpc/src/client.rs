//! Client channels to other services: connect and request deadlines, W3C trace context on every
//! call, and bounded retries of calls that failed with UNAVAILABLE.

use std::{future::Future, time::Duration};

use tonic::{
    Code, Status,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};
use tonic_tracing_opentelemetry::middleware::client::{OtelGrpcLayer, OtelGrpcService};
use tower::Layer as _;

use crate::rpc_metrics::ClientMetrics;

/// A channel whose calls carry the caller's trace context and are counted.
pub type TracedChannel = ClientMetrics<OtelGrpcService<Channel>>;

/// Opens a lazily connecting channel to `uri` (e.g. `http://org:50051`) whose calls join the
/// caller's trace and count in `rpc.client.duration`.
pub fn channel(uri: &str, request_timeout: Duration) -> Result<TracedChannel, Status> {
    let endpoint = endpoint(uri, request_timeout)?;
    let origin = endpoint.uri().clone();
    Ok(ClientMetrics::new(
        OtelGrpcLayer.layer(endpoint.connect_lazy()),
        origin,
    ))
}

/// A channel like [`channel`] whose calls make no spans: for housekeeping a process does by
/// itself all the time (a replica asking where the org tree stands twice a second), which
/// would otherwise fill the trace store with traces of nothing.
pub fn housekeeping_channel(uri: &str, request_timeout: Duration) -> Result<Channel, Status> {
    Ok(endpoint(uri, request_timeout)?.connect_lazy())
}

fn endpoint(uri: &str, request_timeout: Duration) -> Result<Endpoint, Status> {
    Ok(Endpoint::from_shared(uri.to_owned())
        .map_err(|_| Status::invalid_argument(format!("invalid endpoint uri: {uri}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

/// Whether an RPC is housekeeping that the server leaves out of traces and logs only at DEBUG:
/// health checks, and replicas asking where the org tree stands.
pub fn is_housekeeping(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path.starts_with("grpc.health.") || path == "jiceng.org.v1.OrgService/GetTreeGeneration"
}

/// The `authorization` value a service presents its token in.
pub fn bearer(service_token: &str) -> Result<MetadataValue<Ascii>, Status> {
    format!("Bearer {service_token}")
        .parse()
        .map_err(|_| Status::invalid_argument("service token is not valid header text"))
}

/// How often and how patiently a call is retried when the callee is UNAVAILABLE.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter before attempt `attempt + 1`, so that clients that
    /// failed together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1 << attempt.min(16));
        let cap = exp.min(self.max_backoff);
        cap.mul_f64(fastrand::f64())
    }
}

/// Runs the read `call` until it succeeds, fails otherwise than with UNAVAILABLE or a broken
/// connection, or the attempts run out. UNAVAILABLE promises that the request was not
/// processed; a connection that broke under a call (a server closing it after its maximum
/// age, a pod going away) promises nothing, which is harmless for a read. Writes are not
/// retried here: they carry request ids and their callers decide.
pub async fn with_retries<T, F, Fut>(policy: RetryPolicy, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(status)
                if (status.code() == Code::Unavailable || connection_broke(&status))
                    && attempt + 1 < policy.max_attempts =>
            {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether a call failed because its connection broke, rather than with the server's answer.
pub fn connection_broke(status: &Status) -> bool {
    std::error::Error::source(status)
        .is_some_and(|source| source.downcast_ref::<tonic::transport::Error>().is_some())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn unavailable_is_retried_until_the_attempts_run_out() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = with_retries(quick(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::unavailable("down"))
        })
        .await;
        assert_eq!(result.map_err(|s| s.code()), Err(Code::Unavailable));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Status> = with_retries(quick(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Status::invalid_argument("bad"))
        })
        .await;
        assert_eq!(result.map_err(|s| s.code()), Err(Code::InvalidArgument));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_success_after_an_outage_is_returned() {
        let calls = AtomicU32::new(0);
        let result = with_retries(quick(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(Status::unavailable("down"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
    }
}
