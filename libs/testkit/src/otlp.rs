use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{KeyValue, any_value::Value},
    metrics::v1::{metric::Data, number_data_point},
    trace::v1::Span,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// An OTLP/gRPC receiver of traces and metrics in the test's process: point
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or the telemetry config) at [`OtlpReceiver::endpoint`] and
/// read back the spans and the metric points.
#[derive(Debug)]
pub struct OtlpReceiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
    points: Arc<Mutex<Series>>,
    _task: tokio::task::JoinHandle<()>,
}

/// What kind of instrument a metric came from, as its OTLP data says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricKind {
    /// A monotonic sum: a counter.
    Counter,
    /// A sum that may go down.
    UpDownCounter,
    Gauge,
    Histogram,
}

/// The latest point of one series: a counter's or gauge's value, a histogram's count.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub unit: String,
    pub kind: MetricKind,
    pub attributes: BTreeMap<String, String>,
    pub value: f64,
    /// A histogram's sum of recorded values; 0 for other kinds.
    pub sum: f64,
    time: u64,
}

impl MetricPoint {
    /// The attribute `key`'s value as text, when the point has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The latest point per series (name and attributes): exports are cumulative, so the latest
/// holds the totals.
type Series = BTreeMap<(String, Vec<(String, String)>), MetricPoint>;

#[derive(Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    points: Arc<Mutex<Series>>,
}

fn text_of(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn number(value: Option<&number_data_point::Value>) -> f64 {
    match value {
        Some(number_data_point::Value::AsDouble(d)) => *d,
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut series = self
            .points
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut keep = |point: MetricPoint| {
            let key = (
                point.name.clone(),
                point.attributes.clone().into_iter().collect(),
            );
            if series.get(&key).is_none_or(|kept| kept.time <= point.time) {
                series.insert(key, point);
            }
        };
        for resource in request.into_inner().resource_metrics {
            for scope in resource.scope_metrics {
                for metric in scope.metrics {
                    let point = |kind, attributes: &[KeyValue], value, sum, time| MetricPoint {
                        name: metric.name.clone(),
                        unit: metric.unit.clone(),
                        kind,
                        attributes: text_of(attributes),
                        value,
                        sum,
                        time,
                    };
                    match &metric.data {
                        Some(Data::Sum(data)) => {
                            let kind = if data.is_monotonic {
                                MetricKind::Counter
                            } else {
                                MetricKind::UpDownCounter
                            };
                            for p in &data.data_points {
                                keep(point(
                                    kind,
                                    &p.attributes,
                                    number(p.value.as_ref()),
                                    0.0,
                                    p.time_unix_nano,
                                ));
                            }
                        }
                        Some(Data::Gauge(data)) => {
                            for p in &data.data_points {
                                keep(point(
                                    MetricKind::Gauge,
                                    &p.attributes,
                                    number(p.value.as_ref()),
                                    0.0,
                                    p.time_unix_nano,
                                ));
                            }
                        }
                        Some(Data::Histogram(data)) => {
                            for p in &data.data_points {
                                keep(point(
                                    MetricKind::Histogram,
                                    &p.attributes,
                                    p.count as f64,
                                    p.sum.unwrap_or(0.0),
                                    p.time_unix_nano,
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
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
    /// Installs this process's telemetry, exporting spans and metrics here (and logging when
    /// `TEST_LOG` is set). Once per process: a trace scenario is a test binary of its own.
    pub fn install_telemetry(&self) -> Arc<jiceng_telemetry::Telemetry> {
        self.install_sampled_telemetry(None)
    }

    /// As [`OtlpReceiver::install_telemetry`], keeping only `ratio` of new traces when given.
    pub fn install_sampled_telemetry(
        &self,
        ratio: Option<f64>,
    ) -> Arc<jiceng_telemetry::Telemetry> {
        Arc::new(
            jiceng_telemetry::init(&jiceng_telemetry::TelemetryConfig {
                service_name: "jiceng-test".into(),
                district: crate::TEST_DISTRICT.into(),
                otlp_endpoint: Some(self.endpoint.clone()),
                log_filter: jiceng_telemetry::DEFAULT_FILTER.into(),
                logs: std::env::var_os("TEST_LOG").is_some(),
                sampling_ratio: ratio,
            })
            .expect("telemetry"),
        )
    }

    pub async fn start() -> Self {
        let (listener, addr) = crate::bind_local().await;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let points = Arc::new(Mutex::new(Series::new()));
        let collector = Collector {
            spans: Arc::clone(&spans),
            points: Arc::clone(&points),
        };
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .add_service(MetricsServiceServer::new(collector))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        Self {
            endpoint: format!("http://{addr}"),
            spans,
            points,
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

    /// The latest point of every metric series received so far.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        self.points
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The names of the metrics received so far.
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.metric_points().into_iter().map(|p| p.name).collect()
    }

    /// The sum over the series of metric `name` whose attributes include every one of `with`:
    /// a counter's total, a gauge's summed value, a histogram's count of recordings.
    pub fn metric_total(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.metric_points()
            .iter()
            .filter(|p| p.name == name)
            .filter(|p| with.iter().all(|(k, v)| p.attribute(k) == Some(*v)))
            .map(|p| p.value)
            .sum()
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
