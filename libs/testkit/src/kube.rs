//! A fake Kubernetes API server for the operators' commands: scripted Deployments and pods of
//! one release, and a real port-forward (the API server's WebSocket protocol) to addresses a
//! test chooses, so that gRPC health and calls travel the path they take in a cluster.

use std::{collections::BTreeMap, convert::Infallible, net::SocketAddr, sync::Arc};

use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, header, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, handshake::derive_accept_key, protocol::Role as WsRole},
};

/// What a pod's status says.
#[derive(Clone, Copy, Debug)]
pub enum PodState {
    /// Running and passing its readiness probe.
    Ready,
    /// Running, failing its readiness probe.
    Unready,
    /// Not started yet.
    Pending,
    /// Its container keeps exiting: seven restarts, the last with exit code 1.
    CrashLooping,
}

/// The objects of one jiceng release, labelled as the chart labels them.
#[derive(Debug)]
pub struct FakeCluster {
    namespace: String,
    release: String,
    deployments: Vec<Value>,
    pods: Vec<Value>,
    forwards: BTreeMap<String, SocketAddr>,
}

impl FakeCluster {
    pub fn new(namespace: &str, release: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            release: release.to_owned(),
            deployments: Vec::new(),
            pods: Vec::new(),
            forwards: BTreeMap::new(),
        }
    }

    fn selector(&self, service: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "jiceng",
            "app.kubernetes.io/instance": self.release,
            "app.kubernetes.io/component": service,
        })
    }

    fn labels(&self, service: &str) -> Value {
        let mut labels = self.selector(service);
        labels["app.kubernetes.io/part-of"] = json!("jiceng");
        labels
    }

    /// A service's Deployment, created on 2026-11-01.
    pub fn deployment(&mut self, service: &str, desired: i32, ready: i32, updated: i32) {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": format!("{}-jiceng-{service}", self.release),
                "namespace": self.namespace,
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": self.labels(service),
            },
            "spec": {
                "replicas": desired,
                "selector": {"matchLabels": self.selector(service)},
                "template": {
                    "metadata": {"labels": self.labels(service)},
                    "spec": {"containers": [{"name": service, "image": "jiceng/jiceng:0.1.0"}]},
                },
            },
            "status": {
                "replicas": desired,
                "readyReplicas": ready,
                "updatedReplicas": updated,
                "availableReplicas": ready,
            },
        });
        self.deployments.push(deployment);
    }

    /// Pod `n` of `service`; `forward` is where its port-forward leads, if anywhere.
    pub fn pod(&mut self, service: &str, n: u32, state: PodState, forward: Option<SocketAddr>) {
        let name = format!("{}-jiceng-{service}-{n}", self.release);
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
        let last_state = if crashed {
            json!({"terminated": {"exitCode": 1, "reason": "Error"}})
        } else {
            json!({})
        };
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": self.labels(service)},
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
                    "lastState": last_state,
                }],
            },
        });
        self.pods.push(pod);
        if let Some(addr) = forward {
            self.forwards.insert(name, addr);
        }
    }

    /// Serves the cluster's API on a fresh local port.
    pub async fn serve(self) -> FakeApiServer {
        let (listener, addr) = crate::bind_local().await;
        let cluster = Arc::new(self);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
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
        FakeApiServer { addr, _task: task }
    }
}

/// A running fake API server.
#[derive(Debug)]
pub struct FakeApiServer {
    pub addr: SocketAddr,
    _task: JoinHandle<()>,
}

impl FakeApiServer {
    /// A client of it, as `kube::Client::try_default` makes from a kubeconfig.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(
            format!("http://{}", self.addr)
                .parse()
                .expect("a local URI"),
        );
        kube::Client::try_from(config).expect("a client of the fake API server")
    }

    /// A kubeconfig naming it, for a command that finds its cluster through `KUBECONFIG`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             users:\n- name: fake\n  user: {{}}\n",
            self.addr
        )
    }
}

/// A gRPC server with only the health service, answering `serving` for the server: a pod whose
/// database answers, or does not.
pub async fn health_endpoint(serving: bool) -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    let (listener, addr) = crate::bind_local().await;
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
pub async fn closed_port() -> SocketAddr {
    let (_listener, addr) = crate::bind_local().await;
    addr
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

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

async fn answer(
    cluster: Arc<FakeCluster>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let selector = query_param(&query, "labelSelector");
    let namespace = &cluster.namespace;
    let list = |api_version: &str, kind: &str, objects: &[Value]| {
        let items = matching(objects, &selector);
        let list = json!({"apiVersion": api_version, "kind": kind, "metadata": {}, "items": items});
        respond(StatusCode::OK, list.to_string())
    };
    let pods_path = format!("/api/v1/namespaces/{namespace}/pods");
    if path == format!("/apis/apps/v1/namespaces/{namespace}/deployments") {
        return Ok(list("apps/v1", "DeploymentList", &cluster.deployments));
    }
    if path == pods_path {
        return Ok(list("v1", "PodList", &cluster.pods));
    }
    if let Some(pod) = path
        .strip_prefix(&format!("{pods_path}/"))
        .and_then(|rest| rest.strip_suffix("/portforward"))
    {
        return Ok(port_forward(&cluster, pod, &query, request));
    }
    let not_found = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
    });
    Ok(respond(StatusCode::NOT_FOUND, not_found.to_string()))
}

/// The API server's port-forward over WebSocket (v4.channel.k8s.io): per port a data channel
/// (0) and an error channel (1), each opened by a frame naming the port; then every frame
/// carries its channel in its first byte.
fn port_forward(
    cluster: &FakeCluster,
    pod: &str,
    query: &str,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let Some(target) = cluster.forwards.get(pod).copied() else {
        return respond(
            StatusCode::BAD_REQUEST,
            "pod does not accept port-forward".into(),
        );
    };
    let port: u16 = query_param(query, "ports").parse().expect("one port");
    let accept = request
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
        // A container that does not listen: the connection is refused, as in a cluster.
        let Ok(tcp) = TcpStream::connect(target).await else {
            let mut frame = vec![1u8];
            frame.extend_from_slice(format!("error forwarding port {port}: refused").as_bytes());
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
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(header::SEC_WEBSOCKET_PROTOCOL, "v4.channel.k8s.io")
        .body(Full::new(Bytes::new()))
        .expect("a response")
}
