//! The `jiceng` command: run the whole platform, one service, its migrations, seed a synthetic
//! district and load it, mint a token, fetch and check a disclosure's proof, or look at a
//! deployed district.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiceng::verify::{Bundle, HeadBundle, ProofBundle};
use jiceng_app::{
    App, AppConfig, District, EventSink, ServiceName, Storage, connect_and_migrate,
    ensure_district_root,
};
use jiceng_auth::{Claims, InternalKey, KeyConfig, Role, ServiceToken, TokenIssuer};
use jiceng_cluster::{Release, render_status};
use jiceng_db::Clock;
use jiceng_grpc::ServerOptions;
use jiceng_notify::{egress::WebhookPolicy, webhooks::DispatchOptions};
use jiceng_org::domain::UnitId;
use jiceng_outbox::RelayOptions;
use jiceng_proto::property::{
    GetInclusionProofRequest, GetSignedTreeHeadRequest,
    disclosure_service_client::DisclosureServiceClient,
};
use jiceng_telemetry::TelemetryConfig;
use jiceng_tools::{bench::Op, demo, seed::Scale};

/// jiceng (基层): the district platform for party-building-led grassroots governance.
///
/// `jiceng up` runs every service in one process on one port with embedded SQLite: a laptop,
/// a demo or a small district. `jiceng serve --service org` runs one service against
/// PostgreSQL: the microservices mode that the Helm chart deploys.
#[derive(Debug, Parser)]
#[command(name = "jiceng", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every service in one process with SQLite files under --data-dir, and prints the
    /// endpoint and a development admin token.
    Up(UpArgs),
    /// Runs one service against a database URL (PostgreSQL in production).
    Serve(Box<ServeArgs>),
    /// Brings one service's database schema up to date, then exits (the Helm hook Job). For the
    /// org service it also makes the district's root unit and prints its id, which the
    /// services' token is scoped to.
    Migrate(MigrateArgs),
    /// Compares the org paths one service (member, grid or property) stores beside its rows with
    /// the org service's tree, puts right what differs, and prints how many rows of each table
    /// it changed; what every replica also does every 15 minutes.
    Reconcile(ReconcileArgs),
    /// Loads a synthetic district at real scale through the services' own stores, with progress
    /// bars; the same --seed gives the same district. Run it before `jiceng up` on the same
    /// --data-dir.
    Seed(SeedArgs),
    /// Loads the platform through gRPC on a seeded district and prints throughput and latency
    /// per operation, beside the raw-SQL baseline of the writes; or soaks it, or measures how
    /// `jiceng up` starts.
    Bench(BenchArgs),
    /// Prints the id of the district's root unit, known before the district is installed: the
    /// `scope_org` of the district admins' tokens. (A district installed before root ids were
    /// derived from the district code keeps the random one `jiceng migrate` printed then.)
    RootId(DistrictArg),
    /// Mints a development token (HS256) for calling the APIs.
    Token(TokenArgs),
    /// Fetches a disclosure's inclusion proof, or without --disclosure the signed tree head
    /// alone, as a JSON bundle for `jiceng verify`.
    Proof(ProofArgs),
    /// Checks a bundle offline: its tree head is signed by the trusted key (a head of size 0 has
    /// the empty tree's root) and a proof's disclosure is in the log under that head.
    Verify(VerifyArgs),
    /// Operates a deployed district through the Kubernetes API (KUBECONFIG or in-cluster).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Looks into one service's outbox, and puts the deliveries it parked back in line.
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// What waits for each destination (pending, the oldest's age, parked, unrouted) and the
    /// parked deliveries with their last error.
    Status(OutboxArgs),
    /// Puts parked deliveries back in line, due now with their attempts counted afresh: those
    /// to --destination, the one of --event-id, or with --all every one. Run it once the
    /// consumer can take them again (docs/runbooks/JicengOutboxParked.md).
    Requeue(RequeueArgs),
}

#[derive(Debug, Args)]
struct OutboxArgs {
    #[arg(long, env = "JICENG_SERVICE", value_enum)]
    service: ServiceName,
    #[arg(long, env = "JICENG_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Only the deliveries to this destination (a consumer's name in JICENG_EVENT_SINKS).
    #[arg(long)]
    destination: Option<String>,
}

#[derive(Debug, Args)]
struct RequeueArgs {
    #[command(flatten)]
    outbox: OutboxArgs,
    /// Only the deliveries of this event.
    #[arg(long)]
    event_id: Option<String>,
    /// Every parked delivery of the outbox, when neither --destination nor --event-id is given.
    #[arg(long, conflicts_with_all = ["event_id"])]
    all: bool,
}

/// Parked deliveries `jiceng outbox status` lists at most.
const PARKED_LISTED: i64 = 50;

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Each service's rollout (replicas, image, restarts, age) and gRPC health through
    /// port-forward; exits non-zero unless every service is ready and serving.
    Status(ReleaseArgs),
    /// Runs create → report → notify against the district and prints the trace id.
    Smoke(SmokeArgs),
}

#[derive(Debug, Args)]
struct ReleaseArgs {
    /// The district's namespace, e.g. jiceng-pudong.
    #[arg(long, short = 'n')]
    namespace: String,
    /// The Helm release's name.
    #[arg(long, default_value = "jiceng")]
    release: String,
}

#[derive(Debug, Args)]
struct SmokeArgs {
    #[command(flatten)]
    release: ReleaseArgs,
    /// A district or street admin's bearer token.
    #[arg(long, env = "JICENG_TOKEN", hide_env_values = true)]
    token: String,
    /// The org unit the smoke cases are reported to (default: the token's scope org).
    #[arg(long)]
    org: Option<String>,
    /// How long to wait for the notice.
    #[arg(long, default_value_t = 30)]
    wait_secs: u64,
}

#[derive(Debug, Args)]
struct ProofArgs {
    /// Where the property service answers, e.g. http://127.0.0.1:50051.
    #[arg(
        long,
        env = "JICENG_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    endpoint: String,
    /// A bearer token of the district (`jiceng token`, or the one `jiceng up` printed).
    #[arg(long, env = "JICENG_TOKEN", hide_env_values = true)]
    token: String,
    /// The disclosure to prove; without it, the signed tree head alone (what a monitor keeps).
    #[arg(long)]
    disclosure: Option<String>,
    /// The head of this size, 0 included (default: the latest).
    #[arg(long)]
    tree_size: Option<i64>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The bundle `jiceng proof` wrote: an inclusion proof or a signed tree head.
    bundle: PathBuf,
    /// The log's public key the verifier trusts, as hex (`jiceng up` prints it).
    #[arg(long)]
    public_key: String,
}

#[derive(Debug, Args)]
struct DistrictArg {
    /// The district this deployment serves, by GB/T 2260 code (浦东新区 is 310115).
    #[arg(long, env = "JICENG_DISTRICT", default_value = "310115")]
    district: String,
}

#[derive(Debug, Args)]
struct UpArgs {
    #[arg(long, env = "JICENG_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Folder for the SQLite files (one per service) and the development signing secret.
    #[arg(long, env = "JICENG_DATA_DIR", default_value = ".jiceng")]
    data_dir: PathBuf,
    #[command(flatten)]
    district: DistrictArg,
    /// Loads a sample Pudong tree (streets, towns, committees, branches, a grid network) when
    /// the tree is empty.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    webhooks: WebhookArgs,
    #[command(flatten)]
    browsers: BrowserArgs,
}

/// Which web pages may call the platform from a browser.
#[derive(Debug, Args)]
struct BrowserArgs {
    /// Origins (scheme://host[:port]) whose pages may call over gRPC-Web and HTTP/JSON,
    /// comma-separated; CORS answers them and no other. Empty: no browser page may.
    #[arg(long, env = "JICENG_CORS_ALLOWED_ORIGINS", default_value = "")]
    cors_allowed_origins: String,
}

impl BrowserArgs {
    fn origins(&self) -> Result<Vec<http::HeaderValue>> {
        self.cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let uri: http::Uri = origin
                    .parse()
                    .map_err(|e| format!("--cors-allowed-origins: `{origin}`: {e}"))?;
                let is_origin = matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some()
                    && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                    && !origin.ends_with('/');
                if !is_origin {
                    return Err(format!(
                        "--cors-allowed-origins: `{origin}` is not an origin (scheme://host[:port])"
                    )
                    .into());
                }
                Ok(http::HeaderValue::from_str(origin)
                    .map_err(|e| format!("--cors-allowed-origins: `{origin}`: {e}"))?)
            })
            .collect()
    }
}

/// Where the notify service's webhooks may go.
#[derive(Debug, Args)]
struct WebhookArgs {
    /// Webhook destinations, comma-separated: host names (hotline.example.gov.cn), suffixes
    /// (*.sh.gov.cn) and IP addresses or CIDR blocks (10.20.0.0/16). A name reaches only its
    /// public addresses; loopback, private and cluster addresses only through a block naming
    /// them. Empty: no webhooks.
    #[arg(long, env = "JICENG_WEBHOOK_ALLOW", default_value = "")]
    webhook_allow: String,
    /// A CA certificate file (PEM) trusted for HTTPS webhooks besides the system's roots.
    #[arg(long, env = "JICENG_WEBHOOK_CA_FILE")]
    webhook_ca_file: Option<PathBuf>,
}

impl WebhookArgs {
    fn options(&self) -> Result<DispatchOptions> {
        let policy = WebhookPolicy::parse(&self.webhook_allow)
            .map_err(|e| format!("--webhook-allow: {e}"))?;
        let ca_pem = match &self.webhook_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("--webhook-ca-file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(DispatchOptions {
            policy: std::sync::Arc::new(policy),
            ca_pem,
            ..DispatchOptions::default()
        })
    }
}

#[derive(Debug, Args)]
struct SeedArgs {
    /// demo: the sample of `jiceng up --demo`; district: a tenth of Pudong; pudong: Pudong's
    /// real size (36 streets and towns, 1,296 committees, 15,589 units, 300,000 members,
    /// 1,000,000 cases).
    #[arg(long, value_enum, default_value = "district")]
    scale: Scale,
    /// The same number gives the same district.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    place: DistrictPlace,
}

/// Where a whole district's data lives for `seed` and `bench`.
#[derive(Debug, Args)]
struct DistrictPlace {
    /// Folder of `jiceng up`'s SQLite files and development keys.
    #[arg(long, env = "JICENG_DATA_DIR", default_value = ".jiceng")]
    data_dir: PathBuf,
    /// One database for every service at this URL (PostgreSQL) instead of --data-dir's SQLite
    /// files; the keys still come from --data-dir.
    #[arg(long, env = "JICENG_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(flatten)]
    district: DistrictArg,
}

impl DistrictPlace {
    /// Every service in this process on a free local port, on this place's data.
    fn platform(&self) -> Result<(District, AllInOne)> {
        let district = District::lookup(&self.district.district)?;
        let storage = match &self.database_url {
            Some(url) => Storage::Url(url.clone()),
            None => Storage::Embedded {
                data_dir: self.data_dir.clone(),
            },
        };
        let platform = all_in_one("127.0.0.1:0".parse()?, &district, &self.data_dir, storage)?;
        Ok((district, platform))
    }
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Operations to run, in order (repeatable or comma-separated); all by default.
    #[arg(long = "op", value_enum, value_delimiter = ',')]
    ops: Vec<Op>,
    /// Callers at once (closed loop), or at most in flight (with --rate).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Calls in the first seconds are not counted.
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// Offer this many calls a second (open loop) instead of calling as fast as answered.
    #[arg(long)]
    rate: Option<f64>,
    /// After each peak, offer 25%, 50%, 75% and 100% of it: latency against offered load.
    #[arg(long)]
    sweep: bool,
    /// Skip the raw-SQL baseline of the writes.
    #[arg(long)]
    no_baseline: bool,
    /// Write the figures as JSON here (for scripts/plot_bench.py).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the Markdown table here as well as printing it.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Instead: every operation at once at --soak-rate calls a second each for this many
    /// minutes, with resident memory sampled every ten seconds.
    #[arg(long)]
    soak_minutes: Option<u64>,
    #[arg(long, default_value_t = 10.0)]
    soak_rate: f64,
    /// Instead: start `jiceng up` on an empty folder and measure the time to SERVING and the
    /// resident memory after ten idle seconds.
    #[arg(long)]
    startup: bool,
    /// The seeded district, as `jiceng seed` was told.
    #[command(flatten)]
    place: DistrictPlace,
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// HS256 shared secret (at least 32 bytes): development and tests.
    #[arg(long, env = "JICENG_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// PEM public key file for RS256 or EdDSA tokens: production.
    #[arg(long, env = "JICENG_JWT_PUBLIC_KEY", conflicts_with = "jwt_secret")]
    jwt_public_key: Option<PathBuf>,
    /// Algorithm of --jwt-public-key.
    #[arg(
        long,
        env = "JICENG_JWT_ALGORITHM",
        value_enum,
        default_value = "eddsa"
    )]
    jwt_algorithm: PublicKeyAlgorithm,
    /// The issuer (`iss`) callers' tokens must name.
    #[arg(long, env = "JICENG_JWT_ISSUER", default_value = jiceng_auth::DEFAULT_ISSUER)]
    jwt_issuer: String,
    /// The audience (`aud`) callers' tokens must name.
    #[arg(long, env = "JICENG_JWT_AUDIENCE", default_value = jiceng_auth::DEFAULT_AUDIENCE)]
    jwt_audience: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PublicKeyAlgorithm {
    Rs256,
    Eddsa,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long, env = "JICENG_SERVICE", value_enum)]
    service: ServiceName,
    #[arg(long, env = "JICENG_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Connections this process keeps to its database at the most (16 on PostgreSQL unless
    /// set): sized so that every pod at the autoscalers' maxima fits the server's
    /// max_connections (the chart's `databasePoolSize`).
    #[arg(long, env = "JICENG_DATABASE_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=200))]
    database_pool_size: Option<u32>,
    #[arg(long, env = "JICENG_LISTEN", default_value = "0.0.0.0:50051")]
    listen: SocketAddr,
    #[command(flatten)]
    district: DistrictArg,
    #[command(flatten)]
    keys: KeyArgs,
    /// A consumer of this service's events, as NAME=URI[;TYPE,…] (e.g.
    /// `grid=http://grid:50051;jiceng.org.v1.unit.moved`); without types it receives every event.
    /// Events nobody consumes wait in the outbox.
    #[arg(long = "event-sink", env = "JICENG_EVENT_SINKS", value_delimiter = ' ', value_parser = parse_sink)]
    event_sinks: Vec<EventSink>,
    /// The key (at least 32 bytes) that personal data is sealed with, for the member, grid and
    /// property services.
    #[arg(long, env = "JICENG_PII_KEY", hide_env_values = true)]
    pii_key: Option<String>,
    /// The property service's Ed25519 log key: a 32-byte seed as 64 hex digits.
    #[arg(long, env = "JICENG_LOG_SIGNING_KEY", hide_env_values = true)]
    log_signing_key: Option<String>,
    /// Where the org service answers (for member's, grid's and notify's scope checks and fan-out).
    #[arg(long, env = "JICENG_ORG_ENDPOINT")]
    org_endpoint: Option<String>,
    /// Where the grid service answers (for the org service's check of a meeting's grid case).
    #[arg(long, env = "JICENG_GRID_ENDPOINT")]
    grid_endpoint: Option<String>,
    /// Where the member service answers (for the org, grid and notify services' checks of the
    /// members a caller names).
    #[arg(long, env = "JICENG_MEMBER_ENDPOINT")]
    member_endpoint: Option<String>,
    #[command(flatten)]
    internal_key: InternalKeyArg,
    /// Deadline for requests that carry none.
    #[arg(long, env = "JICENG_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Seconds a client connection may live before the server asks it to reconnect (HTTP/2
    /// GOAWAY), so that replicas added by the autoscaler get traffic from callers already
    /// connected; 0 for no limit.
    #[arg(long, env = "JICENG_MAX_CONNECTION_AGE_SECS", default_value_t = 300)]
    max_connection_age_secs: u64,
    /// Seconds the calls in flight on a connection past its age may still take.
    #[arg(
        long,
        env = "JICENG_MAX_CONNECTION_AGE_GRACE_SECS",
        default_value_t = 30
    )]
    max_connection_age_grace_secs: u64,
    #[command(flatten)]
    webhooks: WebhookArgs,
    #[command(flatten)]
    browsers: BrowserArgs,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[arg(long, env = "JICENG_SERVICE", value_enum)]
    service: ServiceName,
    #[arg(long, env = "JICENG_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(flatten)]
    district: DistrictArg,
}

#[derive(Debug, Args)]
struct ReconcileArgs {
    #[arg(long, env = "JICENG_SERVICE", value_enum)]
    service: ServiceName,
    #[arg(long, env = "JICENG_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Where the org service answers, e.g. `http://org:50051`.
    #[arg(long, env = "JICENG_ORG_ENDPOINT")]
    org_endpoint: String,
    #[command(flatten)]
    district: DistrictArg,
    #[command(flatten)]
    internal_key: InternalKeyArg,
}

/// The deployment's internal key: what the platform's services sign the tokens they present to
/// each other with.
#[derive(Debug, Args)]
struct InternalKeyArg {
    /// The key (at least 32 bytes) every service of the deployment shares and no outside caller
    /// holds; the chart generates one.
    #[arg(long, env = "JICENG_INTERNAL_KEY", hide_env_values = true)]
    internal_key: String,
}

impl InternalKeyArg {
    fn key(&self) -> Result<InternalKey> {
        InternalKey::new(self.internal_key.trim().as_bytes())
            .map_err(|e| format!("--internal-key: {e}").into())
    }
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// Roles to grant (repeatable): district_admin, street_admin, branch_admin, grid_worker,
    /// member, integration.
    #[arg(long = "role", value_parser = parse_role, required = true)]
    roles: Vec<Role>,
    /// The org unit the token's authority is rooted at.
    #[arg(long)]
    scope_org: String,
    #[arg(long, default_value = "dev-admin")]
    subject: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    ttl: u64,
    #[command(flatten)]
    district: DistrictArg,
    /// HS256 secret; defaults to the one `jiceng up` keeps in --data-dir.
    #[arg(long, env = "JICENG_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[arg(long, env = "JICENG_DATA_DIR", default_value = ".jiceng")]
    data_dir: PathBuf,
}

fn parse_role(text: &str) -> std::result::Result<Role, String> {
    let grantable = || Role::ALL.into_iter().filter(|r| *r != Role::Service);
    grantable().find(|r| r.as_str() == text).ok_or_else(|| {
        let names: Vec<_> = grantable().map(Role::as_str).collect();
        let why = if text == Role::Service.as_str() {
            "`service` is the platform's own identity, which no outside token carries; "
        } else {
            ""
        };
        format!("{why}expected one of {}", names.join(", "))
    })
}

fn parse_sink(text: &str) -> std::result::Result<EventSink, String> {
    let (name, rest) = text.split_once('=').ok_or("expected NAME=URI[;TYPE,…]")?;
    let (uri, types) = rest.split_once(';').unwrap_or((rest, "*"));
    if name.is_empty() || !uri.starts_with("http") {
        return Err("expected NAME=URI[;TYPE,…] with an http:// or https:// URI".into());
    }
    let event_types = types
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(EventSink {
        name: name.to_owned(),
        uri: uri.to_owned(),
        event_types,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Proof(args) => {
            let channel = jiceng_grpc::channel(&args.endpoint, Duration::from_secs(10))?;
            let authorization = jiceng_grpc::bearer(&args.token)?;
            let mut client = DisclosureServiceClient::with_interceptor(
                channel,
                move |mut request: tonic::Request<()>| {
                    request
                        .metadata_mut()
                        .insert("authorization", authorization.clone());
                    Ok(request)
                },
            );
            let bundle = match args.disclosure {
                Some(disclosure_id) => {
                    let request = GetInclusionProofRequest {
                        disclosure_id,
                        tree_size: args.tree_size,
                    };
                    let proof = client.get_inclusion_proof(request).await?.into_inner();
                    Bundle::Proof(ProofBundle::from_proto(&proof)?)
                }
                None => {
                    let request = GetSignedTreeHeadRequest {
                        tree_size: args.tree_size,
                    };
                    let head = client.get_signed_tree_head(request).await?.into_inner();
                    Bundle::Head(HeadBundle::from_proto(&head)?)
                }
            };
            println!("{}", serde_json::to_string_pretty(&bundle)?);
            Ok(())
        }
        Command::Verify(args) => {
            let bundle: Bundle =
                serde_json::from_slice(&std::fs::read(&args.bundle)?).map_err(|e| {
                    format!(
                        "{}: neither a proof nor a head bundle: {e}",
                        args.bundle.display()
                    )
                })?;
            match bundle {
                Bundle::Proof(proof) => {
                    let verified = proof.verify(&args.public_key)?;
                    println!(
                        "verified: disclosure {} is leaf {} of log {} at size {} (root {}), signed by the trusted key",
                        verified.disclosure_id,
                        verified.leaf_index,
                        proof.log_id,
                        verified.tree_size,
                        verified.root_hash
                    );
                }
                Bundle::Head(head) => {
                    head.verify(&args.public_key)?;
                    println!(
                        "verified: log {} has size {} (root {}), signed by the trusted key",
                        head.log_id, head.tree_size, head.root_hash
                    );
                }
            }
            Ok(())
        }
        Command::Cluster(command) => cluster(command).await,
        Command::Up(args) => up(args).await,
        Command::Seed(args) => seed(args).await,
        Command::Bench(args) => bench(args).await,
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => {
            let district = District::lookup(&args.district.district)?;
            // One migration runs at a time: two connections are all it ever holds, so the Job
            // counts for little in the district's connection budget.
            let db = connect_and_migrate(args.service, &Storage::Url(args.database_url), Some(2))
                .await?;
            println!("{} database is up to date", args.service.as_str());
            if args.service == ServiceName::Org {
                let store = jiceng_org::OrgStore::new(
                    db.clone(),
                    format!("//jiceng/{}/org", district.code),
                );
                let root = ensure_district_root(&store, &district).await?;
                println!("district root: {root} ({})", district.committee_name());
            }
            db.close().await;
            Ok(())
        }
        Command::Reconcile(args) => {
            let holders = args.service.org_path_holders().ok_or_else(|| {
                format!("the {} service keeps no org paths", args.service.as_str())
            })?;
            let district = District::lookup(&args.district.district)?;
            let token = ServiceToken::new(
                &args.internal_key.key()?,
                &district.code,
                &format!("service:reconcile-{}", args.service.as_str()),
            )?;
            let db = jiceng_db::Database::connect(&args.database_url).await?;
            let directory = jiceng_org_client::OrgDirectory::new(&args.org_endpoint, token)?;
            let repaired = directory.reconcile(&db, holders).await?;
            for jiceng_org_client::Repaired { table, rows } in &repaired {
                println!("{table}: {rows} rows put right");
            }
            db.close().await;
            Ok(())
        }
        Command::Outbox(OutboxCommand::Status(args)) => {
            let db = jiceng_db::Database::connect(&args.database_url).await?;
            let destination = args.destination.as_deref();
            let backlog = jiceng_outbox::metrics::read_backlog(&db, std::iter::empty()).await?;
            println!("{} outbox", args.service.as_str());
            let mut destinations: Vec<_> = backlog
                .destinations
                .iter()
                .filter(|(name, _)| destination.is_none_or(|only| only == name.as_str()))
                .collect();
            destinations.sort_by_key(|(name, _)| name.as_str());
            if destinations.is_empty() {
                println!("  nothing pending or parked");
            }
            for (name, of) in destinations {
                let oldest = Duration::from_millis(of.oldest_pending_ms.max(0) as u64);
                println!(
                    "  to {name}: {} pending (oldest {}), {} parked",
                    of.pending,
                    jiceng_cluster::human_age(oldest),
                    of.parked
                );
            }
            println!(
                "  unrouted (no destination consumes their type yet): {}",
                backlog.unrouted
            );
            let parked = jiceng_outbox::parked(&db, destination, PARKED_LISTED).await?;
            if !parked.is_empty() {
                println!("parked (oldest first, at most {PARKED_LISTED}):");
            }
            for delivery in &parked {
                println!(
                    "  {} {} to {}: {} attempts, last error: {}",
                    delivery.event_id,
                    delivery.event_type,
                    delivery.destination,
                    delivery.attempts,
                    delivery.last_error.as_deref().unwrap_or("none recorded")
                );
            }
            db.close().await;
            Ok(())
        }
        Command::Outbox(OutboxCommand::Requeue(args)) => {
            let destination = args.outbox.destination.as_deref();
            let event_id = args.event_id.as_deref();
            if destination.is_none() && event_id.is_none() && !args.all {
                return Err(
                    "say which parked deliveries: --destination, --event-id or --all".into(),
                );
            }
            let db = jiceng_db::Database::connect(&args.outbox.database_url).await?;
            let requeued = jiceng_outbox::requeue_parked(&db, destination, event_id).await?;
            println!(
                "{requeued} parked deliveries of the {} outbox put back in line",
                args.outbox.service.as_str()
            );
            db.close().await;
            Ok(())
        }
        Command::RootId(args) => {
            let district = District::lookup(&args.district)?;
            println!("{}", UnitId::district_root(&district.code).as_str());
            Ok(())
        }
        Command::Token(args) => {
            let district = District::lookup(&args.district.district)?;
            let secret = match args.jwt_secret {
                Some(secret) => secret.into_bytes(),
                None => read_dev_secret(&args.data_dir)?,
            };
            UnitId::parse(&args.scope_org).map_err(|e| format!("--scope-org {e}"))?;
            let claims = Claims::new(
                &args.subject,
                &district.code,
                &args.scope_org,
                &args.roles,
                args.ttl,
            );
            println!("{}", TokenIssuer::hs256(&secret)?.mint(&claims)?);
            Ok(())
        }
    }
}

/// Every service in one process with the development keys kept in a data folder: the
/// configuration, the issuer of tokens it accepts, and its log's public key as hex.
struct AllInOne {
    config: AppConfig,
    issuer: TokenIssuer,
    log_public_key: String,
}

/// Every service in one process, with the development keys kept in `data_dir` (made on first
/// use): what `jiceng up` runs and `jiceng seed` and `jiceng bench` work through.
fn all_in_one(
    listen: SocketAddr,
    district: &District,
    data_dir: &std::path::Path,
    storage: Storage,
) -> Result<AllInOne> {
    let secret = persisted_secret(data_dir, DEV_SECRET_FILE)?;
    let pii_key = persisted_secret(data_dir, PII_KEY_FILE)?;
    let internal_key = InternalKey::new(&persisted_secret(data_dir, INTERNAL_KEY_FILE)?)?;
    let log_seed = hex_seed(&persisted_secret(data_dir, LOG_KEY_FILE)?)?;
    let issuer = TokenIssuer::hs256(&secret)?;
    let log_public_key =
        jiceng_merkle::hex(&jiceng_merkle::LogSigner::from_seed(&log_seed)?.public_key());
    let config = AppConfig {
        listen,
        district: district.clone(),
        services: ServiceName::ALL.to_vec(),
        storage,
        database_pool_size: None,
        keys: KeyConfig::Hs256Secret(secret),
        token_issuer: jiceng_auth::DEFAULT_ISSUER.to_owned(),
        token_audience: jiceng_auth::DEFAULT_AUDIENCE.to_owned(),
        event_sinks: Vec::new(),
        internal_key,
        org_endpoint: None,
        grid_endpoint: None,
        member_endpoint: None,
        pii_key: Some(pii_key),
        log_signing_key: Some(log_seed),
        server: ServerOptions::default(),
        relay: RelayOptions::default(),
        webhooks: DispatchOptions::default(),
        clock: Clock::system(),
    };
    Ok(AllInOne {
        config,
        issuer,
        log_public_key,
    })
}

async fn seed(args: SeedArgs) -> Result<()> {
    let (district, platform) = args.place.platform()?;
    let app = App::build(platform.config).await?;
    let started = std::time::Instant::now();
    let seeded = jiceng_tools::seed::seed(
        &app,
        args.scale,
        args.seed,
        std::sync::Arc::new(jiceng_tools::seed::StderrProgress),
    )
    .await?;
    println!(
        "seeded {} ({}) at {:?} scale, seed {}, in {:.0} s:",
        district.name,
        district.code,
        args.scale,
        args.seed,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {} units, {} members, {} ledger entries, {} grids, {} cases, {} compounds, {} disclosures",
        seeded.units,
        seeded.members,
        seeded.ledger_entries,
        seeded.grids,
        seeded.cases,
        seeded.compounds,
        seeded.disclosures
    );
    app.run_until(std::future::ready(())).await?;
    Ok(())
}

async fn bench(args: BenchArgs) -> Result<()> {
    if args.startup {
        let data_dir = std::env::temp_dir().join(format!("jiceng-startup-{}", std::process::id()));
        let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let measured =
            jiceng_tools::bench::startup(&std::env::current_exe()?, &data_dir, listen).await;
        let _ = std::fs::remove_dir_all(&data_dir);
        let measured = measured?;
        println!(
            "jiceng up: SERVING after {:.0} ms; {:.1} MiB resident after 10 s idle",
            measured.serving_ms, measured.idle_rss_mib
        );
        return write_json(args.json.as_deref(), &measured);
    }
    let (district, platform) = args.place.platform()?;
    let issuer = platform.issuer;
    let config = platform.config;
    let app = App::build(config).await?;
    let bench = jiceng_tools::bench::Bench {
        // Lazy: the platform starts serving below.
        channel: tonic::transport::Channel::from_shared(format!("http://{}", app.local_addr()))?
            .connect_lazy(),
        issuer,
        district: district.code.clone(),
        root: app
            .root_id()
            .ok_or("the org service is not running here")?
            .to_owned(),
        grid: app
            .grid_store()
            .ok_or("grid is not running here")?
            .0
            .clone(),
        grid_db: app
            .database(ServiceName::Grid)
            .ok_or("grid is not running here")?
            .clone(),
        member_db: app
            .database(ServiceName::Member)
            .ok_or("member is not running here")?
            .clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let outcome = if let Some(minutes) = args.soak_minutes {
        let soak = bench
            .soak(minutes, args.soak_rate, args.concurrency, |at, mib| {
                eprintln!("{at:>5} s  {mib:.1} MiB resident")
            })
            .await?;
        let report = jiceng_tools::bench::Report {
            runs: soak.runs.clone(),
        };
        print!("{}", report.markdown());
        println!(
            "resident memory: {:.1} MiB in the second minute, {:.1} MiB at the end ({:+.1}%)",
            soak.rss_mib
                .iter()
                .find(|(at, _)| *at >= 60)
                .map_or(0.0, |(_, m)| *m),
            soak.rss_mib.last().map_or(0.0, |(_, m)| *m),
            soak.growth * 100.0
        );
        write_json(args.json.as_deref(), &soak)
    } else {
        let load = jiceng_tools::bench::Load {
            ops: if args.ops.is_empty() {
                Op::ALL.to_vec()
            } else {
                args.ops
            },
            concurrency: args.concurrency,
            duration: Duration::from_secs(args.duration_secs),
            warmup: Duration::from_secs(args.warmup_secs),
            rate: args.rate,
            sweep: args.sweep,
            baseline: !args.no_baseline,
        };
        let report = bench
            .run(&load, |run| {
                eprintln!(
                    "{} ({}): {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                    run.op.name(),
                    run.path,
                    run.per_sec,
                    run.p50_ms,
                    run.p99_ms
                )
            })
            .await?;
        let table = report.markdown();
        print!("{table}");
        if let Some(path) = &args.markdown {
            std::fs::write(path, &table)?;
        }
        write_json(args.json.as_deref(), &report)
    };
    let _ = stop.send(());
    serving.await??;
    outcome
}

fn write_json(path: Option<&std::path::Path>, value: &impl serde::Serialize) -> Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(value)?)?;
    }
    Ok(())
}

async fn up(args: UpArgs) -> Result<()> {
    let district = District::lookup(&args.district.district)?;
    let telemetry = jiceng_telemetry::init(&TelemetryConfig::from_env("jiceng", &district.code))?;
    let AllInOne {
        mut config,
        issuer,
        log_public_key: log_key,
    } = all_in_one(
        args.listen,
        &district,
        &args.data_dir,
        Storage::Embedded {
            data_dir: args.data_dir.clone(),
        },
    )?;
    config.webhooks = args.webhooks.options()?;
    config.server.cors_allowed_origins = args.browsers.origins()?;
    let app = App::build(config).await?;
    let root = app.root_id().unwrap_or_default().to_owned();
    if let Some(store) = app.org_store().filter(|_| args.demo) {
        let created = demo::load(store, &UnitId::parse(&root)?).await?;
        tracing::info!(created, "demo tree loaded");
        if let Some((members, vault)) = app.member_store().filter(|_| created > 0) {
            let registered = demo::load_members(store, members, vault).await?;
            tracing::info!(registered, "demo members loaded");
        }
        if let Some((grid, vault)) = app.grid_store().filter(|_| created > 0) {
            let reported = demo::load_grid(store, grid, vault).await?;
            tracing::info!(reported, "demo grid loaded");
        }
        if let Some(property) = app.property_store().filter(|_| created > 0) {
            let published = demo::load_property(store, property).await?;
            tracing::info!(published, "demo disclosures loaded");
        }
    }
    let claims = Claims::new(
        "dev-admin",
        &district.code,
        &root,
        &[Role::DistrictAdmin],
        86_400,
    );
    let token = issuer.mint(&claims)?;
    let addr = app.local_addr();
    println!("jiceng is up for {} ({})", district.name, district.code);
    println!(
        "  endpoint:   {addr} (gRPC, HTTP/JSON and gRPC-Web, plaintext; reflection on; OpenAPI at http://{addr}/openapi.json)"
    );
    println!("  data:       {}", args.data_dir.display());
    println!("  root unit:  {root}");
    println!("  log key:    {log_key} (Ed25519; what `jiceng verify --public-key` trusts)");
    println!("  dev token (district_admin, 24 h):\n{token}");
    println!(
        "  try:        grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{\"id\":\"{root}\"}}' {addr} jiceng.org.v1.OrgService/GetUnit"
    );
    println!("        or:  curl -H \"authorization: Bearer $TOKEN\" http://{addr}/v1/units/{root}");
    app.run_until(jiceng_grpc::shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let district = District::lookup(&args.district.district)?;
    let service_name = format!("jiceng-{}", args.service.as_str());
    let telemetry =
        jiceng_telemetry::init(&TelemetryConfig::from_env(&service_name, &district.code))?;
    let keys = match (args.keys.jwt_secret, args.keys.jwt_public_key) {
        (Some(secret), _) => KeyConfig::Hs256Secret(secret.into_bytes()),
        (None, Some(path)) => {
            let pem =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            match args.keys.jwt_algorithm {
                PublicKeyAlgorithm::Rs256 => KeyConfig::Rs256PublicPem(pem),
                PublicKeyAlgorithm::Eddsa => KeyConfig::EdDsaPublicPem(pem),
            }
        }
        (None, None) => {
            return Err("set --jwt-public-key (production) or --jwt-secret (development)".into());
        }
    };
    let config = AppConfig {
        listen: args.listen,
        district,
        services: vec![args.service],
        storage: Storage::Url(args.database_url),
        database_pool_size: args.database_pool_size,
        keys,
        token_issuer: args.keys.jwt_issuer,
        token_audience: args.keys.jwt_audience,
        event_sinks: args.event_sinks,
        internal_key: args.internal_key.key()?,
        org_endpoint: args.org_endpoint,
        grid_endpoint: args.grid_endpoint,
        member_endpoint: args.member_endpoint,
        pii_key: args.pii_key.map(String::into_bytes),
        log_signing_key: args
            .log_signing_key
            .as_deref()
            .map(|key| hex_seed(key.as_bytes()))
            .transpose()?,
        server: ServerOptions {
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            max_connection_age: (args.max_connection_age_secs > 0)
                .then(|| Duration::from_secs(args.max_connection_age_secs)),
            max_connection_age_grace: Duration::from_secs(args.max_connection_age_grace_secs),
            cors_allowed_origins: args.browsers.origins()?,
            ..ServerOptions::default()
        },
        relay: RelayOptions::default(),
        webhooks: args.webhooks.options()?,
        clock: Clock::system(),
    };
    let app = App::build(config).await?;
    tracing::info!(addr = %app.local_addr(), service = args.service.as_str(), "serving");
    app.run_until(jiceng_grpc::shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    Ok(())
}

async fn cluster(command: ClusterCommand) -> Result<()> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes API to talk to (KUBECONFIG or in-cluster): {e}"))?;
    match command {
        ClusterCommand::Status(args) => {
            let release = Release::new(client, &args.namespace, &args.release);
            let rollouts = jiceng_cluster::status(&release).await?;
            print!("{}", render_status(&rollouts));
            let unhealthy: Vec<_> = rollouts
                .iter()
                .filter(|r| !r.is_healthy())
                .map(|r| r.service.as_str())
                .collect();
            if unhealthy.is_empty() {
                Ok(())
            } else {
                Err(format!("not ready or not serving: {}", unhealthy.join(", ")).into())
            }
        }
        ClusterCommand::Smoke(args) => {
            let release = Release::new(client, &args.release.namespace, &args.release.release);
            let report = jiceng_cluster::smoke(
                &release,
                &args.token,
                args.org.as_deref(),
                Duration::from_secs(args.wait_secs),
            )
            .await?;
            for (step, took) in &report.steps {
                println!("ok  {step} ({} ms)", took.as_millis());
            }
            println!("case:     {} (rejected after the run)", report.case_id);
            println!("notice:   {}", report.notification_id);
            println!("trace id: {}", report.trace_id);
            Ok(())
        }
    }
}

const DEV_SECRET_FILE: &str = "dev-jwt-secret";
const PII_KEY_FILE: &str = "pii-key";
const INTERNAL_KEY_FILE: &str = "internal-key";
const LOG_KEY_FILE: &str = "log-signing-key";

/// A 32-byte seed from its 64 hex digits.
fn hex_seed(text: &[u8]) -> Result<Vec<u8>> {
    let invalid = "the log signing key is 64 hex digits (a 32-byte Ed25519 seed)";
    let text = std::str::from_utf8(text)?.trim();
    jiceng_merkle::unhex(text)
        .filter(|seed| seed.len() == 32)
        .ok_or_else(|| invalid.into())
}

/// A random secret kept in the data folder, created on first use so that it survives restarts:
/// the development signing secret, the internal key and the key personal data is sealed with.
fn persisted_secret(data_dir: &std::path::Path, file: &str) -> Result<Vec<u8>> {
    let path = data_dir.join(file);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &secret)?;
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(secret.into_bytes())
}

fn read_dev_secret(data_dir: &std::path::Path) -> Result<Vec<u8>> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let secret = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no development secret at {} ({e}); run `jiceng up` first or pass --jwt-secret",
            path.display()
        )
    })?;
    Ok(secret.trim().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::parse_sink;

    #[test]
    fn sinks_name_a_uri_and_optionally_their_event_types() {
        let all = parse_sink("grid=http://grid:50051").expect("valid");
        assert_eq!(
            (all.name.as_str(), all.uri.as_str()),
            ("grid", "http://grid:50051")
        );
        assert_eq!(all.event_types, ["*"]);
        let some = parse_sink(
            "member=http://member:50051;jiceng.org.v1.unit.moved, jiceng.org.v1.booking.*",
        )
        .expect("valid");
        assert_eq!(
            some.event_types,
            ["jiceng.org.v1.unit.moved", "jiceng.org.v1.booking.*"]
        );
        assert!(parse_sink("grid").is_err());
        assert!(parse_sink("=http://x").is_err());
        assert!(parse_sink("grid=ftp://x").is_err());
    }
}
