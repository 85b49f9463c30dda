//! The transactional outbox: events written with the change, relayed over gRPC at least once,
//! deduplicated by the consumer.
//!
//! A producer calls [`enqueue`] inside the database transaction of its change, so the event
//! exists if and only if the change does. A [`Relay`] routes each event to the consumers
//! configured for its type (an event nobody consumes yet waits, unrouted), claims due deliveries
//! in batches under a lease, calls each consumer's `jiceng.events.v1.EventSinkService`, and
//! retries with backoff; a delivery that keeps failing is parked after `max_attempts`. Events
//! about one subject (the aggregate, e.g. a member) reach each consumer one at a time in the
//! order they were written, whichever relay or replica delivers them. A
//! consumer applies an event's effect in the same transaction as [`record_once`], so a
//! redelivery changes nothing.

mod envelope;
pub mod metrics;
mod parked;
mod relay;
mod router;

pub use envelope::{EventDraft, enqueue, trace_context_of};
pub use parked::{ParkedDelivery, parked, requeue_parked};
pub use relay::{Destination, Relay, RelayOptions};
pub use router::SinkRouter;

use jiceng_db::{Migration, Migrations, Tx, now_millis};
use jiceng_proto::cloudevents::CloudEvent;

/// The outbox's and inbox's tables; every service that produces or consumes events runs these.
pub static MIGRATIONS: Migrations = Migrations {
    component: "outbox",
    steps: &[
        Migration {
            version: 1,
            name: "outbox and inbox",
            postgres: include_str!("../migrations/postgres/0001_outbox.sql"),
            sqlite: include_str!("../migrations/sqlite/0001_outbox.sql"),
        },
        Migration {
            version: 2,
            name: "events of a subject in order",
            postgres: include_str!("../migrations/postgres/0002_ordered_subjects.sql"),
            sqlite: include_str!("../migrations/sqlite/0002_ordered_subjects.sql"),
        },
    ],
};

/// Records that `event` is being applied, in the consumer's transaction. False when it was
/// applied before: the caller must then skip the effect (and may commit or roll back).
pub async fn record_once(tx: &mut Tx, event: &CloudEvent) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO inbox_events (source, event_id, event_type, received_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (source, event_id) DO NOTHING",
    )
    .bind(&event.source)
    .bind(&event.id)
    .bind(&event.r#type)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Events waiting for a consumer, and deliveries in each state, for operators and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub unrouted: i64,
    pub pending: i64,
    pub delivered: i64,
    pub parked: i64,
}

/// Counts unrouted events and deliveries by state.
pub async fn counts(db: &jiceng_db::Database) -> Result<OutboxCounts, sqlx::Error> {
    let unrouted: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events WHERE routed_at IS NULL")
            .fetch_one(db.pool())
            .await?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM outbox_deliveries GROUP BY state")
            .fetch_all(db.pool())
            .await?;
    let mut counts = OutboxCounts {
        unrouted,
        ..OutboxCounts::default()
    };
    for (state, n) in rows {
        match state.as_str() {
            "pending" => counts.pending = n,
            "delivered" => counts.delivered = n,
            "parked" => counts.parked = n,
            _ => {}
        }
    }
    Ok(counts)
}
