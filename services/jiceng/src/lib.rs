//! The jiceng binary: up, serve, migrate, token.
//!
//! [`App::build`] assembles a process from configuration: it binds the listener, connects and
//! migrates each service's database, provisions the district root, and wires the gRPC services,
//! health, reflection and the outbox relays. `main.rs` only parses the command line.

pub mod bench;
pub mod demo;
pub mod district;
pub mod seed;
pub mod verify;

use std::{
    collections::HashMap, future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration,
};

use jiceng_auth::{Authenticator, InternalKey, KeyConfig, ServiceToken};
use jiceng_db::{Clock, Database};
use jiceng_grid::{GridApi, GridStore};
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_member::{MemberApi, MemberStore, PiiVault};
use jiceng_member_client::MemberRoll;
use jiceng_merkle::LogSigner;
use jiceng_notify::{
    InboxSignal, NotifyApi, NotifyStore,
    webhooks::{DispatchOptions, WebhookDispatcher},
};
use jiceng_org::{
    GridCases, OrgStore,
    domain::{UnitCode, UnitKind, UnitName},
};
use jiceng_org_client::{OrgDirectory, PathHolder};
use jiceng_outbox::{Destination, Relay, RelayOptions, SinkRouter};
use jiceng_property::{PropertyApi, PropertyStore};
use jiceng_proto::events::event_sink_service_server::EventSinkServiceServer;
use tokio::{net::TcpListener, sync::watch};
use tonic::service::interceptor::InterceptedService;

pub use district::District;

/// How often notify folds held low-priority items into digests.
const DIGEST_INTERVAL: Duration = Duration::from_secs(10);

/// How often the org service looks for decisions coming due or overdue.
const DECISION_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// How often the grid service looks for cases past their step's time limit.
const OVERDUE_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// How often every replica of member, grid and property compares the org paths it stores with
/// the org tree: a safety net behind the moves' events, so not often.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How often the property service looks for disclosures coming due or overdue.
const DISCLOSURE_SCAN_INTERVAL: Duration = Duration::from_secs(3_600);

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
    databases: Vec<Database>,
    org: Option<OrgStore>,
    /// The org service as the other services here see it, when any of them runs here: its
    /// scope cache is kept confirmed against the org tree's generation while serving.
    directory: Option<OrgDirectory>,
    /// The databases here that keep org paths, and where, for their reconciliation.
    path_holders: Vec<(Database, &'static [PathHolder])>,
    /// The member store and the vault its personal data is sealed with, when member runs here.
    member: Option<(MemberStore, PiiVault)>,
    /// The grid store and its vault, when the grid service runs here (its overdue scanner runs
    /// with it, at the store's time).
    grid: Option<(GridStore, PiiVault)>,
    /// The property store, when the property service runs here (the demo loader writes
    /// through it).
    property: Option<PropertyStore>,
    /// The notify store and how its webhook dispatcher runs, when notify runs here.
    notify: Option<(NotifyStore, InboxSignal, WebhookDispatcher)>,
    root_id: Option<String>,
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
        let mut server = GrpcServer::new(config.server.clone());
        let mut databases = Vec::new();
        let (mut org, mut root_id, mut notify, mut member, mut grid, mut property) =
            (None, None, None, None, None, None);
        // What the services here ask of the org service, shared: one scope cache to keep fresh.
        let mut directory = None;
        // And of the member service, shared likewise.
        let mut roll = None;
        let mut path_holders = Vec::new();
        let mut sinks = config.event_sinks.clone();
        // Every consumer of events in this process, behind the one sink the process serves.
        let mut sink = SinkRouter::default();
        // ServiceName::ALL's order: org first, so that the root exists before anyone is served.
        for service in ServiceName::ALL
            .into_iter()
            .filter(|s| config.services.contains(s))
        {
            let db = connect_and_migrate(service, &config.storage)
                .await?
                .with_clock(config.clock.clone());
            match service {
                ServiceName::Org => {
                    let (store, root) = ensure_district_root(&db, &config.district).await?;
                    root_id = Some(root);
                    let grid_cases = peer(
                        &config,
                        config.grid_endpoint.as_ref(),
                        ServiceName::Grid,
                        addr,
                        &service_token,
                        GridCases::new,
                    )?;
                    let members = member_roll(&mut roll, &config, addr, &service_token)?;
                    jiceng_org::add_services(
                        &mut server,
                        &store,
                        grid_cases,
                        members,
                        &authenticator,
                    );
                    org = Some(store);
                }
                ServiceName::Member => {
                    let directory = org_directory(
                        &mut directory,
                        &config,
                        org.is_some(),
                        addr,
                        &service_token,
                    )?;
                    let vault = pii_vault(&config, "member")?;
                    let source = format!("//jiceng/{}/member", config.district.code);
                    let store = MemberStore::new(db.clone(), source);
                    member = Some((store.clone(), vault.clone()));
                    let api = MemberApi::new(store, vault, directory);
                    sink.add(jiceng_member::CONSUMED_EVENTS, Arc::new(api.clone()));
                    jiceng_member::add_services(&mut server, api, &authenticator);
                }
                ServiceName::Grid => {
                    let directory = org_directory(
                        &mut directory,
                        &config,
                        org.is_some(),
                        addr,
                        &service_token,
                    )?;
                    let vault = pii_vault(&config, "grid")?;
                    let source = format!("//jiceng/{}/grid", config.district.code);
                    let store = GridStore::new(db.clone(), source);
                    grid = Some((store.clone(), vault.clone()));
                    let members = member_roll(&mut roll, &config, addr, &service_token)?;
                    let api = GridApi::new(store, directory, vault, members);
                    sink.add(jiceng_grid::CONSUMED_EVENTS, Arc::new(api.clone()));
                    jiceng_grid::add_services(&mut server, api, &authenticator);
                }
                ServiceName::Property => {
                    let directory = org_directory(
                        &mut directory,
                        &config,
                        org.is_some(),
                        addr,
                        &service_token,
                    )?;
                    let vault = pii_vault(&config, "property")?;
                    let seed = config.log_signing_key.as_deref().ok_or_else(|| {
                        AppError::Config(
                            "property needs --log-signing-key to sign its log's tree heads".into(),
                        )
                    })?;
                    let signer = LogSigner::from_seed(seed)
                        .map_err(|e| AppError::Config(format!("--log-signing-key: {e}")))?;
                    let store =
                        PropertyStore::new(db.clone(), signer, config.district.code.clone());
                    property = Some(store.clone());
                    let api = PropertyApi::new(store, directory, vault);
                    sink.add(jiceng_property::CONSUMED_EVENTS, Arc::new(api.clone()));
                    jiceng_property::add_services(&mut server, api, &authenticator);
                }
                ServiceName::Notify => {
                    let directory = org_directory(
                        &mut directory,
                        &config,
                        org.is_some(),
                        addr,
                        &service_token,
                    )?;
                    let store = NotifyStore::new(db.clone());
                    let signal = InboxSignal::default();
                    let dispatcher = WebhookDispatcher::new(store.clone(), config.webhooks.clone())
                        .map_err(|e| AppError::Config(format!("webhooks: {e}")))?;
                    notify = Some((store.clone(), signal.clone(), dispatcher));
                    for category in jiceng_notify::org_events::builtin_categories() {
                        store
                            .ensure_category(&category)
                            .await
                            .map_err(|e| AppError::Config(e.to_string()))?;
                    }
                    let members = member_roll(&mut roll, &config, addr, &service_token)?;
                    let api = NotifyApi::new(
                        store,
                        directory,
                        signal,
                        members,
                        Arc::clone(&config.webhooks.policy),
                    );
                    sink.add(jiceng_notify::org_events::CONSUMED, Arc::new(api.clone()));
                    jiceng_notify::add_services(&mut server, api, &authenticator);
                }
            }
            if let Some(holders) = service.org_path_holders() {
                path_holders.push((db.clone(), holders));
            }
            server.depends_on(db.clone());
            databases.push((config.storage.url_for(service), db));
        }
        if !sink.is_empty() {
            // In one process the org service's events go straight to the consumers here.
            if org.is_some() {
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
            let mut urls: Vec<&String> = databases.iter().map(|(url, _)| url).collect();
            urls.sort();
            urls.dedup();
            urls.into_iter()
                .filter_map(|url| databases.iter().find(|(u, _)| u == url))
                .map(|(_, db)| Relay::new(db.clone(), destinations.clone(), config.relay.clone()))
                .collect()
        };
        // Services that share a database (one URL) are analysed once.
        let mut urls = std::collections::BTreeSet::new();
        let distinct_databases = databases
            .iter()
            .filter(|(url, _)| urls.insert(url.clone()))
            .map(|(_, db)| db.clone())
            .collect();
        let databases = databases.into_iter().map(|(_, db)| db).collect();
        Ok(Self {
            listener,
            addr,
            server,
            relays,
            databases,
            org,
            directory,
            path_holders,
            member,
            grid,
            property,
            notify,
            root_id,
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
        self.root_id.as_deref()
    }

    /// The org store, when the org service runs here (the demo loader writes through it).
    pub fn org_store(&self) -> Option<&OrgStore> {
        self.org.as_ref()
    }

    /// The member store and its vault, when the member service runs here (the demo loader
    /// writes through them).
    pub fn member_store(&self) -> Option<(&MemberStore, &PiiVault)> {
        self.member.as_ref().map(|(store, vault)| (store, vault))
    }

    /// The grid store and the vault it seals personal data with, when the grid service runs
    /// here (the demo loader writes through them).
    pub fn grid_store(&self) -> Option<(&GridStore, &PiiVault)> {
        self.grid.as_ref().map(|(store, vault)| (store, vault))
    }

    /// The property store, when the property service runs here.
    pub fn property_store(&self) -> Option<&PropertyStore> {
        self.property.as_ref()
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
        let streams = self.notify.as_ref().map(|(_, signal, _)| signal.clone());
        if let Some((store, signal, dispatcher)) = self.notify {
            background.push(tokio::spawn(jiceng_notify::fold_digests(
                store.clone(),
                signal,
                DIGEST_INTERVAL,
                stopped(),
            )));
            background.push(tokio::spawn(dispatcher.run(stopped())));
        }
        if let Some((grid, _)) = self.grid {
            background.push(tokio::spawn(jiceng_grid::scan_overdue(
                grid,
                OVERDUE_SCAN_INTERVAL,
                stopped(),
            )));
        }
        if let Some(property) = self.property {
            background.push(tokio::spawn(jiceng_property::announce_due(
                property,
                DISCLOSURE_SCAN_INTERVAL,
                stopped(),
            )));
        }
        if let Some(org) = self.org {
            background.push(tokio::spawn(jiceng_org::scan_decisions(
                org,
                DECISION_SCAN_INTERVAL,
                stopped(),
            )));
        }
        let shutdown = async move {
            shutdown.await;
            // Live streams never end by themselves; end them so that draining can finish.
            if let Some(streams) = streams {
                streams.close();
            }
        };
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

/// The org service's store and the id of the district's root unit (its party committee), made
/// on first use: tokens are scoped to it, so it must exist before anyone can call.
pub async fn ensure_district_root(
    db: &Database,
    district: &District,
) -> Result<(OrgStore, String), AppError> {
    let store = OrgStore::new(db.clone(), format!("//jiceng/{}/org", district.code));
    let name = UnitName::parse(&district.committee_name()).map_err(AppError::Config)?;
    let code = UnitCode::parse_optional(&district.code).map_err(AppError::Config)?;
    let root = store
        .ensure_root(UnitKind::DistrictCommittee, &name, code.as_ref())
        .await
        .map_err(AppError::Root)?;
    Ok((store, root.id.to_string()))
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
    if service.org_path_holders().is_some() {
        db.migrate(&jiceng_org_client::paths::MIGRATIONS)
            .await
            .map_err(fail)?;
    }
    // The services that reveal personal data in clear keep the record of each reveal.
    if matches!(service, ServiceName::Member | ServiceName::Grid) {
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

/// The org service as the services of this process see it: made by the first that asks.
fn org_directory(
    directory: &mut Option<OrgDirectory>,
    config: &AppConfig,
    org_here: bool,
    addr: SocketAddr,
    service_token: &ServiceToken,
) -> Result<OrgDirectory, AppError> {
    if let Some(directory) = directory {
        return Ok(directory.clone());
    }
    let uri = org_uri(config, org_here, addr)?;
    let made = OrgDirectory::new(&uri, service_token.clone())
        .map_err(|e| AppError::Config(e.message().to_owned()))?;
    *directory = Some(made.clone());
    Ok(made)
}

/// Where a service calls the org service: the configured endpoint, or this process when the
/// org service runs here.
fn org_uri(config: &AppConfig, org_here: bool, addr: SocketAddr) -> Result<String, AppError> {
    let uri = match (&config.org_endpoint, org_here) {
        (Some(uri), _) => uri.clone(),
        (None, true) => self_uri(addr),
        (None, false) => {
            return Err(AppError::Config(
                "--org-endpoint is required when the org service runs elsewhere".into(),
            ));
        }
    };
    Ok(uri)
}

/// A client of `service` for a check this process makes, presenting the internal token: at the
/// configured `endpoint`, or this process when `service` runs here; none when neither (the
/// calls that need it are then refused).
fn peer<T>(
    config: &AppConfig,
    endpoint: Option<&String>,
    service: ServiceName,
    addr: SocketAddr,
    service_token: &ServiceToken,
    connect: impl FnOnce(&str, ServiceToken) -> Result<T, tonic::Status>,
) -> Result<Option<T>, AppError> {
    let uri = match endpoint {
        Some(uri) => uri.clone(),
        None if config.services.contains(&service) => self_uri(addr),
        None => return Ok(None),
    };
    connect(&uri, service_token.clone())
        .map(Some)
        .map_err(|e| AppError::Config(e.message().to_owned()))
}

/// The member service as the services of this process ask it about the members a caller
/// names: made by the first that asks, shared by the others.
fn member_roll(
    roll: &mut Option<Option<MemberRoll>>,
    config: &AppConfig,
    addr: SocketAddr,
    service_token: &ServiceToken,
) -> Result<Option<MemberRoll>, AppError> {
    if let Some(roll) = roll {
        return Ok(roll.clone());
    }
    let made = peer(
        config,
        config.member_endpoint.as_ref(),
        ServiceName::Member,
        addr,
        service_token,
        MemberRoll::new,
    )?;
    *roll = Some(made.clone());
    Ok(made)
}

/// The vault `service` seals personal data with, from the deployment's key.
fn pii_vault(config: &AppConfig, service: &str) -> Result<PiiVault, AppError> {
    let key = config.pii_key.as_deref().ok_or_else(|| {
        AppError::Config(format!("{service} needs --pii-key to seal personal data"))
    })?;
    PiiVault::new(key).map_err(|e| AppError::Config(e.to_string()))
}
