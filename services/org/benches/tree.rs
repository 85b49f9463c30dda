//! Tree read and move costs at district scale, printed as a table (not a timed test).
//!
//! Builds a district of about 15,000 units through the org store (36 streets and towns, 36
//! residential committees each, 10 branches per committee, and one 1,000-unit general branch),
//! then measures: reading the whole district subtree in pages of 1,000, reading one street,
//! reading a branch's ancestry, and moving the 1,000-unit subtree between two streets.
//! SQLite always; PostgreSQL too when `JICENG_TEST_DATABASE_URL` is set.
//!
//! `cargo bench -p jiceng-org --bench tree`

use std::time::{Duration, Instant};

use jiceng_org::{
    MIGRATIONS, OrgStore,
    domain::{Unit, UnitId, UnitKind, UnitName},
    store::{Mutation, SubtreeFilter},
};
use jiceng_testkit::TestDatabase;

const STREETS: usize = 36;
const COMMITTEES_PER_STREET: usize = 36;
const BRANCHES_PER_COMMITTEE: usize = 10;
const RUNS: usize = 7;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backends = jiceng_testkit::bench::backends().await;
        println!("| backend | units | build (s) | full subtree, pages of 1000 (ms) | one street subtree (ms) | ancestry p50 / p99 (ms) | move 1,000-unit subtree (ms) |");
        println!("|---|---|---|---|---|---|---|");
        for db in &backends {
            bench(db).await;
        }
    });
}

fn mutation() -> Mutation {
    Mutation {
        actor: "bench".into(),
        request_id: None,
        trace_id: None,
    }
}

async fn add(store: &OrgStore, parent: &Unit, kind: UnitKind, name: String) -> Unit {
    let name = UnitName::parse(&name).expect("name");
    store
        .create(&mutation(), &parent.id, kind, &name, None)
        .await
        .expect("create")
}

async fn bench(db: &TestDatabase) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database.migrate(&MIGRATIONS).await.expect("org");
    let store = OrgStore::new(database, "//jiceng/310115/org".into());
    let root = store
        .ensure_root(
            &UnitId::district_root("310115"),
            UnitKind::DistrictCommittee,
            &UnitName::parse("中共上海市浦东新区委员会").expect("name"),
            None,
        )
        .await
        .expect("root");

    let started = Instant::now();
    let mut streets = Vec::new();
    let mut deepest = root.clone();
    for s in 0..STREETS {
        let street = add(
            &store,
            &root,
            UnitKind::StreetWorkingCommittee,
            format!("第{s}街道党工委"),
        )
        .await;
        for c in 0..COMMITTEES_PER_STREET {
            let committee = add(
                &store,
                &street,
                UnitKind::ResidentialCommittee,
                format!("第{s}街道第{c}居民区党总支"),
            )
            .await;
            for b in 0..BRANCHES_PER_COMMITTEE {
                deepest = add(
                    &store,
                    &committee,
                    UnitKind::Branch,
                    format!("第{s}街道第{c}居民区第{b}党支部"),
                )
                .await;
            }
        }
        streets.push(street);
    }
    let general = add(
        &store,
        &streets[0],
        UnitKind::GeneralBranch,
        "大型党总支".into(),
    )
    .await;
    for b in 0..333 {
        let branch = add(
            &store,
            &general,
            UnitKind::Branch,
            format!("大型党总支第{b}支部"),
        )
        .await;
        for g in 0..2 {
            add(
                &store,
                &branch,
                UnitKind::PartyGroup,
                format!("第{b}支部第{g}党小组"),
            )
            .await;
        }
    }
    let build = started.elapsed();

    let everything = SubtreeFilter::default();
    let mut units = 0;
    let mut full = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        units = read_all(&store, &root).await;
        full.push(started.elapsed());
    }
    let mut one_street = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        store
            .subtree(&streets[1], &everything, None, 1000)
            .await
            .expect("street");
        one_street.push(started.elapsed());
    }
    let mut ancestry = Vec::new();
    for _ in 0..1000 {
        let started = Instant::now();
        let chain = store.ancestry(&deepest).await.expect("ancestry");
        ancestry.push(started.elapsed());
        assert_eq!(chain.len(), 4);
    }
    let mut moving = Vec::new();
    for run in 0..RUNS {
        let target = &streets[1 - run % 2];
        let started = Instant::now();
        store
            .move_unit(&mutation(), &general.id, &target.id, None)
            .await
            .expect("move");
        moving.push(started.elapsed());
    }
    let moved = store
        .subtree(
            &store.get(&general.id).await.expect("general"),
            &everything,
            None,
            2000,
        )
        .await
        .expect("moved");
    assert_eq!(moved.len(), 1000);
    println!(
        "| {:?} | {units} | {:.1} | {:.1} | {:.2} | {:.3} / {:.3} | {:.1} |",
        db.backend,
        build.as_secs_f64(),
        ms(percentile(&mut full, 50)),
        ms(percentile(&mut one_street, 50)),
        ms(percentile(&mut ancestry, 50)),
        ms(percentile(&mut ancestry, 99)),
        ms(percentile(&mut moving, 50)),
    );
}

/// Reads the whole subtree of `root` in pages of 1,000, as a client would; returns the count.
async fn read_all(store: &OrgStore, root: &Unit) -> usize {
    let mut after: Option<String> = None;
    let mut units = 0;
    loop {
        let page = store
            .subtree(root, &SubtreeFilter::default(), after.as_deref(), 1000)
            .await
            .expect("page");
        units += page.len();
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.path.clone()),
            _ => return units,
        }
    }
}

fn percentile(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    times[(times.len() * p / 100).min(times.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
