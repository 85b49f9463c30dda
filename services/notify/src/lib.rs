//! The notify service: categories and templates, publishing with role fan-out, inboxes, live streams, preferences, and the consumer of other services' events.
//!
//! `domain` holds the values and templates, `store` the SQL, `grpc` the protobuf adapter (the
//! `NotifyService` API and the `EventSinkService` that other services' outboxes deliver to),
//! `proto` every conversion between the API's messages and the domain, and `org_events` what
//! each other service's event means for whom, one handler per event type; the org service is
//! asked through `jiceng_org_client::OrgDirectory`.

pub mod domain;
pub mod egress;
pub mod grpc;
pub mod org_events;
mod proto;
pub mod store;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use jiceng_db::{Migration, Migrations};
use jiceng_grpc::authenticated;
use jiceng_proto::notify::notify_service_server::NotifyServiceServer;
use jiceng_service::{BuildError, Built, Context, Parts, Task};
use tokio::sync::watch;

pub use grpc::NotifyApi;
pub use store::NotifyStore;
pub use webhooks::{DispatchOptions, WebhookDispatcher};

pub static MIGRATIONS: Migrations = Migrations {
    component: "notify",
    steps: &[
        Migration {
            version: 1,
            name: "categories, notifications, inboxes, preferences, topics",
            postgres: include_str!("../migrations/postgres/0001_notify.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_notify.sql"),
        },
        Migration::portable(
            2,
            "topic owners",
            include_str!("../migrations/0002_topic_owners.sql"),
        ),
        Migration::portable(
            3,
            "request ids in the shared shape",
            include_str!("../migrations/0003_requests.sql"),
        ),
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
async fn fold_digests(
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

/// How often notify folds held low-priority items into digests.
pub const DIGEST_INTERVAL: Duration = Duration::from_secs(10);

/// The notify service on `ctx`'s database, its webhooks delivered as `webhooks` says:
/// `NotifyService`, the consumer of the other services' events, the digest folder and the
/// webhook dispatcher. Its built-in categories are made on first start.
pub async fn build(
    ctx: &Context,
    webhooks: DispatchOptions,
) -> Result<Built<NotifyStore>, BuildError> {
    let store = NotifyStore::new(ctx.db.clone());
    for category in org_events::builtin_categories() {
        store
            .ensure_category(&category)
            .await
            .map_err(|e| BuildError(format!("notify categories: {e}")))?;
    }
    let signal = InboxSignal::default();
    let policy = Arc::clone(&webhooks.policy);
    let dispatcher = WebhookDispatcher::new(store.clone(), webhooks)
        .map_err(|e| BuildError(format!("webhooks: {e}")))?;
    let api = NotifyApi::new(
        store.clone(),
        ctx.org_for("notify")?,
        signal.clone(),
        ctx.members.clone(),
        policy,
    );
    let mut parts = Parts::consuming(org_events::CONSUMED, Arc::new(api.clone()), &[]);
    parts.grpc.add(authenticated!(
        NotifyServiceServer::new(api),
        &ctx.authenticator
    ));
    let (folded, folding) = (store.clone(), signal.clone());
    parts
        .tasks
        .push(Task::new("notify.digests", move |stopping| {
            fold_digests(folded, folding, DIGEST_INTERVAL, stopping)
        }));
    parts
        .tasks
        .push(Task::new("notify.webhooks", move |stopping| {
            dispatcher.run(stopping)
        }));
    // Live streams never end by themselves; end them so that draining can finish.
    parts.on_stop.push(move || signal.close());
    Ok(Built { store, parts })
}
