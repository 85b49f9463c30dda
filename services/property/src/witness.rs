//! Keeps the transparency log witnessed by the org service (`jiceng.org.v1.WitnessService`), so
//! that a restore of the property database to an earlier point, or a fork, is noticed before
//! the log signs again.
//!
//! Each round compares the log with the witnessed head: a log that no longer holds it is
//! [`Witnessing::Diverged`] and refuses appends (FAILED_PRECONDITION `LOG_DIVERGED`) until an
//! operator restores the missing entries or resets the witness (`ResetWitnessedHead`); a log
//! that holds it and has grown asks the witness to take its latest head, with the consistency
//! proof from the witnessed one. A round runs when the service starts (appends wait for it),
//! after each append and every [`WITNESS_INTERVAL`]; every replica runs it, and the witness's
//! compare-and-set (ABORTED when another replica advanced it first) keeps them in step.
//!
//! A head is witnessed moments after it is signed, so a restore to a point within that moment of
//! the latest append goes unnoticed here; the `jiceng_transparency_log_size` series, kept by
//! Prometheus beyond any restore of the database, is the second witness (the
//! `JicengTransparencyLogShrank` alert).

use std::{future::Future, time::Duration};

use jiceng_merkle::Hash;
use jiceng_org_client::{HeadToWitness, OrgDirectory};
use jiceng_telemetry::metrics::{Instruments, Observed, meter};
use opentelemetry::{KeyValue, metrics::ObservableGauge};
use tonic::Code;

use crate::store::{PropertyStore, StoreError, log::Witnessing};

/// The log's name at the witness.
pub const LOG_NAME: &str = "property";

/// How often a replica compares the log with its witness when nothing is appended.
pub const WITNESS_INTERVAL: Duration = Duration::from_secs(30);

/// How soon a round that could not reach the witness is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How often a diverged log is compared again, so that appends resume soon after an operator
/// resolves it.
const DIVERGED_RECHECK: Duration = Duration::from_secs(2);

/// What a round found. A round that reaches neither the witness nor its own database finds
/// nothing and is an error ([`RoundError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// The log holds the witnessed head, which is now of this size.
    Holds { witnessed: u64, size: u64 },
    /// The log does not hold the witnessed head.
    Diverged(String),
}

/// The last round's figures, for the gauges: the log's size, the witnessed size, and whether
/// the log diverged.
static FIGURES: Observed<Option<(u64, u64, bool)>> = Observed::new(None);

struct WitnessInstruments {
    _size: ObservableGauge<u64>,
    _witnessed: ObservableGauge<u64>,
    _diverged: ObservableGauge<u64>,
}

fn log_attribute() -> [KeyValue; 1] {
    [KeyValue::new("jiceng.log", LOG_NAME)]
}

static INSTRUMENTS: Instruments<WitnessInstruments> = Instruments::new(|| {
    let meter = meter();
    WitnessInstruments {
        _size: meter
            .u64_observable_gauge("jiceng.transparency_log.size")
            .with_description("Entries in the transparency log, as its last witness round read it")
            .with_callback(|observer| {
                if let Some((size, _, _)) = *FIGURES.lock() {
                    observer.observe(size, &log_attribute());
                }
            })
            .build(),
        _witnessed: meter
            .u64_observable_gauge("jiceng.transparency_log.witnessed_size")
            .with_description("The size of the log's head the org service witnesses")
            .with_callback(|observer| {
                if let Some((_, witnessed, _)) = *FIGURES.lock() {
                    observer.observe(witnessed, &log_attribute());
                }
            })
            .build(),
        _diverged: meter
            .u64_observable_gauge("jiceng.transparency_log.diverged")
            .with_description(
                "1 while the log does not hold its witnessed head and refuses appends",
            )
            .with_callback(|observer| {
                if let Some((_, _, diverged)) = *FIGURES.lock() {
                    observer.observe(u64::from(diverged), &log_attribute());
                }
            })
            .build(),
    }
});

/// Why a round ended without a finding.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("the witness: {0}")]
    Witness(tonic::Status),
    #[error("the log: {0}")]
    Log(#[from] StoreError),
}

/// One round: compares the log with its witnessed head and, when the log holds it and has
/// grown, has the witness take the latest head. Records the finding in the store.
pub async fn witness_round(store: &PropertyStore, org: &OrgDirectory) -> Result<Round, RoundError> {
    INSTRUMENTS.get();
    // Another replica may advance the witness between our reading and our request (ABORTED):
    // read again, a few times.
    for _ in 0..5 {
        let (from_size, from_root) = org
            .witnessed_head(LOG_NAME)
            .await
            .map_err(RoundError::Witness)?
            .unwrap_or((0, [0; 32]));
        let latest = store.tree_head(None).await?;
        let diverged = if from_size > latest.head.size {
            Some(format!(
                "the log holds {} entries, but its head of size {from_size} was witnessed: its \
                 database was restored to an earlier point",
                latest.head.size
            ))
        } else {
            store.holds(from_size, &from_root).await?
        };
        if let Some(reason) = diverged {
            return Ok(record(store, latest.head.size, from_size, Err(reason)));
        }
        if latest.head.size == from_size {
            return Ok(record(store, latest.head.size, from_size, Ok(from_root)));
        }
        let proof = if from_size == 0 {
            Vec::new()
        } else {
            store.consistency(from_size, latest.head.size).await?.proof
        };
        let head = HeadToWitness {
            log: LOG_NAME,
            from_size,
            size: latest.head.size,
            root: &latest.head.root,
            timestamp_ms: latest.head.timestamp_ms,
            signature: &latest.signature,
            proof: &proof,
        };
        match org.witness_tree_head(head).await {
            Ok((size, root)) => {
                return Ok(record(store, latest.head.size, size, Ok(root)));
            }
            Err(status) if status.code() == Code::Aborted => continue,
            Err(status) if status.code() == Code::FailedPrecondition => {
                let reason = format!("the witness refused the log's head: {}", status.message());
                return Ok(record(store, latest.head.size, from_size, Err(reason)));
            }
            Err(status) => return Err(RoundError::Witness(status)),
        }
    }
    Err(RoundError::Witness(tonic::Status::aborted(
        "the witness kept moving: other replicas are appending",
    )))
}

/// Records what a round found — the root of the witnessed head the log holds, or why it does
/// not hold it — in the store, which refuses appends while the log diverges, in the gauges, and
/// in the log when the finding changed.
fn record(
    store: &PropertyStore,
    size: u64,
    witnessed: u64,
    finding: Result<Hash, String>,
) -> Round {
    let was_diverged = matches!(store.witnessing(), Witnessing::Diverged(_));
    *FIGURES.lock() = Some((size, witnessed, finding.is_err()));
    match finding {
        Err(reason) => {
            // Once per divergence: the gauge and its alert say that it lasts.
            if !was_diverged {
                tracing::error!(
                    reason,
                    size,
                    witnessed,
                    "the transparency log does not hold its witnessed head: it refuses appends \
                     until an operator resolves it (docs/operations/RESTORE.md)"
                );
            }
            store.set_witnessing(Witnessing::Diverged(reason.clone()));
            Round::Diverged(reason)
        }
        Ok(root) => {
            if was_diverged {
                tracing::warn!(
                    size,
                    witnessed,
                    "the transparency log holds its witnessed head again: appends resume"
                );
            }
            store.set_witnessing(Witnessing::Holds {
                size: witnessed,
                root,
            });
            Round::Holds { witnessed, size }
        }
    }
}

/// Runs [`witness_round`] when the service starts, after each append (and an append that found
/// the log diverged) and every `every`, until `shutdown` completes.
pub async fn keep_witnessed(
    store: PropertyStore,
    org: OrgDirectory,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let started = std::time::Instant::now();
        let outcome = witness_round(&store, &org).await;
        let wait = match &outcome {
            Ok(Round::Holds { .. }) => every,
            Ok(Round::Diverged(_)) => DIVERGED_RECHECK.min(every),
            Err(err) => {
                tracing::warn!(error = %err, "the transparency log could not be compared with its witness");
                RETRY_AFTER.min(every)
            }
        };
        jiceng_telemetry::metrics::scanner_round(
            "property.log_witness",
            started.elapsed(),
            outcome.is_ok(),
        );
        tokio::select! {
            () = &mut shutdown => return,
            () = store.log_changed() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
