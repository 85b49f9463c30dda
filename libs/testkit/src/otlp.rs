use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    trace::v1::Span,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// An OTLP/gRPC trace receiver in the test's process: point `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
/// telemetry config) at [`OtlpReceiver::endpoint`] and read back the spans.
#[derive(Debug)]
pub struct OtlpReceiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl OtlpReceiver {
    /// Installs this process's telemetry, exporting spans here (and logging when `TEST_LOG` is
    /// set). Once per process: a trace scenario is a test binary of its own.
    pub fn install_telemetry(&self) -> Arc<jiceng_telemetry::Telemetry> {
        Arc::new(
            jiceng_telemetry::init(&jiceng_telemetry::TelemetryConfig {
                service_name: "jiceng-test".into(),
                district: crate::TEST_DISTRICT.into(),
                otlp_endpoint: Some(self.endpoint.clone()),
                log_filter: jiceng_telemetry::DEFAULT_FILTER.into(),
                logs: std::env::var_os("TEST_LOG").is_some(),
            })
            .expect("telemetry"),
        )
    }

    pub async fn start() -> Self {
        let (listener, addr) = crate::bind_local().await;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector {
            spans: Arc::clone(&spans),
        };
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        Self {
            endpoint: format!("http://{addr}"),
            spans,
            _task: task,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for the spans received, or the timeout passes; returns the spans.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
