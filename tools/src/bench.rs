//! `jiceng bench`: a gRPC load generator for the main operations of every service, run against
//! the platform in this process over loopback, on a district `jiceng seed` loaded.
//!
//! Each operation runs closed-loop (a fixed number of callers, each calling again as soon as it
//! is answered: the peak) or open-loop at an offered rate (calls start on a schedule whatever
//! the answers do, and a call's latency counts from its scheduled start, so a server that falls
//! behind shows it). Writes that have a plain-SQL equivalent (a report's case row, an award's
//! ledger row) are also run as that one INSERT on the same database at the same concurrency,
//! and the ratio of the two throughputs is the platform's overhead. Figures are printed as a
//! Markdown table and can be written as JSON for `scripts/plot_bench.py`.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use jiceng_auth::{Claims, Role, TokenIssuer};
use jiceng_db::{Database, now_millis};
use jiceng_grid::{
    GridStore,
    domain::case::{ReporterKind, Urgency},
    store::cases::NewCase,
};
use jiceng_org_client::OrgPath;
use jiceng_proto::{
    grid::{
        self as grid_pb, case_service_client::CaseServiceClient,
        grid_service_client::GridServiceClient,
    },
    member::{
        self as member_pb, member_service_client::MemberServiceClient,
        points_service_client::PointsServiceClient,
    },
    notify::{self as notify_pb, notify_service_client::NotifyServiceClient},
    org::{self as org_pb, org_service_client::OrgServiceClient},
    property::{
        self as property_pb, disclosure_service_client::DisclosureServiceClient,
        property_service_client::PropertyServiceClient,
    },
};
use serde::Serialize;
use tonic::{Request, Status, transport::Channel};

use crate::baseline;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// An operation the load generator calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// `ListSubtree` of a street (its committees and branches, up to 1,000 units).
    OrgSubtree,
    /// The whole district's tree: `ListSubtree` of the root, every page of 1,000.
    OrgTree,
    /// `ReportCase` by a grid worker in their grid.
    GridReport,
    /// `DispatchCase` of an accepted case to one of its committee's branches.
    GridDispatch,
    /// `CountCases` of a street: its dashboard, counts per state and overdue.
    GridDashboard,
    /// `AwardPoints` by a district admin to a member.
    PointsAward,
    /// `RedeemPoints` by a member of a point they hold.
    PointsRedeem,
    /// `Publish` of a notice to one member.
    NotifyPublish,
    /// `ListInbox` of a member.
    NotifyInbox,
    /// `PublishDisclosure` of a compound's fee collection by its company.
    PropertyPublish,
    /// `GetInclusionProof` of a disclosure.
    PropertyProof,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::OrgSubtree,
        Op::OrgTree,
        Op::GridReport,
        Op::GridDispatch,
        Op::GridDashboard,
        Op::PointsAward,
        Op::PointsRedeem,
        Op::NotifyPublish,
        Op::NotifyInbox,
        Op::PropertyPublish,
        Op::PropertyProof,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::OrgSubtree => "org subtree",
            Op::OrgTree => "whole tree",
            Op::GridReport => "grid report",
            Op::GridDispatch => "grid dispatch",
            Op::GridDashboard => "street dashboard",
            Op::PointsAward => "points award",
            Op::PointsRedeem => "points redeem",
            Op::NotifyPublish => "notify publish",
            Op::NotifyInbox => "notify inbox",
            Op::PropertyPublish => "disclosure publish",
            Op::PropertyProof => "inclusion proof",
        }
    }
}

/// How to load the platform.
#[derive(Clone, Debug)]
pub struct Load {
    pub ops: Vec<Op>,
    /// Callers at once (closed loop), or at most in flight (open loop).
    pub concurrency: usize,
    pub duration: Duration,
    /// Calls before this much time has passed are not counted.
    pub warmup: Duration,
    /// Calls per second to offer; None: closed loop, as fast as answered.
    pub rate: Option<f64>,
    /// After each peak, offer 25%, 50%, 75% and 100% of it: latency against offered load.
    pub sweep: bool,
    /// Run the raw-SQL baseline of the writes that have one.
    pub baseline: bool,
}

/// One run of one operation.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub op: Op,
    /// What was timed: `grpc` through the API, `sql` the plain INSERT.
    pub path: &'static str,
    pub concurrency: usize,
    /// None for a closed-loop run.
    pub offered_per_sec: Option<f64>,
    pub calls: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Failed calls by gRPC code (or the database's error).
    pub errors: BTreeMap<String, usize>,
}

/// What a bench run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub runs: Vec<Measured>,
}

impl Report {
    /// The gRPC peak of `op` and its SQL baseline's, when both ran.
    pub fn ratio(&self, op: Op) -> Option<f64> {
        let peak = |path| {
            self.runs
                .iter()
                .find(|m| m.op == op && m.path == path && m.offered_per_sec.is_none())
                .map(|m| m.per_sec)
        };
        Some(peak("grpc")? / peak("sql")?)
    }

    /// The runs as a Markdown table, with the ratio to the raw-SQL baseline beside each peak.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| operation | path | concurrency | offered (/s) | calls | throughput (/s) | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors | of raw SQL |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for m in &self.runs {
            let errors = if m.errors.is_empty() {
                "0".to_owned()
            } else {
                m.errors
                    .iter()
                    .map(|(code, n)| format!("{code} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let ratio = match (m.path, m.offered_per_sec, self.ratio(m.op)) {
                ("grpc", None, Some(ratio)) => format!("{:.0}%", ratio * 100.0),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
                m.op.name(),
                m.path,
                m.concurrency,
                m.offered_per_sec
                    .map_or("peak".to_owned(), |r| format!("{r:.0}")),
                m.calls,
                m.per_sec,
                m.p50_ms,
                m.p95_ms,
                m.p99_ms,
                m.max_ms,
                errors,
                ratio
            ));
        }
        out
    }
}

/// What the calls aim at, found through the API in the seeded district.
struct Targets {
    streets: Vec<String>,
    /// (grid, its committee, its worker's token).
    grids: Vec<(String, String, String)>,
    /// committee → its branches, where cases are dispatched.
    branches: BTreeMap<String, Vec<String>>,
    /// (member, their own token).
    members: Vec<(String, String)>,
    /// (compound, its company's publisher's token).
    compounds: Vec<(String, String)>,
    disclosures: Vec<String>,
}

/// The platform as the load generator sees it.
struct Client {
    channel: Channel,
    root: String,
    admin: String,
    targets: Targets,
    serial: AtomicU64,
}

fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The category of the notices the load publishes.
const NOTICE_CATEGORY: &str = "bench.notice";

/// The points rule the load awards by.
const AWARD_RULE: &str = "bench.volunteer";

/// How many of each kind of target the calls spread over.
const SAMPLE: usize = 200;

async fn discover(
    channel: &Channel,
    issuer: &TokenIssuer,
    district: &str,
    root: &str,
) -> Result<(String, Targets), Error> {
    let token = |subject: &str, role: Role, scope: &str| {
        issuer.mint(&Claims::new(subject, district, scope, &[role], 86_400))
    };
    let admin = token("bench-admin", Role::DistrictAdmin, root)?;
    let mut org = OrgServiceClient::new(channel.clone());
    let mut units = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = org
            .list_subtree(authorized(
                org_pb::ListSubtreeRequest {
                    root_id: root.to_owned(),
                    max_depth: 3,
                    page_size: Some(1000),
                    page_token,
                    kinds: vec![
                        org_pb::UnitKind::StreetWorkingCommittee as i32,
                        org_pb::UnitKind::TownCommittee as i32,
                        org_pb::UnitKind::Branch as i32,
                    ],
                    ..Default::default()
                },
                &admin,
            ))
            .await?
            .into_inner();
        units.extend(page.units);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let street_kinds = [
        org_pb::UnitKind::StreetWorkingCommittee as i32,
        org_pb::UnitKind::TownCommittee as i32,
    ];
    let streets: Vec<String> = units
        .iter()
        .filter(|u| street_kinds.contains(&u.kind))
        .map(|u| u.id.clone())
        .collect();
    let mut branches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for unit in units
        .iter()
        .filter(|u| u.kind == org_pb::UnitKind::Branch as i32)
    {
        branches
            .entry(unit.parent_id.clone())
            .or_default()
            .push(unit.id.clone());
    }
    if streets.is_empty() || branches.is_empty() {
        return Err("the district is empty: load one with `jiceng seed` first".into());
    }

    NotifyServiceClient::new(channel.clone())
        .register_category(authorized(
            notify_pb::RegisterCategoryRequest {
                category: Some(notify_pb::Category {
                    name: NOTICE_CATEGORY.into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?;
    // Without caps, so that a member can be awarded as often as the load asks.
    PointsServiceClient::new(channel.clone())
        .define_points_rule(authorized(
            member_pb::DefinePointsRuleRequest {
                rule: Some(member_pb::PointsRule {
                    code: AWARD_RULE.into(),
                    name: "志愿服务（压测）".into(),
                    points: 1,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?;
    let mut grid_api = GridServiceClient::new(channel.clone());
    let listed = grid_api
        .list_grids(authorized(
            grid_pb::ListGridsRequest {
                org_id: root.to_owned(),
                page_size: Some(SAMPLE as i32),
                ..Default::default()
            },
            &admin,
        ))
        .await?
        .into_inner()
        .grids;
    let mut grids = Vec::new();
    for grid in listed {
        let staff = grid_api
            .list_grid_staff(authorized(
                grid_pb::ListGridStaffRequest {
                    grid_id: grid.id.clone(),
                    ..Default::default()
                },
                &admin,
            ))
            .await?
            .into_inner()
            .staff;
        if let Some(worker) = staff.first() {
            let worker_token = token(&worker.subject, Role::GridWorker, &grid.org_id)?;
            grids.push((grid.id, grid.org_id, worker_token));
        }
    }

    let mut member_api = MemberServiceClient::new(channel.clone());
    let mut members = Vec::new();
    // Five members from each of some forty branches spread over the district.
    let all_branches: Vec<&String> = branches.values().flatten().collect();
    for branch in all_branches
        .iter()
        .step_by((all_branches.len() / 40).max(1))
    {
        if members.len() >= SAMPLE {
            break;
        }
        let listed = member_api
            .list_members(authorized(
                member_pb::ListMembersRequest {
                    org_id: (*branch).clone(),
                    page_size: Some(5),
                    ..Default::default()
                },
                &admin,
            ))
            .await?
            .into_inner()
            .members;
        for member in listed {
            let own = token(&member.id, Role::Member, branch.as_str())?;
            members.push((member.id, own));
        }
    }

    let mut property = PropertyServiceClient::new(channel.clone());
    let compounds = property
        .list_compounds(authorized(
            property_pb::ListCompoundsRequest {
                org_id: root.to_owned(),
                page_size: Some(SAMPLE as i32),
                ..Default::default()
            },
            &admin,
        ))
        .await?
        .into_inner()
        .compounds;
    let mut publishers = Vec::new();
    for compound in compounds {
        let company = property
            .get_company(authorized(
                property_pb::GetCompanyRequest {
                    id: compound.company_id.clone(),
                },
                &admin,
            ))
            .await?
            .into_inner();
        if let Some(publisher) = company.publishers.first() {
            publishers.push((
                compound.id,
                token(publisher, Role::Member, &compound.org_id)?,
            ));
        }
    }
    let disclosures = DisclosureServiceClient::new(channel.clone())
        .list_disclosures(authorized(
            property_pb::ListDisclosuresRequest {
                org_id: root.to_owned(),
                page_size: Some(SAMPLE as i32),
                ..Default::default()
            },
            &admin,
        ))
        .await?
        .into_inner()
        .disclosures
        .into_iter()
        .map(|d| d.id)
        .collect();
    Ok((
        admin,
        Targets {
            streets,
            grids,
            branches,
            members,
            compounds: publishers,
            disclosures,
        },
    ))
}

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

fn pick<'a, T>(items: &'a [T], rng: &mut fastrand::Rng) -> Result<&'a T, Status> {
    if items.is_empty() {
        return Err(Status::failed_precondition(
            "the district has nothing of this kind to call on",
        ));
    }
    Ok(&items[rng.usize(..items.len())])
}

fn report_request(grid: &str, serial: u64) -> grid_pb::ReportCaseRequest {
    grid_pb::ReportCaseRequest {
        category_code: "city.garbage".into(),
        description: format!("楼道堆物（压测）#{serial}"),
        grid_id: grid.to_owned(),
        reporter_kind: grid_pb::ReporterKind::GridWorker as i32,
        ..Default::default()
    }
}

impl Client {
    fn next(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes one call of `op` ready, doing what it needs first (an accepted case to dispatch, a
    /// point to redeem) untimed; the returned future is the timed call.
    async fn prepare(&self, op: Op, rng: &mut fastrand::Rng) -> Result<Call, Status> {
        let channel = self.channel.clone();
        let admin = self.admin.clone();
        let t = &self.targets;
        Ok(match op {
            Op::OrgSubtree => {
                let request = org_pb::ListSubtreeRequest {
                    root_id: pick(&t.streets, rng)?.clone(),
                    page_size: Some(1000),
                    ..Default::default()
                };
                Box::pin(async move {
                    OrgServiceClient::new(channel)
                        .list_subtree(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
            Op::OrgTree => {
                let root = self.root.clone();
                Box::pin(async move {
                    let mut org = OrgServiceClient::new(channel);
                    let mut page_token = String::new();
                    loop {
                        let page = org
                            .list_subtree(authorized(
                                org_pb::ListSubtreeRequest {
                                    root_id: root.clone(),
                                    page_size: Some(1000),
                                    page_token,
                                    ..Default::default()
                                },
                                &admin,
                            ))
                            .await?
                            .into_inner();
                        if page.next_page_token.is_empty() {
                            return Ok(());
                        }
                        page_token = page.next_page_token;
                    }
                })
            }
            Op::GridReport => {
                let (grid, _, worker) = pick(&t.grids, rng)?.clone();
                let request = report_request(&grid, self.next());
                Box::pin(async move {
                    CaseServiceClient::new(channel)
                        .report_case(authorized(request, &worker))
                        .await
                        .map(drop)
                })
            }
            Op::GridDispatch => {
                let (grid, committee, worker) = pick(&t.grids, rng)?.clone();
                let mut cases = CaseServiceClient::new(channel.clone());
                let case = cases
                    .report_case(authorized(report_request(&grid, self.next()), &worker))
                    .await?
                    .into_inner();
                cases
                    .accept_case(authorized(
                        grid_pb::AcceptCaseRequest {
                            case_id: case.id.clone(),
                            ..Default::default()
                        },
                        &admin,
                    ))
                    .await?;
                let handler = t
                    .branches
                    .get(&committee)
                    .and_then(|b| b.first())
                    .cloned()
                    .unwrap_or(committee);
                let request = grid_pb::DispatchCaseRequest {
                    case_id: case.id,
                    handler_org_id: handler,
                    ..Default::default()
                };
                Box::pin(async move {
                    cases
                        .dispatch_case(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
            Op::GridDashboard => {
                let request = grid_pb::CountCasesRequest {
                    org_id: pick(&t.streets, rng)?.clone(),
                };
                Box::pin(async move {
                    CaseServiceClient::new(channel)
                        .count_cases(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
            Op::PointsAward => {
                let request = self.award(&pick(&t.members, rng)?.0);
                Box::pin(async move {
                    PointsServiceClient::new(channel)
                        .award_points(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
            Op::PointsRedeem => {
                let (member, own) = pick(&t.members, rng)?.clone();
                let mut points = PointsServiceClient::new(channel);
                points
                    .award_points(authorized(self.award(&member), &admin))
                    .await?;
                let request = member_pb::RedeemPointsRequest {
                    entry_id: format!("bench-redeem-{}", self.next()),
                    member_id: member,
                    points: 1,
                    reason: "兑换服务".into(),
                };
                Box::pin(async move {
                    points
                        .redeem_points(authorized(request, &own))
                        .await
                        .map(drop)
                })
            }
            Op::NotifyPublish => {
                let (member, _) = pick(&t.members, rng)?.clone();
                let request = notify_pb::PublishRequest {
                    idempotency_key: format!("bench-{}", self.next()),
                    category: NOTICE_CATEGORY.into(),
                    title: "支部通知".into(),
                    body: "本周六上午九时召开支部党员大会。".into(),
                    recipients: vec![notify_pb::Recipient {
                        recipient: Some(notify_pb::recipient::Recipient::MemberId(member)),
                    }],
                    ..Default::default()
                };
                Box::pin(async move {
                    NotifyServiceClient::new(channel)
                        .publish(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
            Op::NotifyInbox => {
                let (_, own) = pick(&t.members, rng)?.clone();
                Box::pin(async move {
                    NotifyServiceClient::new(channel)
                        .list_inbox(authorized(notify_pb::ListInboxRequest::default(), &own))
                        .await
                        .map(drop)
                })
            }
            Op::PropertyPublish => {
                let (compound, publisher) = pick(&t.compounds, rng)?.clone();
                let (year, month) = crate::seed::year_month(now_millis());
                let request = property_pb::PublishDisclosureRequest {
                    disclosure: Some(property_pb::Disclosure {
                        compound_id: compound,
                        period: format!("{year}-{month:02}"),
                        content: Some(property_pb::disclosure::Content::FeeCollection(
                            property_pb::FeeCollection {
                                billed_fen: 10_500_000,
                                collected_fen: 9_750_000,
                                households_billed: 420,
                                households_paid: 390,
                            },
                        )),
                        ..Default::default()
                    }),
                    request_id: format!("bench-{}", self.next()),
                };
                Box::pin(async move {
                    DisclosureServiceClient::new(channel)
                        .publish_disclosure(authorized(request, &publisher))
                        .await
                        .map(drop)
                })
            }
            Op::PropertyProof => {
                let request = property_pb::GetInclusionProofRequest {
                    disclosure_id: pick(&t.disclosures, rng)?.clone(),
                    tree_size: None,
                };
                Box::pin(async move {
                    DisclosureServiceClient::new(channel)
                        .get_inclusion_proof(authorized(request, &admin))
                        .await
                        .map(drop)
                })
            }
        })
    }

    fn award(&self, member: &str) -> member_pb::AwardPointsRequest {
        member_pb::AwardPointsRequest {
            entry_id: format!("bench-award-{}", self.next()),
            member_id: member.to_owned(),
            rule_code: AWARD_RULE.into(),
            reason: "志愿服务".into(),
            ..Default::default()
        }
    }
}

/// Where a run's request ids start: the time in microseconds. Ids of earlier runs against the
/// same district must not come again, and a run makes more than a thousand a second (so a start
/// in milliseconds was overtaken and the next run's awards were replays) but never a million.
fn first_serial() -> u64 {
    u64::try_from(now_millis()).unwrap_or_default() * 1_000
}

/// Latencies and failures of one run, as its callers record them.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Runs `call` (given a fresh random stream, returning the timed future) for the load's
/// duration, closed-loop or at `rate`, and measures what was answered after the warm-up.
async fn drive<F, Fut>(
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    rate: Option<f64>,
    call: F,
) -> (usize, f64, Tally)
where
    F: Fn(fastrand::Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Call, String>> + Send,
{
    let call = Arc::new(call);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let measured_from = started + warmup;
    let end = measured_from + duration;
    let scheduled = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::with_capacity(concurrency);
    for caller in 0..concurrency {
        let (call, tally, scheduled) = (call.clone(), tally.clone(), scheduled.clone());
        callers.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(caller as u64 + 1);
            loop {
                // Open loop: the next slot of the schedule, whoever is free takes it.
                let due = match rate {
                    Some(rate) => {
                        let slot = scheduled.fetch_add(1, Ordering::Relaxed);
                        started + Duration::from_secs_f64(slot as f64 / rate)
                    }
                    None => Instant::now(),
                };
                // Past the end, slots still owed by an overloaded server are not worked off: the
                // run's latencies already show how far behind it fell.
                if due >= end || Instant::now() >= end {
                    break;
                }
                let ready = call(rng.fork()).await;
                tokio::time::sleep_until(due.into()).await;
                let began = if rate.is_some() { due } else { Instant::now() };
                let outcome = match ready {
                    Ok(timed) => timed.await.map_err(|status| format!("{:?}", status.code())),
                    Err(failed) => Err(failed),
                };
                let answered = Instant::now();
                if began < measured_from || answered > end + Duration::from_secs(5) {
                    continue;
                }
                let mut tally = tally
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match outcome {
                    Ok(()) => tally.latencies.push(answered - began),
                    Err(code) => *tally.errors.entry(code).or_default() += 1,
                }
            }
        }));
    }
    for caller in callers {
        let _ = caller.await;
    }
    let measured = Instant::now().min(end).duration_since(measured_from);
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let calls = tally.latencies.len();
    (
        calls,
        calls as f64 / measured.as_secs_f64().max(1e-3),
        tally,
    )
}

fn measured(
    op: Op,
    path: &'static str,
    concurrency: usize,
    offered: Option<f64>,
    (calls, per_sec, mut tally): (usize, f64, Tally),
) -> Measured {
    tally.latencies.sort();
    let sorted = &tally.latencies;
    Measured {
        op,
        path,
        concurrency,
        offered_per_sec: offered,
        calls,
        per_sec,
        p50_ms: percentile(sorted, 0.50),
        p95_ms: percentile(sorted, 0.95),
        p99_ms: percentile(sorted, 0.99),
        max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        errors: tally.errors,
    }
}

/// Resident memory of process `pid` (this one when None), from `/proc`: Linux only.
pub fn resident_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A soak: mixed load for a long while, with this process's resident memory sampled.
#[derive(Clone, Debug, Serialize)]
pub struct Soak {
    pub minutes: u64,
    /// (seconds since the start, resident MiB).
    pub rss_mib: Vec<(u64, f64)>,
    /// The last minute's mean over the first minute's after the warm-up, as a share.
    pub growth: f64,
    pub runs: Vec<Measured>,
}

/// `jiceng up` from its start: how long until it serves, and its memory when idle.
#[derive(Clone, Debug, Serialize)]
pub struct Startup {
    pub serving_ms: f64,
    pub idle_rss_mib: f64,
}

/// The platform under load: its endpoint, the stores the baselines write to, and how tokens
/// are made.
pub struct Bench {
    pub channel: Channel,
    pub issuer: TokenIssuer,
    pub district: String,
    pub root: String,
    /// Where the grids a report's baseline files under are read.
    pub grid: GridStore,
    /// The grid and member services' databases, which the baselines write to.
    pub grid_db: Database,
    pub member_db: Database,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("district", &self.district)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Bench {
    /// Every operation but the whole tree at once, each at `rate_per_op` calls a second, for
    /// `minutes`, with the resident memory of this process (the platform and the load
    /// generator) sampled every ten seconds.
    pub async fn soak(
        &self,
        minutes: u64,
        rate_per_op: f64,
        concurrency: usize,
        sample: impl Fn(u64, f64),
    ) -> Result<Soak, Error> {
        let (admin, targets) =
            discover(&self.channel, &self.issuer, &self.district, &self.root).await?;
        let client = Arc::new(Client {
            channel: self.channel.clone(),
            root: self.root.clone(),
            admin,
            targets,
            serial: AtomicU64::new(first_serial()),
        });
        let duration = Duration::from_secs(minutes * 60);
        // The whole tree is a peak measurement: sixteen pages a call at Pudong's size, more
        // than a district reads ten times a second.
        let loads: Vec<_> = Op::ALL
            .into_iter()
            .filter(|op| *op != Op::OrgTree)
            .map(|op| {
                let client = client.clone();
                tokio::spawn(async move {
                    let run = drive(
                        concurrency,
                        duration,
                        Duration::ZERO,
                        Some(rate_per_op),
                        move |mut rng| {
                            let client = client.clone();
                            async move {
                                client
                                    .prepare(op, &mut rng)
                                    .await
                                    .map_err(|status| format!("{:?} (preparing)", status.code()))
                            }
                        },
                    )
                    .await;
                    measured(op, "grpc", concurrency, Some(rate_per_op), run)
                })
            })
            .collect();
        let started = Instant::now();
        let mut rss_mib = Vec::new();
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let at = started.elapsed().as_secs();
            let mib = resident_bytes(None).unwrap_or(0) as f64 / (1024.0 * 1024.0);
            sample(at, mib);
            rss_mib.push((at, mib));
        }
        let mut runs = Vec::new();
        for load in loads {
            runs.push(load.await?);
        }
        let mean = |from: u64, to: u64| {
            let window: Vec<f64> = rss_mib
                .iter()
                .filter(|(at, _)| (from..to).contains(at))
                .map(|(_, mib)| *mib)
                .collect();
            window.iter().sum::<f64>() / window.len().max(1) as f64
        };
        let total = minutes * 60;
        // The first minute fills caches and pools; what follows must stay flat.
        let first = mean(60, 120.min(total));
        let last = mean(total.saturating_sub(60), total + 60);
        Ok(Soak {
            minutes,
            growth: if first > 0.0 { last / first - 1.0 } else { 0.0 },
            rss_mib,
            runs,
        })
    }

    /// Runs `load` and reports after each run through `each`.
    pub async fn run(&self, load: &Load, each: impl Fn(&Measured)) -> Result<Report, Error> {
        let (admin, targets) =
            discover(&self.channel, &self.issuer, &self.district, &self.root).await?;
        let client = Arc::new(Client {
            channel: self.channel.clone(),
            root: self.root.clone(),
            admin,
            targets,
            serial: AtomicU64::new(first_serial()),
        });
        let mut report = Report::default();
        for &op in &load.ops {
            let grpc = |rate: Option<f64>| {
                let client = client.clone();
                drive(
                    load.concurrency,
                    load.duration,
                    load.warmup,
                    rate,
                    move |mut rng| {
                        let client = client.clone();
                        async move {
                            client
                                .prepare(op, &mut rng)
                                .await
                                .map_err(|status| format!("{:?} (preparing)", status.code()))
                        }
                    },
                )
            };
            let run = measured(
                op,
                "grpc",
                load.concurrency,
                load.rate,
                grpc(load.rate).await,
            );
            each(&run);
            let peak = run.per_sec;
            report.runs.push(run);
            if load.baseline
                && let Some(run) = self.baseline(op, load, &client).await?
            {
                each(&run);
                report.runs.push(run);
            }
            if load.sweep && load.rate.is_none() {
                for share in [0.25, 0.5, 0.75, 1.0] {
                    let rate = (peak * share).max(1.0);
                    let run = measured(
                        op,
                        "grpc",
                        load.concurrency,
                        Some(rate),
                        grpc(Some(rate)).await,
                    );
                    each(&run);
                    report.runs.push(run);
                }
            }
        }
        Ok(report)
    }

    /// The plain INSERT a write amounts to, at the load's concurrency, on the same database.
    async fn baseline(
        &self,
        op: Op,
        load: &Load,
        client: &Arc<Client>,
    ) -> Result<Option<Measured>, Error> {
        let targets = &client.targets;
        let tally = match op {
            Op::GridReport => {
                // (grid, its committee, the committee's org path), as a report finds them.
                let mut grids = Vec::new();
                for (grid, _, _) in &targets.grids {
                    let grid = self.grid.grid(grid).await?;
                    grids.push((grid.id, grid.org_id, grid.org_path));
                }
                let grids = Arc::new(grids);
                let (db, serial) = (self.grid_db.clone(), client.clone());
                let tally = drive(
                    load.concurrency,
                    load.duration,
                    load.warmup,
                    load.rate,
                    move |mut rng| {
                        let (db, grids, serial) = (db.clone(), grids.clone(), serial.clone());
                        async move {
                            let (grid, committee, org_path) = pick(&grids, &mut rng)
                                .map_err(|s| s.message().to_owned())?
                                .clone();
                            let new = NewCase {
                                category_code: "city.garbage".into(),
                                urgency: Urgency::Normal,
                                description: format!("楼道堆物（压测）#{}", serial.next()),
                                attributes: BTreeMap::new(),
                                location: None,
                                address: String::new(),
                                grid_id: Some(grid),
                                org_path: OrgPath::of_unmoved_tree(org_path),
                                owner_org_id: committee,
                                reporter_kind: ReporterKind::GridWorker,
                                reporter: "bench-baseline".into(),
                                contact: None,
                                source: String::new(),
                                external_id: String::new(),
                                attachments: Vec::new(),
                            };
                            let timed: Call = Box::pin(async move {
                                baseline::insert_case(&db, &new, now_millis())
                                    .await
                                    .map_err(|e| Status::internal(e.to_string()))
                            });
                            Ok(timed)
                        }
                    },
                )
                .await;
                baseline::delete_cases(&self.grid_db).await?;
                tally
            }
            Op::PointsAward => {
                let members: Arc<Vec<String>> =
                    Arc::new(targets.members.iter().map(|(m, _)| m.clone()).collect());
                let db = self.member_db.clone();
                let tally = drive(
                    load.concurrency,
                    load.duration,
                    load.warmup,
                    load.rate,
                    move |mut rng| {
                        let (db, members) = (db.clone(), members.clone());
                        async move {
                            let member = pick(&members, &mut rng)
                                .map_err(|s| s.message().to_owned())?
                                .clone();
                            let timed: Call = Box::pin(async move {
                                baseline::insert_entry(&db, &member, AWARD_RULE, 1, now_millis())
                                    .await
                                    .map_err(|e| Status::internal(e.to_string()))
                            });
                            Ok(timed)
                        }
                    },
                )
                .await;
                baseline::delete_entries(&self.member_db).await?;
                tally
            }
            _ => return Ok(None),
        };
        Ok(Some(measured(
            op,
            "sql",
            load.concurrency,
            load.rate,
            tally,
        )))
    }
}

/// Starts `jiceng up` (the program at `exe`) on an empty `data_dir` and `listen`, and measures
/// how long it takes to serve and its resident memory after ten idle seconds.
pub async fn startup(
    exe: &std::path::Path,
    data_dir: &std::path::Path,
    listen: std::net::SocketAddr,
) -> Result<Startup, Error> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("up")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(listen.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let endpoint = format!("http://{listen}");
    let serving = loop {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("jiceng up did not serve within 30 s".into());
        }
        if let Ok(channel) = Channel::from_shared(endpoint.clone())?.connect().await {
            let answer = tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await;
            if answer.is_ok_and(|a| {
                a.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            }) {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss = child.id().and_then(|pid| resident_bytes(Some(pid)));
    child.kill().await?;
    Ok(Startup {
        serving_ms: serving.as_secs_f64() * 1000.0,
        idle_rss_mib: rss.ok_or("no resident memory to read (Linux /proc)")? as f64
            / (1024.0 * 1024.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
