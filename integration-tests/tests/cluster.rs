//! `jiceng cluster status` and `smoke` against a fake Kubernetes API server: scripted
//! Deployments and pods, and a real port-forward (the API server's WebSocket protocol) to real
//! gRPC servers (health endpoints, and the whole platform for the smoke scenario), so that both
//! travel the path they take in a cluster.
//!
//! A test binary of its own because its smoke scenario installs telemetry, once per process.

#[allow(dead_code)] // the helpers of the API suite this binary does not need
#[path = "api/common/mod.rs"]
mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use common::Platform;
use jiceng_auth::Role;
use jiceng_cluster::{Health, Release, render_status};
use jiceng_testkit::{
    OtlpReceiver, TestDatabase,
    kube::{FakeCluster, PodState, closed_port, health_endpoint},
};

const NAMESPACE: &str = "jiceng-pudong";
const RELEASE: &str = "pudong";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_rollouts_health_a_service_not_ready_and_a_crash_loop() {
    let serving = health_endpoint(true).await;
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    // org: rolled out, serving.
    cluster.deployment("org", 2, 2, 2);
    cluster.pod("org", 1, PodState::Ready, Some(serving));
    cluster.pod("org", 2, PodState::Ready, Some(serving));
    // member: its pods run but its database does not answer.
    cluster.deployment("member", 2, 0, 2);
    let unready = health_endpoint(false).await;
    cluster.pod("member", 1, PodState::Unready, Some(unready));
    cluster.pod("member", 2, PodState::Unready, Some(unready));
    // grid: half rolled out, the new pod still pending.
    cluster.deployment("grid", 2, 1, 1);
    cluster.pod("grid", 1, PodState::Ready, Some(serving));
    cluster.pod("grid", 2, PodState::Pending, None);
    // notify: both pods crash-loop.
    cluster.deployment("notify", 2, 0, 2);
    let closed = closed_port().await;
    cluster.pod("notify", 1, PodState::CrashLooping, Some(closed));
    cluster.pod("notify", 2, PodState::CrashLooping, Some(closed));
    let api = cluster.serve().await;
    let release = Release::new(api.client(), NAMESPACE, RELEASE);

    let rollouts = jiceng_cluster::status(&release).await.expect("status");
    let by_service: BTreeMap<_, _> = rollouts.iter().map(|r| (r.service.as_str(), r)).collect();
    assert_eq!(
        by_service.keys().copied().collect::<Vec<_>>(),
        ["grid", "member", "notify", "org"]
    );

    let org = by_service["org"];
    assert_eq!((org.desired, org.ready, org.updated), (2, 2, 2));
    assert_eq!(org.health, Health::Serving);
    assert_eq!(org.image, "jiceng/jiceng:0.1.0");
    assert!(org.age.is_some_and(|age| age > Duration::from_secs(86_400)));
    assert!(org.is_healthy(), "{org:?}");

    let member = by_service["member"];
    assert_eq!(member.health, Health::NotServing);
    assert!(!member.is_healthy());

    let grid = by_service["grid"];
    assert_eq!((grid.desired, grid.ready, grid.updated), (2, 1, 1));
    assert_eq!(
        grid.health,
        Health::Serving,
        "the ready pod is the one asked"
    );
    assert!(!grid.is_healthy(), "half rolled out is not healthy");

    let notify = by_service["notify"];
    assert_eq!(notify.restarts, 14);
    assert_eq!(
        notify
            .problems
            .iter()
            .filter(|p| p.contains("CrashLoopBackOff, 7 restarts (last exit 1, Error)"))
            .count(),
        2,
        "{:?}",
        notify.problems
    );
    assert!(
        matches!(notify.health, Health::Unreachable(_)),
        "{:?}",
        notify.health
    );
    assert!(!notify.is_healthy());

    let table = render_status(&rollouts);
    println!("{table}");
    let line_of = |service: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{service} ")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line_of("org")[1..4], ["2/2", "2", "2"]);
    assert_eq!(line_of("org")[6], "SERVING");
    assert_eq!(line_of("member")[6], "NOT_SERVING");
    assert_eq!(line_of("notify")[4], "14");
    assert_eq!(line_of("notify")[6], "UNREACHABLE");
    assert!(table.contains("  ! pod pudong-jiceng-notify-1: CrashLoopBackOff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_release_that_is_not_there_says_so() {
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    cluster.deployment("org", 1, 1, 1);
    let api = cluster.serve().await;
    let release = Release::new(api.client(), NAMESPACE, "minhang");
    let err = jiceng_cluster::status(&release)
        .await
        .expect_err("no release");
    assert!(
        err.to_string().contains("no jiceng release \"minhang\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_reports_merges_and_finds_the_notice_in_one_trace() {
    // The only test of this file that installs telemetry: once per process.
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_telemetry();
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let serving = platform.server.addr;
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    for service in ["org", "grid", "notify"] {
        cluster.deployment(service, 1, 1, 1);
        cluster.pod(service, 1, PodState::Ready, Some(serving));
    }
    let api = cluster.serve().await;
    let release = Release::new(api.client(), NAMESPACE, RELEASE);
    let header = jiceng_testkit::bearer("ops", &[Role::DistrictAdmin], &platform.root_id);
    let token = header.trim_start_matches("Bearer ");

    let report = jiceng_cluster::smoke(&release, token, None, Duration::from_secs(20))
        .await
        .expect("smoke");
    assert_eq!(report.trace_id.len(), 32);
    assert_eq!(report.steps.len(), 5);
    assert!(!report.notification_id.is_empty());

    // The printed trace id is the one the services' spans carry, the notice's delivery included.
    let flusher = Arc::clone(&telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");
    let in_trace = |spans: &[opentelemetry_proto::tonic::trace::v1::Span], name: &str| {
        spans
            .iter()
            .filter(|s| s.name.contains(name) && jiceng_merkle::hex(&s.trace_id) == report.trace_id)
            .count()
    };
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            in_trace(spans, "notify.store.publish") >= 1
        })
        .await;
    for name in [
        "ReportCase",
        "MergeCase",
        "outbox.deliver",
        "notify.store.publish",
        "RejectCase",
    ] {
        assert!(
            in_trace(&spans, name) >= 1,
            "a {name} span in the smoke trace among {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }

    // The scenario left nothing open: the case is rejected, the duplicate merged into it.
    let mut cases =
        jiceng_proto::grid::case_service_client::CaseServiceClient::new(platform.channel().await);
    for (id, state) in [
        (&report.case_id, jiceng_proto::grid::CaseState::Rejected),
        (
            &report.duplicate_case_id,
            jiceng_proto::grid::CaseState::Merged,
        ),
    ] {
        let mut request = tonic::Request::new(jiceng_proto::grid::GetCaseRequest {
            id: id.clone(),
            reveal_reporter_contact: false,
            reveal_reason: String::new(),
        });
        request
            .metadata_mut()
            .insert("authorization", header.parse().expect("header"));
        let case = cases.get_case(request).await.expect("case").into_inner();
        assert_eq!(case.state, state as i32, "{id}");
    }

    // A second run reuses the smoke category and goes through again.
    let again = jiceng_cluster::smoke(&release, token, None, Duration::from_secs(20))
        .await
        .expect("second smoke");
    assert_ne!(again.trace_id, report.trace_id);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_refuses_when_a_service_has_no_ready_pod() {
    let serving = health_endpoint(true).await;
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    cluster.deployment("grid", 1, 1, 1);
    cluster.pod("grid", 1, PodState::Ready, Some(serving));
    cluster.deployment("notify", 1, 0, 1);
    cluster.pod("notify", 1, PodState::CrashLooping, None);
    let api = cluster.serve().await;
    let release = Release::new(api.client(), NAMESPACE, RELEASE);
    let header = jiceng_testkit::bearer("ops", &[Role::DistrictAdmin], "0190-root");
    let err = jiceng_cluster::smoke(
        &release,
        header.trim_start_matches("Bearer "),
        None,
        Duration::from_secs(5),
    )
    .await
    .expect_err("notify is down");
    assert_eq!(err.to_string(), "notify: no ready pod");
}
