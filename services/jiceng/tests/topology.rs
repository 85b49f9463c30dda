//! Cross-service behaviour on the production topology: every service its own `jiceng serve`
//! processes on its own PostgreSQL database, two replicas each behind a per-connection balancer
//! (see `jiceng_testkit::topology`). An event reaches one replica of its consumer; what every
//! replica must know has to reach the others by itself.

use std::{
    future::Future,
    path::Path,
    time::{Duration, Instant},
};

use jiceng_auth::Role;
use jiceng_grpc::RetryPolicy;
use jiceng_proto::{
    grid::{
        self as grid_pb, case_service_client::CaseServiceClient,
        grid_service_client::GridServiceClient, wish_service_client::WishServiceClient,
    },
    member::{
        self as member_pb, member_service_client::MemberServiceClient,
        points_service_client::PointsServiceClient,
    },
    notify::{self as notify_pb, notify_service_client::NotifyServiceClient},
    org::{
        self as org_pb, meeting_service_client::MeetingServiceClient,
        org_service_client::OrgServiceClient, position_service_client::PositionServiceClient,
    },
};
use jiceng_testkit::{Bearer, bearer, topology::Topology};
use tonic::{
    Code,
    codegen::InterceptedService,
    transport::{Channel, Endpoint},
};

/// What the platform promises: a move acknowledged by org is reflected by every replica of
/// every service within this bound.
const FRESHNESS_BOUND: Duration = Duration::from_secs(2);

async fn start() -> Option<Topology> {
    let topology = Topology::start(Path::new(env!("CARGO_BIN_EXE_jiceng")), 2).await;
    if topology.is_none() {
        eprintln!("skipped: JICENG_TEST_DATABASE_URL names no PostgreSQL server");
    }
    topology
}

async fn channel(uri: &str) -> Channel {
    Endpoint::from_shared(uri.to_owned())
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect")
}

type Client<C> = fn(InterceptedService<Channel, Bearer>) -> C;

async fn client_as<C>(uri: &str, token: &str, make: Client<C>) -> C {
    make(InterceptedService::new(
        channel(uri).await,
        Bearer::new(token),
    ))
}

fn admin_of(scope: &str, role: Role) -> String {
    bearer(&format!("admin-{scope}"), &[role], scope)
}

async fn create_unit(
    org: &mut OrgServiceClient<InterceptedService<Channel, Bearer>>,
    parent: &str,
    kind: org_pb::UnitKind,
    name: &str,
) -> String {
    org.create_unit(org_pb::CreateUnitRequest {
        parent_id: parent.to_owned(),
        kind: kind as i32,
        name: name.to_owned(),
        ..Default::default()
    })
    .await
    .expect("create unit")
    .into_inner()
    .id
}

/// Calls `check` until it holds or `within` has passed; returns how long it took.
async fn within<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return started.elapsed(),
            Err(last) if started.elapsed() >= within => {
                panic!("{what}: not so after {within:?}: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

fn category() -> grid_pb::DefineCategoryRequest {
    grid_pb::DefineCategoryRequest {
        category: Some(grid_pb::Category {
            code: "city.garbage".into(),
            name: "垃圾堆放".into(),
            default_handler_kind: "service_team".into(),
            clock: grid_pb::ClockKind::Calendar as i32,
            normal: Some(grid_pb::TimeLimits {
                accept_minutes: 60,
                dispatch_minutes: 60,
                handle_minutes: 120,
                verify_minutes: 60,
                overall_minutes: 24 * 60,
            }),
            ..Default::default()
        }),
    }
}

fn report_in(committee: &str, description: &str) -> grid_pb::ReportCaseRequest {
    grid_pb::ReportCaseRequest {
        category_code: "city.garbage".into(),
        description: description.to_owned(),
        org_id: committee.to_owned(),
        reporter_kind: grid_pb::ReporterKind::Resident as i32,
        ..Default::default()
    }
}

/// The ids of the cases listed under `org_id`, as `token` sees them through `uri`.
async fn cases_under(uri: &str, token: &str, org_id: &str) -> Result<Vec<String>, String> {
    let mut cases = client_as(uri, token, CaseServiceClient::new).await;
    let listed = cases
        .list_cases(grid_pb::ListCasesRequest {
            org_id: org_id.to_owned(),
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(listed
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.id)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committee_moved_to_another_street_is_seen_by_every_replica_within_the_bound() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let old_street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let new_street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &old_street,
        org_pb::UnitKind::ResidentialCommittee,
        "东昌居民区党总支",
    )
    .await;
    let grid_uri = topology.endpoint("grid");
    client_as(&grid_uri, &district, GridServiceClient::new)
        .await
        .define_category(category())
        .await
        .expect("category");
    let worker = bearer("worker-1", &[Role::GridWorker], &committee);
    let mut reports = client_as(&grid_uri, &worker, CaseServiceClient::new).await;
    let before = reports
        .report_case(report_in(&committee, "楼道口堆放建筑垃圾"))
        .await
        .expect("report before the move")
        .into_inner();

    let old_admin = admin_of(&old_street, Role::StreetAdmin);
    let new_admin = admin_of(&new_street, Role::StreetAdmin);
    let replicas = topology.replica_endpoints("grid");
    // Every replica has the committee's ancestry cached, as under steady traffic.
    for replica in &replicas {
        client_as(replica, &old_admin, CaseServiceClient::new)
            .await
            .get_case(grid_pb::GetCaseRequest {
                id: before.id.clone(),
                ..Default::default()
            })
            .await
            .expect("the old street's admin reads its committee's case");
        assert_eq!(
            cases_under(replica, &old_admin, &old_street).await,
            Ok(vec![before.id.clone()])
        );
    }

    org.move_unit(org_pb::MoveUnitRequest {
        id: committee.clone(),
        new_parent_id: new_street.clone(),
        ..Default::default()
    })
    .await
    .expect("move");
    let moved_at = Instant::now();

    for replica in &replicas {
        let (old_admin, new_admin, before) = (&old_admin, &new_admin, &before);
        within(
            FRESHNESS_BOUND.saturating_sub(moved_at.elapsed()),
            &format!("{replica}: scopes follow the move"),
            || async move {
                let refused = client_as(replica, old_admin, CaseServiceClient::new)
                    .await
                    .get_case(grid_pb::GetCaseRequest {
                        id: before.id.clone(),
                        ..Default::default()
                    })
                    .await;
                match refused {
                    Err(status)
                        if matches!(status.code(), Code::NotFound | Code::PermissionDenied) => {}
                    other => return Err(format!("the old street's admin got {other:?}")),
                }
                client_as(replica, new_admin, CaseServiceClient::new)
                    .await
                    .get_case(grid_pb::GetCaseRequest {
                        id: before.id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| format!("the new street's admin: {status}"))?;
                Ok(())
            },
        )
        .await;
    }
    // Lists by subtree follow on every replica (the event reached one of them; the database is
    // shared by both).
    for replica in &replicas {
        let (old_admin, new_admin, new_street) = (&old_admin, &new_admin, &new_street);
        let (before, old_street) = (&before, &old_street);
        within(
            FRESHNESS_BOUND.saturating_sub(moved_at.elapsed()),
            &format!("{replica}: lists follow the move"),
            || async move {
                let under_new = cases_under(replica, new_admin, new_street).await?;
                let under_old = cases_under(replica, old_admin, old_street).await?;
                if under_new == vec![before.id.clone()] && under_old.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "new street {under_new:?}, old street {under_old:?}"
                    ))
                }
            },
        )
        .await;
    }

    // A case reported on each replica right after the move is stored under the new street:
    // listed there, and not under the old one, on every replica.
    let mut after = Vec::new();
    for (n, replica) in replicas.iter().enumerate() {
        let case = client_as(replica, &worker, CaseServiceClient::new)
            .await
            .report_case(report_in(&committee, &format!("搬迁后反映的问题 {n}")))
            .await
            .expect("report after the move")
            .into_inner();
        after.push(case.id);
    }
    for replica in &replicas {
        let mut listed = cases_under(replica, &new_admin, &new_street)
            .await
            .expect("list");
        listed.sort();
        let mut expected = vec![before.id.clone()];
        expected.extend(after.iter().cloned());
        expected.sort();
        assert_eq!(listed, expected, "{replica}: the new street's cases");
        assert_eq!(
            cases_under(replica, &old_admin, &old_street).await,
            Ok(Vec::new()),
            "{replica}: nothing stays under the old street"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secretary_appointed_in_org_is_told_once_whichever_notify_replica_is_asked() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "塘桥街道党工委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "南泉居民区党总支",
    )
    .await;
    const SECRETARY: &str = "0193a000-0000-7000-8000-0000000000a1";
    client_as(
        &topology.endpoint("org"),
        &district,
        PositionServiceClient::new,
    )
    .await
    .appoint_position(org_pb::AppointPositionRequest {
        unit_id: committee.clone(),
        role: org_pb::PositionRole::Secretary as i32,
        holder: Some(org_pb::appoint_position_request::Holder::MemberId(
            SECRETARY.into(),
        )),
        replace_current: true,
        ..Default::default()
    })
    .await
    .expect("appoint");
    let secretary = bearer(SECRETARY, &[Role::Member], &committee);
    for replica in topology.replica_endpoints("notify") {
        let secretary = &secretary;
        within(
            Duration::from_secs(10),
            &format!("{replica}: the secretary's notice"),
            || {
                let replica = replica.clone();
                async move {
                    let inbox = client_as(&replica, secretary, NotifyServiceClient::new)
                        .await
                        .list_inbox(notify_pb::ListInboxRequest::default())
                        .await
                        .map_err(|status| status.to_string())?
                        .into_inner();
                    match inbox.items.len() {
                        1 => Ok(()),
                        n => Err(format!("{n} notices")),
                    }
                }
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_to_every_process_ends_each_cleanly() {
    let Some(mut topology) = start().await else {
        return;
    };
    for (service, status) in topology.terminate_all() {
        assert!(status.success(), "{service} exited {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_added_under_load_gets_calls_within_the_maximum_connection_age() {
    const MAX_AGE: Duration = Duration::from_secs(2);
    let Some(mut topology) = Topology::start_with(
        Path::new(env!("CARGO_BIN_EXE_jiceng")),
        2,
        &[
            ("JICENG_MAX_CONNECTION_AGE_SECS", "2"),
            ("JICENG_MAX_CONNECTION_AGE_GRACE_SECS", "1"),
        ],
    )
    .await
    else {
        eprintln!("skipped: JICENG_TEST_DATABASE_URL names no PostgreSQL server");
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let grid = topology.endpoint("grid");
    // Callers that each hold one long-lived connection to the Service, calling without pause.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut callers = Vec::new();
    for _ in 0..6 {
        let client = client_as(&grid, &district, CaseServiceClient::new).await;
        let (root, mut stopped) = (topology.root_id.clone(), stopped.clone());
        callers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !*stopped.borrow_and_update() {
                let list = grid_pb::ListCasesRequest {
                    org_id: root.clone(),
                    page_size: Some(10),
                    ..Default::default()
                };
                // A read that meets its connection's end (refused unprocessed, or the
                // connection closed under it) is sent again, as the platform's own reads are.
                let listed = jiceng_grpc::with_retries(RetryPolicy::default(), || {
                    let (mut client, list) = (client.clone(), list.clone());
                    async move { client.list_cases(list).await }
                })
                .await;
                if let Err(status) = listed {
                    failures.push(status);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    topology.add_replica("grid").await;
    let added_log = topology
        .group("grid")
        .replicas
        .last()
        .expect("the added replica")
        .log
        .clone();
    let served_by_added = || {
        std::fs::read_to_string(&added_log)
            .unwrap_or_default()
            .matches("/jiceng.grid.v1.CaseService/ListCases")
            .count()
    };
    let took = within(
        MAX_AGE * 2 + Duration::from_secs(1),
        "the added replica serves the callers already connected",
        || async move {
            match served_by_added() {
                0 => Err("no call reached it".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    let _ = stop.send(true);
    let mut failures = Vec::new();
    for caller in callers {
        failures.extend(caller.await.expect("caller"));
    }
    eprintln!(
        "the added replica served its first call {took:?} after it started; {} calls by then",
        served_by_added()
    );
    assert!(
        failures.is_empty(),
        "reconnecting after GOAWAY fails no retried call: {failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jiceng_reconcile_puts_right_a_path_no_event_repaired() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "潍坊新村街道党工委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "潍坊一村居民区党总支",
    )
    .await;
    let grid = topology.endpoint("grid");
    client_as(&grid, &district, GridServiceClient::new)
        .await
        .define_category(category())
        .await
        .expect("category");
    let worker = bearer("worker-1", &[Role::GridWorker], &committee);
    let case = client_as(&grid, &worker, CaseServiceClient::new)
        .await
        .report_case(report_in(&committee, "路灯不亮"))
        .await
        .expect("report")
        .into_inner();
    let street_admin = admin_of(&street, Role::StreetAdmin);
    assert_eq!(
        cases_under(&grid, &street_admin, &street).await,
        Ok(vec![case.id.clone()])
    );
    // A path as a lost event or an older release would have left it.
    let db = jiceng_db::Database::connect(topology.database_url("grid"))
        .await
        .expect("grid's database");
    sqlx::query("UPDATE grid_cases SET org_path = $1 WHERE id = $2")
        .bind(format!("/{}/elsewhere/{committee}/", topology.root_id))
        .bind(&case.id)
        .execute(db.pool())
        .await
        .expect("a stale path");
    db.close().await;
    assert_eq!(
        cases_under(&grid, &street_admin, &street).await,
        Ok(Vec::new())
    );

    let reconcile = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_jiceng"))
            .args(["reconcile", "--service", "grid"])
            .args(["--database-url", topology.database_url("grid")])
            .args(["--org-endpoint", &topology.endpoint("org")])
            .env("JICENG_SERVICE_TOKEN", &topology.service_token)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run jiceng reconcile")
    };
    let first = reconcile();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.contains("grid_cases: 1 rows put right"), "{said}");
    assert!(said.contains("grid_grids: 0 rows put right"), "{said}");
    assert_eq!(
        cases_under(&grid, &street_admin, &street).await,
        Ok(vec![case.id.clone()])
    );
    // Nothing is left to put right.
    let again = reconcile();
    assert!(String::from_utf8_lossy(&again.stdout).contains("grid_cases: 0 rows put right"));
}

/// How long an effect that happened once is watched for a second time.
const SETTLE: Duration = Duration::from_secs(1);

/// Waits until `count` is at least one through every endpoint, then, after [`SETTLE`], that it
/// is exactly one through every endpoint: an effect that happened once, whichever replica is
/// asked.
async fn once_through_each<F, Fut>(endpoints: &[String], what: &str, count: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<usize, String>>,
{
    for endpoint in endpoints {
        within(
            Duration::from_secs(15),
            &format!("{endpoint}: {what}"),
            || {
                let counted = count(endpoint.clone());
                async move {
                    match counted.await? {
                        0 => Err("not yet".to_owned()),
                        _ => Ok(()),
                    }
                }
            },
        )
        .await;
    }
    tokio::time::sleep(SETTLE).await;
    for endpoint in endpoints {
        assert_eq!(
            count(endpoint.clone()).await,
            Ok(1),
            "{endpoint}: {what} exactly once"
        );
    }
}

/// The notices of `category` in `member`'s inbox, asked through `endpoint`.
async fn notices(
    endpoint: String,
    member: &str,
    scope: &str,
    category: &str,
) -> Result<usize, String> {
    let inbox = client_as(
        &endpoint,
        &bearer(member, &[Role::Member], scope),
        NotifyServiceClient::new,
    )
    .await
    .list_inbox(notify_pb::ListInboxRequest::default())
    .await
    .map_err(|status| status.to_string())?
    .into_inner();
    Ok(inbox
        .items
        .iter()
        .filter_map(|item| item.notification.as_ref())
        .filter(|n| n.category == category)
        .count())
}

async fn appoint_secretary(topology: &Topology, unit: &str, member: &str) {
    client_as(
        &topology.endpoint("org"),
        &admin_of(&topology.root_id, Role::DistrictAdmin),
        PositionServiceClient::new,
    )
    .await
    .appoint_position(org_pb::AppointPositionRequest {
        unit_id: unit.to_owned(),
        role: org_pb::PositionRole::Secretary as i32,
        holder: Some(org_pb::appoint_position_request::Holder::MemberId(
            member.to_owned(),
        )),
        replace_current: true,
        ..Default::default()
    })
    .await
    .expect("appoint a secretary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fulfilled_wish_earns_its_points_once_and_tells_the_secretary_once() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let member = topology.endpoint("member");
    let mut members = client_as(&member, &district, MemberServiceClient::new).await;
    let mut ids = Vec::new();
    for name in ["赵某", "钱某"] {
        ids.push(
            members
                .create_member(member_pb::CreateMemberRequest {
                    name: name.into(),
                    org_id: street.clone(),
                    ..Default::default()
                })
                .await
                .expect("member")
                .into_inner()
                .id,
        );
    }
    let (claimer, secretary) = (ids[0].clone(), ids[1].clone());
    client_as(&member, &district, PointsServiceClient::new)
        .await
        .define_points_rule(member_pb::DefinePointsRuleRequest {
            rule: Some(member_pb::PointsRule {
                code: "wish.fulfilled".into(),
                name: "认领实现微心愿".into(),
                points: 5,
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    appoint_secretary(&topology, &committee, &secretary).await;

    let grid = topology.endpoint("grid");
    let mut centre = client_as(&grid, &district, WishServiceClient::new).await;
    let wish = centre
        .collect_wish(grid_pb::CollectWishRequest {
            title: "一台助听器".into(),
            beneficiary_name: "王小明".into(),
            org_id: committee.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner();
    centre
        .verify_wish(grid_pb::VerifyWishRequest {
            wish_id: wish.id.clone(),
        })
        .await
        .expect("verify");
    centre
        .publish_wish(grid_pb::PublishWishRequest {
            wish_id: wish.id.clone(),
        })
        .await
        .expect("publish");
    let mut claimant = client_as(
        &grid,
        &bearer(&claimer, &[Role::Member], &street),
        WishServiceClient::new,
    )
    .await;
    claimant
        .claim_wish(grid_pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("claim");
    claimant
        .fulfil_wish(grid_pb::FulfilWishRequest {
            wish_id: wish.id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
        })
        .await
        .expect("fulfil");

    let claimer_token = bearer(&claimer, &[Role::Member], &street);
    once_through_each(
        &topology.replica_endpoints("member"),
        "the claimer's points",
        |endpoint| {
            let (claimer, token) = (claimer.clone(), claimer_token.clone());
            async move {
                let entries = client_as(&endpoint, &token, PointsServiceClient::new)
                    .await
                    .list_ledger(member_pb::ListLedgerRequest {
                        member_id: claimer,
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner()
                    .entries;
                Ok(entries.len())
            }
        },
    )
    .await;
    once_through_each(
        &topology.replica_endpoints("notify"),
        "the secretary's notice of the fulfilled wish",
        |endpoint| {
            let (secretary, committee) = (secretary.clone(), committee.clone());
            async move { notices(endpoint, &secretary, &committee, "grid.wish.fulfilled").await }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatched_case_tells_the_handling_org_once_and_its_joint_meeting_joins_its_history() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "北蔡镇党委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "莲园居民区党总支",
    )
    .await;
    let handler = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "鹏海居民区党总支",
    )
    .await;
    const HANDLER_SECRETARY: &str = "0193a000-0000-7000-8000-0000000000b2";
    appoint_secretary(&topology, &handler, HANDLER_SECRETARY).await;
    let grid = topology.endpoint("grid");
    client_as(&grid, &district, GridServiceClient::new)
        .await
        .define_category(category())
        .await
        .expect("category");
    let worker = bearer("worker-1", &[Role::GridWorker], &committee);
    let case = client_as(&grid, &worker, CaseServiceClient::new)
        .await
        .report_case(report_in(&committee, "井盖缺失"))
        .await
        .expect("report")
        .into_inner();
    let mut centre = client_as(&grid, &district, CaseServiceClient::new).await;
    centre
        .accept_case(grid_pb::AcceptCaseRequest {
            case_id: case.id.clone(),
            etag: case.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("accept");
    centre
        .dispatch_case(grid_pb::DispatchCaseRequest {
            case_id: case.id.clone(),
            handler_org_id: handler.clone(),
            note: "请鹏海居民区处置".into(),
            ..Default::default()
        })
        .await
        .expect("dispatch");
    once_through_each(
        &topology.replica_endpoints("notify"),
        "the handling org's secretary told of the dispatch",
        |endpoint| {
            let handler = handler.clone();
            async move {
                notices(
                    endpoint,
                    HANDLER_SECRETARY,
                    &handler,
                    "grid.case.dispatched",
                )
                .await
            }
        },
    )
    .await;

    let meeting = client_as(
        &topology.endpoint("org"),
        &admin_of(&street, Role::StreetAdmin),
        MeetingServiceClient::new,
    )
    .await
    .schedule_joint_meeting(org_pb::ScheduleJointMeetingRequest {
        host: Some(org_pb::schedule_joint_meeting_request::Host::HostUnitId(
            street.clone(),
        )),
        title: "镇联席会议".into(),
        topic: Some(org_pb::schedule_joint_meeting_request::Topic::GridCaseId(
            case.id.clone(),
        )),
        scheduled_time: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        ..Default::default()
    })
    .await
    .expect("a joint meeting about the case (org asks grid that it exists)")
    .into_inner();
    once_through_each(
        &topology.replica_endpoints("grid"),
        "the meeting in the case's history",
        |endpoint| {
            let (case_id, worker, meeting_id) =
                (case.id.clone(), worker.clone(), meeting.id.clone());
            async move {
                let history = client_as(&endpoint, &worker, CaseServiceClient::new)
                    .await
                    .list_case_history(grid_pb::ListCaseHistoryRequest { case_id })
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner()
                    .events;
                Ok(history
                    .iter()
                    .filter(|e| e.action == "meeting" && e.note.contains(&meeting_id))
                    .count())
            }
        },
    )
    .await;
}
