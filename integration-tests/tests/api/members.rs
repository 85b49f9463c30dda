//! Members through the public gRPC API: personal data masked except to admins who ask, the
//! development pipeline, and scope — on both databases.

use crate::common;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_proto::{
    member::{
        self as pb, member_service_client::MemberServiceClient,
        points_service_client::PointsServiceClient,
    },
    org::{self as org_pb, UnitKind, venue_service_client::VenueServiceClient},
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::Code;

const ID_CARD: &str = "11010519491231002X";

async fn members_are_masked_except_to_admins_who_ask(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let branch_parent = create(
        &mut org,
        &street.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let other = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let admin = || Bearer::new(&bearer("ljz-admin", &[Role::StreetAdmin], &street.id));
    let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
    let created = members
        .create_member(pb::CreateMemberRequest {
            name: "王某".into(),
            phone: "13812345678".into(),
            id_card_number: ID_CARD.into(),
            birth_date: "1949-12-31".into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    assert_eq!(
        (created.phone.as_str(), created.id_card_number.as_str()),
        ("138****5678", "1101**********002X")
    );
    assert_eq!(created.status, pb::MemberStatus::Applicant as i32);
    let revealed = members
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: true,
            reveal_reason: "核实身份".into(),
        })
        .await
        .expect("reveal")
        .into_inner();
    assert_eq!(
        (revealed.phone.as_str(), revealed.id_card_number.as_str()),
        ("13812345678", ID_CARD)
    );
    let listed = members
        .list_members(pb::ListMembersRequest {
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .members;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phone, "138****5678", "lists are always masked");
    let found = members
        .find_member_by_id_card(pb::FindMemberByIdCardRequest {
            id_card_number: ID_CARD.to_lowercase(),
        })
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found.id, created.id);
    let duplicate = members
        .create_member(pb::CreateMemberRequest {
            name: "冒名".into(),
            id_card_number: ID_CARD.into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the same ID card");
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let mut themself = platform
        .client_as(
            Bearer::new(&bearer(&created.id, &[Role::Member], &branch_parent.id)),
            MemberServiceClient::new,
        )
        .await;
    let own = themself
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: false,
            reveal_reason: String::new(),
        })
        .await
        .expect("own record")
        .into_inner();
    assert_eq!(own.phone, "138****5678");
    let not_for_members = themself
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: true,
            reveal_reason: "核实身份".into(),
        })
        .await
        .expect_err("members see their record masked");
    assert_eq!(not_for_members.code(), Code::PermissionDenied);
    let mut outsider = platform
        .client_as(
            Bearer::new(&bearer("huamu", &[Role::StreetAdmin], &other.id)),
            MemberServiceClient::new,
        )
        .await;
    let hidden = outsider
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: false,
            reveal_reason: String::new(),
        })
        .await
        .expect_err("outside scope");
    assert_eq!(hidden.code(), Code::NotFound);
    let bad = members
        .create_member(pb::CreateMemberRequest {
            name: "x".into(),
            phone: "12345".into(),
            id_card_number: "110105194912310021".into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("bad numbers");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        !bad.message().contains("12345") && !bad.message().contains("110105194912310021"),
        "errors do not echo personal data"
    );
}

async fn illegal_pipeline_transitions_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let admin = Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut members = platform.client_as(admin, MemberServiceClient::new).await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "李某".into(),
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let change = |status: pb::MemberStatus| pb::ChangeMemberStatusRequest {
        id: member.id.clone(),
        status: status as i32,
        effective_date: "2026-07-01".into(),
        approving_org_id: street.id.clone(),
        note: "支部大会讨论通过".into(),
        ..Default::default()
    };
    let skipped = members
        .change_member_status(change(pb::MemberStatus::Full))
        .await
        .expect_err("skip");
    assert_eq!(skipped.code(), Code::FailedPrecondition);
    members
        .change_member_status(change(pb::MemberStatus::Activist))
        .await
        .expect("activist");
    let history = members
        .list_status_history(pb::ListStatusHistoryRequest {
            id: member.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.changes.len(), 2);
    assert_eq!(history.changes[1].actor, "admin");
    let bad_date = pb::ChangeMemberStatusRequest {
        effective_date: "2026-02-30".into(),
        ..change(pb::MemberStatus::DevelopmentTarget)
    };
    assert_eq!(
        members
            .change_member_status(bad_date)
            .await
            .expect_err("date")
            .code(),
        Code::InvalidArgument
    );
}

async fn points_are_awarded_by_admins_and_spent_by_members(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let other = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let district = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut members = platform
        .client_as(district(), MemberServiceClient::new)
        .await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "张某".into(),
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    let mut points = platform
        .client_as(district(), PointsServiceClient::new)
        .await;
    points
        .define_points_rule(pb::DefinePointsRuleRequest {
            rule: Some(pb::PointsRule {
                code: "volunteer.hour".into(),
                name: "志愿服务每小时".into(),
                points: 5,
                daily_cap: 10,
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    let award = |id: &str| pb::AwardPointsRequest {
        entry_id: id.into(),
        member_id: member.id.clone(),
        rule_code: "volunteer.hour".into(),
        reason: "社区志愿服务".into(),
        ..Default::default()
    };
    let mut street_admin = platform
        .client_as(
            Bearer::new(&bearer("ljz", &[Role::StreetAdmin], &street.id)),
            PointsServiceClient::new,
        )
        .await;
    street_admin
        .award_points(award("a-1"))
        .await
        .expect("award");
    street_admin
        .award_points(award("a-2"))
        .await
        .expect("award");
    let capped = street_admin
        .award_points(award("a-3"))
        .await
        .expect_err("cap");
    assert_eq!(capped.code(), Code::FailedPrecondition);
    let mut outsider = platform
        .client_as(
            Bearer::new(&bearer("huamu", &[Role::StreetAdmin], &other.id)),
            PointsServiceClient::new,
        )
        .await;
    assert_eq!(
        outsider
            .award_points(award("a-4"))
            .await
            .expect_err("outside scope")
            .code(),
        Code::PermissionDenied
    );
    let mut themself = platform
        .client_as(
            Bearer::new(&bearer(&member.id, &[Role::Member], &street.id)),
            PointsServiceClient::new,
        )
        .await;
    assert_eq!(
        themself
            .award_points(award("a-5"))
            .await
            .expect_err("members do not award")
            .code(),
        Code::PermissionDenied
    );
    let redeem = |id: &str, points: i64| pb::RedeemPointsRequest {
        entry_id: id.into(),
        member_id: member.id.clone(),
        points,
        reason: "兑换书籍".into(),
    };
    themself
        .redeem_points(redeem("r-1", 7))
        .await
        .expect("redeem");
    let overdraw = themself
        .redeem_points(redeem("r-2", 7))
        .await
        .expect_err("overdraw");
    assert_eq!(overdraw.code(), Code::FailedPrecondition);
    let balance = themself
        .get_balance(pb::GetBalanceRequest {
            member_id: member.id.clone(),
            year: 0,
        })
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(balance.balance, 3);
    let reused = street_admin
        .award_points(pb::AwardPointsRequest {
            reason: "另一件事".into(),
            ..award("a-1")
        })
        .await
        .expect_err("an id with other fields");
    assert_eq!(reused.code(), Code::AlreadyExists);
    let ledger = themself
        .list_ledger(pb::ListLedgerRequest {
            member_id: member.id.clone(),
            ..Default::default()
        })
        .await
        .expect("ledger")
        .into_inner();
    assert_eq!(ledger.entries.len(), 3);
    let board = street_admin
        .get_leaderboard(pb::GetLeaderboardRequest {
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("leaderboard")
        .into_inner();
    assert_eq!(board.top.len(), 1);
    assert_eq!((board.top[0].rank, board.top[0].balance), (1, 3));
    let own = themself
        .get_leaderboard(pb::GetLeaderboardRequest {
            org_id: platform.root_id.clone(),
            member_id: member.id.clone(),
            ..Default::default()
        })
        .await
        .expect("own rank")
        .into_inner();
    assert!(own.top.is_empty(), "members see their rank, not the board");
    assert_eq!(own.member.map(|m| m.rank), Some(1));
    let denied = outsider
        .get_leaderboard(pb::GetLeaderboardRequest {
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("outside scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

async fn transfers_go_to_active_orgs_and_are_accepted_there(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let from = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let to = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let gone = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "已撤销街道党工委",
    )
    .await;
    org.dissolve_unit(jiceng_proto::org::DissolveUnitRequest {
        id: gone.id.clone(),
        ..Default::default()
    })
    .await
    .expect("dissolve");
    let from_admin = || Bearer::new(&bearer("ljz", &[Role::StreetAdmin], &from.id));
    let mut sender = platform
        .client_as(from_admin(), MemberServiceClient::new)
        .await;
    let member = sender
        .create_member(pb::CreateMemberRequest {
            name: "赵某".into(),
            org_id: from.id.clone(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    let to_dissolved = sender
        .request_transfer(pb::RequestTransferRequest {
            member_id: member.id.clone(),
            to_org_id: gone.id.clone(),
            reason: "调动".into(),
            ..Default::default()
        })
        .await
        .expect_err("dissolved org");
    assert_eq!(to_dissolved.code(), Code::FailedPrecondition);
    assert!(
        to_dissolved.message().contains("dissolved"),
        "{}",
        to_dissolved.message()
    );
    let transfer = sender
        .request_transfer(pb::RequestTransferRequest {
            member_id: member.id.clone(),
            to_org_id: to.id.clone(),
            reason: "调动".into(),
            ..Default::default()
        })
        .await
        .expect("request")
        .into_inner();
    let not_receiver = sender
        .decide_transfer(pb::DecideTransferRequest {
            id: transfer.id.clone(),
            accept: true,
            note: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("only the receiving org decides");
    assert_eq!(not_receiver.code(), Code::PermissionDenied);
    let mut receiver = platform
        .client_as(
            Bearer::new(&bearer("huamu", &[Role::StreetAdmin], &to.id)),
            MemberServiceClient::new,
        )
        .await;
    let pending = receiver
        .list_transfers(pb::ListTransfersRequest {
            subject: Some(pb::list_transfers_request::Subject::PendingForOrgId(
                to.id.clone(),
            )),
            ..Default::default()
        })
        .await
        .expect("pending")
        .into_inner()
        .transfers;
    assert_eq!(pending.len(), 1);
    receiver
        .decide_transfer(pb::DecideTransferRequest {
            id: transfer.id.clone(),
            accept: true,
            note: "欢迎".into(),
            ..Default::default()
        })
        .await
        .expect("accept");
    let moved = receiver
        .get_member(pb::GetMemberRequest {
            id: member.id.clone(),
            reveal_personal_data: false,
            reveal_reason: String::new(),
        })
        .await
        .expect("now theirs")
        .into_inner();
    assert_eq!(moved.org_id, to.id);
    let lost = sender
        .get_member(pb::GetMemberRequest {
            id: member.id.clone(),
            reveal_personal_data: false,
            reveal_reason: String::new(),
        })
        .await
        .expect_err("no longer theirs");
    assert_eq!(lost.code(), Code::NotFound);
}

async fn members_register_where_they_live_and_keep_their_pledges(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let office = create(
        &mut org,
        &street.id,
        UnitKind::BuildingBranch,
        "金茂大厦楼宇联合党支部",
    )
    .await;
    let community = create(
        &mut org,
        &street.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let admin = || Bearer::new(&bearer("ljz", &[Role::StreetAdmin], &street.id));
    let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "孙某".into(),
            org_id: office.id.clone(),
            status: pb::MemberStatus::Full as i32,
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    let mut themself = platform
        .client_as(
            Bearer::new(&bearer(&member.id, &[Role::Member], &office.id)),
            MemberServiceClient::new,
        )
        .await;
    let not_a_community = themself
        .register_in_community(pb::RegisterInCommunityRequest {
            member_id: member.id.clone(),
            community_org_id: street.id.clone(),
        })
        .await
        .expect_err("a street is not a community");
    assert_eq!(not_a_community.code(), Code::FailedPrecondition);
    let registration = themself
        .register_in_community(pb::RegisterInCommunityRequest {
            member_id: member.id.clone(),
            community_org_id: community.id.clone(),
        })
        .await
        .expect("register")
        .into_inner();
    let mut community_admin = platform
        .client_as(
            Bearer::new(&bearer("meiyuan", &[Role::BranchAdmin], &community.id)),
            MemberServiceClient::new,
        )
        .await;
    let logged = community_admin
        .log_service_hours(pb::LogServiceHoursRequest {
            registration_id: registration.id.clone(),
            minutes: 120,
            service_date: "2026-11-28".into(),
            description: "社区垃圾分类宣传".into(),
            ..Default::default()
        })
        .await
        .expect("log")
        .into_inner();
    assert_eq!(logged.service_minutes, 120);
    let listed = community_admin
        .list_community_registrations(pb::ListCommunityRegistrationsRequest {
            community_org_id: community.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .registrations;
    assert_eq!(listed.len(), 1);

    let pledge = themself
        .publish_commitment(pb::PublishCommitmentRequest {
            member_id: member.id.clone(),
            text: "年内结对帮扶一户困难家庭".into(),
            due_date: "2026-12-31".into(),
            ..Default::default()
        })
        .await
        .expect("publish")
        .into_inner();
    let by_admin = members
        .fulfil_commitment(pb::FulfilCommitmentRequest {
            id: pledge.id.clone(),
            evidence: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("members fulfil their own");
    assert_eq!(by_admin.code(), Code::PermissionDenied);
    themself
        .fulfil_commitment(pb::FulfilCommitmentRequest {
            id: pledge.id.clone(),
            evidence: "帮扶记录".into(),
            ..Default::default()
        })
        .await
        .expect("fulfil");
    let confirmed = members
        .confirm_commitment(pb::ConfirmCommitmentRequest {
            id: pledge.id.clone(),
            confirm: true,
            note: "属实".into(),
            ..Default::default()
        })
        .await
        .expect("confirm")
        .into_inner();
    assert_eq!(confirmed.state, pb::CommitmentState::Confirmed as i32);
}

async fn venue_attendance_becomes_activities_and_points_once(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let centre = create(
        &mut org,
        &street.id,
        UnitKind::PartyMassServiceCentre,
        "陆家嘴党群服务中心",
    )
    .await;
    let committee = create(
        &mut org,
        &street.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let district = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut members = platform
        .client_as(district(), MemberServiceClient::new)
        .await;
    let mut attendee_ids = Vec::new();
    for name in ["周某", "吴某"] {
        let member = members
            .create_member(pb::CreateMemberRequest {
                name: name.into(),
                org_id: committee.id.clone(),
                status: pb::MemberStatus::Full as i32,
                ..Default::default()
            })
            .await
            .expect("member")
            .into_inner();
        attendee_ids.push(member.id);
    }
    let mut points = platform
        .client_as(district(), PointsServiceClient::new)
        .await;
    points
        .define_points_rule(pb::DefinePointsRuleRequest {
            rule: Some(pb::PointsRule {
                code: "activity.attend".into(),
                name: "参加组织生活".into(),
                points: 3,
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    let mut venues = platform
        .client_as(district(), VenueServiceClient::new)
        .await;
    let venue = venues
        .create_venue(org_pb::CreateVenueRequest {
            unit_id: centre.id.clone(),
            name: "党员活动室".into(),
            capacity: 30,
            ..Default::default()
        })
        .await
        .expect("venue")
        .into_inner();
    let start = (jiceng_db::now_millis() / 1000) + 2;
    let booking = venues
        .create_booking(org_pb::CreateBookingRequest {
            venue_id: venue.id.clone(),
            unit_id: committee.id.clone(),
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
    // Attendance is recorded once the activity has begun: the platform's clock moves there
    // rather than the test waiting for it.
    platform.clock.advance(2_500);
    venues
        .record_attendance(org_pb::RecordAttendanceRequest {
            id: booking.id.clone(),
            member_ids: attendee_ids.clone(),
            headcount: 12,
            note: String::new(),
            ..Default::default()
        })
        .await
        .expect("attendance");
    // Once every delivery is done the attendance has arrived, and a redelivery would have
    // shown.
    platform.settle().await;
    let activities = members
        .list_member_activities(pb::ListMemberActivitiesRequest {
            member_id: attendee_ids[0].clone(),
            ..Default::default()
        })
        .await
        .expect("activities")
        .into_inner()
        .activities;
    assert_eq!(activities.len(), 1);
    assert_eq!(activities[0].booking_id, booking.id);
    assert_eq!(activities[0].attendee_member_ids.len(), 2);
    let balance = points
        .get_balance(pb::GetBalanceRequest {
            member_id: attendee_ids[1].clone(),
            year: 0,
        })
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(
        balance.balance, 3,
        "attendance earned the rule's points, once"
    );
}

async fn member_changes_reach_the_member_through_notify(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let district = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut members = platform
        .client_as(district(), MemberServiceClient::new)
        .await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "郑某".into(),
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    members
        .change_member_status(pb::ChangeMemberStatusRequest {
            id: member.id.clone(),
            status: pb::MemberStatus::Activist as i32,
            effective_date: "2026-11-01".into(),
            approving_org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("activist");
    assert_eq!(
        common::inbox_titles(&platform, &member.id, &street.id, 1).await,
        ["发展阶段更新：入党积极分子"]
    );
}

async fn points_from_an_earlier_system_are_imported_once(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let district = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let member = platform
        .client_as(district(), MemberServiceClient::new)
        .await
        .create_member(pb::CreateMemberRequest {
            name: "张某".into(),
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    let mut points = platform
        .client_as(district(), PointsServiceClient::new)
        .await;
    let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
    points
        .define_points_rule(pb::DefinePointsRuleRequest {
            rule: Some(pb::PointsRule {
                code: "volunteer.hour".into(),
                name: "志愿服务每小时".into(),
                points: 1,
                daily_cap: 2,
                valid_from: at(1_577_836_800), // 2020-01-01
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    let entry = |id: &str, points: i64, seconds: i64| pb::ImportedPoints {
        entry_id: id.into(),
        member_id: member.id.clone(),
        rule_code: "volunteer.hour".into(),
        points,
        reason: "旧系统积分".into(),
        grant_time: at(seconds),
        ..Default::default()
    };
    // 2025-06-01 and 2026-03-01 (Beijing time, mid-morning): caps are not applied again.
    let batch = vec![
        entry("legacy-1", 6, 1_748_743_200),
        entry("legacy-2", 4, 1_772_330_400),
        entry("legacy-3", 5, 1_772_330_400),
    ];
    let import = |entries: Vec<pb::ImportedPoints>| pb::ImportPointsRequest { entries };
    let first = points
        .import_points(import(batch.clone()))
        .await
        .expect("import")
        .into_inner();
    assert_eq!((first.written, first.skipped), (3, 0));
    let again = points
        .import_points(import(batch.clone()))
        .await
        .expect("sent again")
        .into_inner();
    assert_eq!((again.written, again.skipped), (0, 3));
    for (year, expected) in [(2025, 6), (2026, 9)] {
        let balance = points
            .get_balance(pb::GetBalanceRequest {
                member_id: member.id.clone(),
                year,
            })
            .await
            .expect("balance")
            .into_inner();
        assert_eq!(balance.balance, expected, "{year}");
    }
    let board = points
        .get_leaderboard(pb::GetLeaderboardRequest {
            org_id: street.id.clone(),
            year: 2026,
            ..Default::default()
        })
        .await
        .expect("leaderboard")
        .into_inner();
    assert_eq!(board.top.len(), 1);
    assert_eq!(board.top[0].balance, 9);

    let changed = points
        .import_points(import(vec![entry("legacy-2", 40, 1_772_330_400)]))
        .await
        .expect_err("an id with other points");
    assert_eq!(changed.code(), Code::AlreadyExists);
    let refused = [
        (import(Vec::new()), Code::InvalidArgument),
        (
            import(vec![entry("legacy-9", 1, 1_772_330_400); 1_001]),
            Code::InvalidArgument,
        ),
        (
            import(vec![entry("legacy-9", 1, 4_102_444_800)]),
            Code::InvalidArgument,
        ),
        (
            import(vec![entry("legacy-9", 0, 1_772_330_400)]),
            Code::InvalidArgument,
        ),
        (
            import(vec![
                entry("legacy-9", 1, 1_772_330_400),
                entry("legacy-9", 2, 1_772_330_400),
            ]),
            Code::InvalidArgument,
        ),
        (
            import(vec![pb::ImportedPoints {
                member_id: "01937f6e-0000-7000-8000-00000000dead".into(),
                ..entry("legacy-9", 1, 1_772_330_400)
            }]),
            Code::NotFound,
        ),
        // Before the rule existed: no version was in force.
        (
            import(vec![entry("legacy-9", 1, 1_500_000_000)]),
            Code::NotFound,
        ),
    ];
    for (request, code) in refused {
        let status = points.import_points(request).await.expect_err("refused");
        assert_eq!(status.code(), code, "{}", status.message());
    }
    let street_admin = platform
        .client_as(
            Bearer::new(&bearer("ljz", &[Role::StreetAdmin], &street.id)),
            PointsServiceClient::new,
        )
        .await
        .import_points(import(vec![entry("legacy-9", 1, 1_772_330_400)]))
        .await
        .expect_err("district admins only");
    assert_eq!(street_admin.code(), Code::PermissionDenied);
    let ledger = points
        .list_ledger(pb::ListLedgerRequest {
            member_id: member.id.clone(),
            ..Default::default()
        })
        .await
        .expect("ledger")
        .into_inner();
    assert_eq!(ledger.entries.len(), 3, "nothing refused was written");
}

/// A member taken through every stage in quick succession is told of each stage in the order
/// they were reached: the inbox cursors of the notices follow the changes, so the newest notice
/// names the stage the member is at. Several members at once, so that their events go side by
/// side and only each member's own order is kept.
async fn a_members_stage_notices_follow_the_order_of_the_changes(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let admin = || Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let stages = [
        (pb::MemberStatus::Activist, "入党积极分子"),
        (pb::MemberStatus::DevelopmentTarget, "发展对象"),
        (pb::MemberStatus::Probationary, "预备党员"),
        (pb::MemberStatus::Full, "正式党员"),
    ];
    let mut runs = Vec::new();
    for n in 0..6 {
        let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
        let street = street.id.clone();
        runs.push(tokio::spawn(async move {
            let member = members
                .create_member(pb::CreateMemberRequest {
                    name: format!("党员{n}"),
                    org_id: street.clone(),
                    ..Default::default()
                })
                .await
                .expect("member")
                .into_inner()
                .id;
            for (status, _) in stages {
                members
                    .change_member_status(pb::ChangeMemberStatusRequest {
                        id: member.clone(),
                        status: status as i32,
                        effective_date: "2026-11-01".into(),
                        approving_org_id: street.clone(),
                        ..Default::default()
                    })
                    .await
                    .expect("the next stage");
            }
            member
        }));
    }
    let expected: Vec<String> = stages
        .iter()
        .map(|(_, name)| format!("发展阶段更新：{name}"))
        .collect();
    for run in runs {
        let member = run.await.expect("changes");
        let titles = common::inbox_titles(&platform, &member, &street.id, stages.len()).await;
        assert_eq!(titles, expected, "member {member}");
    }
}

on_both_backends!(
    a_members_stage_notices_follow_the_order_of_the_changes,
    points_from_an_earlier_system_are_imported_once,
    member_changes_reach_the_member_through_notify,
    venue_attendance_becomes_activities_and_points_once,
    members_register_where_they_live_and_keep_their_pledges,
    transfers_go_to_active_orgs_and_are_accepted_there,
    members_are_masked_except_to_admins_who_ask,
    illegal_pipeline_transitions_are_refused,
    points_are_awarded_by_admins_and_spent_by_members,
);
