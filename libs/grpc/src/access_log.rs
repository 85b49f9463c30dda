//! One JSON log line per RPC (method, gRPC status, duration), written inside the request's span
//! so that it carries the trace id. Health checks are left out, as they are of traces.
//!
//! It also completes the server span with what the tracing middleware leaves out: the port the
//! caller reached (`server.port`) and which of the platform's services answered
//! (`jiceng.service`), so that in `jiceng up`, where every span has one `service.name`, a trace
//! still tells org from notify.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for AccessLog<S>
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
        let rpc = request.uri().path().to_owned();
        let span = tracing::Span::current();
        if let Some(service) = crate::platform_service(&rpc) {
            span.set_attribute("jiceng.service", service.to_owned());
        }
        // The middleware reads the port off a Host header, which HTTP/2 callers do not send:
        // theirs is in the request's authority.
        let port = request.uri().port_u16();
        if let Some(port) = port.filter(|_| !request.headers().contains_key(http::header::HOST)) {
            span.set_attribute("server.port", i64::from(port));
        }
        // A call the gateway made from an HTTP request: what the caller asked for, beside it.
        let http = request
            .extensions()
            .get::<jiceng_gateway::Transcoded>()
            .map(|asked| format!("{} {}", asked.method, asked.path));
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            if crate::is_housekeeping(&rpc) {
                if let Err(err) = &result {
                    tracing::debug!(rpc, error = %err, elapsed_ms, "rpc failed");
                }
                return result;
            }
            match &result {
                Ok(response) => {
                    let status = crate::grpc_status_of(response.headers());
                    match &http {
                        Some(http) => {
                            tracing::info!(rpc, grpc.status = ?status, elapsed_ms, http, "rpc")
                        }
                        None => tracing::info!(rpc, grpc.status = ?status, elapsed_ms, "rpc"),
                    }
                }
                Err(err) => tracing::warn!(rpc, error = %err, elapsed_ms, "rpc failed"),
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::platform_service;

    #[test]
    fn the_platform_service_is_read_off_the_grpc_path() {
        assert_eq!(
            platform_service("/jiceng.org.v1.OrgService/CreateUnit"),
            Some("org")
        );
        assert_eq!(
            platform_service("/jiceng.events.v1.EventSinkService/Deliver"),
            Some("events")
        );
        assert_eq!(platform_service("/grpc.health.v1.Health/Check"), None);
    }
}
