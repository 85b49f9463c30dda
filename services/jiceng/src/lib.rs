//! The jiceng binary: up, serve, migrate, token.
//!
//! [`App::build`] assembles a process from configuration: it binds the listener, connects and
//! migrates each service's database, provisions the district root, and wires the gRPC services,
//! health, reflection and the outbox relays. `main.rs` only parses the command line.

pub mod demo;
pub mod district;

use std::{
    collections::HashMap, future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration,
};

use jiceng_auth::{Authenticator, KeyConfig};
use jiceng_db::Database;
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_org::{
    OrgStore,
    domain::{UnitCode, UnitKind, UnitName},
};
use jiceng_outbox::{Destination, Relay, RelayOptions};
use tokio::{net::TcpListener, sync::watch};

pub use district::District;

/// How often the org service looks for decisions coming due or overdue.
const DECISION_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// The services this binary can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    Org,
}

impl ServiceName {
    pub const ALL: [ServiceName; 1] = [ServiceName::Org];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Org => "org",
        }
    }
}

/// Where the services keep their data.
#[derive(Clone, Debug)]
pub enum Storage {
    /// One SQLite file per service in a folder: `jiceng up`.
    Embedded { data_dir: PathBuf },
    /// One database URL (PostgreSQL or SQLite) for the one service of `jiceng serve`.
    Url(String),
}

impl Storage {
    fn url_for(&self, service: ServiceName) -> String {
        match self {
            Storage::Embedded { data_dir } => {
                format!("sqlite://{}/{}.db", data_dir.display(), service.as_str())
            }
            Storage::Url(url) => url.clone(),
        }
    }
}

/// An event consumer the relays deliver to.
#[derive(Clone, Debug)]
pub struct EventSink {
    pub name: String,
    pub uri: String,
    /// Event types it consumes: exact types, prefixes ending in `*`, or `*` for all.
    pub event_types: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub listen: SocketAddr,
    pub district: District,
    pub services: Vec<ServiceName>,
    pub storage: Storage,
    pub keys: KeyConfig,
    /// Consumers of this process's events.
    pub event_sinks: Vec<EventSink>,
    /// The bearer token the relays present to event sinks.
    pub service_token: Option<String>,
    pub server: ServerOptions,
    pub relay: RelayOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{service} database: {source}")]
    Database {
        service: &'static str,
        source: jiceng_db::DbError,
    },
    #[error("cannot provision the district root: {0}")]
    Root(jiceng_org::store::StoreError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A built process, bound and migrated, ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    server: GrpcServer,
    relays: Vec<Relay>,
    databases: Vec<Database>,
    org: Option<OrgStore>,
    root_id: Option<String>,
}

impl App {
    pub async fn build(config: AppConfig) -> Result<Self, AppError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind {
            addr: config.listen,
            source,
        })?;
        let authenticator = Arc::new(
            Authenticator::new(&config.keys, &config.district.code)
                .map_err(|e| AppError::Config(e.to_string()))?,
        );
        let destinations = destinations(&config)?;
        let mut server = GrpcServer::new(config.server.clone());
        let (mut relays, mut databases, mut org, mut root_id) =
            (Vec::new(), Vec::new(), None, None);
        for service in &config.services {
            let db = connect_and_migrate(*service, &config.storage).await?;
            match service {
                ServiceName::Org => {
                    let source = format!("//jiceng/{}/org", config.district.code);
                    let store = OrgStore::new(db.clone(), source);
                    let name = UnitName::parse(&config.district.committee_name())
                        .map_err(AppError::Config)?;
                    let code = UnitCode::parse_optional(&config.district.code)
                        .map_err(AppError::Config)?;
                    let root = store
                        .ensure_root(UnitKind::DistrictCommittee, &name, code.as_ref())
                        .await
                        .map_err(AppError::Root)?;
                    root_id = Some(root.id.to_string());
                    jiceng_org::add_services(&mut server, &store, &authenticator);
                    org = Some(store);
                }
            }
            server.depends_on(db.clone());
            // Without consumers no event is written, so there is nothing to relay.
            if !destinations.is_empty() {
                relays.push(Relay::new(
                    db.clone(),
                    destinations.clone(),
                    config.relay.clone(),
                ));
            }
            databases.push(db);
        }
        Ok(Self {
            listener,
            addr,
            server,
            relays,
            databases,
            org,
            root_id,
        })
    }

    /// The address the server listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The id of the district's root unit, when the org service runs here.
    pub fn root_id(&self) -> Option<&str> {
        self.root_id.as_deref()
    }

    /// The org store, when the org service runs here (the demo loader writes through it).
    pub fn org_store(&self) -> Option<&OrgStore> {
        self.org.as_ref()
    }

    /// Serves until `shutdown` completes: then stops accepting, drains requests in flight,
    /// stops the relays and closes the databases.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError> {
        // Background work (outbox relays, the decision scanner) stops when serving stops.
        let (stop_background, background_stopped) = watch::channel(false);
        let stopped = || {
            let mut stopped = background_stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut background: Vec<_> = self
            .relays
            .into_iter()
            .map(|relay| tokio::spawn(relay.run(stopped())))
            .collect();
        if let Some(org) = self.org {
            background.push(tokio::spawn(jiceng_org::scan_decisions(
                org,
                DECISION_SCAN_INTERVAL,
                stopped(),
            )));
        }
        let served = self.server.serve(self.listener, shutdown).await;
        let _ = stop_background.send(true);
        for task in background {
            let _ = task.await;
        }
        for db in &self.databases {
            db.close().await;
        }
        Ok(served?)
    }
}

/// Connects a service's database and brings its schema up to date.
pub async fn connect_and_migrate(
    service: ServiceName,
    storage: &Storage,
) -> Result<Database, AppError> {
    let fail = |source| AppError::Database {
        service: service.as_str(),
        source,
    };
    let db = Database::connect(&storage.url_for(service))
        .await
        .map_err(fail)?;
    db.migrate(&jiceng_outbox::MIGRATIONS).await.map_err(fail)?;
    match service {
        ServiceName::Org => db.migrate(&jiceng_org::MIGRATIONS).await.map_err(fail)?,
    }
    Ok(db)
}

fn destinations(config: &AppConfig) -> Result<HashMap<String, Destination>, AppError> {
    config
        .event_sinks
        .iter()
        .map(|sink| {
            let channel = jiceng_grpc::channel(&sink.uri, Duration::from_secs(10))
                .map_err(|e| AppError::Config(e.message().to_owned()))?;
            let destination = Destination::new(
                channel,
                config.service_token.as_deref(),
                sink.event_types.clone(),
            )
            .map_err(|e| AppError::Config(e.message().to_owned()))?;
            Ok((sink.name.clone(), destination))
        })
        .collect()
}
