//! The outbox as metrics: what waits (`jiceng.outbox.pending`, `.parked`, `.unrouted`), how long
//! the oldest has waited (`jiceng.outbox.oldest_pending_age`), and what each delivery came to
//! (`jiceng.outbox.deliveries`, by outcome).
//!
//! The backlog is read from the database by every relay every [`BACKLOG_INTERVAL`]: each
//! replica reports the same figures of the shared outbox, so dashboards and alerts take their
//! maximum, never their sum. `jiceng.outbox` names the producing service's outbox.

use std::{collections::HashMap, time::Duration};

use jiceng_db::Database;
use jiceng_telemetry::metrics::{Instruments, Observed, meter};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, ObservableGauge},
};

/// How often a relay reads its outbox's backlog for the gauges.
pub const BACKLOG_INTERVAL: Duration = Duration::from_secs(15);

/// One outbox's backlog towards one destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries not made yet: due, leased, or backing off.
    pub pending: u64,
    /// Deliveries given up after the last attempt, waiting for an operator.
    pub parked: u64,
    /// Milliseconds since the oldest pending delivery's event was written; 0 when none waits.
    pub oldest_pending_ms: i64,
}

/// What one outbox holds: per destination, and the events no destination consumes yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub destinations: HashMap<String, Backlog>,
    pub unrouted: u64,
}

/// The last backlog each outbox of this process read, by outbox name.
static BACKLOGS: Observed<Vec<(String, OutboxBacklog)>> = Observed::new(Vec::new());

struct OutboxInstruments {
    _pending: ObservableGauge<u64>,
    _parked: ObservableGauge<u64>,
    _oldest: ObservableGauge<f64>,
    _unrouted: ObservableGauge<u64>,
    deliveries: Counter<u64>,
}

fn per_destination(outbox: &str, destination: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("jiceng.outbox", outbox.to_owned()),
        KeyValue::new("destination", destination.to_owned()),
    ]
}

static INSTRUMENTS: Instruments<OutboxInstruments> = Instruments::new(|| {
    let meter = meter();
    OutboxInstruments {
        _pending: meter
            .u64_observable_gauge("jiceng.outbox.pending")
            .with_description("Deliveries of the outbox not made yet, per destination")
            .with_callback(|observer| {
                for (outbox, backlog) in BACKLOGS.lock().iter() {
                    for (destination, of) in &backlog.destinations {
                        observer.observe(of.pending, &per_destination(outbox, destination));
                    }
                }
            })
            .build(),
        _parked: meter
            .u64_observable_gauge("jiceng.outbox.parked")
            .with_description("Deliveries given up after their last attempt, per destination")
            .with_callback(|observer| {
                for (outbox, backlog) in BACKLOGS.lock().iter() {
                    for (destination, of) in &backlog.destinations {
                        observer.observe(of.parked, &per_destination(outbox, destination));
                    }
                }
            })
            .build(),
        _oldest: meter
            .f64_observable_gauge("jiceng.outbox.oldest_pending_age")
            .with_unit("s")
            .with_description("How long the oldest pending delivery's event has waited")
            .with_callback(|observer| {
                for (outbox, backlog) in BACKLOGS.lock().iter() {
                    for (destination, of) in &backlog.destinations {
                        observer.observe(
                            of.oldest_pending_ms as f64 / 1000.0,
                            &per_destination(outbox, destination),
                        );
                    }
                }
            })
            .build(),
        _unrouted: meter
            .u64_observable_gauge("jiceng.outbox.unrouted")
            .with_description("Events of a type no configured destination consumes")
            .with_callback(|observer| {
                for (outbox, backlog) in BACKLOGS.lock().iter() {
                    observer.observe(
                        backlog.unrouted,
                        &[KeyValue::new("jiceng.outbox", outbox.clone())],
                    );
                }
            })
            .build(),
        deliveries: meter
            .u64_counter("jiceng.outbox.deliveries")
            .with_description("Delivery attempts, by destination and outcome")
            .build(),
    }
});

/// Counts one delivery attempt: `delivered`, `failed` (to be retried) or `parked`.
pub(crate) fn delivery(outbox: &str, destination: &str, outcome: &'static str) {
    let [outbox, destination] = per_destination(outbox, destination);
    INSTRUMENTS
        .get()
        .deliveries
        .add(1, &[outbox, destination, KeyValue::new("outcome", outcome)]);
}

/// Publishes what `outbox` holds to the gauges.
pub(crate) fn publish(outbox: &str, backlog: OutboxBacklog) {
    INSTRUMENTS.get();
    let mut backlogs = BACKLOGS.lock();
    match backlogs.iter_mut().find(|(name, _)| name == outbox) {
        Some((_, kept)) => *kept = backlog,
        None => backlogs.push((outbox.to_owned(), backlog)),
    }
}

/// Reads what `db`'s outbox holds for each of `destinations` (a destination with nothing
/// waiting reads as zero, so that an alert on it resolves).
pub async fn read_backlog<'a>(
    db: &Database,
    destinations: impl Iterator<Item = &'a String>,
) -> Result<OutboxBacklog, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT d.destination, d.state, COUNT(*), MIN(e.created_at)
         FROM outbox_deliveries d JOIN outbox_events e ON e.event_id = d.event_id
         WHERE d.state IN ('pending', 'parked')
         GROUP BY d.destination, d.state",
    )
    .fetch_all(db.pool())
    .await?;
    let unrouted: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events WHERE routed_at IS NULL")
            .fetch_one(db.pool())
            .await?;
    let mut backlog = OutboxBacklog {
        destinations: destinations
            .map(|name| (name.clone(), Backlog::default()))
            .collect(),
        unrouted: unrouted.max(0) as u64,
    };
    let now = db.now();
    for (destination, state, count, oldest) in rows {
        let of = backlog.destinations.entry(destination).or_default();
        let count = count.max(0) as u64;
        if state == "parked" {
            of.parked = count;
        } else {
            of.pending = count;
            of.oldest_pending_ms = oldest.map_or(0, |at| (now - at).max(0));
        }
    }
    Ok(backlog)
}
