//! Telemetry for every jiceng process: JSON logs carrying the trace id, traces and metrics over
//! OTLP, W3C propagation.
//!
//! One call to [`init`] at start; [`Telemetry::shutdown`] at exit flushes the spans and metrics
//! still buffered. Export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; the sampler follows
//! `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` and the metric export interval
//! `OTEL_METRIC_EXPORT_INTERVAL` (read by the OpenTelemetry SDK), and the resource carries the
//! service name, the instance and the district. Metrics are counted on every call, whatever
//! the trace sampler keeps: see [`metrics`].

mod db_spans;
mod json_log;
pub mod metrics;

pub use db_spans::set_database_system;
pub use json_log::civil_from_days;

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::FilterExt as _, layer::SubscriberExt, util::SubscriberInitExt,
};

/// The log filter when `RUST_LOG` is unset: what is written to stdout.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,h2=warn,tower=warn";

/// The spans that make traces, whatever `RUST_LOG` says: the gRPC middleware makes its request
/// spans at TRACE level on target `otel::tracing`, and every trace id in audit records and log
/// lines comes from them, so they are filtered apart from the log lines.
pub const TRACE_FILTER: &str = "info,otel::tracing=trace,sqlx=warn,h2=warn,tower=warn,hyper=warn";

/// What to set up; [`TelemetryConfig::from_env`] reads the standard OpenTelemetry variables.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
    pub service_name: String,
    /// The district code (GB/T 2260), a resource attribute of every span.
    pub district: String,
    /// OTLP/gRPC collector address; no export when `None`.
    pub otlp_endpoint: Option<String>,
    /// An `EnvFilter` directive.
    pub log_filter: String,
    /// Write JSON log lines to stdout; tests switch this off unless `TEST_LOG` is set.
    pub logs: bool,
    /// The share of new traces kept; `None` leaves the sampler to `OTEL_TRACES_SAMPLER`.
    pub sampling_ratio: Option<f64>,
}

impl TelemetryConfig {
    pub fn from_env(service_name: &str, district: &str) -> Self {
        Self {
            service_name: std::env::var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|_| service_name.to_owned()),
            district: district.to_owned(),
            otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty()),
            log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned()),
            logs: true,
            sampling_ratio: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("telemetry was already initialised in this process")]
    AlreadyInitialised,
}

/// Keeps the tracer and meter providers alive; shut it down to flush.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    meters: SdkMeterProvider,
}

/// Installs the global subscriber (JSON logs + OpenTelemetry layer), the tracer and meter
/// providers and the W3C trace-context propagator. A tracer provider is installed even without
/// an exporter so that every request still gets a trace id to log and to pass on.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    let resource = resource(config);
    let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
    if let Some(ratio) = config.sampling_ratio {
        use opentelemetry_sdk::trace::Sampler;
        builder = builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))));
    }
    let mut meters = SdkMeterProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
        // Cumulative, the SDK's default: each export carries the totals since start, so a
        // series stays right whichever collector replica relays it.
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        meters = meters.with_periodic_exporter(exporter);
    }
    let provider = builder.build();
    let meters = meters.build();
    let tracer = provider.tracer("jiceng");
    // Each layer its own filter: a quieter `RUST_LOG` drops log lines, never the spans whose
    // trace ids the remaining lines and the audit records carry.
    let log_filter = EnvFilter::try_new(&config.log_filter)?;
    // Spans a verbose `RUST_LOG` turns on are traced as well: a line logged inside one still
    // finds its trace id.
    let trace_filter =
        EnvFilter::try_new(TRACE_FILTER)?.or(EnvFilter::try_new(&config.log_filter)?);
    let logs = config
        .logs
        .then(|| json_log::JsonLogLayer::stdout().with_filter(log_filter));
    // sqlx's statement events only, at the level it writes them, whatever `RUST_LOG` says.
    let statements = tracing_subscriber::filter::Targets::new()
        .with_target("sqlx::query", tracing::Level::DEBUG);
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(trace_filter),
        )
        .with(
            // Spans that go nowhere without an exporter: sqlx need not even describe its
            // statements then.
            config.otlp_endpoint.as_ref().map(|_| {
                db_spans::DbSpanLayer::new(provider.tracer("jiceng.db")).with_filter(statements)
            }),
        )
        .with(logs)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    global::set_meter_provider(meters.clone());
    metrics::provider_installed();
    Ok(Telemetry { provider, meters })
}

/// What every span and metric point says of where it comes from. `service.instance.id` keeps
/// two replicas' cumulative series apart: without it their totals would land on one series
/// and overwrite each other. The pod name is the instance when the deployment does not name
/// one (`OTEL_RESOURCE_ATTRIBUTES`, read by the SDK's detector).
fn resource(config: &TelemetryConfig) -> Resource {
    let detected = Resource::builder().build();
    let instance = opentelemetry::Key::from_static_str("service.instance.id");
    let mut builder = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("jiceng.district", config.district.clone()));
    if detected.get(&instance).is_none() {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("pid-{}", std::process::id()));
        builder = builder.with_attribute(KeyValue::new(instance, host));
    }
    builder.build()
}

impl Telemetry {
    /// Exports every span still buffered and the metrics as they stand. Blocks: call it from a
    /// blocking thread when inside an async runtime.
    pub fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            tracing::warn!(error = %err, "flushing spans failed");
        }
        if let Err(err) = self.meters.force_flush() {
            tracing::warn!(error = %err, "flushing metrics failed");
        }
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
        if let Err(err) = self.meters.shutdown() {
            eprintln!("metrics shutdown: {err}");
        }
    }
}

/// The W3C trace id of the current request, when there is one.
pub fn current_trace_id() -> Option<String> {
    tracing_opentelemetry_instrumentation_sdk::find_current_trace_id()
}

/// The W3C trace and span ids of the current span, when it is traced: what a log line carries
/// so that it leads to the very span it was written in.
pub fn current_trace_and_span_ids() -> Option<(String, String)> {
    use tracing_opentelemetry_instrumentation_sdk::{
        find_current_context, find_span_id, find_trace_id,
    };
    let context = find_current_context();
    find_trace_id(&context).zip(find_span_id(&context))
}

/// The W3C `traceparent` of `span`, to carry a trace across a queue or an HTTP call.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut carrier = std::collections::HashMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&span.context(), &mut carrier)
    });
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace a `traceparent` names.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    let _ = span.set_parent(context);
}
