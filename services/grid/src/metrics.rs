//! The grid's work as metrics, per street: `jiceng.grid.cases.reported` and `.escalated`
//! (counters) and `jiceng.grid.cases.overdue` (a gauge the overdue scanner refreshes). Every
//! replica scans, so each reports the same overdue figures: dashboards take their maximum.

use std::collections::BTreeMap;

use jiceng_telemetry::metrics::{Instruments, Observed, meter};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, ObservableGauge},
};

const STREET: &str = "jiceng.street";

/// The overdue count per street at the last scan; a street once seen stays, at zero, so that
/// its series ends at zero rather than at its last count.
static OVERDUE: Observed<BTreeMap<String, u64>> = Observed::new(BTreeMap::new());

struct GridInstruments {
    reported: Counter<u64>,
    escalated: Counter<u64>,
    _overdue: ObservableGauge<u64>,
}

static INSTRUMENTS: Instruments<GridInstruments> = Instruments::new(|| {
    let meter = meter();
    GridInstruments {
        reported: meter
            .u64_counter("jiceng.grid.cases.reported")
            .with_description("Cases reported, per street")
            .build(),
        escalated: meter
            .u64_counter("jiceng.grid.cases.escalated")
            .with_description("Escalations of overdue cases, per street")
            .build(),
        _overdue: meter
            .u64_observable_gauge("jiceng.grid.cases.overdue")
            .with_description("Open cases past their overall or step time limit, per street")
            .with_callback(|observer| {
                for (street, count) in OVERDUE.lock().iter() {
                    observer.observe(*count, &[KeyValue::new(STREET, street.clone())]);
                }
            })
            .build(),
    }
});

pub(crate) fn case_reported(street: &str) {
    INSTRUMENTS
        .get()
        .reported
        .add(1, &[KeyValue::new(STREET, street.to_owned())]);
}

pub(crate) fn case_escalated(street: &str) {
    INSTRUMENTS
        .get()
        .escalated
        .add(1, &[KeyValue::new(STREET, street.to_owned())]);
}

/// Replaces the overdue counts with a scan's.
pub(crate) fn overdue_counted(per_street: Vec<(String, u64)>) {
    INSTRUMENTS.get();
    let mut overdue = OVERDUE.lock();
    for count in overdue.values_mut() {
        *count = 0;
    }
    overdue.extend(per_street);
}
