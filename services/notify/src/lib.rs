//! The notify service: categories and templates, publishing with role fan-out, inboxes, live streams, preferences, and the consumer of other services' events.
//!
//! `domain` holds the values and templates, `store` the SQL, `grpc` the protobuf adapter (the
//! `NotifyService` API and the `EventSinkService` that other services' outboxes deliver to),
//! `org_events` what each org event means for whom; the org service is asked through
//! `jiceng_org_client::OrgDirectory`.

pub mod domain;
pub mod egress;
pub mod grpc;
pub mod org_events;
pub mod store;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_auth::Authenticator;
use jiceng_db::{Migration, Migrations};
use jiceng_grpc::{GrpcServer, server::MAX_MESSAGE_BYTES};
use jiceng_proto::notify::notify_service_server::NotifyServiceServer;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;

pub use grpc::NotifyApi;
pub use store::NotifyStore;

pub static MIGRATIONS: Migrations = Migrations {
    component: "notify",
    steps: &[
        Migration {
            version: 1,
            name: "categories, notifications, inboxes, preferences, topics",
            postgres: include_str!("../migrations/postgres/0001_notify.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_notify.sql"),
        },
        Migration {
            version: 2,
            name: "topic owners",
            postgres: include_str!("../migrations/postgres/0002_topic_owners.sql"),
            sqlite: include_str!("../migrations/sqlite/0002_topic_owners.sql"),
        },
    ],
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
        match store.fold_digests(store.now()).await {
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

/// Adds `NotifyService` to `server`, every call authenticated. The `EventSinkService` that
/// [`NotifyApi`] also implements is added by the process, which may host other consumers too.
pub fn add_services(server: &mut GrpcServer, api: NotifyApi, authenticator: &Arc<Authenticator>) {
    server.add_service(InterceptedService::new(
        NotifyServiceServer::new(api)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        authenticator.interceptor(),
    ));
}
