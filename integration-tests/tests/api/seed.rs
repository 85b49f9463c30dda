//! `jiceng seed`'s loader: a synthetic district is whole (every level, every service's data
//! where the API shows it) and the same seed number makes the same district.

use crate::common;

use common::Platform;
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{self as grid_pb, case_service_client::CaseServiceClient},
    member::{self as member_pb, points_service_client::PointsServiceClient},
    org as org_pb,
    property::{self as property_pb, disclosure_service_client::DisclosureServiceClient},
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use jiceng_tools::seed::Plan;

const PLAN: Plan = Plan {
    streets: 2,
    committees_per_street: 3,
    branches_per_committee: 2,
    members: 60,
    grids: 4,
    companies: 2,
    compounds: 5,
    cases: 120,
    ledger_entries: 300,
};

/// What a district holds, as the API shows it to a district admin: its units' names and kinds,
/// case descriptions, and counts.
#[derive(Debug, PartialEq)]
struct Seen {
    units: Vec<(String, i32)>,
    cases: Vec<String>,
    reported: i64,
    /// Closed or evaluated.
    closed: i64,
    /// Open past a time limit.
    overdue: i64,
    disclosures: i64,
}

async fn look(platform: &Platform) -> Seen {
    let admin = || {
        Bearer::new(&bearer(
            "district-admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let units = common::snapshot(&mut platform.admin().await, &platform.root_id).await;
    let mut cases_api = platform.client_as(admin(), CaseServiceClient::new).await;
    let counts = cases_api
        .count_cases(grid_pb::CountCasesRequest {
            org_id: platform.root_id.clone(),
        })
        .await
        .expect("counts")
        .into_inner();
    let mut cases = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = cases_api
            .list_cases(grid_pb::ListCasesRequest {
                org_id: platform.root_id.clone(),
                page_size: Some(100),
                page_token,
                ..Default::default()
            })
            .await
            .expect("cases")
            .into_inner();
        cases.extend(page.cases.into_iter().map(|c| c.description));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    cases.sort();
    // Ids are random, so tree order is not repeatable; the tree's content is.
    let mut units: Vec<_> = units.into_iter().map(|u| (u.name, u.kind)).collect();
    units.sort();
    let head = platform
        .client_as(admin(), DisclosureServiceClient::new)
        .await
        .get_signed_tree_head(property_pb::GetSignedTreeHeadRequest::default())
        .await
        .expect("tree head")
        .into_inner();
    Seen {
        units,
        cases,
        reported: counts.counts.iter().map(|c| c.count).sum(),
        closed: counts
            .counts
            .iter()
            .filter(|c| {
                [grid_pb::CaseState::Closed, grid_pb::CaseState::Evaluated].contains(&c.state())
            })
            .map(|c| c.count)
            .sum(),
        overdue: counts.overdue,
        disclosures: head.tree_size,
    }
}

async fn a_seeded_district_is_whole_and_repeatable(db: TestDatabase) {
    let platform = Platform::start_seeded(db, PLAN, 7).await;
    let seen = look(&platform).await;
    // The root, 2 streets, 6 committees, 12 branches.
    assert_eq!(seen.units.len(), 1 + PLAN.units());
    let branches = seen
        .units
        .iter()
        .filter(|(_, kind)| *kind == org_pb::UnitKind::Branch as i32)
        .count();
    assert_eq!(branches, 12);
    assert_eq!(seen.cases.len(), PLAN.cases);
    assert_eq!(seen.reported, PLAN.cases as i64);
    // A year of cases: all but the last few days' closed, so the overdue are a few at most.
    assert!(
        seen.closed >= PLAN.cases as i64 * 9 / 10,
        "{} of {} closed",
        seen.closed,
        PLAN.cases
    );
    assert!(seen.overdue <= PLAN.cases as i64 - seen.closed);
    // A year of monthly fee collection per compound, all in the log.
    assert_eq!(seen.disclosures, 12 * PLAN.compounds as i64);
    let admin = || {
        Bearer::new(&bearer(
            "district-admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let leaders = platform
        .client_as(admin(), PointsServiceClient::new)
        .await
        .get_leaderboard(member_pb::GetLeaderboardRequest {
            org_id: platform.root_id.clone(),
            top: 1,
            ..Default::default()
        })
        .await
        .expect("leaderboard")
        .into_inner();
    assert!(
        leaders.top.first().is_some_and(|leader| leader.balance > 0),
        "the year's points are imported: {leaders:?}"
    );
    let mut members = platform
        .client_as(
            admin(),
            member_pb::member_service_client::MemberServiceClient::new,
        )
        .await;
    // Members belong to branches, every one of them to one.
    let mut listed = 0;
    for unit in common::snapshot(&mut platform.admin().await, &platform.root_id).await {
        listed += members
            .list_members(member_pb::ListMembersRequest {
                org_id: unit.id,
                page_size: Some(100),
                ..Default::default()
            })
            .await
            .expect("members")
            .into_inner()
            .members
            .len();
    }
    assert_eq!(listed, PLAN.members);
    platform.stop().await;

    // The same seed again makes the same district; another seed another one.
    let again = Platform::start_seeded(TestDatabase::sqlite(), PLAN, 7).await;
    assert_eq!(look(&again).await, seen);
    again.stop().await;
    let other = Platform::start_seeded(TestDatabase::sqlite(), PLAN, 8).await;
    assert_ne!(look(&other).await.cases, seen.cases);
    other.stop().await;
}

on_both_backends!(a_seeded_district_is_whole_and_repeatable);
