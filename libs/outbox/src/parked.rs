//! What an operator does with deliveries the relay gave up on (`jiceng outbox`): list them with
//! their last error, and put them back in line once the consumer can take them.

use jiceng_db::Database;

/// A delivery parked after its last attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ParkedDelivery {
    pub event_id: String,
    pub event_type: String,
    pub destination: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// When the event was written (epoch milliseconds).
    pub written_at: i64,
    /// When it was parked.
    pub parked_at: Option<i64>,
}

/// The parked deliveries, to `destination` only when given, oldest event first, at most
/// `limit`.
pub async fn parked(
    db: &Database,
    destination: Option<&str>,
    limit: i64,
) -> Result<Vec<ParkedDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.event_id, e.event_type, d.destination, d.attempts, d.last_error,
                e.created_at AS written_at, d.done_at AS parked_at
         FROM outbox_deliveries d JOIN outbox_events e ON e.event_id = d.event_id
         WHERE d.state = 'parked' AND ($1 = '' OR d.destination = $1)
         ORDER BY d.seq LIMIT $2",
    )
    .bind(destination.unwrap_or_default())
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// Puts parked deliveries back in line, due now with their attempts counted afresh: those to
/// `destination`, or of the event `event_id`, or (both `None`) every one. Returns how many.
/// A re-queued event goes before the later events of its subject that are still pending, as it
/// would have had it never been parked; later ones already delivered stay delivered.
pub async fn requeue_parked(
    db: &Database,
    destination: Option<&str>,
    event_id: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let requeued = sqlx::query(
        "UPDATE outbox_deliveries
         SET state = 'pending', attempts = 0, available_at = $1, lease_until = 0, done_at = NULL
         WHERE state = 'parked' AND ($2 = '' OR destination = $2) AND ($3 = '' OR event_id = $3)",
    )
    .bind(db.now())
    .bind(destination.unwrap_or_default())
    .bind(event_id.unwrap_or_default())
    .execute(db.pool())
    .await?;
    Ok(requeued.rows_affected())
}
