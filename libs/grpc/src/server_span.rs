//! The server span of every RPC but housekeeping, to the OpenTelemetry RPC conventions: named
//! `service/method`, parented on the caller's `traceparent`, with `rpc.system`, `rpc.service`,
//! `rpc.method` and the integer `rpc.grpc.status_code`. Its status is ERROR only for the codes
//! that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
//! DATA_LOSS) and is otherwise left unset: a NOT_FOUND or PERMISSION_DENIED is the caller's, and
//! an error rate computed from spans must not count it against the service.
//!
//! It also counts the call in `rpc.server.duration`, sampled or not.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use opentelemetry::context::FutureExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry_instrumentation_sdk::{
    self as otel,
    http::{self as otel_http, grpc_server},
};

#[derive(Clone, Copy, Debug, Default)]
pub struct ServerSpanLayer;

impl<S> Layer<S> for ServerSpanLayer {
    type Service = ServerSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerSpan { inner }
    }
}

#[derive(Clone, Debug)]
pub struct ServerSpan<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for ServerSpan<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if crate::is_housekeeping(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let path = request.uri().path().to_owned();
        let started = std::time::Instant::now();
        let span = grpc_server::make_span_from_request(&request);
        // When the span itself is filtered out, the caller's context still reaches what the
        // handler calls.
        let fallback =
            otel::set_parent_or_fallback(&span, otel_http::extract_context(request.headers()));
        let response = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(async move {
            let response = response.instrument(span.clone());
            let result = match fallback {
                Some(context) => response.with_context(context).await,
                None => response.await,
            };
            let code = match &result {
                Ok(response) => crate::grpc_status_of(response.headers()),
                Err(error) => {
                    span.record("exception.message", error.to_string());
                    tonic::Code::Unknown
                }
            };
            span.record("rpc.grpc.status_code", code as i64);
            crate::rpc_metrics::record_server(
                &path,
                crate::platform_service(&path),
                code,
                started.elapsed(),
            );
            if is_server_error(code) {
                span.record("otel.status_code", "ERROR");
            }
            result
        })
    }
}

/// The codes a server span is an error for: the server failed, not the caller.
fn is_server_error(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss
    )
}

#[cfg(test)]
mod tests {
    use super::is_server_error;

    #[test]
    fn only_the_servers_own_failures_are_span_errors() {
        use tonic::Code::*;
        for code in [
            Unknown,
            DeadlineExceeded,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
        ] {
            assert!(is_server_error(code), "{code:?}");
        }
        for code in [
            Ok,
            InvalidArgument,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unauthenticated,
            Cancelled,
        ] {
            assert!(!is_server_error(code), "{code:?}");
        }
    }
}
