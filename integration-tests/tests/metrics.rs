//! The platform's own metrics, exported over OTLP to a receiver in this process:
//!
//! - they count every call, whatever the trace sampler keeps: under 10% sampling, the RPC
//!   duration histogram's count equals the calls made while the spans are a fraction of them;
//! - every metric a dashboard, an alert rule or a rule test under `k8s/observability` names is
//!   one the platform exports once it has done some ordinary work (a case reported and
//!   escalated, an event relayed, a webhook called), under its Prometheus name.
//!
//! A test binary of its own because telemetry is installed once per process.

#[allow(dead_code)] // the helpers of the API suite this binary does not need
#[path = "api/common/mod.rs"]
mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use common::Platform;
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{self as gpb, case_service_client::CaseServiceClient},
    notify as npb,
    org::{self as pb, position_service_client::PositionServiceClient},
};
use jiceng_testkit::{
    Bearer, HttpReceiver, MetricKind, MetricPoint, OtlpReceiver, TestDatabase, bearer,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

const CALLS: usize = 200;
const WANG: &str = "01937f6e-0000-7000-8000-0000000000a1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_call_and_name_what_the_dashboards_use() {
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_sampled_telemetry(Some(0.1));
    let platform = Platform::start(TestDatabase::sqlite()).await;
    every_call_is_counted_whatever_is_sampled(&platform, &collector, &telemetry).await;
    the_dashboards_and_rules_name_only_exported_metrics(&platform, &collector, &telemetry).await;
}

async fn flush(telemetry: &Arc<jiceng_telemetry::Telemetry>) {
    let flusher = Arc::clone(telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");
}

async fn every_call_is_counted_whatever_is_sampled(
    platform: &Platform,
    collector: &OtlpReceiver,
    telemetry: &Arc<jiceng_telemetry::Telemetry>,
) {
    let mut org = platform.admin().await;
    for _ in 0..CALLS {
        org.get_unit(pb::GetUnitRequest {
            id: platform.root_id.clone(),
        })
        .await
        .expect("the root");
    }
    for _ in 0..CALLS / 4 {
        let missing = org
            .get_unit(pb::GetUnitRequest {
                id: "01937f6e-0000-7000-8000-00000000dead".into(),
            })
            .await
            .expect_err("no such unit");
        assert_eq!(missing.code(), tonic::Code::NotFound);
    }
    flush(telemetry).await;
    let get_unit = |code: &'static str| {
        [
            ("rpc.system", "grpc"),
            ("rpc.service", "jiceng.org.v1.OrgService"),
            ("rpc.method", "GetUnit"),
            ("rpc.grpc.status_code", code),
            ("jiceng.service", "org"),
        ]
    };
    assert_eq!(
        collector.metric_total("rpc.server.duration", &get_unit("0")),
        CALLS as f64,
        "every successful call counted"
    );
    assert_eq!(
        collector.metric_total("rpc.server.duration", &get_unit("5")),
        (CALLS / 4) as f64,
        "every NOT_FOUND counted, under its own status"
    );
    let sampled = collector
        .spans()
        .iter()
        .filter(|s| {
            s.name == "jiceng.org.v1.OrgService/GetUnit" && s.kind == SpanKind::Server as i32
        })
        .count();
    assert!(
        sampled < CALLS / 2,
        "the sampler kept about a tenth of {} traces, not {sampled}",
        CALLS + CALLS / 4
    );
}

/// Some ordinary work of every service whose metrics the dashboards show: a grid case reported
/// and escalated, an org change relayed as an event to notify, and a webhook called.
async fn do_some_work(platform: &Platform) {
    let admin = || Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut org = platform.admin().await;
    let street = common::create(
        &mut org,
        &platform.root_id,
        pb::UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await
    .id;
    let committee = common::create(
        &mut org,
        &street,
        pb::UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await
    .id;
    let grid = common::garbage_grid(platform, &committee).await;
    let worker = Bearer::new(&bearer("worker-1", &[Role::GridWorker], &committee));
    platform
        .client_as(worker, CaseServiceClient::new)
        .await
        .report_case(gpb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "楼道口堆放建筑垃圾".into(),
            attributes: [("volume".to_owned(), "large".to_owned())].into(),
            grid_id: grid,
            reporter_kind: gpb::ReporterKind::GridWorker as i32,
            attachment_urls: vec!["https://files.example/before.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("report");
    let mut cases = platform.client_as(admin(), CaseServiceClient::new).await;
    // Past the accept step's limit and the day the whole case had: the scan escalates it to
    // the street, and it stays overdue.
    platform.clock.advance(25 * 60 * 60_000);
    let scan = cases
        .scan_overdue(gpb::ScanOverdueRequest {})
        .await
        .expect("scan")
        .into_inner();
    assert_eq!(scan.escalations.len(), 1);

    let webhook = HttpReceiver::start(vec![]).await;
    let mut notify = platform.notify_as(admin()).await;
    notify
        .register_webhook(npb::RegisterWebhookRequest {
            recipient: WANG.into(),
            url: webhook.url("/hook"),
            ..Default::default()
        })
        .await
        .expect("webhook");
    let channel =
        jiceng_grpc::channel(&platform.server.uri(), Duration::from_secs(5)).expect("channel");
    let mut positions = PositionServiceClient::with_interceptor(channel, admin());
    positions
        .appoint_position(pb::AppointPositionRequest {
            unit_id: street,
            role: pb::PositionRole::Secretary as i32,
            holder: Some(pb::appoint_position_request::Holder::MemberId(WANG.into())),
            ..Default::default()
        })
        .await
        .expect("appoint");
    assert!(
        !webhook
            .wait_for(1, Duration::from_secs(10))
            .await
            .is_empty(),
        "the webhook was called"
    );
    platform.settle().await;
}

/// The metrics every district's dashboards and alerts are built on, by their OTLP names.
const CONTRACT: &[&str] = &[
    "rpc.server.duration",
    "rpc.client.duration",
    "db.client.connection.count",
    "db.client.connection.max",
    "db.client.connection.timeouts",
    "jiceng.outbox.pending",
    "jiceng.outbox.parked",
    "jiceng.outbox.oldest_pending_age",
    "jiceng.outbox.unrouted",
    "jiceng.outbox.deliveries",
    "jiceng.webhook.attempts",
    "jiceng.webhook.duration",
    "jiceng.grid.cases.reported",
    "jiceng.grid.cases.escalated",
    "jiceng.grid.cases.overdue",
    "jiceng.scanner.runs",
    "jiceng.scanner.duration",
    "jiceng.cache.lookups",
    "jiceng.cache.invalidations",
    // The property service's witness round reports these from its first round, at start.
    "jiceng.transparency_log.size",
    "jiceng.transparency_log.witnessed_size",
    "jiceng.transparency_log.diverged",
];

/// The names a metric point goes by in Prometheus, as the collector's Prometheus translation
/// makes them: dots to underscores, the unit as a suffix, `_total` on counters, and a
/// histogram's three series (and its family's name, which prose may use).
fn prometheus_names(point: &MetricPoint) -> Vec<String> {
    let mut name = point.name.replace('.', "_");
    match point.unit.as_str() {
        "ms" => name.push_str("_milliseconds"),
        "s" => name.push_str("_seconds"),
        "" => {}
        other => panic!("{}: no Prometheus suffix for unit {other}", point.name),
    }
    match point.kind {
        MetricKind::Counter => vec![format!("{name}_total")],
        MetricKind::Histogram => ["_bucket", "_sum", "_count", ""]
            .iter()
            .map(|part| format!("{name}{part}"))
            .collect(),
        MetricKind::Gauge | MetricKind::UpDownCounter => vec![name],
    }
}

/// The files whose queries name metrics: dashboards, alert and recording rules, rule tests.
fn observability_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/observability");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("k8s/observability") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The words of `text` that name one of the platform's metrics or labels: `rpc_…`,
/// `db_client_…` and `jiceng_…` identifiers (recording rules' `level:metric:operation` names,
/// with their colons, are the rules' own).
fn platform_identifiers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| !word.contains(':'))
        .filter(|word| {
            ["rpc_", "db_client_", "jiceng_"]
                .iter()
                .any(|prefix| word.starts_with(prefix))
        })
        .map(str::to_owned)
        .collect()
}

async fn the_dashboards_and_rules_name_only_exported_metrics(
    platform: &Platform,
    collector: &OtlpReceiver,
    telemetry: &Arc<jiceng_telemetry::Telemetry>,
) {
    do_some_work(platform).await;
    let mut missing = Vec::new();
    for _ in 0..50 {
        flush(telemetry).await;
        let names = collector.metric_names();
        missing = CONTRACT
            .iter()
            .filter(|name| !names.contains(**name))
            .collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(missing.is_empty(), "not exported: {missing:?}");

    let points = collector.metric_points();
    let mut exported: BTreeMap<String, &str> = BTreeMap::new();
    let mut labels = BTreeSet::from(["jiceng_district".to_owned()]);
    for point in &points {
        for name in prometheus_names(point) {
            exported.insert(name, &point.name);
        }
        labels.extend(point.attributes.keys().map(|key| key.replace('.', "_")));
    }
    let files = observability_files();
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "json")),
        "dashboards under k8s/observability: {files:?}"
    );
    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for word in platform_identifiers(&text) {
            if labels.contains(&word) {
                continue;
            }
            if exported.contains_key(&word) {
                used.insert(word);
            } else {
                unknown.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "named in k8s/observability but not exported by the platform: {unknown:#?}\nexported: {:#?}",
        exported.keys().collect::<Vec<_>>()
    );
    // And the other way: what the platform exports is on an operator's screen.
    let shown: BTreeSet<&str> = used.iter().map(|name| exported[name]).collect();
    let unshown: Vec<_> = CONTRACT
        .iter()
        .filter(|name| !shown.contains(**name))
        .collect();
    assert!(
        unshown.is_empty(),
        "exported but on no dashboard or rule: {unshown:?}"
    );
}
