//! The notify service: categories and templates, publishing with role fan-out, inboxes, live streams, preferences, and the consumer of other services' events.
//!
//! `domain` holds the values and templates, `store` the SQL, `grpc` the protobuf adapter (the
//! `NotifyService` API and the `EventSinkService` that other services' outboxes deliver to),
//! `org_events` what each org event means for whom.

pub mod domain;
pub mod grpc;
pub mod org_events;
pub mod store;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_auth::{Authenticator, RemoteAncestry, ScopeCache};
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{
    GrpcServer, RetryPolicy, TracedChannel, server::MAX_MESSAGE_BYTES, with_retries,
};
use jiceng_proto::{
    events::event_sink_service_server::EventSinkServiceServer,
    notify::notify_service_server::NotifyServiceServer,
    org::{
        GetAllianceRequest, GetUnitRequest, ListCurrentHoldersRequest,
        alliance_service_client::AllianceServiceClient, org_service_client::OrgServiceClient,
        position::Holder, position_service_client::PositionServiceClient,
    },
};
use tokio::sync::watch;
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::interceptor::InterceptedService,
};

pub use grpc::NotifyApi;
pub use store::NotifyStore;

pub static MIGRATIONS: Migrations = Migrations {
    component: "notify",
    steps: &[Migration {
        version: 1,
        name: "categories, notifications, inboxes, preferences, topics",
        postgres: include_str!("../migrations/postgres/0001_notify.sql"),
        sqlite: include_str!("../migrations/sqlite/0001_notify.sql"),
    }],
};

/// Wakes the live streams of this process when an inbox changes, and ends them when the process
/// shuts down. Streams also poll, so that items published by another replica reach them too.
#[derive(Clone, Debug)]
pub struct InboxSignal {
    version: Arc<watch::Sender<u64>>,
    closing: Arc<watch::Sender<bool>>,
}

impl Default for InboxSignal {
    fn default() -> Self {
        Self {
            version: Arc::new(watch::channel(0).0),
            closing: Arc::new(watch::channel(false).0),
        }
    }
}

impl InboxSignal {
    pub fn notify(&self) {
        self.version
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Ends every live stream: a graceful shutdown would otherwise wait on them for ever.
    /// Subscribers reconnect, elsewhere, with their cursor.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`InboxSignal::close`] was called.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }
}

/// What the notify service asks of the org service: who holds a role now, a unit's name, and
/// whether a unit lies in a caller's scope (cached, invalidated by moves).
#[derive(Clone, Debug)]
pub struct OrgDirectory {
    channel: TracedChannel,
    bearer: MetadataValue<Ascii>,
    scopes: Arc<ScopeCache<RemoteAncestry>>,
}

impl OrgDirectory {
    /// Reaches the org service at `uri`, presenting `service_token`.
    pub fn new(uri: &str, service_token: &str) -> Result<Self, Status> {
        let channel = jiceng_grpc::channel(uri, Duration::from_secs(10))?;
        let bearer = format!("Bearer {service_token}")
            .parse()
            .map_err(|_| Status::invalid_argument("service token is not valid header text"))?;
        let remote = RemoteAncestry::new(channel.clone(), service_token)?;
        Ok(Self {
            channel,
            bearer,
            scopes: Arc::new(ScopeCache::new(remote, Duration::from_secs(300), 100_000)),
        })
    }

    pub fn scopes(&self) -> &ScopeCache<RemoteAncestry> {
        &self.scopes
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    /// The members holding `role` in `unit` now. Holders who are not members have no inbox.
    pub async fn holders(&self, unit_id: &str, role: i32) -> Result<Vec<String>, Status> {
        let positions = with_retries(RetryPolicy::default(), || {
            let mut client = PositionServiceClient::new(self.channel.clone());
            let request = self.request(ListCurrentHoldersRequest {
                unit_id: unit_id.to_owned(),
                role,
            });
            async move { client.list_current_holders(request).await }
        })
        .await?
        .into_inner()
        .positions;
        Ok(positions
            .into_iter()
            .filter_map(|p| match p.holder {
                Some(Holder::MemberId(member)) => Some(member),
                _ => None,
            })
            .collect())
    }

    /// The lead unit of an alliance.
    pub async fn alliance_lead(&self, alliance_id: &str) -> Result<String, Status> {
        let alliance = with_retries(RetryPolicy::default(), || {
            let mut client = AllianceServiceClient::new(self.channel.clone());
            let request = self.request(GetAllianceRequest {
                id: alliance_id.to_owned(),
            });
            async move { client.get_alliance(request).await }
        })
        .await?;
        Ok(alliance.into_inner().lead_unit_id)
    }

    /// A unit's display name.
    pub async fn unit_name(&self, unit_id: &str) -> Result<String, Status> {
        let unit = with_retries(RetryPolicy::default(), || {
            let mut client = OrgServiceClient::new(self.channel.clone());
            let request = self.request(GetUnitRequest {
                id: unit_id.to_owned(),
            });
            async move { client.get_unit(request).await }
        })
        .await?;
        Ok(unit.into_inner().name)
    }
}

/// Folds held low-priority items into digests every `every` until `shutdown` completes, and
/// wakes the live streams when it delivered any.
pub async fn fold_digests(
    store: NotifyStore,
    signal: InboxSignal,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match store.fold_digests(jiceng_db::now_millis()).await {
            Ok(0) => {}
            Ok(folded) => {
                tracing::info!(folded, "digests delivered");
                signal.notify();
            }
            Err(err) => tracing::warn!(error = %err, "digest folding failed"),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Adds the notify service's gRPC services to `server`, every call authenticated.
pub fn add_services(server: &mut GrpcServer, api: NotifyApi, authenticator: &Arc<Authenticator>) {
    server.add_service(InterceptedService::new(
        NotifyServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
    server.add_service(InterceptedService::new(
        EventSinkServiceServer::new(api),
        authenticator.interceptor(),
    ));
}
