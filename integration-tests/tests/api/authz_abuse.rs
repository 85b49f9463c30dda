//! Attacks with tokens a caller can come by, each refused through the API on both databases:
//! what the authorization matrix cannot show because the token itself is the attack.

use crate::common;

use common::{Platform, create};
use jiceng_auth::{Claims, Role, TokenIssuer};
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
    notify as notify_pb,
    org::{
        self as pb, UnitKind, org_service_client::OrgServiceClient,
        venue_service_client::VenueServiceClient,
    },
};
use jiceng_testkit::{
    Bearer, TEST_DISTRICT, TEST_SECRET, TestDatabase, bearer, on_both_backends, service_bearer,
};
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
    define_garbage_category(&platform).await;
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
            ..Default::default()
        })
        .await
        .expect("verify");
    centre
        .publish_wish(grid_pb::PublishWishRequest {
            wish_id: published.clone(),
            ..Default::default()
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
        reveal_reason: "核实身份".into(),
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

/// Lujiazui street under the district root and Meiyuan's residential committee under it, made by
/// a district admin: (street, committee).
async fn lujiazui_and_meiyuan(platform: &Platform) -> (String, String) {
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await
    .id;
    let committee = create(
        &mut org,
        &street,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await
    .id;
    (street, committee)
}

/// The case category the tests report in: `city.garbage`, an hour to accept.
async fn define_garbage_category(platform: &Platform) {
    platform
        .client_as(district_admin(platform), GridServiceClient::new)
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
}

/// A whole-district admin's bearer token.
fn district_admin(platform: &Platform) -> Bearer {
    Bearer::new(&bearer(
        "district",
        &[Role::DistrictAdmin],
        &platform.root_id,
    ))
}

/// A member of `org_id` created by a district admin; returns their id.
async fn member_in(platform: &Platform, org_id: &str, name: &str) -> String {
    platform
        .client_as(district_admin(platform), MemberServiceClient::new)
        .await
        .create_member(member_pb::CreateMemberRequest {
            name: name.into(),
            org_id: org_id.into(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner()
        .id
}

/// Two streets: Tangqiao with a branch and a member of it (within a branch admin's reach), and
/// Huamu with a member of its own (beyond it).
struct TwoStreets {
    street_a: String,
    branch_a: String,
    street_b: String,
    ours: String,
    theirs: String,
}

async fn two_streets(platform: &Platform) -> TwoStreets {
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
    TwoStreets {
        ours: member_in(platform, &branch_a, "周某").await,
        theirs: member_in(platform, &street_b, "吴某").await,
        street_a,
        branch_a,
        street_b,
    }
}

/// An admin records an activity of their own branch naming a member of another street and an
/// id that is no member: both refused by name, nobody credited, nothing said of which exists.
async fn an_activity_credits_only_members_the_recorder_administers(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let TwoStreets {
        street_a,
        branch_a,
        ours,
        theirs,
        ..
    } = two_streets(&platform).await;
    let mut district = platform
        .client_as(district_admin(&platform), MemberServiceClient::new)
        .await;
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
        ..Default::default()
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
        ..Default::default()
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

/// The points entries of `member`, as a district admin reads them.
async fn ledger_of(platform: &Platform, member: &str) -> Vec<member_pb::LedgerEntry> {
    platform
        .client_as(
            Bearer::new(&bearer(
                "district",
                &[Role::DistrictAdmin],
                &platform.root_id,
            )),
            PointsServiceClient::new,
        )
        .await
        .list_ledger(member_pb::ListLedgerRequest {
            member_id: member.into(),
            ..Default::default()
        })
        .await
        .expect("ledger")
        .into_inner()
        .entries
}

/// A member claims a wish naming fellows: one who is no member is refused by name; the others
/// must each accept; nobody earns anything for saying it is done until an admin of the
/// collecting org who is not among the claimants confirms it; then the claimer and the fellow
/// who accepted are credited, once, and the fellow who declined is not.
async fn wish_points_need_the_collecting_orgs_confirmation_and_each_fellows_consent(
    db: TestDatabase,
) {
    let platform = Platform::start(db).await;
    let (street, committee) = lujiazui_and_meiyuan(&platform).await;
    let (claimer, _secretary) = common::wish_people(&platform, &street, &committee).await;
    let as_bearer =
        |subject: &str, role: Role, scope: &str| Bearer::new(&bearer(subject, &[role], scope));
    let accepter = member_in(&platform, &street, "孙某").await;
    let decliner = member_in(&platform, &street, "李某").await;
    let wishes_as = |subject: &str, role: Role, scope: &str| {
        platform.client_as(as_bearer(subject, role, scope), WishServiceClient::new)
    };
    let mut centre = wishes_as("centre", Role::BranchAdmin, &committee).await;
    let wish = centre
        .collect_wish(grid_pb::CollectWishRequest {
            title: "一台助听器".into(),
            beneficiary_name: "王小明".into(),
            org_id: committee.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner()
        .id;
    centre
        .verify_wish(grid_pb::VerifyWishRequest {
            wish_id: wish.clone(),
            ..Default::default()
        })
        .await
        .expect("verify");
    centre
        .publish_wish(grid_pb::PublishWishRequest {
            wish_id: wish.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");

    let mut claiming = wishes_as(&claimer, Role::Member, &street).await;
    let claim = |named: Vec<String>| grid_pb::ClaimWishRequest {
        wish_id: wish.clone(),
        participant_member_ids: named,
        ..Default::default()
    };
    let refused = claiming
        .claim_wish(claim(vec![
            accepter.clone(),
            "01937f6e-0000-7000-8000-00000000dead".into(),
        ]))
        .await
        .expect_err("a fellow who is no member");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(common::fields_of(&refused), ["participant_member_ids[1]"]);
    claiming
        .claim_wish(claim(vec![accepter.clone(), decliner.clone()]))
        .await
        .expect("claim");
    // Each fellow named hears of it, to answer.
    for fellow in [&accepter, &decliner] {
        let told = common::notices_of(&platform, fellow, &street, "grid.wish.fellows_named").await;
        assert_eq!(
            told.iter().map(|n| n.link.as_str()).collect::<Vec<_>>(),
            [format!("wishes/{wish}")]
        );
    }
    let accept = || grid_pb::AcceptWishClaimRequest {
        wish_id: wish.clone(),
        ..Default::default()
    };
    let own = claiming
        .accept_wish_claim(accept())
        .await
        .expect_err("the claimer is no fellow");
    assert_eq!(own.code(), Code::PermissionDenied);
    let stranger = wishes_as("someone", Role::Member, &street)
        .await
        .accept_wish_claim(accept())
        .await
        .expect_err("not named");
    assert_eq!(stranger.code(), Code::PermissionDenied);
    let declined = wishes_as(&decliner, Role::Member, &street)
        .await
        .decline_wish_claim(grid_pb::DeclineWishClaimRequest {
            wish_id: wish.clone(),
            ..Default::default()
        })
        .await
        .expect("decline")
        .into_inner();
    assert_eq!(declined.participant_member_ids, [accepter.as_str()]);

    claiming
        .fulfil_wish(grid_pb::FulfilWishRequest {
            wish_id: wish.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("fulfil");
    platform.settle().await;
    assert!(
        ledger_of(&platform, &claimer).await.is_empty(),
        "saying it is done earns nothing"
    );
    let confirm = || grid_pb::ConfirmWishFulfilmentRequest {
        wish_id: wish.clone(),
        ..Default::default()
    };
    let other_street = create(
        &mut platform.admin().await,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await
    .id;
    for (who, subject, role, scope) in [
        ("the claimer", claimer.as_str(), Role::Member, &street),
        (
            "an admin of another street",
            "huamu",
            Role::StreetAdmin,
            &other_street,
        ),
        (
            "a claimant who is also an admin of the collecting org",
            accepter.as_str(),
            Role::BranchAdmin,
            &committee,
        ),
    ] {
        let refused = wishes_as(subject, role, scope)
            .await
            .confirm_wish_fulfilment(confirm())
            .await
            .expect_err(who);
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}");
    }
    wishes_as(&accepter, Role::Member, &street)
        .await
        .accept_wish_claim(accept())
        .await
        .expect("a fellow accepts before the confirmation");
    let confirmed = centre
        .confirm_wish_fulfilment(confirm())
        .await
        .expect("the collecting org confirms")
        .into_inner();
    assert_eq!(confirmed.state, grid_pb::WishState::Confirmed as i32);
    assert_eq!(confirmed.accepted_member_ids, [accepter.as_str()]);
    let late = wishes_as(&decliner, Role::Member, &street)
        .await
        .accept_wish_claim(accept())
        .await
        .expect_err("no longer named");
    assert_eq!(late.code(), Code::PermissionDenied);

    platform.settle().await;
    for member in [&claimer, &accepter] {
        let entries = ledger_of(&platform, member).await;
        assert_eq!(
            entries
                .iter()
                .map(|e| (e.amount, e.rule_code.as_str()))
                .collect::<Vec<_>>(),
            [(5, "wish.fulfilled")]
        );
    }
    assert!(ledger_of(&platform, &decliner).await.is_empty());
    assert_eq!(ledger_of(&platform, &claimer).await.len(), 1, "once");
}

/// A branch admin records attendance at its own booking naming a member of another street and
/// an id that is no member: both refused by name, nobody credited; its own member is.
async fn attendance_credits_only_members_of_the_booking_unit_or_the_recorders_scope(
    db: TestDatabase,
) {
    let platform = Platform::start(db).await;
    let TwoStreets {
        street_a,
        branch_a,
        ours,
        theirs,
        ..
    } = two_streets(&platform).await;
    let centre = create(
        &mut platform.admin().await,
        &street_a,
        UnitKind::PartyMassServiceCentre,
        "塘桥党群服务中心",
    )
    .await
    .id;
    let district = || district_admin(&platform);
    let mut members = platform
        .client_as(district(), MemberServiceClient::new)
        .await;
    let venue = platform
        .client_as(district(), VenueServiceClient::new)
        .await
        .create_venue(pb::CreateVenueRequest {
            unit_id: centre.clone(),
            name: "党员活动室".into(),
            capacity: 30,
            ..Default::default()
        })
        .await
        .expect("venue")
        .into_inner();
    let mut branch = platform
        .client_as(
            Bearer::new(&bearer("branch-a", &[Role::BranchAdmin], &branch_a)),
            VenueServiceClient::new,
        )
        .await;
    // A minute ahead: a loaded machine takes more than a second to make the call, and a start
    // already past is refused.
    let start = jiceng_db::now_millis() / 1000 + 60;
    let booking = branch
        .create_booking(pb::CreateBookingRequest {
            venue_id: venue.id.clone(),
            unit_id: branch_a.clone(),
            title: "主题党日".into(),
            expected_attendees: 10,
            start_time: Some(prost_types::Timestamp {
                seconds: start,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: start + 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("booking")
        .into_inner();
    let attend = |member_ids: Vec<String>| pb::RecordAttendanceRequest {
        id: booking.id.clone(),
        headcount: i32::try_from(member_ids.len()).expect("few"),
        member_ids,
        note: String::new(),
        ..Default::default()
    };
    let refused = branch
        .record_attendance(attend(vec![
            ours.clone(),
            theirs.clone(),
            "01937f6e-0000-7000-8000-00000000dead".into(),
        ]))
        .await
        .expect_err("outsiders named");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        common::fields_of(&refused),
        ["member_ids[1]", "member_ids[2]"]
    );
    // The booking has begun: the platform's clock moves past its start.
    platform.clock.advance(61_500);
    branch
        .record_attendance(attend(vec![ours.clone()]))
        .await
        .expect("the branch's own member");
    let activities_of = |member: &str| member_pb::ListMemberActivitiesRequest {
        member_id: member.into(),
        ..Default::default()
    };
    platform.settle().await;
    let credited = members
        .list_member_activities(activities_of(&ours))
        .await
        .expect("activities")
        .into_inner()
        .activities;
    assert_eq!(credited.len(), 1);
    assert!(
        members
            .list_member_activities(activities_of(&theirs))
            .await
            .expect("activities")
            .into_inner()
            .activities
            .is_empty(),
        "nobody outside credited"
    );
}

/// A branch admin cannot put notices in the inboxes of members of another street, name ids
/// that are no members, nor publish to another street's topic; each street's own admins can,
/// and the whole district's admins reach an outside system's recipient.
async fn notices_reach_only_members_and_topics_within_the_publishers_scope(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let TwoStreets {
        branch_a,
        street_b,
        ours,
        theirs,
        ..
    } = two_streets(&platform).await;
    let as_bearer =
        |subject: &str, role: Role, scope: &str| Bearer::new(&bearer(subject, &[role], scope));
    let district = || district_admin(&platform);
    let mut centre = platform.notify_as(district()).await;
    centre
        .register_category(notify_pb::RegisterCategoryRequest {
            category: Some(notify_pb::Category {
                name: "notice".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    let member = |id: &str| notify_pb::Recipient {
        recipient: Some(notify_pb::recipient::Recipient::MemberId(id.into())),
    };
    let topic = |name: &str| notify_pb::Recipient {
        recipient: Some(notify_pb::recipient::Recipient::Topic(name.into())),
    };
    let notice = |key: &str, recipients: Vec<notify_pb::Recipient>| notify_pb::PublishRequest {
        idempotency_key: key.into(),
        category: "notice".into(),
        priority: notify_pb::Priority::Urgent as i32,
        // Titled by its key, to tell which reached an inbox.
        title: key.into(),
        link: "https://elsewhere.example/login".into(),
        recipients,
        ..Default::default()
    };
    let mut branch = platform
        .notify_as(as_bearer("branch-a", Role::BranchAdmin, &branch_a))
        .await;
    let spoofed = branch
        .publish(notice(
            "spoof-1",
            vec![
                member(&ours),
                member(&theirs),
                member("01937f6e-0000-7000-8000-00000000dead"),
                member("city-hotline-12345"),
            ],
        ))
        .await
        .expect_err("recipients outside the branch");
    assert_eq!(spoofed.code(), Code::InvalidArgument);
    assert_eq!(
        common::fields_of(&spoofed),
        ["recipients[1]", "recipients[2]", "recipients[3]"]
    );
    branch
        .publish(notice("own-1", vec![member(&ours)]))
        .await
        .expect("the branch's own member");
    centre
        .publish(notice("hotline-1", vec![member("city-hotline-12345")]))
        .await
        .expect("an outside recipient, from the whole district");

    let mut street_b_admin = platform
        .notify_as(as_bearer("huamu", Role::StreetAdmin, &street_b))
        .await;
    let create_topic = |owner: &str| notify_pb::CreateTopicRequest {
        topic: Some(notify_pb::Topic {
            name: "huamu.volunteers".into(),
            owner_org_id: owner.into(),
            description: "花木街道志愿者".into(),
            ..Default::default()
        }),
    };
    let foreign = branch
        .create_topic(create_topic(&street_b))
        .await
        .expect_err("a topic owned by another street");
    assert_eq!(foreign.code(), Code::PermissionDenied);
    street_b_admin
        .create_topic(create_topic(&street_b))
        .await
        .expect("the street's own topic");
    let taken = street_b_admin
        .create_topic(create_topic(&street_b))
        .await
        .expect_err("one topic per name");
    assert_eq!(taken.code(), Code::AlreadyExists);
    let mut follower = platform
        .notify_as(as_bearer(&theirs, Role::Member, &street_b))
        .await;
    follower
        .follow_topic(notify_pb::FollowTopicRequest {
            topic: "huamu.volunteers".into(),
        })
        .await
        .expect("follow");
    let unknown = follower
        .follow_topic(notify_pb::FollowTopicRequest {
            topic: "nobody.owns.this".into(),
        })
        .await
        .expect_err("no such topic");
    assert_eq!(unknown.code(), Code::NotFound);
    let hijack = branch
        .publish(notice("hijack-1", vec![topic("huamu.volunteers")]))
        .await
        .expect_err("another street's topic");
    assert_eq!(hijack.code(), Code::PermissionDenied);
    let unowned = branch
        .publish(notice("unowned-1", vec![topic("nobody.owns.this")]))
        .await
        .expect_err("a topic nobody created");
    assert_eq!(unowned.code(), Code::FailedPrecondition);
    street_b_admin
        .publish(notice("volunteers-1", vec![topic("huamu.volunteers")]))
        .await
        .expect("the owner publishes");
    let received: Vec<String> = follower
        .list_inbox(notify_pb::ListInboxRequest::default())
        .await
        .expect("inbox")
        .into_inner()
        .items
        .into_iter()
        .filter_map(|item| item.notification.map(|n| n.title))
        .collect();
    assert_eq!(received, ["volunteers-1"], "nothing spoofed reached them");
}

/// Any member may register a webhook, so its URL must not reach inside: cloud metadata, cluster
/// services, loopback ports and other schemes are refused by name; the deployment's listed
/// destinations (the tests' loopback receivers) are not.
async fn webhooks_go_only_where_the_deployment_allows(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut member = platform
        .notify_as(Bearer::new(&bearer(
            "member-1",
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let register = |url: &str| notify_pb::RegisterWebhookRequest {
        recipient: String::new(),
        url: url.into(),
        ..Default::default()
    };
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.96.0.1:443/api",
        "http://jiceng-pg-rw.jiceng.svc:5432/",
        "http://localhost:6379/",
        "http://[::1]:9/",
        "http://127.0.0.2:9/",
        "ftp://127.0.0.1/",
    ] {
        let refused = member.register_webhook(register(url)).await.expect_err(url);
        assert_eq!(refused.code(), Code::InvalidArgument, "{url}");
        assert_eq!(common::fields_of(&refused), ["url"], "{url}");
    }
    member
        .register_webhook(register("http://127.0.0.1:9/hook"))
        .await
        .expect("a listed destination");
}

/// Every reveal of personal data says why and leaves a record before it is served: a member's
/// numbers, a reporter's contact and a wish's resident. District admins list the records by
/// person, by actor and by time; a person lists who looked at their own data and nobody else's;
/// an actor past the hourly limit is refused.
async fn every_reveal_of_personal_data_is_recorded_and_limited(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let TwoStreets {
        branch_a,
        street_b,
        ours,
        theirs,
        ..
    } = two_streets(&platform).await;
    let as_bearer =
        |subject: &str, role: Role, scope: &str| Bearer::new(&bearer(subject, &[role], scope));
    let mut branch = platform
        .client_as(
            as_bearer("branch-a", Role::BranchAdmin, &branch_a),
            MemberServiceClient::new,
        )
        .await;
    let reveal = |reason: &str| member_pb::GetMemberRequest {
        id: ours.clone(),
        reveal_personal_data: true,
        reveal_reason: reason.into(),
    };
    let unexplained = branch
        .get_member(reveal(" "))
        .await
        .expect_err("a reveal without a reason");
    assert_eq!(unexplained.code(), Code::InvalidArgument);
    assert_eq!(common::fields_of(&unexplained), ["reveal_reason"]);
    branch
        .get_member(reveal("核实党员身份"))
        .await
        .expect("a reveal with its reason");

    let mut district = platform
        .client_as(district_admin(&platform), MemberServiceClient::new)
        .await;
    let reveals_of = |kind: &str, subject: &str, actor: &str| {
        jiceng_proto::audit::ListPersonalDataRevealsRequest {
            subject_kind: kind.into(),
            subject_id: subject.into(),
            actor: actor.into(),
            ..Default::default()
        }
    };
    let by_person = district
        .list_personal_data_reveals(reveals_of("person", &ours, ""))
        .await
        .expect("by person")
        .into_inner()
        .reveals;
    assert_eq!(by_person.len(), 1);
    let record = &by_person[0];
    assert_eq!(
        (
            record.actor.as_str(),
            record.record.clone(),
            record.fields.clone(),
            record.reason.as_str()
        ),
        (
            "branch-a",
            format!("members/{ours}"),
            vec!["phone".to_owned(), "id_card_number".to_owned()],
            "核实党员身份"
        )
    );
    let by_actor = district
        .list_personal_data_reveals(reveals_of("", "", "branch-a"))
        .await
        .expect("by actor")
        .into_inner()
        .reveals;
    assert_eq!(by_actor, by_person);
    let later = district
        .list_personal_data_reveals(jiceng_proto::audit::ListPersonalDataRevealsRequest {
            from_time: Some(prost_types::Timestamp {
                seconds: jiceng_db::now_millis() / 1000 + 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("by time")
        .into_inner()
        .reveals;
    assert!(later.is_empty(), "none in the next hour");
    let own = platform
        .client_as(
            as_bearer(&ours, Role::Member, &branch_a),
            MemberServiceClient::new,
        )
        .await
        .list_personal_data_reveals(reveals_of("person", &ours, ""))
        .await
        .expect("a member's own")
        .into_inner()
        .reveals;
    assert_eq!(own, by_person);
    for (who, token) in [
        (
            "another member",
            as_bearer(&theirs, Role::Member, &street_b),
        ),
        (
            "an admin below the district",
            as_bearer("branch-a", Role::BranchAdmin, &branch_a),
        ),
    ] {
        let refused = platform
            .client_as(token, MemberServiceClient::new)
            .await
            .list_personal_data_reveals(reveals_of("person", &ours, ""))
            .await
            .expect_err(who);
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}");
    }

    // A reporter's contact and a wish's resident, in the grid service.
    define_garbage_category(&platform).await;
    let case = platform
        .client_as(
            as_bearer(&theirs, Role::Member, &street_b),
            CaseServiceClient::new,
        )
        .await
        .report_case(grid_pb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "楼下垃圾满溢".into(),
            org_id: branch_a.clone(),
            reporter_kind: grid_pb::ReporterKind::Resident as i32,
            reporter_contact: "13812345678".into(),
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner();
    let contact = platform
        .client_as(
            as_bearer("branch-a", Role::BranchAdmin, &branch_a),
            CaseServiceClient::new,
        )
        .await
        .get_case(grid_pb::GetCaseRequest {
            id: case.id.clone(),
            reveal_reporter_contact: true,
            reveal_reason: "回访举报人".into(),
        })
        .await
        .expect("the contact, with a reason")
        .into_inner()
        .reporter_contact;
    assert_eq!(contact, "13812345678");
    let mut wishes = platform
        .client_as(district_admin(&platform), WishServiceClient::new)
        .await;
    let wish = wishes
        .collect_wish(grid_pb::CollectWishRequest {
            title: "一台助听器".into(),
            beneficiary_name: "王小明".into(),
            org_id: branch_a.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner()
        .id;
    wishes
        .get_wish(grid_pb::GetWishRequest {
            id: wish.clone(),
            reveal_beneficiary: true,
            reveal_reason: "上门核实".into(),
        })
        .await
        .expect("the resident, with a reason");
    let reporter_reveals = platform
        .client_as(
            as_bearer(&theirs, Role::Member, &street_b),
            GridServiceClient::new,
        )
        .await
        .list_personal_data_reveals(reveals_of("person", &theirs, ""))
        .await
        .expect("the reporter's own")
        .into_inner()
        .reveals;
    assert_eq!(
        reporter_reveals
            .iter()
            .map(|r| (r.record.clone(), r.reason.as_str()))
            .collect::<Vec<_>>(),
        [(format!("cases/{}", case.id), "回访举报人")]
    );
    let resident = platform
        .client_as(district_admin(&platform), GridServiceClient::new)
        .await
        .list_personal_data_reveals(reveals_of("wish_beneficiary", &wish, ""))
        .await
        .expect("a wish's resident")
        .into_inner()
        .reveals;
    assert_eq!(resident.len(), 1);

    // A stolen token paging through the district's numbers stops at the hourly limit.
    let mut bulk = platform
        .client_as(
            as_bearer("bulk", Role::DistrictAdmin, &platform.root_id),
            MemberServiceClient::new,
        )
        .await;
    for n in 0..jiceng_pii_audit::HOURLY_LIMIT {
        bulk.get_member(reveal("批量核对"))
            .await
            .unwrap_or_else(|e| panic!("reveal {n}: {e}"));
    }
    let limited = bulk
        .get_member(reveal("批量核对"))
        .await
        .expect_err("past the hourly limit");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let recorded = district
        .list_personal_data_reveals(jiceng_proto::audit::ListPersonalDataRevealsRequest {
            actor: "bulk".into(),
            page_size: Some(1000),
            ..Default::default()
        })
        .await
        .expect("by actor")
        .into_inner()
        .reveals;
    assert_eq!(
        recorded.len() as i64,
        jiceng_pii_audit::HOURLY_LIMIT,
        "the refused one left no record"
    );
}

/// The platform's own identity cannot be had from outside. A token the identity provider signs
/// naming `service` (what outside systems used to be given) grants nothing: not the event sink
/// through which points are minted, not awards, not the tree's generation, not a case handed
/// over as a system; beside `member` it acts as that member alone. A token for the internal
/// audience signed with anything but the internal key is refused. The forged event the outsider
/// sent mints points when the platform itself delivers it, so the refusals are what keep the
/// ledger clean. Outside systems act as `integration`: they hand cases over within their scope
/// and follow them, and award nothing.
async fn outside_systems_never_pass_for_the_platform(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let (street, committee) = lujiazui_and_meiyuan(&platform).await;
    let (claimer, _) = common::wish_people(&platform, &street, &committee).await;
    let signed = |claims: &Claims| {
        let token = TokenIssuer::hs256(TEST_SECRET)
            .and_then(|issuer| issuer.mint(claims))
            .expect("mint");
        Bearer::new(&format!("Bearer {token}"))
    };
    let outside = |roles: &[Role]| {
        signed(&Claims::new(
            "hotline",
            TEST_DISTRICT,
            &platform.root_id,
            roles,
            3_600,
        ))
    };
    let confirmed = grid_pb::Wish {
        id: "forged-wish".into(),
        title: "伪造的心愿".into(),
        claimant_member_id: claimer.clone(),
        ..Default::default()
    };
    let forged = events_pb::DeliverRequest {
        event: Some(cloudevents::CloudEvent {
            id: "forged-event-1".into(),
            source: format!("//jiceng/{TEST_DISTRICT}/grid"),
            spec_version: "1.0".into(),
            r#type: "jiceng.grid.v1.wish.confirmed".into(),
            data: Some(cloudevents::cloud_event::Data::ProtoData(
                prost_types::Any {
                    type_url: "type.googleapis.com/jiceng.grid.v1.Wish".into(),
                    value: prost::Message::encode_to_vec(&confirmed),
                },
            )),
            ..Default::default()
        }),
    };
    let award = member_pb::AwardPointsRequest {
        entry_id: "forged-award".into(),
        member_id: claimer.clone(),
        rule_code: "wish.fulfilled".into(),
        reason: "伪造".into(),
        ..Default::default()
    };
    let internal_audience = Claims::new("svc", TEST_DISTRICT, "", &[Role::Service], 3_600)
        .issued_by(
            jiceng_auth::INTERNAL_AUDIENCE,
            jiceng_auth::INTERNAL_AUDIENCE,
        );
    for (caller, refused_with) in [
        (outside(&[Role::Service]), Code::PermissionDenied),
        (
            outside(&[Role::Service, Role::Member]),
            Code::PermissionDenied,
        ),
        (outside(&[Role::Integration]), Code::PermissionDenied),
        (signed(&internal_audience), Code::Unauthenticated),
    ] {
        let delivered = platform
            .client_as(caller.clone(), EventSinkServiceClient::new)
            .await
            .deliver(forged.clone())
            .await
            .map(drop)
            .map_err(|s| s.code());
        assert_eq!(delivered, Err(refused_with), "{caller:?} delivers");
        let awarded = platform
            .client_as(caller.clone(), PointsServiceClient::new)
            .await
            .award_points(award.clone())
            .await
            .map(drop)
            .map_err(|s| s.code());
        assert_eq!(awarded, Err(refused_with), "{caller:?} awards");
        let generation = platform
            .client_as(caller.clone(), OrgServiceClient::new)
            .await
            .get_tree_generation(pb::GetTreeGenerationRequest {})
            .await
            .map(drop)
            .map_err(|s| s.code());
        assert_eq!(generation, Err(refused_with), "{caller:?} polls the tree");
    }
    assert!(
        ledger_of(&platform, &claimer).await.is_empty(),
        "nothing minted"
    );
    // The same event from the platform itself is one it acts on.
    platform
        .client_as(
            Bearer::new(&service_bearer("service:grid")),
            EventSinkServiceClient::new,
        )
        .await
        .deliver(forged)
        .await
        .expect("the platform's own delivery");
    assert_eq!(
        ledger_of(&platform, &claimer)
            .await
            .iter()
            .map(|e| (e.amount, e.rule_code.as_str()))
            .collect::<Vec<_>>(),
        [(5, "wish.fulfilled")]
    );

    define_garbage_category(&platform).await;
    let handed_over = grid_pb::ReportCaseRequest {
        category_code: "city.garbage".into(),
        description: "12345热线转办：小区垃圾满溢".into(),
        org_id: committee.clone(),
        reporter_kind: grid_pb::ReporterKind::System as i32,
        source: "12345-hotline".into(),
        external_id: "GD-2026-000123".into(),
        ..Default::default()
    };
    let as_service = platform
        .client_as(outside(&[Role::Service]), CaseServiceClient::new)
        .await
        .report_case(handed_over.clone())
        .await
        .expect_err("an outside token naming `service`");
    assert_eq!(as_service.code(), Code::PermissionDenied);
    let hotline = || {
        signed(&Claims::new(
            "hotline-12345",
            TEST_DISTRICT,
            &street,
            &[Role::Integration],
            3_600,
        ))
    };
    let mut cases = platform.client_as(hotline(), CaseServiceClient::new).await;
    let case = cases
        .report_case(handed_over.clone())
        .await
        .expect("an outside system hands a case over in its scope")
        .into_inner();
    assert_eq!(case.external_id, "GD-2026-000123");
    let followed = cases
        .get_case(grid_pb::GetCaseRequest {
            id: case.id.clone(),
            ..Default::default()
        })
        .await
        .expect("and follows it")
        .into_inner();
    assert_eq!(followed.id, case.id);
    let elsewhere = create(
        &mut platform.admin().await,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await
    .id;
    let beyond = cases
        .report_case(grid_pb::ReportCaseRequest {
            org_id: elsewhere,
            external_id: "GD-2026-000124".into(),
            ..handed_over
        })
        .await
        .expect_err("beyond its scope");
    assert_eq!(beyond.code(), Code::PermissionDenied);
}

on_both_backends!(
    outside_systems_never_pass_for_the_platform,
    every_reveal_of_personal_data_is_recorded_and_limited,
    webhooks_go_only_where_the_deployment_allows,
    notices_reach_only_members_and_topics_within_the_publishers_scope,
    wish_points_need_the_collecting_orgs_confirmation_and_each_fellows_consent,
    attendance_credits_only_members_of_the_booking_unit_or_the_recorders_scope,
    an_activity_credits_only_members_the_recorder_administers,
    published_wishes_and_residents_reports_reach_across_streets,
    tokens_not_yet_valid_from_the_future_or_for_no_one_are_refused,
    tokens_for_another_system_or_from_another_issuer_are_refused,
    a_token_with_no_role_this_platform_knows_reads_nothing,
);
