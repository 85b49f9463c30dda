//! `jiceng seed`: a synthetic district at real scale, written through the services' own stores
//! (the same write paths, checks and indexes as the API's), for benchmarks and for trying the
//! platform on a district's worth of data.
//!
//! The `pudong` scale is the size of Pudong New District: its 36 streets and towns, 1,296
//! residential and village committees with 14,256 branches below them (a tree of 15,589 units),
//! 300,000 members, 2,000 grids, 1,000 compounds with their companies, and a year of cases
//! (1,000,000: the last three days' open, the rest closed), points (1,000,000 ledger entries)
//! and monthly disclosures.
//! `district` is a tenth of that; `demo` is the hand-written sample of `jiceng up --demo`. The
//! same seed number gives the same district (names, shapes, times), whatever the concurrency.

use jiceng_org_client::OrgPath;
use std::{
    collections::BTreeMap,
    future::Future,
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use jiceng_db::now_millis;
use jiceng_grid::{
    GridStore,
    domain::{
        Layer, StaffRole,
        calendar::ClockKind,
        case::{Action, ReporterKind, Urgency},
    },
    store::{
        NewGrid,
        cases::{ActionDetail, ImportedCase, NewCase},
    },
};
use jiceng_member::{
    MemberStore,
    domain::{MemberStatus, points::PointsRule},
    store::{
        NewMember,
        ledger::{ImportedEntry, NewEntry},
    },
};
use jiceng_org::{
    OrgStore,
    domain::{Unit, UnitKind, UnitName},
    store::Mutation,
};
use jiceng_property::{
    PropertyStore,
    domain::{
        CompanyDetails,
        disclosure::{Content, Entry, Period},
    },
    store::{NewCompany, NewCompound, Term},
};
use jiceng_values::CreditCode;

use jiceng_app::{App, district::pudong_streets_and_towns};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How large a district to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// The hand-written sample of `jiceng up --demo`.
    Demo,
    /// A tenth of Pudong: a mid-sized district.
    District,
    /// Pudong New District at its real size.
    Pudong,
}

/// What a synthetic scale holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub streets: usize,
    pub committees_per_street: usize,
    pub branches_per_committee: usize,
    pub members: usize,
    pub grids: usize,
    pub companies: usize,
    pub compounds: usize,
    pub cases: usize,
    pub ledger_entries: usize,
}

impl Plan {
    /// None for the demo, which is hand-written rather than planned.
    pub fn of(scale: Scale) -> Option<Plan> {
        match scale {
            Scale::Demo => None,
            Scale::District => Some(Plan {
                streets: 12,
                committees_per_street: 11,
                branches_per_committee: 9,
                members: 30_000,
                grids: 200,
                companies: 10,
                compounds: 100,
                cases: 100_000,
                ledger_entries: 100_000,
            }),
            Scale::Pudong => Some(Plan {
                streets: 36,
                committees_per_street: 36,
                branches_per_committee: 11,
                members: 300_000,
                grids: 2_000,
                companies: 50,
                compounds: 1_000,
                cases: 1_000_000,
                ledger_entries: 1_000_000,
            }),
        }
    }

    /// Streets, committees and branches, the root left out.
    pub fn units(&self) -> usize {
        let committees = self.streets * self.committees_per_street;
        self.streets + committees + committees * self.branches_per_committee
    }
}

/// What a seed wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    pub units: usize,
    pub members: usize,
    pub grids: usize,
    pub compounds: usize,
    pub cases: usize,
    pub ledger_entries: usize,
    pub disclosures: usize,
}

/// How the seed reports its progress: a line per stage, redrawn while it runs.
pub trait Progress: Send + Sync {
    fn update(&self, stage: &str, done: usize, total: usize, elapsed: Duration);
    fn finish(&self, stage: &str, total: usize, elapsed: Duration);
}

/// Draws progress bars with a rate and an ETA on standard error.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrProgress;

impl Progress for StderrProgress {
    fn update(&self, stage: &str, done: usize, total: usize, elapsed: Duration) {
        let fraction = (done as f64 / total.max(1) as f64).min(1.0);
        let width = 30;
        let filled = (fraction * width as f64) as usize;
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let eta = if done == 0 {
            "?".to_owned()
        } else {
            format!("{:.0}s", total.saturating_sub(done) as f64 / rate)
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{stage:<13} [{}{}] {done}/{total} {:>3.0}% {rate:>8.0}/s ETA {eta:<6}",
            "#".repeat(filled),
            " ".repeat(width - filled),
            fraction * 100.0
        );
        let _ = err.flush();
    }

    fn finish(&self, stage: &str, total: usize, elapsed: Duration) {
        self.update(stage, total, total, elapsed);
        let _ = writeln!(
            std::io::stderr(),
            "\r{stage:<13} {total} in {:.1}s{:<60}",
            elapsed.as_secs_f64(),
            ""
        );
    }
}

/// Stays quiet: for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &str, _: usize, _: usize, _: Duration) {}
    fn finish(&self, _: &str, _: usize, _: Duration) {}
}

/// Writers per stage. SQLite takes one writer at a time and PostgreSQL has two cores here to
/// share with the client; a few writers keep either busy without thrashing.
const WRITERS: usize = 4;
/// Ledger entries per import transaction.
const IMPORT_BATCH: usize = 5_000;
/// Disclosures per log transaction.
const PUBLISH_BATCH: usize = 2_000;
const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;
const ACTOR: &str = "jiceng-seed";

/// Runs `task(index)` for every index below `total` on `WRITERS` tasks, reporting progress;
/// returns the results in index order. Each index draws from its own random stream, so the
/// data does not depend on which task wrote it.
async fn stage<T, F, Fut>(
    progress: &Arc<dyn Progress>,
    name: &'static str,
    total: usize,
    task: F,
) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Error>> + Send,
{
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (progress, done, finished) = (progress.clone(), done.clone(), finished.clone());
        tokio::spawn(async move {
            while !finished.load(Ordering::Relaxed) {
                progress.update(name, done.load(Ordering::Relaxed), total, started.elapsed());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let task = Arc::new(task);
    let mut writers = Vec::with_capacity(WRITERS);
    for writer in 0..WRITERS {
        let (task, done) = (task.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for index in (writer..total).step_by(WRITERS) {
                results.push((index, task(index).await?));
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Error>(results)
        }));
    }
    let mut results = Vec::with_capacity(total);
    let mut failure = None;
    for writer in writers {
        match writer.await {
            Ok(Ok(part)) => results.extend(part),
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(err.into())),
        }
    }
    finished.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    if let Some(err) = failure {
        return Err(format!("{name}: {err}").into());
    }
    progress.finish(name, total, started.elapsed());
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// The random stream of item `index` of a stage, from the seed number.
fn rng(seed: u64, stage: u64, index: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(
        seed ^ stage.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
    )
}

fn unit_name(text: &str) -> Result<UnitName, Error> {
    UnitName::parse(text).map_err(|e| format!("{text}: {e}").into())
}

/// A credit code of the district with a valid check character.
fn credit_code(district: &str, index: usize) -> Result<String, Error> {
    Ok(CreditCode::complete(&format!("91{district}MA{index:07}"))?
        .as_str()
        .to_owned())
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "沈", "顾", "陆", "钱", "蒋", "金", "姚", "唐",
];
const GIVEN: &[&str] = &[
    "建国", "秀英", "伟", "洋", "静", "帆", "敏", "磊", "丽", "军", "霞", "杰", "婷", "勇", "燕",
    "斌", "芳", "超", "慧", "明", "华", "平", "红", "波", "琳",
];

/// Loads the district of `scale` into the platform's stores, which must be empty below the
/// district root. `seed` makes the district repeatable.
pub async fn seed(
    app: &App,
    scale: Scale,
    seed: u64,
    progress: Arc<dyn Progress>,
) -> Result<Seeded, Error> {
    let org = app
        .org_store()
        .ok_or("the org service is not running here")?;
    let root_id = app.root_id().ok_or("the district has no root")?;
    let root = org
        .get(&jiceng_org::domain::UnitId::parse(root_id)?)
        .await?;
    if !org.children(&root, true, None, 1).await?.is_empty() {
        return Err("the district already has units below its root; seed an empty one".into());
    }
    let Some(plan) = Plan::of(scale) else {
        let units = crate::demo::load(org, &root.id).await?;
        let (members, vault) = app.member_store().ok_or("member is not running here")?;
        let members = crate::demo::load_members(org, members, vault).await?;
        let (grid, vault) = app.grid_store().ok_or("grid is not running here")?;
        let cases = crate::demo::load_grid(org, grid, vault).await?;
        let property = app.property_store().ok_or("property is not running here")?;
        let disclosures = crate::demo::load_property(org, property).await?;
        return Ok(Seeded {
            units,
            members,
            cases,
            disclosures,
            ..Seeded::default()
        });
    };
    seed_plan(app, &plan, seed, progress).await
}

/// Loads a synthetic district of `plan`'s size into the platform's stores, which must be empty
/// below the district root.
pub async fn seed_plan(
    app: &App,
    plan: &Plan,
    seed: u64,
    progress: Arc<dyn Progress>,
) -> Result<Seeded, Error> {
    let org = app
        .org_store()
        .ok_or("the org service is not running here")?;
    let root_id = app.root_id().ok_or("the district has no root")?;
    let root = org
        .get(&jiceng_org::domain::UnitId::parse(root_id)?)
        .await?;
    if !org.children(&root, true, None, 1).await?.is_empty() {
        return Err("the district already has units below its root; seed an empty one".into());
    }
    let plan = *plan;
    let district = app.district_code().to_owned();
    let tree = seed_tree(org, &root, &plan, seed, &progress).await?;
    let (members, _) = app.member_store().ok_or("member is not running here")?;
    let member_ids = seed_members(members, &tree, &plan, seed, &progress).await?;
    let ledger_entries = seed_ledger(members, &member_ids, &plan, seed, &progress).await?;
    let (grid, _) = app.grid_store().ok_or("grid is not running here")?;
    let grids = seed_grids(grid, &tree, &plan, &progress).await?;
    let cases = seed_cases(grid, &tree, &grids, &plan, seed, &progress).await?;
    let property = app.property_store().ok_or("property is not running here")?;
    let (compounds, disclosures) =
        seed_property(property, &tree, &plan, &district, seed, &progress).await?;
    app.analyze().await?;
    Ok(Seeded {
        units: tree.streets.len() + tree.committees.len() + tree.branches.len(),
        members: member_ids.len(),
        grids: grids.len(),
        compounds,
        cases,
        ledger_entries,
        disclosures,
    })
}

/// The units a synthetic district hangs its data on.
struct Tree {
    streets: Vec<Unit>,
    committees: Vec<Unit>,
    branches: Vec<Unit>,
}

async fn seed_tree(
    org: &OrgStore,
    root: &Unit,
    plan: &Plan,
    seed: u64,
    progress: &Arc<dyn Progress>,
) -> Result<Tree, Error> {
    let mutation = Arc::new(Mutation {
        actor: ACTOR.into(),
        request_id: None,
        trace_id: None,
    });
    let places = Arc::new(pudong_streets_and_towns());
    if plan.streets > places.len() {
        return Err(format!("the district has {} streets and towns", places.len()).into());
    }
    let streets = {
        let (org, root, places, mutation) = (
            org.clone(),
            root.id.clone(),
            places.clone(),
            mutation.clone(),
        );
        stage(progress, "streets", plan.streets, move |index| {
            let (org, root, places, mutation) =
                (org.clone(), root.clone(), places.clone(), mutation.clone());
            async move {
                let place = &places[index];
                let (kind, suffix) = if place.is_town {
                    (UnitKind::TownCommittee, "党委")
                } else {
                    (UnitKind::StreetWorkingCommittee, "党工委")
                };
                let name = unit_name(&format!("{}{suffix}", place.name))?;
                Ok(org.create(&mutation, &root, kind, &name, None).await?)
            }
        })
        .await?
    };
    let streets = Arc::new(streets);
    let committees = {
        let (org, streets, mutation) = (org.clone(), streets.clone(), mutation.clone());
        let per_street = plan.committees_per_street;
        stage(
            progress,
            "committees",
            plan.streets * per_street,
            move |index| {
                let (org, streets, mutation) = (org.clone(), streets.clone(), mutation.clone());
                async move {
                    let street = &streets[index / per_street];
                    let number = index % per_street + 1;
                    let village =
                        street.kind == UnitKind::TownCommittee && rng(seed, 1, index).u8(..) < 128;
                    let (kind, name) = if village {
                        (UnitKind::VillageCommittee, format!("第{number}村党总支"))
                    } else {
                        (
                            UnitKind::ResidentialCommittee,
                            format!("第{number}居民区党总支"),
                        )
                    };
                    Ok(org
                        .create(&mutation, &street.id, kind, &unit_name(&name)?, None)
                        .await?)
                }
            },
        )
        .await?
    };
    let committees = Arc::new(committees);
    let branches = {
        let (org, committees, mutation) = (org.clone(), committees.clone(), mutation.clone());
        let per_committee = plan.branches_per_committee;
        stage(
            progress,
            "branches",
            committees.len() * per_committee,
            move |index| {
                let (org, committees, mutation) =
                    (org.clone(), committees.clone(), mutation.clone());
                async move {
                    let committee = &committees[index / per_committee];
                    let name = format!("第{}党支部", index % per_committee + 1);
                    Ok(org
                        .create(
                            &mutation,
                            &committee.id,
                            UnitKind::Branch,
                            &unit_name(&name)?,
                            None,
                        )
                        .await?)
                }
            },
        )
        .await?
    };
    Ok(Tree {
        streets: Arc::try_unwrap(streets).unwrap_or_else(|shared| (*shared).clone()),
        committees: Arc::try_unwrap(committees).unwrap_or_else(|shared| (*shared).clone()),
        branches,
    })
}

async fn seed_members(
    store: &MemberStore,
    tree: &Tree,
    plan: &Plan,
    seed: u64,
    progress: &Arc<dyn Progress>,
) -> Result<Vec<String>, Error> {
    let branches: Arc<Vec<(String, String)>> = Arc::new(
        tree.branches
            .iter()
            .map(|b| (b.id.to_string(), b.path.clone()))
            .collect(),
    );
    let store = store.clone();
    stage(progress, "members", plan.members, move |index| {
        let (store, branches) = (store.clone(), branches.clone());
        async move {
            let mut rng = rng(seed, 2, index);
            let (org_id, org_path) = branches[index % branches.len()].clone();
            let status = match rng.u8(0..100) {
                0..=84 => MemberStatus::Full,
                85..=92 => MemberStatus::Probationary,
                93..=96 => MemberStatus::DevelopmentTarget,
                _ => MemberStatus::Activist,
            };
            let new = NewMember {
                name: format!(
                    "{}{}",
                    SURNAMES[rng.usize(..SURNAMES.len())],
                    GIVEN[rng.usize(..GIVEN.len())]
                ),
                gender: None,
                birth_date: None,
                phone: None,
                id_card: None,
                join_date: None,
                status,
                org_id,
                org_path: OrgPath::of_unmoved_tree(org_path),
            };
            Ok(store.create(ACTOR, None, &new).await?.id)
        }
    })
    .await
}

/// A year of points, imported as an earlier system's history is: in batches, spread over the
/// year, members earning different amounts so that ranks spread.
async fn seed_ledger(
    store: &MemberStore,
    members: &[String],
    plan: &Plan,
    seed: u64,
    progress: &Arc<dyn Progress>,
) -> Result<usize, Error> {
    let rules = [
        ("org_life.attend", "参加组织生活", 2),
        ("volunteer.hour", "志愿服务每小时", 1),
        ("activity.attend", "参加党群活动", 2),
    ];
    for (code, name, points) in rules {
        store
            .define_rule(&PointsRule::everyday(code, name, points, None))
            .await?;
    }
    let now = now_millis();
    let total = plan.ledger_entries;
    // An import is one long transaction: batches go one after another, as a carry-over would.
    let started = Instant::now();
    let mut imported = 0;
    for (batch, first) in (0..total).step_by(IMPORT_BATCH).enumerate() {
        let mut rng = rng(seed, 3, batch);
        let entries: Vec<ImportedEntry> = (first..(first + IMPORT_BATCH).min(total))
            .map(|n| {
                // A skewed draw: some members are far more active than others.
                let member = (rng.f64().powi(2) * members.len() as f64) as usize;
                let (code, _, points) = rules[rng.usize(..rules.len())];
                ImportedEntry {
                    entry: NewEntry {
                        id: format!("seed-{n}"),
                        member_id: members[member.min(members.len() - 1)].clone(),
                        reason: "年度积分".into(),
                        evidence: String::new(),
                        source_event_id: String::new(),
                        actor: ACTOR.into(),
                    },
                    rule_code: code.into(),
                    points: points * rng.i64(1..=4),
                    at: now - rng.i64(0..YEAR_MS),
                }
            })
            .collect();
        imported += store.import_points(&entries).await? as usize;
        progress.update("points", imported, total, started.elapsed());
    }
    progress.finish("points", total, started.elapsed());
    Ok(imported)
}

async fn seed_grids(
    store: &GridStore,
    tree: &Tree,
    plan: &Plan,
    progress: &Arc<dyn Progress>,
) -> Result<Vec<(String, usize)>, Error> {
    let committees: Arc<Vec<(String, String)>> = Arc::new(
        tree.committees
            .iter()
            .map(|c| (c.id.to_string(), c.path.clone()))
            .collect(),
    );
    let store = store.clone();
    stage(progress, "grids", plan.grids, move |index| {
        let (store, committees) = (store.clone(), committees.clone());
        async move {
            let committee = index % committees.len();
            let (org_id, org_path) = committees[committee].clone();
            let grid = store
                .create_grid(
                    "seed",
                    None,
                    &NewGrid {
                        code: format!("PD-{index:05}"),
                        name: format!("第{}网格", index / committees.len() + 1),
                        layer: Layer::SocialManagement,
                        org_id,
                        org_path: OrgPath::of_unmoved_tree(org_path),
                        polygon: Vec::new(),
                    },
                )
                .await?;
            store
                .assign_staff(
                    &grid.id,
                    &format!("worker-{index:05}"),
                    "网格员",
                    StaffRole::Worker,
                )
                .await?;
            Ok((grid.id, committee))
        }
    })
    .await
}

/// How far back a seeded case may still be open: a few days of reports, as a district with its
/// cases in hand has; everything older was closed.
const OPEN_WINDOW_MS: i64 = 3 * DAY_MS;

/// A year of cases in the district's grids. Those of the last few days are reported through
/// the store's real write path (deadlines from the category's limits) and most of them filed;
/// the older ones were closed, and come in as an earlier system's closed cases do, in batches.
async fn seed_cases(
    store: &GridStore,
    tree: &Tree,
    grids: &[(String, usize)],
    plan: &Plan,
    seed: u64,
    progress: &Arc<dyn Progress>,
) -> Result<usize, Error> {
    let categories = [
        ("city.garbage", "垃圾堆放", ClockKind::Calendar, 24),
        ("city.parking", "违规停车", ClockKind::Calendar, 4),
        ("social.dispute", "邻里纠纷", ClockKind::Working, 40),
        ("city.facility", "公共设施损坏", ClockKind::Working, 72),
    ];
    crate::demo::define_categories(store, &categories).await?;
    let grids: Arc<Vec<SeededGrid>> = Arc::new(
        grids
            .iter()
            .enumerate()
            .map(|(index, (id, committee))| {
                let committee = &tree.committees[*committee];
                SeededGrid {
                    id: id.clone(),
                    committee_id: committee.id.to_string(),
                    committee_path: committee.path.clone(),
                    worker: format!("worker-{index:05}"),
                }
            })
            .collect(),
    );
    let now = now_millis();
    let draw = {
        let grids = grids.clone();
        move |index: usize| {
            let mut rng = rng(seed, 4, index);
            let grid = &grids[rng.usize(..grids.len())];
            let (code, name, _, _) = categories[rng.usize(..categories.len())];
            let at = now - rng.i64(0..YEAR_MS);
            let new = NewCase {
                category_code: code.into(),
                urgency: if rng.u8(0..20) == 0 {
                    Urgency::Urgent
                } else {
                    Urgency::Normal
                },
                description: format!("{name}（网格巡查发现）#{index}"),
                attributes: BTreeMap::new(),
                location: None,
                address: String::new(),
                grid_id: Some(grid.id.clone()),
                owner_org_id: grid.committee_id.clone(),
                org_path: OrgPath::of_unmoved_tree(grid.committee_path.clone()),
                reporter_kind: ReporterKind::GridWorker,
                reporter: grid.worker.clone(),
                contact: None,
                source: String::new(),
                external_id: String::new(),
                attachments: Vec::new(),
            };
            (new, at, rng)
        }
    };

    // The closed ones first, a batch at a time; the open ones are remembered for the next
    // stage.
    let started = Instant::now();
    let mut closed = 0;
    let mut open = Vec::new();
    for first in (0..plan.cases).step_by(IMPORT_BATCH) {
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        for index in first..(first + IMPORT_BATCH).min(plan.cases) {
            let (case, at, mut rng) = draw(index);
            if now - at < OPEN_WINDOW_MS {
                open.push(index);
                continue;
            }
            // Handled within two hours to five days; three in five rated.
            let closed_at = (at + rng.i64(2 * 3_600_000..5 * DAY_MS)).min(now - 60_000);
            let handled_by = case.reporter.clone();
            let handler_org_id = case.owner_org_id.clone();
            batch.push(ImportedCase {
                case,
                reported_at: at,
                closed_at,
                handler_org_id,
                handled_by,
                satisfaction: (rng.u8(0..5) < 3).then(|| rng.i64(3..=5)),
            });
        }
        closed += store.import_closed_cases(&batch).await? as usize;
        progress.update("closed cases", closed, plan.cases, started.elapsed());
    }
    progress.finish("closed cases", closed, started.elapsed());

    let open = Arc::new(open);
    let store = store.clone();
    let reported = stage(progress, "open cases", open.len(), move |nth| {
        let (store, open, draw) = (store.clone(), open.clone(), draw.clone());
        async move {
            let (new, at, mut rng) = draw(open[nth]);
            let case = store.report(None, &new, at).await?;
            // Most reports older than an hour are filed.
            if now - at > 3_600_000 && rng.u8(0..10) < 8 {
                store
                    .act(
                        &case.id,
                        "street-centre",
                        &Action::Accept,
                        &ActionDetail::default(),
                        at + 30 * 60_000,
                    )
                    .await?;
            }
            Ok(())
        }
    })
    .await?;
    Ok(closed + reported.len())
}

/// A grid as the seeded cases name it.
struct SeededGrid {
    id: String,
    committee_id: String,
    committee_path: String,
    worker: String,
}

/// Companies, the compounds they manage, and a year of monthly fee-collection disclosures per
/// compound, appended to the transparency log in batches.
async fn seed_property(
    store: &PropertyStore,
    tree: &Tree,
    plan: &Plan,
    district: &str,
    seed: u64,
    progress: &Arc<dyn Progress>,
) -> Result<(usize, usize), Error> {
    let now = now_millis();
    let year_ago = now - YEAR_MS;
    let publisher = "property-publisher";
    // A household's monthly fee: 250 yuan.
    let fee_fen = 25_000;
    let mut companies = Vec::with_capacity(plan.companies);
    for index in 0..plan.companies {
        let street = &tree.streets[index % tree.streets.len()];
        let company = store
            .create_company(
                ACTOR,
                None,
                &NewCompany {
                    name: format!("浦东第{}物业服务有限公司", index + 1),
                    credit_code: credit_code(district, index)?,
                    org_id: street.id.to_string(),
                    org_path: OrgPath::of_unmoved_tree(street.path.clone()),
                    details: CompanyDetails::default(),
                    publishers: vec![publisher.into()],
                },
                year_ago,
            )
            .await?;
        companies.push(company.id);
    }
    let committees: Arc<Vec<(String, String)>> = Arc::new(
        tree.committees
            .iter()
            .map(|c| (c.id.to_string(), c.path.clone()))
            .collect(),
    );
    let companies = Arc::new(companies);
    let compounds = {
        let (store, committees, companies) = (store.clone(), committees.clone(), companies.clone());
        stage(progress, "compounds", plan.compounds, move |index| {
            let (store, committees, companies) =
                (store.clone(), committees.clone(), companies.clone());
            async move {
                let (org_id, org_path) = committees[index % committees.len()].clone();
                let company_id = companies[rng(seed, 5, index).usize(..companies.len())].clone();
                let compound = store
                    .create_compound(
                        ACTOR,
                        None,
                        &NewCompound {
                            name: format!("第{}小区", index + 1),
                            address: String::new(),
                            org_id,
                            org_path: OrgPath::of_unmoved_tree(org_path.clone()),
                            terms: vec![Term::running(&company_id, year_ago)],
                            owners_committee: String::new(),
                            owners_chair: String::new(),
                        },
                        year_ago,
                    )
                    .await?;
                Ok((compound.id, company_id, org_path))
            }
        })
        .await?
    };
    let compounds = Arc::new(compounds);
    // Twelve months of fee collection per compound, in the order they were published.
    let months: Vec<(Period, i64)> = (0..12)
        .map(|back| {
            let at = now - (12 - back) * 30 * DAY_MS;
            let (year, month) = year_month(at);
            Period::parse(&format!("{year}-{month:02}"))
                .map(|period| (period, at + 5 * DAY_MS))
                .map_err(Error::from)
        })
        .collect::<Result<_, _>>()?;
    let months = Arc::new(months);
    let total = compounds.len() * months.len();
    // The log takes one writer at a time: its batches are appended in order, by one task.
    let started = Instant::now();
    let mut published = 0;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    for n in 0..total {
        let (period, at) = &months[n / compounds.len()];
        let (compound_id, company_id, path) = &compounds[n % compounds.len()];
        let mut rng = rng(seed, 6, n);
        let households = rng.i64(200..1_200);
        let paid = households - rng.i64(0..households / 8);
        batch.push((
            Entry {
                id: uuid::Uuid::now_v7().to_string(),
                compound_id: compound_id.clone(),
                company_id: company_id.clone(),
                period: period.clone(),
                content: Content::FeeCollection {
                    billed_fen: households * fee_fen,
                    collected_fen: paid * fee_fen,
                    households_billed: households,
                    households_paid: paid,
                },
                supersedes_id: None,
                correction_reason: None,
                published_by: publisher.into(),
                published_at: at + (n % compounds.len()) as i64 * 1_000,
            },
            path.clone(),
        ));
        if batch.len() == PUBLISH_BATCH || n + 1 == total {
            store.publish_batch(&batch).await?;
            published += batch.len();
            batch.clear();
            progress.update("disclosures", published, total, started.elapsed());
        }
    }
    progress.finish("disclosures", total, started.elapsed());
    Ok((compounds.len(), published))
}

/// The civil year and month (1–12) of a time, in China Standard Time.
pub fn year_month(millis: i64) -> (i64, i64) {
    // Days since 1970-01-01 in UTC+8, then the proleptic Gregorian calendar (Hinnant's
    // days-to-civil).
    let days = (millis + 8 * 3_600_000).div_euclid(DAY_MS) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pudong_is_the_size_of_pudong() {
        let plan = Plan::of(Scale::Pudong).expect("planned");
        assert_eq!(plan.streets, 36);
        assert_eq!(plan.streets * plan.committees_per_street, 1_296);
        // With the root, the 15,000-unit tree a district's whole subtree is.
        assert_eq!(plan.units(), 36 + 1_296 + 14_256);
        assert_eq!(plan.members, 300_000);
        assert_eq!(Plan::of(Scale::Demo), None);
    }

    #[test]
    fn credit_codes_carry_their_check_character() {
        let code = credit_code("310115", 42).expect("a code");
        assert!(CreditCode::parse(&code).is_ok(), "{code}");
        assert_ne!(code, credit_code("310115", 43).expect("a code"));
    }

    #[test]
    fn months_are_civil_months_in_shanghai() {
        // 2026-11-30T16:30:00Z is 2026-12-01 00:30 in Shanghai.
        assert_eq!(year_month(1_796_056_200_000), (2026, 12));
        assert_eq!(year_month(1_796_049_000_000), (2026, 11));
        assert_eq!(year_month(0), (1970, 1));
        // 2024-02-29T12:00:00Z
        assert_eq!(year_month(1_709_208_000_000), (2024, 2));
    }

    #[test]
    fn a_count_past_its_total_draws_a_full_bar() {
        StderrProgress.update("disclosures", 14_000, 12_000, Duration::from_secs(1));
        StderrProgress.update("disclosures", 0, 0, Duration::ZERO);
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        assert_eq!(rng(7, 4, 1234).u64(..), rng(7, 4, 1234).u64(..));
        assert_ne!(rng(7, 4, 1234).u64(..), rng(8, 4, 1234).u64(..));
        assert_ne!(rng(7, 4, 1234).u64(..), rng(7, 4, 1235).u64(..));
    }
}
