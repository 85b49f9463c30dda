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
    cloudevents,
    events::{self as events_pb, event_sink_service_client::EventSinkServiceClient},
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
        witness_service_client::WitnessServiceClient,
    },
    property::{
        self as property_pb, disclosure_service_client::DisclosureServiceClient,
        property_service_client::PropertyServiceClient,
    },
};
use jiceng_testkit::{Bearer, bearer, eventually, topology::Topology};
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

/// A street under the district root and a residential committee under it, made by a district
/// admin through org's Service; returns that admin's org client and the two ids.
async fn street_with_committee(
    topology: &Topology,
    street: &str,
    committee: &str,
) -> (
    OrgServiceClient<InterceptedService<Channel, Bearer>>,
    String,
    String,
) {
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut org = client_as(&topology.endpoint("org"), &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        street,
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        committee,
    )
    .await;
    (org, street, committee)
}

/// Calls `check` until it holds or `within` has passed; returns how long it took.
async fn within<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let last = std::sync::Mutex::new(String::new());
    let last = &last;
    let held = eventually(within, || {
        let checked = check();
        async move {
            match checked.await {
                Ok(()) => Some(started.elapsed()),
                Err(why) => {
                    *last.lock().expect("not poisoned") = why;
                    None
                }
            }
        }
    })
    .await;
    held.unwrap_or_else(|| {
        panic!(
            "{what}: not so after {within:?}: {}",
            last.lock().expect("not poisoned")
        )
    })
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

/// The members on `org_id`'s leaderboard, as `token` sees it through `uri`.
async fn leaders_under(uri: &str, token: &str, org_id: &str) -> Result<Vec<String>, String> {
    let board = client_as(uri, token, PointsServiceClient::new)
        .await
        .get_leaderboard(member_pb::GetLeaderboardRequest {
            org_id: org_id.to_owned(),
            ..Default::default()
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(board
        .into_inner()
        .top
        .into_iter()
        .map(|e| e.member_id)
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

    // A member of the committee with points, on its street's leaderboard.
    let member_uri = topology.endpoint("member");
    let member = client_as(&member_uri, &district, MemberServiceClient::new)
        .await
        .create_member(member_pb::CreateMemberRequest {
            name: "孙某".into(),
            org_id: committee.clone(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner()
        .id;
    let mut points = client_as(&member_uri, &district, PointsServiceClient::new).await;
    points
        .define_points_rule(member_pb::DefinePointsRuleRequest {
            rule: Some(member_pb::PointsRule {
                code: "volunteer.hour".into(),
                name: "志愿服务".into(),
                points: 3,
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    points
        .award_points(member_pb::AwardPointsRequest {
            entry_id: "volunteer-1".into(),
            member_id: member.clone(),
            rule_code: "volunteer.hour".into(),
            reason: "社区志愿服务".into(),
            ..Default::default()
        })
        .await
        .expect("award");

    let old_admin = admin_of(&old_street, Role::StreetAdmin);
    let new_admin = admin_of(&new_street, Role::StreetAdmin);
    for replica in topology.replica_endpoints("member") {
        assert_eq!(
            leaders_under(&replica, &old_admin, &old_street).await,
            Ok(vec![member.clone()]),
            "{replica}: the old street's leaderboard before the move"
        );
    }
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

    // Leaderboards by subtree follow on every member replica.
    for replica in topology.replica_endpoints("member") {
        let (old_admin, new_admin, member) = (&old_admin, &new_admin, &member);
        let (old_street, new_street) = (&old_street, &new_street);
        within(
            FRESHNESS_BOUND.saturating_sub(moved_at.elapsed()),
            &format!("{replica}: leaderboards follow the move"),
            || {
                let replica = replica.clone();
                async move {
                    let new_board = leaders_under(&replica, new_admin, new_street).await?;
                    let old_board = leaders_under(&replica, old_admin, old_street).await;
                    // The old street's admin may be refused the new street's member or see an
                    // empty board; never the member.
                    let old_sees_member = old_board.is_ok_and(|board| board.contains(member));
                    if new_board == vec![member.clone()] && !old_sees_member {
                        Ok(())
                    } else {
                        Err(format!("new street's board {new_board:?}"))
                    }
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
    let (_, _, committee) =
        street_with_committee(&topology, "塘桥街道党工委", "南泉居民区党总支").await;
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
    const CALLERS: usize = 6;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // How many callers have had a call answered.
    let calling = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let client = client_as(&grid, &district, CaseServiceClient::new).await;
        let (root, mut stopped) = (topology.root_id.clone(), stopped.clone());
        let calling = calling.clone();
        callers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut first = true;
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
                if std::mem::take(&mut first) {
                    calling.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                // The callers' pace: not a wait for anything.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            failures
        }));
    }
    // Under load: every caller calls on its connection before the replica is added.
    within(Duration::from_secs(10), "every caller calling", || {
        let calling = calling.clone();
        async move {
            match calling.load(std::sync::atomic::Ordering::SeqCst) {
                CALLERS => Ok(()),
                n => Err(format!("{n} of {CALLERS} callers answered")),
            }
        }
    })
    .await;
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
    let (_, street, committee) =
        street_with_committee(&topology, "潍坊新村街道党工委", "潍坊一村居民区党总支").await;
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
            .env(
                "JICENG_INTERNAL_KEY",
                std::str::from_utf8(jiceng_testkit::TEST_INTERNAL_KEY).expect("text"),
            )
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

/// Waits until `count` is at least one through every endpoint, then, once the outboxes have
/// settled (so an event delivered twice has had its second effect), that it is exactly one
/// through every endpoint: an effect that happened once, whichever replica is asked.
async fn once_through_each<F, Fut>(topology: &Topology, endpoints: &[String], what: &str, count: F)
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
    topology.settle().await;
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
async fn a_confirmed_wish_earns_each_claimant_points_once_and_tells_the_secretary_once() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let (_, street, committee) =
        street_with_committee(&topology, "陆家嘴街道党工委", "梅园一村居民区党总支").await;
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
            ..Default::default()
        })
        .await
        .expect("verify");
    centre
        .publish_wish(grid_pb::PublishWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let mut claimant = client_as(
        &grid,
        &bearer(&claimer, &[Role::Member], &street),
        WishServiceClient::new,
    )
    .await;
    // The grid service asks the member service (another deployment) that the fellow named is
    // a member; the fellow accepts.
    claimant
        .claim_wish(grid_pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            participant_member_ids: vec![secretary.clone()],
            ..Default::default()
        })
        .await
        .expect("claim");
    client_as(
        &grid,
        &bearer(&secretary, &[Role::Member], &street),
        WishServiceClient::new,
    )
    .await
    .accept_wish_claim(grid_pb::AcceptWishClaimRequest {
        wish_id: wish.id.clone(),
        ..Default::default()
    })
    .await
    .expect("accept");
    claimant
        .fulfil_wish(grid_pb::FulfilWishRequest {
            wish_id: wish.id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("fulfil");
    centre
        .confirm_wish_fulfilment(grid_pb::ConfirmWishFulfilmentRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("confirm");

    for credited in [&claimer, &secretary] {
        let token = bearer(credited, &[Role::Member], &street);
        once_through_each(
            &topology,
            &topology.replica_endpoints("member"),
            "each claimant's points",
            |endpoint| {
                let (member, token) = (credited.clone(), token.clone());
                async move {
                    let entries = client_as(&endpoint, &token, PointsServiceClient::new)
                        .await
                        .list_ledger(member_pb::ListLedgerRequest {
                            member_id: member,
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
    }
    once_through_each(
        &topology,
        &topology.replica_endpoints("notify"),
        "the secretary's notice of the fulfilled wish",
        |endpoint| {
            let (secretary, committee) = (secretary.clone(), committee.clone());
            async move { notices(endpoint, &secretary, &committee, "grid.wish.fulfilled").await }
        },
    )
    .await;

    // A confirmation of a wish nobody fulfilled, from a token the identity provider signed
    // naming `service`: every replica of every consumer refuses it, and nobody earns more.
    let outsider = bearer("hotline", &[Role::Service], &topology.root_id);
    let forged = events_pb::DeliverRequest {
        event: Some(cloudevents::CloudEvent {
            id: "forged-confirmation".into(),
            source: "//jiceng/310115/grid".into(),
            spec_version: "1.0".into(),
            r#type: "jiceng.grid.v1.wish.confirmed".into(),
            data: Some(cloudevents::cloud_event::Data::ProtoData(
                prost_types::Any {
                    type_url: "type.googleapis.com/jiceng.grid.v1.Wish".into(),
                    value: prost::Message::encode_to_vec(&grid_pb::Wish {
                        id: "forged-wish".into(),
                        claimant_member_id: claimer.clone(),
                        ..wish.clone()
                    }),
                },
            )),
            ..Default::default()
        }),
    };
    for service in ["member", "grid", "notify", "property"] {
        for endpoint in topology.replica_endpoints(service) {
            let refused = client_as(&endpoint, &outsider, EventSinkServiceClient::new)
                .await
                .deliver(forged.clone())
                .await
                .expect_err("an outside token naming `service`");
            assert_eq!(
                refused.code(),
                Code::PermissionDenied,
                "{service} at {endpoint}"
            );
        }
    }
    let entries = client_as(
        &topology.endpoint("member"),
        &district,
        PointsServiceClient::new,
    )
    .await
    .list_ledger(member_pb::ListLedgerRequest {
        member_id: claimer.clone(),
        ..Default::default()
    })
    .await
    .expect("ledger")
    .into_inner()
    .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatched_case_tells_the_handling_org_once_and_its_joint_meeting_joins_its_history() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let (mut org, street, committee) =
        street_with_committee(&topology, "北蔡镇党委", "莲园居民区党总支").await;
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
        &topology,
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
        &topology,
        &topology.replica_endpoints("grid"),
        "the meeting in the case's history",
        |endpoint| {
            let (case_id, worker, meeting_id) =
                (case.id.clone(), worker.clone(), meeting.id.clone());
            async move {
                let history = client_as(&endpoint, &worker, CaseServiceClient::new)
                    .await
                    .list_case_history(grid_pb::ListCaseHistoryRequest {
                        case_id,
                        ..Default::default()
                    })
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

/// Sends a write until it is acknowledged, again under the same request id whenever the
/// replica it reached went away (UNAVAILABLE, or the connection broke under it), as a caller
/// of a Service whose pods come and go does.
async fn until_acknowledged<T, F, Fut>(what: &str, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let last = std::sync::Mutex::new(None);
    let last = &last;
    let acknowledged = eventually(Duration::from_secs(60), || {
        let written = write();
        async move {
            match written.await {
                Ok(done) => Some(done),
                Err(status)
                    if status.code() == Code::Unavailable
                        || jiceng_grpc::connection_broke(&status) =>
                {
                    *last.lock().expect("not poisoned") = Some(status);
                    None
                }
                Err(status) => panic!("{what}: {status:?}"),
            }
        }
    })
    .await;
    acknowledged.unwrap_or_else(|| {
        panic!(
            "{what}: {:?} after 60 s",
            last.lock().expect("not poisoned")
        )
    })
}

/// What one writer had acknowledged.
#[derive(Default)]
struct Acknowledged {
    branches: Vec<String>,
    secretaries: Vec<(String, String)>,
    cases: Vec<String>,
    members: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_of_each_service_killed_under_writes_loses_nothing_and_repeats_nothing() {
    let Some(mut topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let (mut org, _, committee) =
        street_with_committee(&topology, "张江镇党委", "玉兰香苑居民区党总支").await;
    client_as(
        &topology.endpoint("grid"),
        &district,
        GridServiceClient::new,
    )
    .await
    .define_category(category())
    .await
    .expect("category");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Rounds of writes acknowledged, by all writers together.
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (org_uri, grid_uri, member_uri) = (
            topology.endpoint("org"),
            topology.endpoint("grid"),
            topology.endpoint("member"),
        );
        let (district, committee, stopped) = (district.clone(), committee.clone(), stopped.clone());
        let rounds = rounds.clone();
        writers.push(tokio::spawn(async move {
            let org = client_as(&org_uri, &district, OrgServiceClient::new).await;
            let positions = client_as(&org_uri, &district, PositionServiceClient::new).await;
            let cases = client_as(&grid_uri, &district, CaseServiceClient::new).await;
            let members = client_as(&member_uri, &district, MemberServiceClient::new).await;
            let mut acknowledged = Acknowledged::default();
            let mut n = 0;
            while !*stopped.borrow() {
                let tag = format!("{writer}-{n}");
                let create = org_pb::CreateUnitRequest {
                    parent_id: committee.clone(),
                    kind: org_pb::UnitKind::Branch as i32,
                    name: format!("第{tag}党支部"),
                    request_id: format!("unit-{tag}"),
                    ..Default::default()
                };
                let branch = until_acknowledged("create a branch", || {
                    let (mut org, create) = (org.clone(), create.clone());
                    async move { org.create_unit(create).await }
                })
                .await
                .into_inner()
                .id;
                let secretary = format!("0193b000-0000-7000-8000-{:012}", writer * 10_000 + n);
                let appoint = org_pb::AppointPositionRequest {
                    unit_id: branch.clone(),
                    role: org_pb::PositionRole::Secretary as i32,
                    holder: Some(org_pb::appoint_position_request::Holder::MemberId(
                        secretary.clone(),
                    )),
                    request_id: format!("appoint-{tag}"),
                    ..Default::default()
                };
                until_acknowledged("appoint a secretary", || {
                    let (mut positions, appoint) = (positions.clone(), appoint.clone());
                    async move { positions.appoint_position(appoint).await }
                })
                .await;
                let report = grid_pb::ReportCaseRequest {
                    request_id: format!("case-{tag}"),
                    ..report_in(&committee, &format!("第{tag}号问题"))
                };
                let case = until_acknowledged("report a case", || {
                    let (mut cases, report) = (cases.clone(), report.clone());
                    async move { cases.report_case(report).await }
                })
                .await
                .into_inner()
                .id;
                let create = member_pb::CreateMemberRequest {
                    name: format!("党员{tag}"),
                    org_id: committee.clone(),
                    request_id: format!("member-{tag}"),
                    ..Default::default()
                };
                let member = until_acknowledged("create a member", || {
                    let (mut members, create) = (members.clone(), create.clone());
                    async move { members.create_member(create).await }
                })
                .await
                .into_inner()
                .id;
                acknowledged.branches.push(branch.clone());
                acknowledged.secretaries.push((secretary, branch));
                acknowledged.cases.push(case);
                acknowledged.members.push(member);
                n += 1;
                rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged
        }));
    }
    // Under writes: before each kill, and after the last successor starts, the writers go on
    // for a few more rounds.
    let writes_go_on = |when: String| {
        let rounds = rounds.clone();
        async move {
            let target = rounds.load(std::sync::atomic::Ordering::SeqCst) + 3;
            within(
                Duration::from_secs(60),
                &format!("the writes go on {when}"),
                || {
                    let rounds = rounds.clone();
                    async move {
                        match rounds.load(std::sync::atomic::Ordering::SeqCst) {
                            done if done >= target => Ok(()),
                            done => Err(format!("{done} of {target} rounds")),
                        }
                    }
                },
            )
            .await;
        }
    };
    // One replica of each service after another dies as by `kill -9`, and its successor starts.
    for service in ["org", "member", "grid", "property", "notify"] {
        writes_go_on(format!("before a {service} replica is killed")).await;
        topology.kill(service, 0);
        topology.add_replica(service).await;
    }
    writes_go_on("after the kills".to_owned()).await;
    let _ = stop.send(true);
    let mut acknowledged = Acknowledged::default();
    for writer in writers {
        let done = writer.await.expect("writer");
        acknowledged.branches.extend(done.branches);
        acknowledged.secretaries.extend(done.secretaries);
        acknowledged.cases.extend(done.cases);
        acknowledged.members.extend(done.members);
    }
    eprintln!(
        "acknowledged through five kills: {} branches and appointments, {} cases, {} members",
        acknowledged.branches.len(),
        acknowledged.cases.len(),
        acknowledged.members.len()
    );
    assert!(
        acknowledged.branches.len() >= 10,
        "the load ran through the kills"
    );

    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let branches = org
        .list_children(org_pb::ListChildrenRequest {
            parent_id: committee.clone(),
            page_size: Some(1000),
            ..Default::default()
        })
        .await
        .expect("branches")
        .into_inner()
        .units
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(
        sorted(branches),
        sorted(acknowledged.branches.clone()),
        "branches"
    );
    let cases = client_as(
        &topology.endpoint("grid"),
        &district,
        CaseServiceClient::new,
    )
    .await
    .list_cases(grid_pb::ListCasesRequest {
        org_id: committee.clone(),
        page_size: Some(1000),
        ..Default::default()
    })
    .await
    .expect("cases")
    .into_inner()
    .cases
    .into_iter()
    .map(|c| c.id)
    .collect();
    assert_eq!(sorted(cases), sorted(acknowledged.cases.clone()), "cases");
    let members = client_as(
        &topology.endpoint("member"),
        &district,
        MemberServiceClient::new,
    )
    .await
    .list_members(member_pb::ListMembersRequest {
        org_id: committee.clone(),
        page_size: Some(1000),
        ..Default::default()
    })
    .await
    .expect("members")
    .into_inner()
    .members
    .into_iter()
    .map(|m| m.id)
    .collect();
    assert_eq!(
        sorted(members),
        sorted(acknowledged.members.clone()),
        "members"
    );
    // Every appointment's event became exactly one notice, through notify's kill as well. An
    // event whose delivery the killed org replica had claimed waits out the claim's lease (30 s)
    // before the other replica delivers it.
    let notify = topology.endpoint("notify");
    for (secretary, branch) in &acknowledged.secretaries {
        within(Duration::from_secs(60), "the appointee's notice", || {
            let notify = notify.clone();
            async move {
                match notices(notify, secretary, branch, "org.position.changed").await? {
                    0 => Err("not yet".to_owned()),
                    _ => Ok(()),
                }
            }
        })
        .await;
    }
    // Every delivery made, the one a killed replica had claimed too: a second notice would be
    // there now.
    topology.settle().await;
    for (secretary, branch) in &acknowledged.secretaries {
        assert_eq!(
            notices(notify.clone(), secretary, branch, "org.position.changed").await,
            Ok(1),
            "{secretary}: one notice of the appointment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_webhook_attempt_is_made_once_while_both_notify_replicas_dispatch() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut notify = client_as(
        &topology.endpoint("notify"),
        &district,
        NotifyServiceClient::new,
    )
    .await;
    notify
        .register_category(notify_pb::RegisterCategoryRequest {
            category: Some(notify_pb::Category {
                name: "dispatch".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    // The first two attempts fail, whichever notices they carry: each is retried once more.
    let receiver = jiceng_testkit::HttpReceiver::start(vec![500, 503]).await;
    const HOTLINE: &str = "city-hotline-12345";
    notify
        .register_webhook(notify_pb::RegisterWebhookRequest {
            recipient: HOTLINE.into(),
            url: receiver.url("/jiceng"),
            ..Default::default()
        })
        .await
        .expect("webhook");
    const NOTICES: usize = 5;
    for n in 0..NOTICES {
        notify
            .publish(notify_pb::PublishRequest {
                idempotency_key: format!("case-{n}"),
                category: "dispatch".into(),
                title: format!("派单 {n}"),
                recipients: vec![notify_pb::Recipient {
                    recipient: Some(notify_pb::recipient::Recipient::MemberId(HOTLINE.into())),
                }],
                ..Default::default()
            })
            .await
            .expect("publish");
    }
    let delivered = |requests: &[jiceng_testkit::ReceivedRequest]| {
        let mut bodies: Vec<&[u8]> = requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.body.as_slice())
            .collect();
        bodies.sort();
        let all = bodies.len();
        bodies.dedup();
        (all, bodies.len())
    };
    let arrived = receiver
        .wait_for(NOTICES + 2, Duration::from_secs(30))
        .await;
    assert_eq!(
        delivered(&arrived),
        (NOTICES, NOTICES),
        "each notice delivered once"
    );
    // Every delivery delivered (final: only pending ones are claimed) and every claim's attempt
    // recorded (none in flight on either replica): nothing more can be sent.
    let db = jiceng_db::Database::connect(topology.database_url("notify"))
        .await
        .expect("notify's database");
    within(
        Duration::from_secs(30),
        "every webhook delivery done",
        || {
            let db = db.clone();
            async move {
                let count = |sql: &'static str| {
                    let db = db.clone();
                    async move {
                        sqlx::query_scalar::<_, i64>(sql)
                            .fetch_one(db.pool())
                            .await
                            .map_err(|err| err.to_string())
                    }
                };
                let open =
                    count("SELECT COUNT(*) FROM notify_deliveries WHERE state <> 'delivered'")
                        .await?;
                let claimed = count(
                    "SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM notify_deliveries",
                )
                .await?;
                let recorded = count("SELECT COUNT(*) FROM notify_delivery_attempts").await?;
                if open == 0 && claimed == recorded {
                    Ok(())
                } else {
                    Err(format!(
                        "{open} not delivered; {claimed} claims, {recorded} attempts recorded"
                    ))
                }
            }
        },
    )
    .await;
    db.close().await;
    let all = receiver.requests();
    assert_eq!(
        all.len(),
        NOTICES + 2,
        "two failed attempts and one per notice, no more"
    );
    assert_eq!(delivered(&all), (NOTICES, NOTICES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overdue_case_escalates_once_while_both_grid_replicas_scan() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let (_, _, committee) =
        street_with_committee(&topology, "川沙新镇党委", "城南居民区党总支").await;
    let grid = topology.endpoint("grid");
    let mut quick = category();
    if let Some(limits) = quick
        .category
        .as_mut()
        .and_then(|category| category.normal.as_mut())
    {
        // The shortest limit there is: a minute to accept, on the calendar clock.
        limits.accept_minutes = 1;
    }
    client_as(&grid, &district, GridServiceClient::new)
        .await
        .define_category(quick)
        .await
        .expect("category");
    let worker = bearer("worker-1", &[Role::GridWorker], &committee);
    let case = client_as(&grid, &worker, CaseServiceClient::new)
        .await
        .report_case(report_in(&committee, "占道经营"))
        .await
        .expect("report")
        .into_inner();
    let due = case
        .step_due_time
        .as_ref()
        .map(|t| Duration::from_secs(u64::try_from(t.seconds).unwrap_or_default()))
        .expect("a step due time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    // The processes run on the system clock, which a test cannot move: the deadline has to pass.
    tokio::time::sleep(due.saturating_sub(now) + Duration::from_secs(1)).await;
    // Both replicas' scanners run in the background; both are also asked at once, twice.
    let mut scans = Vec::new();
    for replica in topology.replica_endpoints("grid") {
        for _ in 0..2 {
            let (replica, district, case_id) = (replica.clone(), district.clone(), case.id.clone());
            scans.push(tokio::spawn(async move {
                client_as(&replica, &district, CaseServiceClient::new)
                    .await
                    .scan_overdue(grid_pb::ScanOverdueRequest {})
                    .await
                    .expect("scan")
                    .into_inner()
                    .escalations
                    .into_iter()
                    .filter(|e| e.case_id == case_id)
                    .count()
            }));
        }
    }
    let mut escalated_by_scans = 0;
    for scan in scans {
        escalated_by_scans += scan.await.expect("scan");
    }
    assert!(
        escalated_by_scans <= 1,
        "{escalated_by_scans} scans escalated the same deadline"
    );
    once_through_each(
        &topology,
        &topology.replica_endpoints("grid"),
        "the case's escalation",
        |endpoint| {
            let (case_id, worker) = (case.id.clone(), worker.clone());
            async move {
                let history = client_as(&endpoint, &worker, CaseServiceClient::new)
                    .await
                    .list_case_history(grid_pb::ListCaseHistoryRequest {
                        case_id,
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner()
                    .events;
                Ok(history.iter().filter(|e| e.action == "escalate").count())
            }
        },
    )
    .await;
    // Its new deadline is ahead: no scan, in flight or to come, has a missed deadline to
    // escalate it for again.
    let next_due = client_as(&grid, &worker, CaseServiceClient::new)
        .await
        .get_case(grid_pb::GetCaseRequest {
            id: case.id.clone(),
            ..Default::default()
        })
        .await
        .expect("the case")
        .into_inner()
        .step_due_time
        .expect("a new step due time")
        .seconds;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    assert!(
        u64::try_from(next_due).unwrap_or_default() > now,
        "the escalated case is due again at {next_due}, not after {now}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_notices_fold_into_one_digest_while_both_notify_replicas_fold() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let mut notify = client_as(
        &topology.endpoint("notify"),
        &district,
        NotifyServiceClient::new,
    )
    .await;
    notify
        .register_category(notify_pb::RegisterCategoryRequest {
            category: Some(notify_pb::Category {
                name: "activity.news".into(),
                digest_window_seconds: 1,
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    const MEMBER: &str = "0193c000-0000-7000-8000-0000000000c3";
    for n in 0..3 {
        notify
            .publish(notify_pb::PublishRequest {
                idempotency_key: format!("news-{n}"),
                category: "activity.news".into(),
                priority: notify_pb::Priority::Low as i32,
                title: format!("活动预告 {n}"),
                recipients: vec![notify_pb::Recipient {
                    recipient: Some(notify_pb::recipient::Recipient::MemberId(MEMBER.into())),
                }],
                ..Default::default()
            })
            .await
            .expect("publish");
    }
    // Held, then folded by whichever replica's folding comes first: one digest, on either. Once
    // nothing is held, no fold has anything to make another digest of.
    let db = jiceng_db::Database::connect(topology.database_url("notify"))
        .await
        .expect("notify's database");
    within(Duration::from_secs(30), "every held notice folded", || {
        let db = db.clone();
        async move {
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notify_digest_pending WHERE recipient = $1",
            )
            .bind(MEMBER)
            .fetch_one(db.pool())
            .await
            .map_err(|err| err.to_string())?;
            match held {
                0 => Ok(()),
                held => Err(format!("{held} held")),
            }
        }
    })
    .await;
    db.close().await;
    once_through_each(
        &topology,
        &topology.replica_endpoints("notify"),
        "the member's digest",
        |endpoint| {
            let root = topology.root_id.clone();
            async move { notices(endpoint, MEMBER, &root, "activity.news").await }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_coming_due_is_announced_once_while_both_org_replicas_scan() {
    let Some(topology) = start().await else {
        return;
    };
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    let org_uri = topology.endpoint("org");
    let mut org = client_as(&org_uri, &district, OrgServiceClient::new).await;
    let street = create_unit(
        &mut org,
        &topology.root_id,
        org_pb::UnitKind::StreetWorkingCommittee,
        "金杨新村街道党工委",
    )
    .await;
    let committee = create_unit(
        &mut org,
        &street,
        org_pb::UnitKind::ResidentialCommittee,
        "金杨一村居民区党总支",
    )
    .await;
    const SECRETARY: &str = "0193d000-0000-7000-8000-0000000000d4";
    appoint_secretary(&topology, &committee, SECRETARY).await;
    let mut meetings = client_as(&org_uri, &district, MeetingServiceClient::new).await;
    let meeting = meetings
        .schedule_joint_meeting(org_pb::ScheduleJointMeetingRequest {
            host: Some(org_pb::schedule_joint_meeting_request::Host::HostUnitId(
                street.clone(),
            )),
            title: "街道联席会议".into(),
            topic: Some(org_pb::schedule_joint_meeting_request::Topic::TopicText(
                "加装电梯".into(),
            )),
            scheduled_time: Some(prost_types::Timestamp {
                seconds: 1_900_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("meeting")
        .into_inner();
    let due = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        + Duration::from_secs(3_600);
    meetings
        .add_decision(org_pb::AddDecisionRequest {
            meeting_id: meeting.id,
            text: "一个月内完成加装电梯意见征询".into(),
            owner_unit_id: committee.clone(),
            due_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(due.as_secs()).expect("seconds"),
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("decision");
    // Both replicas scan every minute; whichever comes first announces it, the other never.
    for endpoint in topology.replica_endpoints("notify") {
        within(Duration::from_secs(90), "the decision's reminder", || {
            let (endpoint, committee) = (endpoint.clone(), committee.clone());
            async move {
                match notices(endpoint, SECRETARY, &committee, "org.decision.due").await? {
                    0 => Err("not yet".to_owned()),
                    _ => Ok(()),
                }
            }
        })
        .await;
    }
    // Long enough for the other replica's scan to have come round too: the scans run on the
    // system clock every minute and say nothing when they find nothing, so no drain tells.
    tokio::time::sleep(Duration::from_secs(61)).await;
    // Whatever that scan wrote has been delivered.
    topology.settle().await;
    for endpoint in topology.replica_endpoints("notify") {
        assert_eq!(
            notices(endpoint.clone(), SECRETARY, &committee, "org.decision.due").await,
            Ok(1),
            "{endpoint}: one reminder"
        );
    }
}

/// A witnessed size of the property log, read by a whole-district admin through org.
async fn witnessed_size(org_endpoint: &str, root_id: &str) -> Result<i64, String> {
    let district = admin_of(root_id, Role::DistrictAdmin);
    client_as(org_endpoint, &district, WitnessServiceClient::new)
        .await
        .get_witnessed_head(org_pb::GetWitnessedHeadRequest {
            log: "property".into(),
        })
        .await
        .map(|head| head.into_inner().tree_size)
        .map_err(|status| status.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_property_database_restored_to_an_earlier_point_appends_nothing_until_the_operator_resolves_it()
 {
    let Some(mut topology) = start().await else {
        return;
    };
    let (_, town, committee) =
        street_with_committee(&topology, "高行镇党委", "东沟新村居民区党总支").await;
    let town_admin = admin_of(&town, Role::StreetAdmin);
    let mut property = client_as(
        &topology.endpoint("property"),
        &town_admin,
        PropertyServiceClient::new,
    )
    .await;
    let company = property
        .create_company(property_pb::CreateCompanyRequest {
            company: Some(property_pb::Company {
                name: "高行物业".into(),
                credit_code: "91310115MA1H7XYX0X".into(),
                org_id: town.clone(),
                supervision_hotline: "021-58681234".into(),
                repair_hotline: "021-58685678".into(),
                publishers: vec!["publisher-1".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("company")
        .into_inner();
    let compound = property
        .create_compound(property_pb::CreateCompoundRequest {
            compound: Some(property_pb::Compound {
                name: "东沟新村".into(),
                address: "东沟路100弄".into(),
                org_id: committee.clone(),
                company_id: company.id.clone(),
                owners_committee: "东沟新村业主委员会".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("compound")
        .into_inner();
    let publisher = bearer("publisher-1", &[Role::Member], &committee);
    // The balancer stays while replicas come and go.
    let property_endpoint = topology.endpoint("property");
    // A hotlines disclosure of `period`, published through `uri` (the balancer or one replica).
    let publish_at = |uri: &str, period: String| {
        let (uri, publisher, compound) = (uri.to_owned(), publisher.clone(), compound.id.clone());
        async move {
            client_as(&uri, &publisher, DisclosureServiceClient::new)
                .await
                .publish_disclosure(property_pb::PublishDisclosureRequest {
                    disclosure: Some(property_pb::Disclosure {
                        compound_id: compound,
                        period,
                        content: Some(property_pb::disclosure::Content::Hotlines(
                            property_pb::Hotlines {
                                supervision: "021-58681234".into(),
                                repair: "021-58685678".into(),
                            },
                        )),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let publish = |day: u32| publish_at(&property_endpoint, format!("2026-10-{day:02}"));
    let (org_endpoint, root_id) = (topology.endpoint("org"), topology.root_id.clone());
    let witnessed = |size: i64| {
        let (org_endpoint, root_id) = (&org_endpoint, &root_id);
        move || async move {
            match witnessed_size(org_endpoint, root_id).await {
                Ok(witnessed) if witnessed == size => Ok(()),
                other => Err(format!("witnessed {other:?}")),
            }
        }
    };
    for day in 1..=2 {
        publish(day).await.expect("publish");
    }
    within(
        Duration::from_secs(10),
        "the witness takes size 2",
        witnessed(2),
    )
    .await;

    // The nightly backup: taken while property is stopped, so that it is the database as of
    // now. Two more disclosures are published and witnessed after it.
    topology.kill_all("property");
    let backup = topology.database("property").backup().await;
    for _ in 0..2 {
        topology.add_replica("property").await;
    }
    for day in 3..=4 {
        publish(day).await.expect("publish after the backup");
    }
    within(
        Duration::from_secs(10),
        "the witness takes size 4",
        witnessed(4),
    )
    .await;

    // The database is lost and restored from the backup; the replicas start on it.
    topology.kill_all("property");
    topology.database("property").restore_from(&backup).await;
    for _ in 0..2 {
        topology.add_replica("property").await;
    }
    let refused = publish(5)
        .await
        .expect_err("a restored log that lacks its witnessed head signs nothing");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("restored to an earlier point"),
        "{}",
        refused.message()
    );
    let head = client_as(
        &topology.endpoint("property"),
        &publisher,
        DisclosureServiceClient::new,
    )
    .await
    .get_signed_tree_head(property_pb::GetSignedTreeHeadRequest::default())
    .await
    .expect("readers still read the restored log")
    .into_inner();
    assert_eq!(head.tree_size, 2);

    // The operator's way out when the later entries cannot be recovered: reset the witness,
    // naming the head it forgets. Every replica resumes.
    let district = admin_of(&topology.root_id, Role::DistrictAdmin);
    client_as(
        &topology.endpoint("org"),
        &district,
        WitnessServiceClient::new,
    )
    .await
    .reset_witnessed_head(org_pb::ResetWitnessedHeadRequest {
        log: "property".into(),
        reason: "恢复至前一日备份".into(),
        tree_size: 4,
    })
    .await
    .expect("reset");
    within(Duration::from_secs(15), "appends resume", || async {
        publish(5)
            .await
            .map(drop)
            .map_err(|status| status.to_string())
    })
    .await;
    within(
        Duration::from_secs(10),
        "the witness takes the new head",
        witnessed(3),
    )
    .await;
    for (i, endpoint) in topology.replica_endpoints("property").iter().enumerate() {
        within(Duration::from_secs(15), "each replica appends", || async {
            let disclosure = publish_at(endpoint, format!("2026-11-{:02}", i + 1)).await;
            disclosure.map(drop).map_err(|status| status.to_string())
        })
        .await;
    }
}
