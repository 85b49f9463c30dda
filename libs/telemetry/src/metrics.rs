//! The platform's meter, and what its instruments share.
//!
//! Instruments are made from the global meter provider [`crate::init`] installs; one made
//! before it records nothing. Each crate therefore keeps its instruments in an
//! [`Instruments`], which makes them on first use and again whenever another provider has been
//! installed since: a library used before `init` (a test's other scenarios, a tool) still
//! counts once telemetry is on.
//!
//! Names and attributes follow the OpenTelemetry semantic conventions where they have one
//! (`rpc.server.duration`, `db.client.connection.count`) and are `jiceng.*` otherwise. The
//! collector turns them into Prometheus names (`rpc_server_duration_milliseconds_bucket`,
//! `jiceng_outbox_deliveries_total`); `k8s/observability` and `docs/OBSERVABILITY.md` use
//! those.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Histogram, Meter},
};

/// How many meter providers this process has installed: instruments made under an earlier
/// count are made again.
static PROVIDERS: AtomicU64 = AtomicU64::new(0);

/// Called by [`crate::init`] once the global meter provider is installed.
pub(crate) fn provider_installed() {
    PROVIDERS.fetch_add(1, Ordering::SeqCst);
}

/// A set of instruments `T` made from the current global meter provider by `make`, on first
/// use and again after another provider was installed. Observable instruments register their
/// callbacks when made: reading them once (e.g. when the pool they observe opens) is enough.
pub struct Instruments<T> {
    make: fn() -> T,
    made: RwLock<Option<(u64, Arc<T>)>>,
}

impl<T> std::fmt::Debug for Instruments<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instruments").finish_non_exhaustive()
    }
}

impl<T> Instruments<T> {
    pub const fn new(make: fn() -> T) -> Self {
        Self {
            make,
            made: RwLock::new(None),
        }
    }

    /// The instruments, made from the provider installed now.
    pub fn get(&self) -> Arc<T> {
        let providers = PROVIDERS.load(Ordering::SeqCst);
        if let Some((made_under, instruments)) = &*self
            .made
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            && *made_under == providers
        {
            return Arc::clone(instruments);
        }
        let mut made = self
            .made
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*made {
            Some((made_under, instruments)) if *made_under == providers => Arc::clone(instruments),
            _ => {
                let instruments = Arc::new((self.make)());
                *made = Some((providers, Arc::clone(&instruments)));
                instruments
            }
        }
    }
}

/// What a task last read or counted, kept for an observable gauge's callback to report (a
/// database's backlog read every few seconds, the connection pools of the process).
#[derive(Debug)]
pub struct Observed<T>(Mutex<T>);

impl<T> Observed<T> {
    pub const fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    /// The value; a panic elsewhere while it was held leaves it as consistent as any reading.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Bucket bounds of every duration histogram, in milliseconds: fine where the latency SLO
/// (250 ms) and the benchmarks' p99 targets (25 ms) are judged, coarse beyond.
pub const DURATION_BUCKETS_MS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// The platform's meter.
pub fn meter() -> Meter {
    global::meter("jiceng")
}

/// A duration histogram in milliseconds with the platform's buckets.
pub fn duration_histogram(name: &'static str, description: &'static str) -> Histogram<f64> {
    meter()
        .f64_histogram(name)
        .with_unit("ms")
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS_MS.to_vec())
        .build()
}

/// Milliseconds, as the duration histograms record them.
pub fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

struct ScannerInstruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
}

static SCANNER: Instruments<ScannerInstruments> = Instruments::new(|| ScannerInstruments {
    runs: meter()
        .u64_counter("jiceng.scanner.runs")
        .with_description("Rounds of a background scanner, by outcome")
        .build(),
    duration: duration_histogram(
        "jiceng.scanner.duration",
        "How long one round of a background scanner took",
    ),
});

/// Counts one round of the background scanner `scanner` (e.g. `grid.overdue_scan`): how long it
/// took and whether it failed. Every replica runs its scanners; each counts its own rounds.
pub fn scanner_round(scanner: &'static str, elapsed: Duration, ok: bool) {
    let name = KeyValue::new("jiceng.scanner", scanner);
    let outcome = KeyValue::new("outcome", if ok { "ok" } else { "failed" });
    let scanner = SCANNER.get();
    scanner.runs.add(1, &[name.clone(), outcome]);
    scanner.duration.record(millis(elapsed), &[name]);
}
