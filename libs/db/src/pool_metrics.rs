//! The connection pools' state as metrics, per the OpenTelemetry database conventions:
//! `db.client.connection.count` (used and idle), `db.client.connection.max`, and
//! `db.client.connection.timeouts`: a transaction that found no connection free in time. sqlx
//! does not tell how many tasks wait for a connection; a pool whose used connections stay at
//! its maximum, or that times out, is the saturated one.

use std::sync::Arc;

use jiceng_telemetry::metrics::{Instruments, Observed, meter};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, ObservableGauge},
};
use sqlx::AnyPool;

const POOL_NAME: &str = "db.client.connection.pool.name";

/// The pools this process observes, by name; a closed pool leaves at the next collection.
static POOLS: Observed<Vec<(Arc<str>, AnyPool)>> = Observed::new(Vec::new());

struct PoolInstruments {
    _count: ObservableGauge<u64>,
    _max: ObservableGauge<u64>,
    timeouts: Counter<u64>,
}

static INSTRUMENTS: Instruments<PoolInstruments> = Instruments::new(|| {
    let meter = meter();
    PoolInstruments {
        _count: meter
            .u64_observable_gauge("db.client.connection.count")
            .with_description("Connections of the pool, by state: used or idle")
            .with_callback(|observer| {
                let mut pools = POOLS.lock();
                pools.retain(|(_, pool)| !pool.is_closed());
                for (name, pool) in pools.iter() {
                    let idle = pool.num_idle() as u64;
                    let used = u64::from(pool.size()).saturating_sub(idle);
                    for (state, value) in [("used", used), ("idle", idle)] {
                        observer.observe(
                            value,
                            &[
                                KeyValue::new(POOL_NAME, name.to_string()),
                                KeyValue::new("db.client.connection.state", state),
                            ],
                        );
                    }
                }
            })
            .build(),
        _max: meter
            .u64_observable_gauge("db.client.connection.max")
            .with_description("The most connections the pool opens")
            .with_callback(|observer| {
                for (name, pool) in POOLS.lock().iter() {
                    observer.observe(
                        u64::from(pool.options().get_max_connections()),
                        &[KeyValue::new(POOL_NAME, name.to_string())],
                    );
                }
            })
            .build(),
        timeouts: meter
            .u64_counter("db.client.connection.timeouts")
            .with_description("Transactions that found no connection free in time")
            .build(),
    }
});

/// Starts reporting `pool` under `name`, in place of any pool reported under it before.
pub(crate) fn observe(name: Arc<str>, pool: AnyPool) {
    // The timeouts' series starts at zero, so that an increase over it reads as one.
    INSTRUMENTS
        .get()
        .timeouts
        .add(0, &[KeyValue::new(POOL_NAME, name.to_string())]);
    let mut pools = POOLS.lock();
    pools.retain(|(kept, _)| *kept != name);
    pools.push((name, pool));
}

/// Counts a transaction of pool `name` that got no connection in time.
pub(crate) fn timed_out(name: &str) {
    INSTRUMENTS
        .get()
        .timeouts
        .add(1, &[KeyValue::new(POOL_NAME, name.to_owned())]);
}
