//! Points ledger append throughput and leaderboard latency at district scale, printed as a
//! table (not a timed test).
//!
//! Registers members through the store, spread over a synthetic district of streets, residential
//! committees and branches (members carry their org's path, as the service keeps them); carries
//! over the bulk of the ledger's history with `import_points`, as a district moving from an
//! earlier system would; then appends awards through the real write path — the member's lock,
//! the replay check, the daily cap and the balance — from several tasks at once, each on its own
//! members. Then it times leaderboards (top 10) for the whole district, one street and one
//! branch, and one member's rank in the district.
//!
//! PostgreSQL (when `JICENG_TEST_DATABASE_URL` is set): 300,000 members and 10 million entries.
//! SQLite: 30,000 members and 1 million entries. `JICENG_BENCH_SCALE` (e.g. `0.01`) shrinks both.
//!
//! `cargo bench -p jiceng-member --bench points`

use jiceng_org_client::OrgPath;
use std::time::Instant;

use jiceng_db::now_millis;
use jiceng_member::{
    MIGRATIONS, MemberStore,
    domain::{MemberStatus, points::PointsRule, points::periods},
    store::{
        NewMember,
        ledger::{ImportedEntry, NewEntry},
    },
};
use jiceng_testkit::{
    Backend, TestDatabase,
    bench::{latency, run_writers, scale_factor},
};

const STREETS: usize = 36;
const COMMITTEES_PER_STREET: usize = 36;
const BRANCHES_PER_COMMITTEE: usize = 4;
const WRITERS: usize = 8;
const READS: usize = 50;
/// Awards appended through the real write path; the rest of the ledger is imported.
const APPENDED: usize = 20_000;
const IMPORT_BATCH: usize = 5_000;

/// Members and ledger entries for a backend, shrunk by `JICENG_BENCH_SCALE`.
fn scale(backend: Backend) -> (usize, usize) {
    let factor = scale_factor();
    let (members, entries) = match backend {
        Backend::Postgres => (300_000.0, 10_000_000.0),
        Backend::Sqlite => (30_000.0, 1_000_000.0),
    };
    (
        ((members * factor) as usize).max(100),
        ((entries * factor) as usize).max(APPENDED.min(1_000) * 2),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backends = jiceng_testkit::bench::backends().await;
        println!(
            "| backend | members | entries | register (members/s) | import (entries/s) | append (entries/s) | district top 10 p50 / p99 (ms) | street top 10 p50 / p99 (ms) | branch top 10 p50 / p99 (ms) | rank in district p50 / p99 (ms) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for db in &backends {
            let (members, entries) = scale(db.backend);
            bench(db, members, entries).await;
        }
    });
}

/// The org path of the `index`th member: members are dealt round-robin over the branches.
fn branch_path(index: usize) -> (String, String) {
    let branch = index % (STREETS * COMMITTEES_PER_STREET * BRANCHES_PER_COMMITTEE);
    let committee = branch / BRANCHES_PER_COMMITTEE;
    let street = committee / COMMITTEES_PER_STREET;
    let id = format!("branch-{branch:05}");
    (
        format!("/root/street-{street:02}/committee-{committee:04}/{id}/"),
        id,
    )
}

async fn bench(db: &TestDatabase, members: usize, entries: usize) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database
        .migrate(&jiceng_org_client::paths::MIGRATIONS)
        .await
        .expect("org paths");
    database.migrate(&MIGRATIONS).await.expect("member");
    let statistics = database.clone();
    let store = MemberStore::new(database, "//jiceng/310115/member".into());
    store
        .define_rule(&PointsRule {
            code: "volunteer.hour".into(),
            version: 0,
            name: "志愿服务每小时".into(),
            points: 1,
            evidence_required: false,
            approval_required: false,
            daily_cap: Some(1_000),
            monthly_cap: None,
            yearly_cap: None,
            valid_from: 0,
            valid_to: None,
        })
        .await
        .expect("rule");

    let started = Instant::now();
    let ids = run_writers(WRITERS, |writer| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            for index in (writer..members).step_by(WRITERS) {
                let (org_path, org_id) = branch_path(index);
                let new = NewMember {
                    name: format!("党员{index}"),
                    gender: None,
                    birth_date: None,
                    phone: None,
                    id_card: None,
                    join_date: None,
                    status: MemberStatus::Full,
                    org_id,
                    org_path: OrgPath::of_unmoved_tree(org_path),
                };
                ids.push(store.create("bench", None, &new).await.expect("member").id);
            }
            ids
        }
    })
    .await;
    let register_rate = members as f64 / started.elapsed().as_secs_f64();

    // Member i's history is spread over the year so far, and members earn different amounts,
    // so that ranks spread out.
    let now = now_millis();
    let (year, _, _) = periods(now);
    let appended = APPENDED.min(entries / 2);
    let started = Instant::now();
    let mut imported = 0;
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    for n in 0..entries - appended {
        let index = (n * 7919 + n / 3) % ids.len();
        batch.push(ImportedEntry {
            entry: NewEntry {
                id: format!("legacy-{n}"),
                member_id: ids[index].clone(),
                reason: "志愿服务".into(),
                evidence: String::new(),
                source_event_id: String::new(),
                actor: "bench".into(),
            },
            rule_code: "volunteer.hour".into(),
            points: 1 + (index % 5) as i64,
            at: now - (n as i64 % 300) * 86_400_000 / 2,
        });
        if batch.len() == IMPORT_BATCH || n + 1 == entries - appended {
            imported += store.import_points(&batch).await.expect("import");
            batch.clear();
        }
    }
    let import_rate = imported as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let appended = run_writers(WRITERS, |writer| {
        let (store, ids) = (store.clone(), ids.clone());
        async move {
            let mut written = 0;
            for n in (writer..appended).step_by(WRITERS) {
                let entry = NewEntry {
                    id: format!("bench-{n}"),
                    member_id: ids[n % ids.len()].clone(),
                    reason: "志愿服务".into(),
                    evidence: String::new(),
                    source_event_id: String::new(),
                    actor: "bench".into(),
                };
                store
                    .award(&entry, "volunteer.hour", now)
                    .await
                    .expect("award");
                written += 1;
            }
            vec![written]
        }
    })
    .await
    .into_iter()
    .sum::<usize>();
    let append_rate = appended as f64 / started.elapsed().as_secs_f64();
    let entries = imported as usize + appended;

    // Statistics and visibility as autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) keep
    // them in service, where a table is not read the instant it was bulk-loaded.
    let analyze = match db.backend {
        Backend::Postgres => "VACUUM ANALYZE",
        Backend::Sqlite => "ANALYZE",
    };
    sqlx::query(analyze)
        .execute(statistics.pool())
        .await
        .expect("analyze");
    let street = "/root/street-07/";
    let (branch, _) = branch_path(4_321);
    let district = latency(READS, || store.leaderboard("/root/", year, 10)).await;
    let street = latency(READS, || store.leaderboard(street, year, 10)).await;
    let branch = latency(READS, || store.leaderboard(&branch, year, 10)).await;
    let member = &ids[ids.len() / 2];
    let rank = latency(READS, || store.standing("/root/", year, member)).await;
    println!(
        "| {:?} | {members} | {entries} | {register_rate:.0} | {import_rate:.0} | {append_rate:.0} | {district} | {street} | {branch} | {rank} |",
        db.backend
    );
}
