//! Server assembly shared by every service: health that says SERVING only while the databases
//! answer, reflection, request deadlines, tracing of every RPC but health checks, HTTP/JSON and
//! gRPC-Web beside gRPC on the same port, and graceful shutdown.

use std::{convert::Infallible, future::Future, time::Duration};

use jiceng_db::Database;
use tokio::net::TcpListener;
use tokio_stream::{StreamExt as _, wrappers::TcpListenerStream};
use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::Server,
};
use tonic_health::{ServingStatus, server::HealthReporter};

use jiceng_gateway::{GrpcWebLayer, HttpRoutes, TranscodeLayer, cors_layer};

use crate::{access_log::AccessLogLayer, deadline::DeadlineLayer, server_span::ServerSpanLayer};

/// Largest request or response message, in bytes, that a service accepts.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Deadline for a request that carries none of its own (a shorter `grpc-timeout` wins).
    pub request_timeout: Duration,
    /// How often health re-checks the databases.
    pub health_interval: Duration,
    /// How long a client connection may live before the server asks it to go (HTTP/2 GOAWAY):
    /// callers hold one long-lived connection, so without a limit replicas added later get no
    /// traffic from callers already connected. `None`: connections live as long as callers
    /// keep them.
    pub max_connection_age: Option<Duration>,
    /// How long calls in flight on a connection past its age may still take before it is
    /// closed.
    pub max_connection_age_grace: Duration,
    /// The web origins whose pages may call the services from a browser (gRPC-Web and
    /// HTTP/JSON): CORS answers them and no other.
    pub cors_allowed_origins: Vec<http::HeaderValue>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            health_interval: Duration::from_secs(5),
            max_connection_age: None,
            max_connection_age_grace: Duration::from_secs(30),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// A service crate's gRPC services, gathered before the process that runs them has a server:
/// [`GrpcServer::mount`] adds them.
#[derive(Default)]
pub struct GrpcServices {
    names: Vec<&'static str>,
    adds: Vec<AddService>,
}

/// Adds one service to the server it is mounted on.
type AddService = Box<dyn FnOnce(&mut GrpcServer) + Send>;

impl std::fmt::Debug for GrpcServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServices")
            .field("names", &self.names)
            .finish()
    }
}

impl GrpcServices {
    /// Adds a service; wrap it in [`crate::authenticated!`] unless it is meant to be public.
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.adds.push(Box::new(move |server: &mut GrpcServer| {
            server.add_service(service);
        }));
        self
    }

    /// The full gRPC names of the services, in the order they were added.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

/// A generated gRPC server (`FooServiceServer::new(api)`) behind the authenticator's
/// interceptor, with the platform's message size limits both ways and the one check of the
/// contracts' REQUIRED fields (`required.rs`): how every service of the platform is exposed.
#[macro_export]
macro_rules! authenticated {
    ($server:expr, $authenticator:expr) => {
        ::tonic::service::interceptor::InterceptedService::new(
            $crate::RequiredFields::new(
                $server
                    .max_decoding_message_size($crate::server::MAX_MESSAGE_BYTES)
                    .max_encoding_message_size($crate::server::MAX_MESSAGE_BYTES),
            ),
            $authenticator.interceptor(),
        )
    };
}

/// The services of one process and what their health depends on.
#[derive(Debug)]
pub struct GrpcServer {
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    databases: Vec<Database>,
    options: ServerOptions,
}

impl GrpcServer {
    pub fn new(options: ServerOptions) -> Self {
        Self {
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            databases: Vec::new(),
            options,
        }
    }

    /// Adds a service; its health is reported under its full gRPC name.
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Adds every service of `services`.
    pub fn mount(&mut self, services: GrpcServices) -> &mut Self {
        for add in services.adds {
            add(self);
        }
        self
    }

    /// Health stays NOT_SERVING unless this database answers.
    pub fn depends_on(&mut self, database: Database) -> &mut Self {
        self.databases.push(database);
        self
    }

    /// Serves on an already bound listener until `shutdown` completes, then stops accepting,
    /// reports NOT_SERVING and lets requests in flight finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let names = self.service_names.clone();
        set_status(&health, &names, ServingStatus::NotServing).await;
        health
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        let watch = tokio::spawn(watch_databases(
            health.clone(),
            names.clone(),
            self.databases,
            self.options.health_interval,
        ));
        // The rules are compiled in and read by a unit test; failing here is a build defect.
        let http_routes = HttpRoutes::for_services(&names).expect("the contracts' HTTP rules read");
        let mut routes: Routes = self.routes.routes();
        routes = routes.add_service(health_service);
        routes = add_reflection(routes);
        let mut builder = Server::builder();
        if let Some(age) = self.options.max_connection_age {
            builder = builder
                .max_connection_age(age)
                .max_connection_age_grace(self.options.max_connection_age_grace);
        }
        // HTTP/1.1 for HTTP/JSON and gRPC-Web callers; gRPC callers keep HTTP/2. Outermost
        // first: CORS answers browsers' preflights, the gateway turns HTTP/JSON into gRPC and
        // gRPC-Web becomes gRPC, so that what follows sees one kind of call.
        builder
            .accept_http1(true)
            .layer(cors_layer(&self.options.cors_allowed_origins))
            .layer(TranscodeLayer::new(http_routes))
            .layer(GrpcWebLayer::new())
            .layer(ServerSpanLayer)
            .layer(AccessLogLayer)
            .layer(DeadlineLayer::new(self.options.request_timeout))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming(listener), async {
                shutdown.await;
                watch.abort();
                set_status(&health, &names, ServingStatus::NotServing).await;
                tracing::info!("shutting down: draining requests in flight");
            })
            .await
    }
}

/// Accepted connections with Nagle's algorithm off: otherwise small responses wait for the
/// peer's delayed ACK, some 40 ms per round trip.
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted {
            let _ = stream.set_nodelay(true);
        }
        accepted
    })
}

fn add_reflection(routes: Routes) -> Routes {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(jiceng_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1();
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(jiceng_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha();
    match (v1, v1alpha) {
        (Ok(v1), Ok(v1alpha)) => routes.add_service(v1).add_service(v1alpha),
        (Err(err), _) | (_, Err(err)) => {
            // The descriptor set is compiled in; failing here is a build defect, not bad input.
            tracing::error!(error = %err, "reflection unavailable");
            routes
        }
    }
}

/// How long a round of database pings may take before health says NOT_SERVING. The pool keeps
/// retrying a refused connection until its own acquire timeout (5 s), so without this bound a
/// server that is down would be noticed only after 5 s for every database of the process.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

async fn watch_databases(
    health: HealthReporter,
    names: Vec<&'static str>,
    databases: Vec<Database>,
    interval: Duration,
) {
    let mut last = None;
    loop {
        let round = async {
            let mut serving = true;
            for database in &databases {
                serving &= database.ping().await;
            }
            serving
        };
        let serving = tokio::time::timeout(PING_TIMEOUT, round)
            .await
            .unwrap_or(false);
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(serving) {
            tracing::info!(serving, "health changed");
            set_status(&health, &names, status).await;
            last = Some(serving);
        }
        tokio::time::sleep(interval).await;
    }
}

/// The health entry that serves while the process runs, whatever its database says: what a
/// liveness probe asks, so that a database outage makes pods unready rather than restarted.
pub const LIVENESS: &str = "liveness";

/// Sets every service's status and the server's overall status (the empty name).
async fn set_status(health: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// Completes on ctrl-c or SIGTERM (what Kubernetes sends before it kills a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
