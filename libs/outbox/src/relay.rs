use std::{collections::HashMap, future::Future, time::Duration};

use jiceng_auth::ServiceToken;
use jiceng_db::{Database, Dialect, now_millis, placeholders};
use jiceng_grpc::TracedChannel;
use jiceng_proto::{
    cloudevents::CloudEvent,
    events::{DeliverRequest, event_sink_service_client::EventSinkServiceClient},
};
use prost::Message as _;
use tonic::Request;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{metrics, trace_context_of};

/// A consumer the relay delivers to, and the event types it consumes.
#[derive(Clone, Debug)]
pub struct Destination {
    client: EventSinkServiceClient<TracedChannel>,
    token: Option<ServiceToken>,
    event_types: Vec<String>,
}

impl Destination {
    /// A consumer reached over `channel`, called with the platform's internal `token` when it
    /// requires one, of the event types matching `event_types`: an exact type, a prefix ending
    /// in `*`, or `*`.
    pub fn new(
        channel: TracedChannel,
        token: Option<ServiceToken>,
        event_types: Vec<String>,
    ) -> Self {
        Self {
            client: EventSinkServiceClient::new(channel),
            token,
            event_types,
        }
    }

    fn consumes(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => event_type.starts_with(prefix),
                None => pattern == event_type,
            })
    }
}

/// The condition on a delivery `d` that it is the next of its subject for its destination: a
/// delivery waits while an earlier one of its subject to the same destination is pending — in
/// flight on any replica (leased), backing off, or not yet tried.
///
/// "Earlier" is `seq`, the order the events were written in. On PostgreSQL a sequence value is
/// taken at the insert, not at the commit, so the order is that of transactions that take turns
/// on their subject: the stores change the aggregate's row (a member, a case, a unit) in the
/// transaction that writes its event, so the second waits for the first to commit. Two events
/// of one subject written by transactions that do not take turns have no order to keep.
const NEXT_OF_ITS_SUBJECT: &str = "(d.subject = '' OR NOT EXISTS (
        SELECT 1 FROM outbox_deliveries earlier
        WHERE earlier.destination = d.destination AND earlier.subject = d.subject
          AND earlier.state = 'pending' AND earlier.seq < d.seq))";

/// Events routed by one statement; well under both databases' limits on bound parameters.
const ROUTED_PER_STATEMENT: usize = 500;

#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Events claimed per round.
    pub batch_size: i64,
    /// How long a claim keeps other relays away; a relay that dies mid-batch frees its events
    /// when the lease ends.
    pub lease: Duration,
    /// Sleep between rounds that found nothing to do.
    pub idle_interval: Duration,
    /// Deadline of one delivery call.
    pub delivery_timeout: Duration,
    /// Deliveries tried before an event is parked for an operator.
    pub max_attempts: i64,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            lease: Duration::from_secs(30),
            idle_interval: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(10),
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Delivers one database's outbox to its destinations.
#[derive(Debug)]
pub struct Relay {
    /// The outbox's name in metrics: the service whose events it holds.
    source: String,
    db: Database,
    destinations: HashMap<String, Destination>,
    options: RelayOptions,
}

struct Claimed {
    event_id: String,
    destination: String,
    payload: Vec<u8>,
    attempts: i64,
}

enum Outcome {
    Delivered,
    Failed(String),
}

impl Relay {
    /// A relay of the outbox in `db`, which holds `source`'s events (the name its metrics go
    /// by).
    pub fn new(
        source: &str,
        db: Database,
        destinations: HashMap<String, Destination>,
        options: RelayOptions,
    ) -> Self {
        Self {
            source: source.to_owned(),
            db,
            destinations,
            options,
        }
    }

    /// The database whose outbox this relay drains.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Relays until `shutdown` completes. Database errors are logged and retried after a pause;
    /// the relay never gives up on its own. Every [`metrics::BACKLOG_INTERVAL`] it reads the
    /// outbox's backlog for the gauges.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backlog_read_at: Option<std::time::Instant> = None;
        loop {
            if backlog_read_at.is_none_or(|at| at.elapsed() >= metrics::BACKLOG_INTERVAL) {
                backlog_read_at = Some(std::time::Instant::now());
                if let Err(err) = self.publish_backlog().await {
                    tracing::warn!(error = %err, outbox = %self.source, "reading the outbox backlog failed");
                }
            }
            let pause = match self.relay_once().await {
                Ok(0) => self.options.idle_interval,
                Ok(_) => Duration::ZERO,
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay round failed");
                    self.options.idle_interval * 5
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Reads what waits in the outbox and publishes it to the backlog gauges.
    pub async fn publish_backlog(&self) -> Result<(), sqlx::Error> {
        let backlog = metrics::read_backlog(&self.db, self.destinations.keys()).await?;
        metrics::publish(&self.source, backlog);
        Ok(())
    }

    /// Routes new events, claims one batch of due deliveries, delivers them concurrently, and
    /// records each outcome. Returns how many deliveries it claimed.
    pub async fn relay_once(&self) -> Result<usize, sqlx::Error> {
        self.route().await?;
        let claimed = self.claim().await?;
        let count = claimed.len();
        let deliveries = claimed.into_iter().map(|event| async move {
            let outcome = self.deliver(&event).await;
            (event, outcome)
        });
        for (event, outcome) in futures::future::join_all(deliveries).await {
            self.record(&event, outcome).await?;
        }
        Ok(count)
    }

    /// Hands unrouted events to the destinations that consume their type, one batch in the
    /// order they were written, so that no event is routed before an earlier one of its
    /// subject. Types nobody consumes stay unrouted until such a destination is configured.
    async fn route(&self) -> Result<(), sqlx::Error> {
        let types: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT event_type FROM outbox_events WHERE routed_at IS NULL",
        )
        .fetch_all(self.db.pool())
        .await?;
        let consumers_of: HashMap<String, Vec<&String>> = types
            .into_iter()
            .map(|event_type| {
                let consumers = self
                    .destinations
                    .iter()
                    .filter(|(_, destination)| destination.consumes(&event_type))
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>();
                (event_type, consumers)
            })
            .filter(|(_, consumers)| !consumers.is_empty())
            .collect();
        if consumers_of.is_empty() {
            return Ok(());
        }
        let consumed: Vec<&String> = consumers_of.keys().collect();
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        let mut select = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT event_id, event_type FROM outbox_events
             WHERE routed_at IS NULL AND event_type IN ({}) ORDER BY seq LIMIT $1",
            placeholders(2, consumed.len())
        )))
        .bind(self.options.batch_size);
        for event_type in &consumed {
            select = select.bind(event_type.as_str());
        }
        let events: Vec<(String, String)> = select.fetch_all(&mut *tx).await?;
        // In name order: two replicas routing together lock the same rows in the same order.
        let mut per_consumer: std::collections::BTreeMap<&String, Vec<&String>> =
            std::collections::BTreeMap::new();
        for (id, event_type) in &events {
            for consumer in &consumers_of[event_type] {
                per_consumer.entry(consumer).or_default().push(id);
            }
        }
        // A statement per consumer and one for the events, not two per event: at two round
        // trips an event, routing fell behind the writers whose events it routes.
        for (consumer, ids) in per_consumer {
            for chunk in ids.chunks(ROUTED_PER_STATEMENT) {
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO outbox_deliveries (event_id, destination, available_at, subject, seq)
                     SELECT event_id, $1, $2, subject, seq FROM outbox_events WHERE event_id IN ({})
                     ON CONFLICT (event_id, destination) DO NOTHING",
                    placeholders(3, chunk.len())
                )))
                .bind(consumer.as_str())
                .bind(now);
                for id in chunk {
                    insert = insert.bind(id.as_str());
                }
                insert.execute(&mut *tx).await?;
            }
        }
        for chunk in events.chunks(ROUTED_PER_STATEMENT) {
            let mut routed = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox_events SET routed_at = $1 WHERE event_id IN ({})",
                placeholders(2, chunk.len())
            )))
            .bind(now);
            for (id, _) in chunk {
                routed = routed.bind(id);
            }
            routed.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Leases due deliveries. Attempts are counted at claim time, so an event whose delivery kills
    /// the relay still reaches `max_attempts` and is parked instead of looping for ever.
    async fn claim(&self) -> Result<Vec<Claimed>, sqlx::Error> {
        let now = now_millis();
        // A read first: an idle relay then never takes the write lock, which on SQLite would
        // stall every writer of the service several times a second.
        let due = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM outbox_deliveries d
             WHERE d.state = 'pending' AND d.available_at <= $1 AND d.lease_until <= $1
               AND {NEXT_OF_ITS_SUBJECT} LIMIT 1"
        )))
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let lease_until = now + self.options.lease.as_millis() as i64;
        let lock = match self.db.dialect() {
            Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            // SQLite has one writer at a time; the write transaction is the lock.
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox_deliveries SET lease_until = $1, attempts = attempts + 1
             WHERE (event_id, destination) IN (
                 SELECT d.event_id, d.destination FROM outbox_deliveries d
                 WHERE d.state = 'pending' AND d.available_at <= $2 AND d.lease_until <= $2
                   AND {NEXT_OF_ITS_SUBJECT}
                 ORDER BY d.available_at, d.seq
                 LIMIT $3 {lock})
             RETURNING event_id, destination, attempts"
        );
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(self.options.batch_size)
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (event_id, destination, attempts) in rows {
            let payload: Vec<u8> =
                sqlx::query_scalar("SELECT payload FROM outbox_events WHERE event_id = $1")
                    .bind(&event_id)
                    .fetch_one(&mut *tx)
                    .await?;
            claimed.push(Claimed {
                event_id,
                destination,
                payload,
                attempts,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Calls the destination's sink with the event, in a span that continues the event's trace.
    /// A failure is that span's error and is logged inside it, so that its WARN (or, when the
    /// event is parked, ERROR) line carries the trace the operator opens next.
    async fn deliver(&self, claimed: &Claimed) -> Outcome {
        let span = tracing::info_span!(
            "outbox.deliver",
            event.id = %claimed.event_id,
            event.r#type = tracing::field::Empty,
            destination = %claimed.destination,
            attempt = claimed.attempts,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
        );
        let outcome = self.call_sink(claimed, &span).await;
        if let Outcome::Failed(error) = &outcome {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.as_str());
            let _entered = span.enter();
            if claimed.attempts >= self.options.max_attempts {
                tracing::error!(event.id = %claimed.event_id, destination = %claimed.destination,
                    %error, attempts = claimed.attempts, "outbox event parked");
            } else {
                tracing::warn!(event.id = %claimed.event_id, destination = %claimed.destination,
                    %error, attempts = claimed.attempts, "outbox delivery failed, will retry");
            }
        }
        outcome
    }

    async fn call_sink(&self, claimed: &Claimed, span: &tracing::Span) -> Outcome {
        let Some(destination) = self.destinations.get(&claimed.destination) else {
            return Outcome::Failed(format!("no route to destination {}", claimed.destination));
        };
        let event = match CloudEvent::decode(claimed.payload.as_slice()) {
            Ok(event) => event,
            Err(err) => return Outcome::Failed(format!("undecodable payload: {err}")),
        };
        span.record("event.type", event.r#type.as_str());
        let _ = span.set_parent(trace_context_of(&event));
        let mut request = Request::new(DeliverRequest { event: Some(event) });
        request.set_timeout(self.options.delivery_timeout);
        if let Some(token) = &destination.token {
            match token.bearer() {
                Ok(bearer) => {
                    request.metadata_mut().insert("authorization", bearer);
                }
                Err(status) => return Outcome::Failed(status.message().to_owned()),
            }
        }
        let mut client = destination.client.clone();
        match client.deliver(request).instrument(span.clone()).await {
            Ok(_) => Outcome::Delivered,
            Err(status) => Outcome::Failed(format!("{:?}: {}", status.code(), status.message())),
        }
    }

    async fn record(&self, claimed: &Claimed, outcome: Outcome) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let (state, available_at, error) = match outcome {
            Outcome::Delivered => ("delivered", now, None),
            // Logged by `deliver`, inside the delivery's span.
            Outcome::Failed(error) if claimed.attempts >= self.options.max_attempts => {
                ("parked", now, Some(error))
            }
            Outcome::Failed(error) => {
                let retry_at = now + self.backoff(claimed.attempts).as_millis() as i64;
                ("pending", retry_at, Some(error))
            }
        };
        let done_at = (state != "pending").then_some(now);
        let outcome = match state {
            "pending" => "failed",
            done => done,
        };
        metrics::delivery(&self.source, &claimed.destination, outcome);
        sqlx::query(
            "UPDATE outbox_deliveries
             SET state = $1, available_at = $2, lease_until = 0, last_error = $3, done_at = $4
             WHERE event_id = $5 AND destination = $6",
        )
        .bind(state)
        .bind(available_at)
        .bind(error)
        .bind(done_at)
        .bind(claimed.event_id.clone())
        .bind(claimed.destination.clone())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Exponential in the attempts so far, capped, with jitter so that a recovered consumer is
    /// not hit by every retry at once.
    fn backoff(&self, attempts: i64) -> Duration {
        let exp = self
            .options
            .initial_backoff
            .saturating_mul(1 << attempts.clamp(0, 20) as u32);
        exp.min(self.options.max_backoff)
            .mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}
