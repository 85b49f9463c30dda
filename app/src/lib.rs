//! The composition root: [`App::build`] assembles a process of jiceng's services from
//! configuration, for `jiceng up` (all five) and `jiceng serve` (one).
//!
//! It binds the listener, connects and migrates each service's database, makes the
//! [`jiceng_service::Context`] the services share (the authenticator, one org directory, one
//! member client, the vault), loops over the configured services calling each crate's `build`,
//! mounts their gRPC services beside health and reflection, routes events to their consumers
//! through one sink, and runs their background tasks, the outbox relays and the org paths'
//! reconciliation until it stops. It knows no service's insides.

pub mod district;

use std::{
    collections::HashMap, future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration,
};

use jiceng_auth::{Authenticator, InternalKey, KeyConfig, ServiceToken};
use jiceng_db::{Clock, Database};
use jiceng_grid::GridStore;
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_member::{MemberStore, PiiVault};
use jiceng_member_client::MemberRoll;
use jiceng_merkle::LogSigner;
use jiceng_notify::DispatchOptions;
use jiceng_org::{
    OrgStore,
    domain::{UnitCode, UnitId, UnitKind, UnitName},
};
use jiceng_org_client::{OrgDirectory, PathHolder};
use jiceng_outbox::{Destination, Relay, RelayOptions, SinkRouter};
use jiceng_property::PropertyStore;
use jiceng_proto::events::event_sink_service_server::EventSinkServiceServer;
use jiceng_service::{BuildError, Built, Context, Parts, StopHooks, Task};
use tokio::{net::TcpListener, sync::watch};
use tonic::service::interceptor::InterceptedService;

pub use district::District;

/// How often every replica of member, grid and property compares the org paths it stores with
/// the org tree: a safety net behind the moves' events, so not often.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// The services this binary can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    Org,
    Member,
    Grid,
    Property,
    Notify,
}

impl ServiceName {
    /// In start order: the org service provisions the root that service tokens are scoped to.
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Org,
        ServiceName::Member,
        ServiceName::Grid,
        ServiceName::Property,
        ServiceName::Notify,
    ];

    /// Where the service keeps org paths beside its rows (re-pathed when units move,
    /// reconciled with the org tree), if it keeps any.
    pub fn org_path_holders(self) -> Option<&'static [PathHolder]> {
        match self {
            ServiceName::Member => Some(jiceng_member::ORG_PATH_HOLDERS),
            ServiceName::Grid => Some(jiceng_grid::ORG_PATH_HOLDERS),
            ServiceName::Property => Some(jiceng_property::ORG_PATH_HOLDERS),
            ServiceName::Org | ServiceName::Notify => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Org => "org",
            ServiceName::Member => "member",
            ServiceName::Grid => "grid",
            ServiceName::Property => "property",
            ServiceName::Notify => "notify",
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
    /// Connections each service's database pool keeps at the most; `None` for the default
    /// (16 on PostgreSQL, 8 on SQLite).
    pub database_pool_size: Option<u32>,
    pub keys: KeyConfig,
    /// The issuer (`iss`) and audience (`aud`) callers' tokens must name.
    pub token_issuer: String,
    pub token_audience: String,
    /// Consumers of this process's events.
    pub event_sinks: Vec<EventSink>,
    /// The key the platform's services sign the internal tokens they present to each other
    /// with (event sinks, the org, grid and member services): every service of a deployment
    /// holds the same one, and no outside caller does.
    pub internal_key: InternalKey,
    /// Where the org service answers, for services that ask it (member, notify). Unset: this
    /// process.
    pub org_endpoint: Option<String>,
    /// Where the grid service answers, for the org service's check that a meeting's case
    /// exists. Unset: this process, when grid runs here; otherwise such meetings are refused.
    pub grid_endpoint: Option<String>,
    /// Where the member service answers, for the services that check the members a caller
    /// names (org: attendance; grid: group claims of wishes; notify: recipients). Unset: this
    /// process, when member runs here; otherwise such calls are refused.
    pub member_endpoint: Option<String>,
    /// The key personal data is sealed with (member, grid, property), at least 32 bytes.
    pub pii_key: Option<Vec<u8>>,
    /// The Ed25519 seed (32 bytes) the property service signs its log's tree heads with.
    pub log_signing_key: Option<Vec<u8>>,
    pub server: ServerOptions,
    pub relay: RelayOptions,
    pub webhooks: DispatchOptions,
    /// The time every service stamps and compares with (time limits, terms, due dates): the
    /// system's, except in tests, which move it ahead instead of waiting.
    pub clock: Clock,
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
    /// Each service's database.
    databases: Vec<(ServiceName, Database)>,
    /// The org service as the other services here see it, when any of them runs here: its
    /// scope cache is kept confirmed against the org tree's generation while serving.
    directory: Option<OrgDirectory>,
    /// The databases here that keep org paths, and where, for their reconciliation.
    path_holders: Vec<(Database, &'static [PathHolder])>,
    /// The services' background work.
    tasks: Vec<Task>,
    /// What the services do as soon as the process begins to stop.
    on_stop: StopHooks,
    stores: Stores,
    district: String,
    /// One pool per database, for work done once per database.
    distinct_databases: Vec<Database>,
}

impl App {
    pub async fn build(config: AppConfig) -> Result<Self, AppError> {
        let bind_error = |source| AppError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        if matches!(&config.keys, KeyConfig::Hs256Secret(secret) if secret == config.internal_key.as_bytes())
        {
            return Err(AppError::Config(
                "the internal key must differ from the JWT secret: outside tokens would pass as the platform's own".into(),
            ));
        }
        let key_error = |e: jiceng_auth::KeyError| AppError::Config(e.to_string());
        let authenticator = Arc::new(
            Authenticator::for_audience(
                &config.keys,
                &config.district.code,
                &config.token_issuer,
                &config.token_audience,
            )
            .and_then(|auth| auth.with_internal_key(&config.internal_key))
            .map_err(key_error)?,
        );
        // What this process presents to the platform's other services, renewed by itself.
        let services: Vec<&str> = config.services.iter().map(|s| s.as_str()).collect();
        let service_token = ServiceToken::new(
            &config.internal_key,
            &config.district.code,
            &format!("service:{}", services.join("+")),
        )
        .map_err(key_error)?;
        let peers = Peers {
            config: &config,
            addr,
            service_token: &service_token,
        };
        // What the services here ask of the org and member services, made once and shared:
        // one scope cache to keep fresh.
        let directory = peers.org_directory()?;
        let members = peers.client(
            config.member_endpoint.as_ref(),
            ServiceName::Member,
            MemberRoll::new,
        )?;
        let grid_endpoint = peers.endpoint(config.grid_endpoint.as_ref(), ServiceName::Grid);
        let vault = config
            .pii_key
            .as_deref()
            .map(PiiVault::new)
            .transpose()
            .map_err(|e| AppError::Config(e.to_string()))?;
        let mut server = GrpcServer::new(config.server.clone());
        let mut databases = Vec::new();
        let mut stores = Stores::default();
        let (mut path_holders, mut tasks, mut on_stop) =
            (Vec::new(), Vec::new(), StopHooks::default());
        let mut sinks = config.event_sinks.clone();
        // Every consumer of events in this process, behind the one sink the process serves.
        let mut sink = SinkRouter::default();
        // ServiceName::ALL's order: org first, so that the root exists before anyone is served.
        for service in ServiceName::ALL
            .into_iter()
            .filter(|s| config.services.contains(s))
        {
            let db = connect_and_migrate(service, &config.storage, config.database_pool_size)
                .await?
                .with_clock(config.clock.clone());
            // A service that seals personal data refuses a key its data was not sealed under.
            if let (true, Some(vault)) = (seals_personal_data(service), &vault) {
                jiceng_pii_audit::confirm_key(&db, vault)
                    .await
                    .map_err(|e| AppError::Config(format!("{}: {e}", service.as_str())))?;
            }
            let context = Context {
                db: db.clone(),
                district: config.district.code.clone(),
                authenticator: Arc::clone(&authenticator),
                service_token: service_token.clone(),
                org: directory.clone(),
                members: members.clone(),
                grid_endpoint: grid_endpoint.clone(),
                vault: vault.clone(),
            };
            let parts = stores.build(service, &context, &config).await?;
            server.mount(parts.grpc);
            if let Some(consumer) = parts.consumer {
                sink.add(consumer.event_types, consumer.sink);
            }
            if !parts.path_holders.is_empty() {
                path_holders.push((db.clone(), parts.path_holders));
            }
            tasks.extend(parts.tasks);
            on_stop.extend(parts.on_stop);
            server.depends_on(db.clone());
            databases.push((service, config.storage.url_for(service), db));
        }
        if !sink.is_empty() {
            // In one process the org service's events go straight to the consumers here.
            if stores.org.is_some() {
                sinks.push(EventSink {
                    name: "local".into(),
                    uri: self_uri(addr),
                    event_types: sink.event_types(),
                });
            }
            server.add_service(InterceptedService::new(
                EventSinkServiceServer::new(sink),
                authenticator.interceptor(),
            ));
        }
        let destinations = destinations(&sinks, &service_token)?;
        // Without consumers events wait in the outboxes; there is nothing to relay yet.
        let relays = if destinations.is_empty() {
            Vec::new()
        } else {
            // Services that share a database share its outbox: one relay per database.
            let mut urls: Vec<&String> = databases.iter().map(|(_, url, _)| url).collect();
            urls.sort();
            urls.dedup();
            urls.into_iter()
                .filter_map(|url| {
                    let sharing: Vec<&str> = databases
                        .iter()
                        .filter(|(_, u, _)| u == url)
                        .map(|(service, _, _)| service.as_str())
                        .collect();
                    let (_, _, db) = databases.iter().find(|(_, u, _)| u == url)?;
                    Some(Relay::new(
                        &sharing.join("+"),
                        db.clone(),
                        destinations.clone(),
                        config.relay.clone(),
                    ))
                })
                .collect()
        };
        // Services that share a database (one URL) are analysed once.
        let mut urls = std::collections::BTreeSet::new();
        let distinct_databases = databases
            .iter()
            .filter(|(_, url, _)| urls.insert(url.clone()))
            .map(|(_, _, db)| db.clone())
            .collect();
        let databases = databases
            .into_iter()
            .map(|(service, _, db)| (service, db))
            .collect();
        // The org service alone asks nobody: its tree needs no watching from here.
        let directory =
            directory.filter(|_| config.services.iter().any(|s| *s != ServiceName::Org));
        Ok(Self {
            listener,
            addr,
            server,
            relays,
            databases,
            directory,
            path_holders,
            tasks,
            on_stop,
            stores,
            district: config.district.code.clone(),
            distinct_databases,
        })
    }

    /// The GB/T 2260 code of the district this platform serves.
    pub fn district_code(&self) -> &str {
        &self.district
    }

    /// Analyses (and on PostgreSQL vacuums) every database here, as after a bulk load.
    pub async fn analyze(&self) -> Result<(), jiceng_db::DbError> {
        for db in &self.distinct_databases {
            db.analyze().await?;
        }
        Ok(())
    }

    /// The address the server listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The id of the district's root unit, when the org service runs here.
    pub fn root_id(&self) -> Option<&str> {
        self.stores.root_id.as_deref()
    }

    /// The org store, when the org service runs here (the tools write through it).
    pub fn org_store(&self) -> Option<&OrgStore> {
        self.stores.org.as_ref()
    }

    /// The member store and the vault it seals personal data with, when the member service
    /// runs here.
    pub fn member_store(&self) -> Option<(&MemberStore, &PiiVault)> {
        self.stores.member.as_ref().zip(self.stores.vault.as_ref())
    }

    /// The grid store and its vault, when the grid service runs here.
    pub fn grid_store(&self) -> Option<(&GridStore, &PiiVault)> {
        self.stores.grid.as_ref().zip(self.stores.vault.as_ref())
    }

    /// The property store, when the property service runs here.
    pub fn property_store(&self) -> Option<&PropertyStore> {
        self.stores.property.as_ref()
    }

    /// The database of `service`, when it runs here: for `jiceng bench`'s raw-SQL baselines,
    /// which write beside the service on the same database.
    pub fn database(&self, service: ServiceName) -> Option<&Database> {
        self.databases
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, db)| db)
    }

    /// Serves until `shutdown` completes: then stops accepting, drains requests in flight,
    /// stops the background work and closes the databases.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError> {
        // Background work (outbox relays, scanners, reconciliation) stops when serving stops.
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
        if let Some(directory) = self.directory {
            for (db, holders) in self.path_holders {
                let (directory, stopped) = (directory.clone(), stopped());
                background.push(tokio::spawn(async move {
                    directory
                        .reconcile_every(&db, holders, RECONCILE_INTERVAL, stopped)
                        .await;
                }));
            }
            let stopped = stopped();
            background.push(tokio::spawn(async move {
                directory.watch_tree(stopped).await;
            }));
        }
        for task in self.tasks {
            tracing::debug!(task = task.name, "background task starts");
            background.push(tokio::spawn(task.start(Box::pin(stopped()))));
        }
        let on_stop = self.on_stop;
        let shutdown = async move {
            shutdown.await;
            on_stop.run();
        };
        let served = self.server.serve(self.listener, shutdown).await;
        let _ = stop_background.send(true);
        for task in background {
            let _ = task.await;
        }
        for (_, db) in &self.databases {
            db.close().await;
        }
        Ok(served?)
    }
}

/// The stores of the services a process runs, each set when its service runs here: the tools
/// (`jiceng seed`, the demo loader, `jiceng bench`) write through them, so that what they write
/// goes through the same caches the services serve from.
#[derive(Clone, Debug, Default)]
struct Stores {
    org: Option<OrgStore>,
    /// The id of the district's root unit (its party committee), with the org store.
    root_id: Option<String>,
    member: Option<MemberStore>,
    grid: Option<GridStore>,
    property: Option<PropertyStore>,
    /// The vault the services here seal personal data with.
    vault: Option<PiiVault>,
}

impl Stores {
    /// Builds `service` on `context`, keeps its store and hands back its parts.
    async fn build(
        &mut self,
        service: ServiceName,
        context: &Context,
        config: &AppConfig,
    ) -> Result<Parts, AppError> {
        let built = |e: BuildError| AppError::Config(e.0);
        self.vault.clone_from(&context.vault);
        Ok(match service {
            ServiceName::Org => {
                let Built { store, parts } = jiceng_org::build(context).map_err(built)?;
                self.root_id = Some(ensure_district_root(&store, &config.district).await?);
                self.org = Some(store);
                parts
            }
            ServiceName::Member => {
                let Built { store, parts } = jiceng_member::build(context).map_err(built)?;
                self.member = Some(store);
                parts
            }
            ServiceName::Grid => {
                let Built { store, parts } = jiceng_grid::build(context).map_err(built)?;
                self.grid = Some(store);
                parts
            }
            ServiceName::Property => {
                let seed = config.log_signing_key.as_deref().ok_or_else(|| {
                    AppError::Config(
                        "property needs --log-signing-key to sign its log's tree heads".into(),
                    )
                })?;
                let signer = LogSigner::from_seed(seed)
                    .map_err(|e| AppError::Config(format!("--log-signing-key: {e}")))?;
                let Built { store, parts } =
                    jiceng_property::build(context, signer).map_err(built)?;
                store
                    .confirm_signer()
                    .await
                    .map_err(|e| AppError::Config(format!("property: --log-signing-key: {e}")))?;
                self.property = Some(store);
                parts
            }
            ServiceName::Notify => {
                let Built { parts, .. } = jiceng_notify::build(context, config.webhooks.clone())
                    .await
                    .map_err(built)?;
                parts
            }
        })
    }
}

/// The platform's other services as this process reaches them: at their configured endpoint,
/// or here when they run here.
struct Peers<'a> {
    config: &'a AppConfig,
    addr: SocketAddr,
    service_token: &'a ServiceToken,
}

impl Peers<'_> {
    /// Where `service` answers: `endpoint` when configured, this process when it runs here.
    fn endpoint(&self, endpoint: Option<&String>, service: ServiceName) -> Option<String> {
        match endpoint {
            Some(uri) => Some(uri.clone()),
            None if self.config.services.contains(&service) => Some(self_uri(self.addr)),
            None => None,
        }
    }

    /// A client of `service` presenting the internal token; none when it runs nowhere this
    /// process can reach (the calls that need it are then refused).
    fn client<T>(
        &self,
        endpoint: Option<&String>,
        service: ServiceName,
        connect: impl FnOnce(&str, ServiceToken) -> Result<T, tonic::Status>,
    ) -> Result<Option<T>, AppError> {
        self.endpoint(endpoint, service)
            .map(|uri| connect(&uri, self.service_token.clone()))
            .transpose()
            .map_err(|e| AppError::Config(e.message().to_owned()))
    }

    /// The org service, one directory with one scope cache for every service here.
    fn org_directory(&self) -> Result<Option<OrgDirectory>, AppError> {
        self.client(
            self.config.org_endpoint.as_ref(),
            ServiceName::Org,
            OrgDirectory::new,
        )
    }
}

/// The id of the district's root unit (its party committee), made on first start: tokens are
/// scoped to it, so it must exist before anyone can call.
pub async fn ensure_district_root(
    store: &OrgStore,
    district: &District,
) -> Result<String, AppError> {
    let name = UnitName::parse(&district.committee_name()).map_err(AppError::Config)?;
    let code = UnitCode::parse_optional(&district.code).map_err(AppError::Config)?;
    let root = store
        .ensure_root(
            &UnitId::district_root(&district.code),
            UnitKind::DistrictCommittee,
            &name,
            code.as_ref(),
        )
        .await
        .map_err(AppError::Root)?;
    Ok(root.id.to_string())
}

/// Whether `service` seals personal data with the deployment's key.
fn seals_personal_data(service: ServiceName) -> bool {
    matches!(
        service,
        ServiceName::Member | ServiceName::Grid | ServiceName::Property
    )
}

/// Connects a service's database and brings its schema up to date.
pub async fn connect_and_migrate(
    service: ServiceName,
    storage: &Storage,
    pool_size: Option<u32>,
) -> Result<Database, AppError> {
    let fail = |source| AppError::Database {
        service: service.as_str(),
        source,
    };
    let db = Database::connect_with_pool(&storage.url_for(service), pool_size)
        .await
        .map_err(fail)?
        .observed_as(service.as_str());
    db.migrate(&jiceng_outbox::MIGRATIONS).await.map_err(fail)?;
    if service.org_path_holders().is_some() {
        db.migrate(&jiceng_org_client::paths::MIGRATIONS)
            .await
            .map_err(fail)?;
    }
    // The services that reveal personal data in clear keep the record of each reveal, and
    // every service that seals personal data the fingerprint of its key.
    if seals_personal_data(service) {
        db.migrate(&jiceng_pii_audit::MIGRATIONS)
            .await
            .map_err(fail)?;
    }
    match service {
        ServiceName::Org => db.migrate(&jiceng_org::MIGRATIONS).await.map_err(fail)?,
        ServiceName::Member => db.migrate(&jiceng_member::MIGRATIONS).await.map_err(fail)?,
        ServiceName::Grid => db.migrate(&jiceng_grid::MIGRATIONS).await.map_err(fail)?,
        ServiceName::Property => db
            .migrate(&jiceng_property::MIGRATIONS)
            .await
            .map_err(fail)?,
        ServiceName::Notify => db.migrate(&jiceng_notify::MIGRATIONS).await.map_err(fail)?,
    }
    db.refresh_statistics().await.map_err(fail)?;
    Ok(db)
}

fn destinations(
    sinks: &[EventSink],
    service_token: &ServiceToken,
) -> Result<HashMap<String, Destination>, AppError> {
    sinks
        .iter()
        .map(|sink| {
            let channel = jiceng_grpc::channel(&sink.uri, Duration::from_secs(10))
                .map_err(|e| AppError::Config(e.message().to_owned()))?;
            let destination = Destination::new(
                channel,
                Some(service_token.clone()),
                sink.event_types.clone(),
            );
            Ok((sink.name.clone(), destination))
        })
        .collect()
}

/// The address other services in this process call: loopback when listening on every interface.
fn self_uri(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("http://{}", SocketAddr::new(host, addr.port()))
}
