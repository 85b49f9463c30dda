//! The contract between a service crate and the process that runs it: the [`Context`] a service
//! is built from and the [`Parts`] it hands back.
//!
//! Each service crate exposes one `build(&Context) -> Result<Built<Store>, BuildError>`; the
//! process (`jiceng up` runs all five, `jiceng serve` one) makes the context, loops over the
//! services it runs, mounts their gRPC services, routes events to their consumers and runs
//! their background tasks until it stops. Nothing here knows any one service.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use jiceng_auth::{Authenticator, ServiceToken};
use jiceng_db::Database;
use jiceng_grpc::GrpcServices;
use jiceng_member_client::MemberRoll;
use jiceng_org_client::{OrgDirectory, PathHolder};
use jiceng_pii::PiiVault;
use jiceng_proto::events::event_sink_service_server::EventSinkService;

/// A service's configuration is incomplete or wrong: the process refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// What a service is built from: its database, who may call, and the platform's other services
/// as this process reaches them.
#[derive(Clone, Debug)]
pub struct Context {
    /// The service's own database, migrated.
    pub db: Database,
    /// The GB/T 2260 code of the district served, e.g. "310115".
    pub district: String,
    /// Checks the token of every call.
    pub authenticator: Arc<Authenticator>,
    /// What this process presents to the platform's other services.
    pub service_token: ServiceToken,
    /// The org service as this process sees it, one scope cache shared by the services here;
    /// unset when the org service cannot be reached (only the org service itself runs then).
    pub org: Option<OrgDirectory>,
    /// The member service, for the services that check the members a caller names; unset
    /// when it runs nowhere this process can reach (such calls are then refused).
    pub members: Option<MemberRoll>,
    /// Where the grid service answers, for the org service's check that a meeting's case
    /// exists; unset when it runs nowhere this process can reach.
    pub grid_endpoint: Option<String>,
    /// The vault personal data is sealed with, when the deployment has a key.
    pub vault: Option<PiiVault>,
}

impl Context {
    /// The CloudEvents `source` of the events `service` publishes.
    pub fn source(&self, service: &str) -> String {
        format!("//jiceng/{}/{service}", self.district)
    }

    /// The org service, which `service` cannot run without.
    pub fn org_for(&self, service: &str) -> Result<OrgDirectory, BuildError> {
        self.org.clone().ok_or_else(|| {
            BuildError(format!(
                "{service} needs the org service: --org-endpoint is required when it runs elsewhere"
            ))
        })
    }

    /// The vault, which `service` cannot run without.
    pub fn vault_for(&self, service: &str) -> Result<PiiVault, BuildError> {
        self.vault
            .clone()
            .ok_or_else(|| BuildError(format!("{service} needs --pii-key to seal personal data")))
    }
}

/// The future a background task is handed: it completes when the process stops, and the task
/// should then return.
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Work a service does in the background while the process serves: scanners, dispatchers.
/// Every replica runs it, so it must be safe to run on several at once.
pub struct Task {
    pub name: &'static str,
    run: Box<dyn FnOnce(Stopping) -> Running + Send>,
}

/// A background task's future, to spawn.
pub type Running = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Task {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(Stopping) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name,
            run: Box::new(move |stopping| Box::pin(run(stopping))),
        }
    }

    /// The task's future, to spawn.
    pub fn start(self, stopping: Stopping) -> Running {
        (self.run)(stopping)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("name", &self.name).finish()
    }
}

/// The event types a service consumes and the sink that takes them.
#[derive(Clone)]
pub struct Consumer {
    /// Exact types, or prefixes ending in `*`.
    pub event_types: &'static [&'static str],
    pub sink: Arc<dyn EventSinkService>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("event_types", &self.event_types)
            .finish_non_exhaustive()
    }
}

/// What a built service hands the process.
#[derive(Default)]
pub struct Parts {
    /// Its gRPC services, every call authenticated.
    pub grpc: GrpcServices,
    /// The events it consumes, if any.
    pub consumer: Option<Consumer>,
    /// Its background work.
    pub tasks: Vec<Task>,
    /// Where it keeps org paths beside its rows, re-pathed when units move and reconciled with
    /// the org tree by the process.
    pub path_holders: &'static [PathHolder],
    /// What to do as soon as the process begins to stop, before requests in flight drain (end
    /// live streams, which would otherwise hold the drain open).
    pub on_stop: StopHooks,
}

/// What services do as soon as their process begins to stop.
#[derive(Default)]
pub struct StopHooks(Vec<Box<dyn FnOnce() + Send>>);

impl StopHooks {
    pub fn push(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.0.push(Box::new(hook));
    }

    pub fn extend(&mut self, other: StopHooks) {
        self.0.extend(other.0);
    }

    /// Runs every hook, in the order they were pushed.
    pub fn run(self) {
        for hook in self.0 {
            hook();
        }
    }
}

impl fmt::Debug for StopHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StopHooks({})", self.0.len())
    }
}

impl Parts {
    /// The parts of a service that consumes `event_types` with `sink` and keeps org paths in
    /// `path_holders` (none: `&[]`); its gRPC services and tasks are added next.
    pub fn consuming(
        event_types: &'static [&'static str],
        sink: Arc<dyn EventSinkService>,
        path_holders: &'static [PathHolder],
    ) -> Self {
        Self {
            consumer: Some(Consumer { event_types, sink }),
            path_holders,
            ..Self::default()
        }
    }
}

impl fmt::Debug for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parts")
            .field("grpc", &self.grpc)
            .field("consumer", &self.consumer)
            .field("tasks", &self.tasks)
            .field("path_holders", &self.path_holders.len())
            .field("on_stop", &self.on_stop)
            .finish()
    }
}

/// A built service: its store, for the tools that write through it (seed, demo, bench), and its
/// parts.
#[derive(Debug)]
pub struct Built<S> {
    pub store: S,
    pub parts: Parts,
}
