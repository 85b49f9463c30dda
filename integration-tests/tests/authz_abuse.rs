//! Attacks with tokens a caller can come by, each refused through the API on both databases:
//! what the authorization matrix cannot show because the token itself is the attack.

mod common;

use common::{Platform, create};
use jiceng_auth::{Claims, Role, TokenIssuer};
use jiceng_proto::{
    grid::{
        self as grid_pb, case_service_client::CaseServiceClient,
        grid_service_client::GridServiceClient, wish_service_client::WishServiceClient,
    },
    member::{self as member_pb, member_service_client::MemberServiceClient},
    org::{self as pb, UnitKind, org_service_client::OrgServiceClient},
};
use jiceng_testkit::{Bearer, TEST_DISTRICT, TEST_SECRET, TestDatabase, bearer, on_both_backends};
use tonic::Code;

/// A district admin's claims, valid for a day, for an attacker to bend.
fn admin_claims(platform: &Platform) -> Claims {
    Claims::new(
        "district-admin",
        TEST_DISTRICT,
        &platform.root_id,
        &[Role::DistrictAdmin],
        86_400,
    )
}

/// What `GetUnit` of the district root answers to a caller presenting `claims`.
async fn get_root_as(platform: &Platform, claims: &Claims) -> Result<(), Code> {
    let token = TokenIssuer::hs256(TEST_SECRET)
        .and_then(|issuer| issuer.mint(claims))
        .expect("mint");
    let mut org = platform
        .client_as(
            Bearer::new(&format!("Bearer {token}")),
            OrgServiceClient::new,
        )
        .await;
    org.get_unit(pb::GetUnitRequest {
        id: platform.root_id.clone(),
    })
    .await
    .map(|_| ())
    .map_err(|status| status.code())
}

async fn tokens_not_yet_valid_from_the_future_or_for_no_one_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let valid = admin_claims(&platform);
    assert_eq!(get_root_as(&platform, &valid).await, Ok(()));
    let next_year = valid.iat + 365 * 86_400;
    let not_yet = Claims {
        nbf: Some(next_year),
        exp: next_year + 86_400,
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &not_yet).await,
        Err(Code::Unauthenticated),
        "a token not valid before next year"
    );
    let from_the_future = Claims {
        iat: valid.iat + 86_400,
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &from_the_future).await,
        Err(Code::Unauthenticated),
        "a token issued tomorrow"
    );
    let no_one = Claims {
        sub: String::new(),
        ..valid.clone()
    };
    assert_eq!(
        get_root_as(&platform, &no_one).await,
        Err(Code::Unauthenticated),
        "a token for no subject"
    );
}

async fn tokens_for_another_system_or_from_another_issuer_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let valid = admin_claims(&platform);
    for (issuer, audience) in [
        (jiceng_auth::DEFAULT_ISSUER, "city-hotline-12345"),
        ("another-identity-provider", jiceng_auth::DEFAULT_AUDIENCE),
    ] {
        assert_eq!(
            get_root_as(&platform, &valid.clone().issued_by(issuer, audience)).await,
            Err(Code::Unauthenticated),
            "issued by {issuer} for {audience}"
        );
    }
}

async fn a_token_with_no_role_this_platform_knows_reads_nothing(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let unknown = Claims {
        roles: vec!["auditor".into()],
        ..admin_claims(&platform)
    };
    assert_eq!(
        get_root_as(&platform, &unknown).await,
        Err(Code::PermissionDenied)
    );
    let token = TokenIssuer::hs256(TEST_SECRET)
        .and_then(|issuer| issuer.mint(&unknown))
        .expect("mint");
    let searched = platform
        .client_as(
            Bearer::new(&format!("Bearer {token}")),
            OrgServiceClient::new,
        )
        .await
        .search_units(pb::SearchUnitsRequest {
            query: "浦东".into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|status| status.code());
    assert_eq!(searched, Err(Code::PermissionDenied));
}

/// What the district platform shares with everyone, by design rather than by oversight: a
/// published micro-wish is there for anyone to claim (the resident behind it stays masked), and a
/// resident may report a problem wherever they see it. What stays inside the collecting org: a
/// wish not yet published, and the resident's details.
async fn published_wishes_and_residents_reports_reach_across_streets(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street_a = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await
    .id;
    let committee_a = create(
        &mut org,
        &street_a,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await
    .id;
    let street_b = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await
    .id;
    let district = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    platform
        .client_as(district(), GridServiceClient::new)
        .await
        .define_category(grid_pb::DefineCategoryRequest {
            category: Some(grid_pb::Category {
                code: "city.garbage".into(),
                name: "垃圾堆放".into(),
                default_handler_kind: "service_team".into(),
                clock: grid_pb::ClockKind::Calendar as i32,
                normal: Some(grid_pb::TimeLimits {
                    accept_minutes: 60,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    let elsewhere = || Bearer::new(&bearer("member-b", &[Role::Member], &street_b));
    platform
        .client_as(elsewhere(), CaseServiceClient::new)
        .await
        .report_case(grid_pb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "路过时看到垃圾满溢".into(),
            org_id: committee_a.clone(),
            reporter_kind: grid_pb::ReporterKind::Resident as i32,
            ..Default::default()
        })
        .await
        .expect("a resident reports wherever they see a problem");

    let mut centre = platform.client_as(district(), WishServiceClient::new).await;
    let collect = |title: &str| grid_pb::CollectWishRequest {
        title: title.into(),
        beneficiary_name: "王小明".into(),
        org_id: committee_a.clone(),
        ..Default::default()
    };
    let published = centre
        .collect_wish(collect("一台助听器"))
        .await
        .expect("collect")
        .into_inner()
        .id;
    centre
        .verify_wish(grid_pb::VerifyWishRequest {
            wish_id: published.clone(),
        })
        .await
        .expect("verify");
    centre
        .publish_wish(grid_pb::PublishWishRequest {
            wish_id: published.clone(),
        })
        .await
        .expect("publish");
    let unpublished = centre
        .collect_wish(collect("一辆轮椅"))
        .await
        .expect("collect")
        .into_inner()
        .id;
    let mut outsider = platform
        .client_as(elsewhere(), WishServiceClient::new)
        .await;
    let get = |id: &str, reveal: bool| grid_pb::GetWishRequest {
        id: id.into(),
        reveal_beneficiary: reveal,
    };
    let read = outsider
        .get_wish(get(&published, false))
        .await
        .expect("a published wish is for the whole district")
        .into_inner();
    assert_eq!(read.beneficiary_name, "王*明", "the resident stays masked");
    assert_eq!(
        outsider
            .get_wish(get(&published, true))
            .await
            .map_err(|s| s.code())
            .err(),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        outsider
            .get_wish(get(&unpublished, false))
            .await
            .map_err(|s| s.code())
            .err(),
        Some(Code::NotFound)
    );
}

/// An admin records an activity of their own branch naming a member of another street and an
/// id that is no member: both refused by name, nobody credited, nothing said of which exists.
async fn an_activity_credits_only_members_the_recorder_administers(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street_a = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "塘桥街道党工委",
    )
    .await
    .id;
    let branch_a = create(&mut org, &street_a, UnitKind::Branch, "塘桥第一党支部")
        .await
        .id;
    let street_b = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await
    .id;
    let mut district = platform
        .client_as(
            Bearer::new(&bearer(
                "district",
                &[Role::DistrictAdmin],
                &platform.root_id,
            )),
            MemberServiceClient::new,
        )
        .await;
    let member_in = |org_id: &str, name: &str| member_pb::CreateMemberRequest {
        name: name.into(),
        org_id: org_id.into(),
        ..Default::default()
    };
    let ours = district
        .create_member(member_in(&branch_a, "周某"))
        .await
        .expect("member")
        .into_inner()
        .id;
    let theirs = district
        .create_member(member_in(&street_b, "吴某"))
        .await
        .expect("member")
        .into_inner()
        .id;
    let mut recorder = platform
        .client_as(
            Bearer::new(&bearer("tangqiao", &[Role::StreetAdmin], &street_a)),
            MemberServiceClient::new,
        )
        .await;
    let record = |attendees: Vec<String>| member_pb::RecordActivityRequest {
        kind: member_pb::ActivityKind::OrgLife as i32,
        title: "主题党日".into(),
        org_id: branch_a.clone(),
        held_on: "2026-12-01".into(),
        attendee_member_ids: attendees,
    };
    let refused = recorder
        .record_activity(record(vec![
            ours.clone(),
            theirs.clone(),
            "01937f6e-0000-7000-8000-00000000dead".into(),
        ]))
        .await
        .expect_err("outsiders named");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        common::fields_of(&refused),
        ["attendee_member_ids[1]", "attendee_member_ids[2]"]
    );
    let activities_of = |member: &str| member_pb::ListMemberActivitiesRequest {
        member_id: member.into(),
    };
    assert!(
        district
            .list_member_activities(activities_of(&theirs))
            .await
            .expect("activities")
            .into_inner()
            .activities
            .is_empty(),
        "nobody credited"
    );
    recorder
        .record_activity(record(vec![ours.clone()]))
        .await
        .expect("the recorder's own member");
}

on_both_backends!(
    an_activity_credits_only_members_the_recorder_administers,
    published_wishes_and_residents_reports_reach_across_streets,
    tokens_not_yet_valid_from_the_future_or_for_no_one_are_refused,
    tokens_for_another_system_or_from_another_issuer_are_refused,
    a_token_with_no_role_this_platform_knows_reads_nothing,
);
