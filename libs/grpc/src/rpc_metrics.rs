//! RPC durations per the OpenTelemetry RPC conventions, counted on every call whatever the
//! trace sampler keeps: `rpc.server.duration` for what this process answers (recorded by the
//! server span layer) and `rpc.client.duration` for what it asks of others (recorded by
//! [`ClientMetrics`], the outermost layer of every [`crate::TracedChannel`]).
//!
//! Attributes are bounded: the gRPC service and method come from the platform's own contracts
//! (an unknown path is answered UNIMPLEMENTED before it reaches a handler, but it is still one
//! path per caller's typo: such paths are counted under `rpc.method="unknown"`).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use jiceng_telemetry::metrics::{Instruments, duration_histogram, millis};
use opentelemetry::{KeyValue, metrics::Histogram};
use tower::Service;

struct RpcInstruments {
    server: Histogram<f64>,
    client: Histogram<f64>,
}

static INSTRUMENTS: Instruments<RpcInstruments> = Instruments::new(|| RpcInstruments {
    server: duration_histogram(
        "rpc.server.duration",
        "Duration of the RPCs this process answered, by service, method and gRPC status",
    ),
    client: duration_histogram(
        "rpc.client.duration",
        "Duration of the RPCs this process made to other services, by status",
    ),
});

/// The gRPC service and method of a path, `("jiceng.org.v1.OrgService", "CreateUnit")`; a path
/// that is not the platform's own counts as `unknown` so that scanners cannot grow the series.
fn service_and_method(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    match (parts.next(), parts.next()) {
        (Some(service), Some(method))
            if (service.starts_with("jiceng.") || service.starts_with("grpc."))
                && !method.is_empty()
                && !method.contains('/') =>
        {
            (service.to_owned(), method.to_owned())
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

fn attributes(path: &str, code: tonic::Code) -> Vec<KeyValue> {
    let (service, method) = service_and_method(path);
    vec![
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service),
        KeyValue::new("rpc.method", method),
        KeyValue::new("rpc.grpc.status_code", code as i64),
    ]
}

/// Counts one answered RPC; `service` is the platform service that answered (`org`), which in
/// `jiceng up` tells the services apart where the process has one `service.name`.
pub(crate) fn record_server(path: &str, service: Option<&str>, code: tonic::Code, took: Duration) {
    let mut attributes = attributes(path, code);
    if let Some(service) = service {
        attributes.push(KeyValue::new("jiceng.service", service.to_owned()));
    }
    INSTRUMENTS.get().server.record(millis(took), &attributes);
}

/// Counts the calls made through a channel, and names the server they go to: tonic adds the
/// channel's origin to a request's URI only below the tracing layer, whose client span would
/// otherwise have an empty `server.address`.
#[derive(Clone, Debug)]
pub struct ClientMetrics<S> {
    inner: S,
    origin: http::Uri,
}

impl<S> ClientMetrics<S> {
    pub(crate) fn new(inner: S, origin: http::Uri) -> Self {
        Self { inner, origin }
    }
}

impl<S, B, R> Service<http::Request<B>> for ClientMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = self.origin.scheme().cloned();
        parts.authority = self.origin.authority().cloned();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        let server = self.origin.host().unwrap_or_default().to_owned();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => crate::grpc_status_of(response.headers()),
                // The call never got an answer: the channel could not reach the server.
                Err(_) => tonic::Code::Unavailable,
            };
            let mut attributes = attributes(&path, code);
            attributes.push(KeyValue::new("server.address", server));
            INSTRUMENTS
                .get()
                .client
                .record(millis(started.elapsed()), &attributes);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::service_and_method;

    #[test]
    fn paths_that_are_not_the_platforms_count_as_unknown() {
        assert_eq!(
            service_and_method("/jiceng.org.v1.OrgService/CreateUnit"),
            ("jiceng.org.v1.OrgService".into(), "CreateUnit".into())
        );
        for path in ["/wp-admin/x", "/", "/jiceng.org.v1.OrgService/", "/a/b/c"] {
            assert_eq!(
                service_and_method(path),
                ("unknown".into(), "unknown".into()),
                "{path}"
            );
        }
    }
}
