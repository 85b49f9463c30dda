//! Transparency-log append throughput and proof latency with a district's worth of disclosures,
//! printed as a table (not a timed test).
//!
//! Builds the log through the store's batch path (2,000 disclosures a transaction, each checked,
//! appended and signed as a single publication is), then times single publications — one
//! transaction each, serialised by the log's lock, from four tasks at once — on top of it, and
//! then the reads a verifier makes at the full size: the latest signed head, the inclusion proof
//! of a random disclosure, and the consistency proof from a random earlier size.
//!
//! PostgreSQL (when `JICENG_TEST_DATABASE_URL` is set): 1 million disclosures. SQLite: 100,000.
//! `JICENG_BENCH_SCALE` (e.g. `0.01`) shrinks both.
//!
//! `cargo bench -p jiceng-property --bench log`

use jiceng_org_client::OrgPath;
use std::{sync::atomic::AtomicU64, time::Instant};

use jiceng_merkle::LogSigner;
use jiceng_property::{
    MIGRATIONS, PropertyStore,
    domain::{
        CompanyDetails, Term,
        disclosure::{Content, Entry, Period},
    },
    store::{NewCompany, NewCompound},
};
use jiceng_testkit::{
    Backend, TestDatabase,
    bench::{latency, run_writers, scale_factor},
};

const BATCH: usize = 2_000;
const SINGLE: usize = 2_000;
const WRITERS: usize = 4;
const READS: usize = 200;
const COMPOUNDS: usize = 1_000;

fn entries_for(backend: Backend) -> usize {
    let full = match backend {
        Backend::Postgres => 1_000_000.0,
        Backend::Sqlite => 100_000.0,
    };
    ((full * scale_factor()) as usize).max(BATCH)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backends = jiceng_testkit::bench::backends().await;
        println!(
            "| backend | log size | batch append (entries/s) | single append, {WRITERS} writers (entries/s) | signed head p50 / p99 (ms) | inclusion proof p50 / p99 (ms) | consistency proof p50 / p99 (ms) |"
        );
        println!("|---|---|---|---|---|---|---|");
        for db in &backends {
            bench(db, entries_for(db.backend)).await;
        }
    });
}

/// A small pseudo-random sequence, so that runs repeat.
fn next(state: &AtomicU64) -> u64 {
    let mut x = state.load(std::sync::atomic::Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.store(x, std::sync::atomic::Ordering::Relaxed);
    x
}

async fn bench(db: &TestDatabase, size: usize) {
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    let signer = LogSigner::from_seed(&[5u8; 32]).expect("key");
    let store = PropertyStore::new(database, signer, "310115".into());
    let company = store
        .create_company(
            "bench",
            None,
            &NewCompany {
                name: "基准物业".into(),
                credit_code: "91310115MA1H7XYX0X".into(),
                org_id: "town".into(),
                org_path: OrgPath::of_unmoved_tree("/root/town/"),
                details: CompanyDetails::default(),
                publishers: vec!["publisher".into()],
            },
            0,
        )
        .await
        .expect("company");
    let mut compounds = Vec::with_capacity(COMPOUNDS);
    for n in 0..COMPOUNDS {
        let path = format!("/root/town/committee-{:03}/", n % 300);
        let compound = store
            .create_compound(
                "bench",
                None,
                &NewCompound {
                    name: format!("小区{n}"),
                    address: String::new(),
                    org_id: format!("committee-{:03}", n % 300),
                    org_path: OrgPath::of_unmoved_tree(path.clone()),
                    terms: vec![Term::running(&company.id, 0)],
                    owners_committee: String::new(),
                    owners_chair: String::new(),
                },
                0,
            )
            .await
            .expect("compound");
        compounds.push((compound.id, path));
    }
    let entry = |n: usize| {
        let (compound, path) = &compounds[n % COMPOUNDS];
        let month = n / COMPOUNDS % 12 + 1;
        (
            Entry {
                id: uuid::Uuid::now_v7().to_string(),
                compound_id: compound.clone(),
                company_id: company.id.clone(),
                period: Period::parse(&format!("2026-{month:02}")).expect("period"),
                content: Content::FeeCollection {
                    billed_fen: 4_200_000 + n as i64,
                    collected_fen: 3_900_000,
                    households_billed: 420,
                    households_paid: 390,
                },
                supersedes_id: None,
                correction_reason: None,
                published_by: "publisher".into(),
                published_at: 1_790_000_000_000 + n as i64,
            },
            path.clone(),
        )
    };

    let started = Instant::now();
    let mut built = 0;
    while built < size {
        let batch: Vec<_> = (built..(built + BATCH).min(size)).map(entry).collect();
        store.publish_batch(&batch).await.expect("batch");
        built += batch.len();
    }
    let batch_rate = size as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    run_writers(WRITERS, |writer| {
        let (store, entries): (_, Vec<_>) = (
            store.clone(),
            (size + writer..size + SINGLE)
                .step_by(WRITERS)
                .map(entry)
                .collect(),
        );
        async move {
            for (entry, path) in entries {
                store.publish(None, entry, &path).await.expect("publish");
            }
            Vec::<()>::new()
        }
    })
    .await;
    let single_rate = SINGLE as f64 / started.elapsed().as_secs_f64();

    let total = (size + SINGLE) as u64;
    let state = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let ids: Vec<String> = {
        let mut ids = Vec::with_capacity(READS);
        for _ in 0..READS {
            let leaf = next(&state) % total;
            let id: String =
                sqlx::query_scalar("SELECT id FROM property_disclosures WHERE leaf_index = $1")
                    .bind(leaf as i64)
                    .fetch_one(store.database().pool())
                    .await
                    .expect("disclosure");
            ids.push(id);
        }
        ids
    };
    let head = latency(READS, || store.tree_head(None)).await;
    let cursor = AtomicU64::new(0);
    let inclusion = latency(READS, || {
        let at = cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize;
        store.inclusion(&ids[at % ids.len()], None)
    })
    .await;
    let consistency = latency(READS, || {
        let first = next(&state) % (total - 1) + 1;
        store.consistency(first, total)
    })
    .await;
    println!(
        "| {:?} | {total} | {batch_rate:.0} | {single_rate:.0} | {head} | {inclusion} | {consistency} |",
        db.backend
    );
}
