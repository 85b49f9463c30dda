//! `jiceng cluster status` and `smoke` against a fake Kubernetes API server: scripted
//! Deployments and pods, and a real port-forward (the API server's WebSocket protocol) to real
//! gRPC servers, so that health and the smoke scenario travel the path they take in a cluster.

mod common;

use std::{collections::BTreeMap, convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use common::Platform;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, header, service::service_fn};
use hyper_util::rt::TokioIo;
use jiceng_auth::Role;
use jiceng_cluster::{Health, Release, render_status};
use jiceng_testkit::{OtlpReceiver, TestDatabase};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, handshake::derive_accept_key, protocol::Role as WsRole},
};

const NAMESPACE: &str = "jiceng-pudong";
const RELEASE: &str = "pudong";

/// What the fake API server knows: objects to list, and where each pod's port-forward leads.
#[derive(Default)]
struct Cluster {
    deployments: Vec<Value>,
    pods: Vec<Value>,
    forwards: BTreeMap<String, SocketAddr>,
}

impl Cluster {
    /// A service's Deployment as the chart labels it.
    fn deployment(&mut self, service: &str, desired: i32, ready: i32, updated: i32) {
        self.deployments.push(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": format!("{RELEASE}-jiceng-{service}"),
                "namespace": NAMESPACE,
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": labels(service),
            },
            "spec": {
                "replicas": desired,
                "selector": {"matchLabels": selector(service)},
                "template": {
                    "metadata": {"labels": labels(service)},
                    "spec": {"containers": [{"name": service, "image": "jiceng/jiceng:0.1.0"}]},
                },
            },
            "status": {"replicas": desired, "readyReplicas": ready, "updatedReplicas": updated, "availableReplicas": ready},
        }));
    }

    /// A pod of `service`; `forward` is where its port 50051 leads, if anywhere.
    fn pod(&mut self, service: &str, n: u32, state: PodState, forward: Option<SocketAddr>) {
        let name = format!("{RELEASE}-jiceng-{service}-{n}");
        let (phase, ready, container) = match state {
            PodState::Ready => ("Running", "True", json!({"running": {}})),
            PodState::Unready => ("Running", "False", json!({"running": {}})),
            PodState::Pending => (
                "Pending",
                "False",
                json!({"waiting": {"reason": "ContainerCreating"}}),
            ),
            PodState::CrashLooping => (
                "Running",
                "False",
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}),
            ),
        };
        let crashed = matches!(state, PodState::CrashLooping);
        self.pods.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(service)},
            "status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": ready}],
                "containerStatuses": [{
                    "name": service,
                    "image": "jiceng/jiceng:0.1.0",
                    "imageID": "",
                    "ready": ready == "True",
                    "restartCount": if crashed { 7 } else { 0 },
                    "state": container,
                    "lastState": if crashed {
                        json!({"terminated": {"exitCode": 1, "reason": "Error"}})
                    } else {
                        json!({})
                    },
                }],
            },
        }));
        if let Some(addr) = forward {
            self.forwards.insert(name, addr);
        }
    }
}

#[derive(Clone, Copy)]
enum PodState {
    Ready,
    Unready,
    Pending,
    CrashLooping,
}

fn selector(service: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "jiceng",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": service,
    })
}

fn labels(service: &str) -> Value {
    let mut labels = selector(service);
    labels["app.kubernetes.io/part-of"] = json!("jiceng");
    labels
}

/// Objects whose labels match a `k=v,k=v` selector.
fn matching(objects: &[Value], selector: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|object| {
            selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                object["metadata"]["labels"][key].as_str() == Some(value)
            })
        })
        .cloned()
        .collect()
}

fn query_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            value
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/")
        })
        .unwrap_or_default()
}

/// Serves `cluster` as a Kubernetes API server on a fresh port; returns a client of it.
async fn fake_api_server(cluster: Cluster) -> kube::Client {
    let cluster = Arc::new(cluster);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(cluster.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let config = kube::Config::new(format!("http://{addr}").parse().expect("uri"));
    kube::Client::try_from(config).expect("client")
}

async fn answer(
    cluster: Arc<Cluster>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let selector = query_param(&query, "labelSelector");
    let list = |kind: &str, objects: &[Value]| json!({"apiVersion": if kind == "DeploymentList" { "apps/v1" } else { "v1" }, "kind": kind, "metadata": {}, "items": matching(objects, &selector)});
    let body = if path == format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments") {
        list("DeploymentList", &cluster.deployments)
    } else if path == format!("/api/v1/namespaces/{NAMESPACE}/pods") {
        list("PodList", &cluster.pods)
    } else if let Some(pod) = path
        .strip_prefix(&format!("/api/v1/namespaces/{NAMESPACE}/pods/"))
        .and_then(|rest| rest.strip_suffix("/portforward"))
    {
        return Ok(port_forward(&cluster, pod, &query, request));
    } else {
        return Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}).to_string(),
            )))
            .expect("response"));
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response"))
}

/// The API server's port-forward over WebSocket (v4.channel.k8s.io): per port a data channel
/// (0) and an error channel (1), each opened by a frame naming the port; then data frames
/// carry the channel byte first.
fn port_forward(
    cluster: &Cluster,
    pod: &str,
    query: &str,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let Some(target) = cluster.forwards.get(pod).copied() else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Full::new(Bytes::from("pod does not accept port-forward")))
            .expect("response");
    };
    let port: u16 = query_param(query, "ports").parse().expect("one port");
    let key = request
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()))
        .expect("a WebSocket key");
    tokio::spawn(async move {
        let upgraded = hyper::upgrade::on(request).await.expect("upgrade");
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), WsRole::Server, None).await;
        let [lo, hi] = port.to_le_bytes();
        for channel in [0u8, 1] {
            let opened = Message::Binary(vec![channel, lo, hi].into());
            if socket.send(opened).await.is_err() {
                return;
            }
        }
        // A pod whose container is not listening: the connection is refused, as in a cluster.
        let Ok(tcp) = TcpStream::connect(target).await else {
            let refused = format!("error forwarding port {port}: connection refused");
            let mut frame = vec![1u8];
            frame.extend_from_slice(refused.as_bytes());
            let _ = socket.send(Message::Binary(frame.into())).await;
            let _ = socket.close(None).await;
            return;
        };
        let (mut tcp_read, mut tcp_write) = tcp.into_split();
        let (mut ws_write, mut ws_read) = socket.split();
        let to_pod = async move {
            while let Some(Ok(message)) = ws_read.next().await {
                match message {
                    Message::Binary(bytes) if bytes.first() == Some(&0) => {
                        let Ok(()) = tcp_write.write_all(&bytes[1..]).await else {
                            break;
                        };
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        };
        let from_pod = async move {
            let mut buffer = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = tcp_read.read(&mut buffer).await {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(0u8);
                frame.extend_from_slice(&buffer[..n]);
                if ws_write.send(Message::Binary(frame.into())).await.is_err() {
                    break;
                }
            }
            let _ = ws_write.close().await;
        };
        tokio::select! { _ = to_pod => {}, _ = from_pod => {} }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, key)
        .header(header::SEC_WEBSOCKET_PROTOCOL, "v4.channel.k8s.io")
        .body(Full::new(Bytes::new()))
        .expect("response")
}

/// A gRPC server whose health says NOT_SERVING: a pod whose database does not answer.
async fn not_serving_pod() -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _keep = reporter;
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    addr
}

/// An address nothing listens on: a crash-looping container's port.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn platform_addr(platform: &Platform) -> SocketAddr {
    platform
        .server
        .uri()
        .trim_start_matches("http://")
        .parse()
        .expect("the platform's address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_rollouts_health_a_service_not_ready_and_a_crash_loop() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let serving = platform_addr(&platform);
    let mut cluster = Cluster::default();
    // org: rolled out, serving.
    cluster.deployment("org", 2, 2, 2);
    cluster.pod("org", 1, PodState::Ready, Some(serving));
    cluster.pod("org", 2, PodState::Ready, Some(serving));
    // member: its pods run but its database does not answer.
    cluster.deployment("member", 2, 0, 2);
    let unready = not_serving_pod().await;
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
    let release = Release::new(fake_api_server(cluster).await, NAMESPACE, RELEASE);

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
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_release_that_is_not_there_says_so() {
    let mut cluster = Cluster::default();
    cluster.deployment("org", 1, 1, 1);
    let release = Release::new(fake_api_server(cluster).await, NAMESPACE, "minhang");
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
    let telemetry = common::install_telemetry(&collector);
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let serving = platform_addr(&platform);
    let mut cluster = Cluster::default();
    for service in ["org", "grid", "notify"] {
        cluster.deployment(service, 1, 1, 1);
        cluster.pod(service, 1, PodState::Ready, Some(serving));
    }
    let release = Release::new(fake_api_server(cluster).await, NAMESPACE, RELEASE);
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
            .filter(|s| s.name.contains(name) && hex(&s.trace_id) == report.trace_id)
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
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let serving = platform_addr(&platform);
    let mut cluster = Cluster::default();
    cluster.deployment("grid", 1, 1, 1);
    cluster.pod("grid", 1, PodState::Ready, Some(serving));
    cluster.deployment("notify", 1, 0, 1);
    cluster.pod("notify", 1, PodState::CrashLooping, None);
    let release = Release::new(fake_api_server(cluster).await, NAMESPACE, RELEASE);
    let header = jiceng_testkit::bearer("ops", &[Role::DistrictAdmin], &platform.root_id);
    let err = jiceng_cluster::smoke(
        &release,
        header.trim_start_matches("Bearer "),
        None,
        Duration::from_secs(5),
    )
    .await
    .expect_err("notify is down");
    assert_eq!(err.to_string(), "notify: no ready pod");
    platform.stop().await;
}
