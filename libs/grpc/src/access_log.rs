//! One JSON log line per RPC (method, gRPC status, duration), written inside the request's span
//! so that it carries the trace id. Health checks are left out, as they are of traces.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tower::{Layer, Service};

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
                // A handler's error travels in the headers (trailers-only); success in trailers.
                Ok(response) => {
                    let status = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from);
                    tracing::info!(rpc, grpc.status = ?status, elapsed_ms, "rpc");
                }
                Err(err) => tracing::warn!(rpc, error = %err, elapsed_ms, "rpc failed"),
            }
            result
        })
    }
}
