//! Test support: fresh SQLite or PostgreSQL databases, in-process servers on pre-bound ports, an OTLP receiver, an HTTP receiver for webhooks, tokens, a fake Kubernetes API server, a database connection a test can cut, a PostgreSQL server of a test's own to restart and crash, a PgBouncer in front of the tests' server.
//!
//! PostgreSQL tests run when `JICENG_TEST_DATABASE_URL` names a server (any database on it; each
//! test creates and drops its own). Under CI (`CI` set) a missing URL fails the tests rather
//! than skipping them.

pub mod bench;
mod database;
mod http;
pub mod kube;
mod otlp;
pub mod outage;
pub mod pgbouncer;
pub mod private_postgres;
mod tls;
pub mod topology;

pub use database::{Backend, TestDatabase};
pub use http::{HttpReceiver, ReceivedRequest};
pub use otlp::{MetricKind, MetricPoint, OtlpReceiver};
pub use tls::TestCertificates;

use std::{future::Future, net::SocketAddr, time::Duration};

use jiceng_auth::{Claims, InternalKey, KeyConfig, Role, ServiceToken, TokenIssuer};
use jiceng_grpc::GrpcServer;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// The HS256 secret every test server and token shares.
pub const TEST_SECRET: &[u8] = b"jiceng-test-secret-at-least-32-bytes";
/// Pudong New District, the district tests run as.
pub const TEST_DISTRICT: &str = "310115";

/// The internal key every test platform's services share: not the outside secret.
pub const TEST_INTERNAL_KEY: &[u8] = b"jiceng-test-internal-key-at-least-32";

pub fn test_keys() -> KeyConfig {
    KeyConfig::Hs256Secret(TEST_SECRET.to_vec())
}

pub fn test_internal_key() -> InternalKey {
    InternalKey::new(TEST_INTERNAL_KEY).expect("the test internal key is long enough")
}

/// The `authorization` value one of the platform's own services presents: an internal token.
pub fn service_bearer(subject: &str) -> String {
    let token = ServiceToken::new(&test_internal_key(), TEST_DISTRICT, subject)
        .expect("the test internal key is valid");
    let header = token.bearer().expect("an internal token");
    header.to_str().expect("a header value").to_owned()
}

/// A bearer token for `roles` scoped to `scope_org`, as the `authorization` header value.
pub fn bearer(subject: &str, roles: &[Role], scope_org: &str) -> String {
    let claims = Claims::new(subject, TEST_DISTRICT, scope_org, roles, 3600);
    let token = TokenIssuer::hs256(TEST_SECRET).and_then(|issuer| issuer.mint(&claims));
    format!("Bearer {}", token.expect("the test secret is valid"))
}

/// Adds a bearer token to every call of a client.
#[derive(Clone, Debug)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// `header` is the whole `authorization` value, e.g. from [`bearer`].
    pub fn new(header: &str) -> Self {
        Self(Some(header.parse().expect("a header value")))
    }

    /// Sends no token at all.
    pub fn none() -> Self {
        Self(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Asks `probe` every 25 ms until it answers `Some`, for at most `within`: what a test waits
/// for that happens in the background (a relayed event, a notice). `None` when it never did.
pub async fn eventually<T, Fut>(within: Duration, mut probe: impl FnMut() -> Fut) -> Option<T>
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Binds 127.0.0.1 on a free port before serving, so the address is known and no two tests race
/// for a port.
pub async fn bind_local() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    (listener, addr)
}

/// A server running in the test's process; stops when dropped.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drains and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves `server` on a fresh local port.
pub async fn spawn_server(server: GrpcServer) -> RunningServer {
    let (listener, addr) = bind_local().await;
    spawn_on(addr, |shutdown| async move {
        server
            .serve(listener, shutdown)
            .await
            .expect("test server failed");
    })
}

/// Runs `serve` (given a shutdown future) as the server listening on `addr`.
pub fn spawn_on<F, Fut>(addr: SocketAddr, serve: F) -> RunningServer
where
    F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = Box::pin(async move {
        let _ = stopped.await;
    });
    let task = tokio::spawn(serve(shutdown));
    RunningServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Defines each named conformance case (an `async fn(TestDatabase)`) as two tests, one per
/// backend: `sqlite::<case>` and `postgres::<case>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::TestDatabase::create($crate::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(db) = $crate::TestDatabase::postgres().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}
