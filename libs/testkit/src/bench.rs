//! What the benchmarks share: the backends and scale they run at, writers in parallel, and read
//! latencies.

use std::time::{Duration, Instant};

use crate::{Backend, TestDatabase};

/// A fresh SQLite database, and a PostgreSQL one when `JICENG_TEST_DATABASE_URL` names a server.
pub async fn backends() -> Vec<TestDatabase> {
    let mut backends = vec![TestDatabase::create(Backend::Sqlite).await];
    if let Some(postgres) = TestDatabase::postgres().await {
        backends.push(postgres);
    } else {
        eprintln!("JICENG_TEST_DATABASE_URL is not set: PostgreSQL skipped");
    }
    backends
}

/// `JICENG_BENCH_SCALE` (e.g. `0.01`): how much of a benchmark's full size to run; 1 if unset.
pub fn scale_factor() -> f64 {
    std::env::var("JICENG_BENCH_SCALE")
        .ok()
        .map(|value| value.parse().expect("JICENG_BENCH_SCALE is a number"))
        .unwrap_or(1.0)
}

/// Runs `writers` tasks made by `task` (given their index) and gathers what they return.
pub async fn run_writers<T, F, Fut>(writers: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<T>> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..writers)
        .map(|writer| tokio::spawn(task(writer)))
        .collect();
    let mut gathered = Vec::new();
    for handle in handles {
        gathered.extend(handle.await.expect("writer"));
    }
    gathered
}

/// `p50 / p99` in milliseconds of `reads` sequential calls.
pub async fn latency<T, E: std::fmt::Debug, Fut>(reads: usize, call: impl Fn() -> Fut) -> String
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut samples: Vec<Duration> = Vec::with_capacity(reads);
    for _ in 0..reads {
        let started = Instant::now();
        call().await.expect("read");
        samples.push(started.elapsed());
    }
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("{:.2} / {:.2}", at(0.5), at(0.99))
}
