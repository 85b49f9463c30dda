//! Report throughput and a street's dashboard latency with a district's worth of cases, printed
//! as a table (not a timed test).
//!
//! Reports cases through the store's real write path (the category and calendar read, the case
//! with its first deadline, the history row) from several tasks at once, over a synthetic
//! district of 36 streets × 36 residential committees. Every tenth case is then accepted, so the
//! states spread. Then it times a street's dashboard (counts per state and overdue), the first
//! page of the street's overdue cases, and the first page of one committee's cases.
//!
//! PostgreSQL (when `JICENG_TEST_DATABASE_URL` is set): 1 million cases. SQLite: 100,000.
//! `JICENG_BENCH_SCALE` (e.g. `0.01`) shrinks both.
//!
//! `cargo bench -p jiceng-grid --bench cases`

use jiceng_org_client::OrgPath;
use std::{collections::BTreeMap, time::Instant};

use jiceng_grid::{
    GridStore, MIGRATIONS,
    domain::{
        calendar::ClockKind,
        case::{Action, ReporterKind, Urgency},
        category::{Category, Limits},
    },
    store::cases::{ActionDetail, CaseFilter, NewCase},
};
use jiceng_testkit::{
    Backend, TestDatabase,
    bench::{latency, run_writers, scale_factor},
};

const STREETS: usize = 36;
const COMMITTEES_PER_STREET: usize = 36;
const WRITERS: usize = 8;
const READS: usize = 50;
/// Cases are reported over the last 30 days: most are past their limits.
const SPREAD_MS: i64 = 30 * 86_400_000;

fn cases_for(backend: Backend) -> usize {
    let full = match backend {
        Backend::Postgres => 1_000_000.0,
        Backend::Sqlite => 100_000.0,
    };
    ((full * scale_factor()) as usize).max(1_000)
}

fn committee_path(index: usize) -> (String, String) {
    let committee = index % (STREETS * COMMITTEES_PER_STREET);
    let street = committee / COMMITTEES_PER_STREET;
    let id = format!("committee-{committee:04}");
    (format!("/root/street-{street:02}/{id}/"), id)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backends = jiceng_testkit::bench::backends().await;
        println!(
            "| backend | cases | report (cases/s) | street dashboard p50 / p99 (ms) | street overdue, first page p50 / p99 (ms) | committee's cases, first page p50 / p99 (ms) |"
        );
        println!("|---|---|---|---|---|---|");
        for db in &backends {
            bench(db, cases_for(db.backend)).await;
        }
    });
}

async fn bench(db: &TestDatabase, cases: usize) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database
        .migrate(&jiceng_org_client::paths::MIGRATIONS)
        .await
        .expect("org paths");
    database.migrate(&MIGRATIONS).await.expect("grid");
    let statistics = database.clone();
    let store = GridStore::new(database, "//jiceng/310115/grid".into());
    let limits = Limits {
        accept: 120,
        dispatch: 240,
        handle: 2_880,
        verify: 480,
        overall: 7_200,
    };
    store
        .define_category(&Category {
            code: "city.garbage".into(),
            name: "垃圾堆放".into(),
            attributes: Vec::new(),
            default_handler_kind: "residential_committee".into(),
            clock: ClockKind::Working,
            limits: [limits; 3],
        })
        .await
        .expect("category");
    let now = jiceng_db::now_millis();
    let started = Instant::now();
    let reported = run_writers(WRITERS, |writer| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            for n in (writer..cases).step_by(WRITERS) {
                let (org_path, org_id) = committee_path(n * 7 + n / 11);
                let new = NewCase {
                    category_code: "city.garbage".into(),
                    urgency: Urgency::Normal,
                    description: format!("楼道堆物 #{n}"),
                    attributes: BTreeMap::new(),
                    location: None,
                    address: String::new(),
                    grid_id: None,
                    owner_org_id: org_id,
                    org_path: OrgPath::of_unmoved_tree(org_path),
                    reporter_kind: ReporterKind::GridWorker,
                    reporter: format!("worker-{}", n % 5_000),
                    contact: None,
                    source: String::new(),
                    external_id: String::new(),
                    attachments: Vec::new(),
                };
                let at = now - (n as i64 * 7_919) % SPREAD_MS;
                let case = store.report(None, &new, at).await.expect("report");
                if n % 10 == 0 {
                    ids.push((case.id, at));
                }
            }
            ids
        }
    })
    .await;
    let report_rate = cases as f64 / started.elapsed().as_secs_f64();
    for (id, at) in &reported {
        store
            .act(
                id,
                "centre",
                &Action::Accept,
                &ActionDetail::default(),
                at + 60_000,
            )
            .await
            .expect("accept");
    }
    // Statistics as autovacuum (PostgreSQL) or `PRAGMA optimize` at start (SQLite) keep them.
    let analyze = match db.backend {
        Backend::Postgres => "VACUUM ANALYZE",
        Backend::Sqlite => "ANALYZE",
    };
    sqlx::query(analyze)
        .execute(statistics.pool())
        .await
        .expect("analyze");

    let street = "/root/street-07/".to_owned();
    let dashboard = latency(READS, || store.count_cases(&street, now)).await;
    let overdue = CaseFilter {
        subtree: Some(street.clone()),
        overdue_at: Some(now),
        ..CaseFilter::default()
    };
    let overdue = latency(READS, || store.list_cases(&overdue, None, 50)).await;
    let committee = CaseFilter {
        subtree: Some(committee_path(7 * COMMITTEES_PER_STREET + 3).0),
        ..CaseFilter::default()
    };
    let committee = latency(READS, || store.list_cases(&committee, None, 50)).await;
    println!(
        "| {:?} | {cases} | {report_rate:.0} | {dashboard} | {overdue} | {committee} |",
        db.backend
    );
}
