//! `jiceng up --demo` loads a district a first caller can explore: the tree, Lujiazui's
//! "1 + 34" network, Yangjing's street-block alliance, a joint meeting, a project and bookings,
//! Lujiazui's grid cases, a published micro-wish and a need with a proposed project, and
//! Gaohang's disclosures in the transparency log.

use crate::common;

use common::Platform;
use jiceng_proto::{
    grid::{
        self as grid_pb, case_service_client::CaseServiceClient,
        project_service_client::ProjectServiceClient, wish_service_client::WishServiceClient,
    },
    org::{
        self as pb, alliance_service_client::AllianceServiceClient,
        meeting_service_client::MeetingServiceClient, venue_service_client::VenueServiceClient,
    },
    property::{self as property_pb, disclosure_service_client::DisclosureServiceClient},
};
use jiceng_testkit::{Bearer, TestDatabase, bearer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_district_shows_how_pudong_works() {
    let platform = Platform::start_demo(TestDatabase::sqlite()).await;
    let mut org = platform.admin().await;
    let find = |query: &str| pb::SearchUnitsRequest {
        query: query.into(),
        ..Default::default()
    };
    let lujiazui = org
        .search_units(find("陆家嘴街道党工委"))
        .await
        .expect("search")
        .into_inner()
        .units
        .remove(0);
    let centre = org
        .search_units(find("陆家嘴党群服务中心"))
        .await
        .expect("search")
        .into_inner()
        .units
        .remove(0);
    let yangjing = org
        .search_units(find("洋泾街道党工委"))
        .await
        .expect("search")
        .into_inner()
        .units
        .remove(0);
    let stations = org
        .list_children(pb::ListChildrenRequest {
            parent_id: centre.id.clone(),
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .expect("stations")
        .into_inner()
        .units;
    assert_eq!(stations.len(), 34);

    let admin = || {
        Bearer::new(&bearer(
            "district-admin",
            &[jiceng_auth::Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut alliances = platform
        .client_as(admin(), AllianceServiceClient::new)
        .await;
    let network = alliances
        .list_alliances(pb::ListAlliancesRequest {
            unit_id: centre.id.clone(),
            ..Default::default()
        })
        .await
        .expect("alliances")
        .into_inner()
        .alliances;
    assert_eq!(network[0].current_member_count, 34);
    assert_eq!(
        network[0].kind,
        pb::AllianceKind::ServiceCentreNetwork as i32
    );
    let block = alliances
        .list_alliances(pb::ListAlliancesRequest {
            unit_id: yangjing.id.clone(),
            ..Default::default()
        })
        .await
        .expect("alliances")
        .into_inner()
        .alliances;
    assert_eq!(block[0].kind, pb::AllianceKind::StreetBlock as i32);
    assert_eq!(block[0].current_member_count, 4);

    let mut venues = platform.client_as(admin(), VenueServiceClient::new).await;
    let venue_list = venues
        .list_venues(pb::ListVenuesRequest {
            unit_id: lujiazui.id.clone(),
            ..Default::default()
        })
        .await
        .expect("venues")
        .into_inner()
        .venues;
    assert_eq!(venue_list.len(), 2);
    let mut bookings = 0;
    for venue in &venue_list {
        bookings += venues
            .list_bookings(pb::ListBookingsRequest {
                venue_id: venue.id.clone(),
                ..Default::default()
            })
            .await
            .expect("bookings")
            .into_inner()
            .bookings
            .len();
    }
    assert_eq!(bookings, 2);

    let mut meetings = platform.client_as(admin(), MeetingServiceClient::new).await;
    assert!(
        meetings
            .list_overdue_decisions(pb::ListOverdueDecisionsRequest {
                ..Default::default()
            })
            .await
            .expect("overdue")
            .into_inner()
            .decisions
            .is_empty()
    );

    // Lujiazui's dashboard: one case waiting to be filed, one with its handler, one rated.
    let counts = platform
        .client_as(admin(), CaseServiceClient::new)
        .await
        .count_cases(grid_pb::CountCasesRequest {
            org_id: lujiazui.id.clone(),
        })
        .await
        .expect("counts")
        .into_inner()
        .counts;
    let count_of = |state: grid_pb::CaseState| {
        counts
            .iter()
            .find(|c| c.state == state as i32)
            .map_or(0, |c| c.count)
    };
    assert_eq!(
        [
            count_of(grid_pb::CaseState::Reported),
            count_of(grid_pb::CaseState::Dispatched),
            count_of(grid_pb::CaseState::Evaluated),
        ],
        [1, 1, 1]
    );
    let published = platform
        .client_as(admin(), WishServiceClient::new)
        .await
        .list_wishes(grid_pb::ListWishesRequest {
            published: true,
            ..Default::default()
        })
        .await
        .expect("wishes")
        .into_inner()
        .wishes;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].beneficiary_name, "孙*兰");
    let proposed = platform
        .client_as(admin(), ProjectServiceClient::new)
        .await
        .list_projects(grid_pb::ListProjectsRequest {
            org_id: lujiazui.id.clone(),
            state: grid_pb::ProjectState::Proposed as i32,
            ..Default::default()
        })
        .await
        .expect("projects")
        .into_inner()
        .projects;
    assert_eq!(proposed.len(), 1);

    // Gaohang's disclosures are in the log: four, the first corrected by the last.
    let head = platform
        .client_as(admin(), DisclosureServiceClient::new)
        .await
        .get_signed_tree_head(property_pb::GetSignedTreeHeadRequest { tree_size: None })
        .await
        .expect("head")
        .into_inner();
    assert_eq!(head.tree_size, 4);
}
