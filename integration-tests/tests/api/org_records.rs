//! Positions, alliances, meetings, projects and venues through the public gRPC API: who may do
//! what, and the codes a caller gets — on both databases.

use crate::common;

use common::{Platform, create, fields_of};
use jiceng_auth::Role;
use jiceng_proto::org::{
    self as pb, UnitKind, alliance_service_client::AllianceServiceClient,
    meeting_service_client::MeetingServiceClient, position_service_client::PositionServiceClient,
    venue_service_client::VenueServiceClient,
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::Code;

const MEMBER_ID: &str = "01937f6e-0000-7000-8000-000000000001";

fn at(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: 0,
    }
}

fn now() -> i64 {
    jiceng_db::now_millis()
}

struct Street {
    platform: Platform,
    street: pb::Unit,
    committee: pb::Unit,
    other_street: pb::Unit,
}

async fn street(db: TestDatabase) -> Street {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "洋泾街道党工委",
    )
    .await;
    let committee = create(
        &mut admin,
        &street.id,
        UnitKind::ResidentialCommittee,
        "东城一村居民区党总支",
    )
    .await;
    let other_street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    Street {
        platform,
        street,
        committee,
        other_street,
    }
}

impl Street {
    fn street_admin(&self) -> Bearer {
        Bearer::new(&bearer(
            "yangjing-admin",
            &[Role::StreetAdmin],
            &self.street.id,
        ))
    }

    fn other_admin(&self) -> Bearer {
        Bearer::new(&bearer(
            "huamu-admin",
            &[Role::StreetAdmin],
            &self.other_street.id,
        ))
    }
}

async fn secretaries_are_appointed_and_handed_over_by_their_admins(db: TestDatabase) {
    let s = street(db).await;
    let mut positions = s
        .platform
        .client_as(s.street_admin(), PositionServiceClient::new)
        .await;
    let appoint = |member: &str, start: i64, replace: bool| pb::AppointPositionRequest {
        unit_id: s.committee.id.clone(),
        role: pb::PositionRole::Secretary as i32,
        holder: Some(pb::appoint_position_request::Holder::MemberId(
            member.to_owned(),
        )),
        term_start: Some(at(start)),
        replace_current: replace,
        ..Default::default()
    };
    let first = positions
        .appoint_position(appoint(MEMBER_ID, now() - 60_000, false))
        .await
        .expect("appoint")
        .into_inner();
    let second_member = "01937f6e-0000-7000-8000-000000000002";
    let held = positions
        .appoint_position(appoint(second_member, now(), false))
        .await
        .expect_err("held");
    assert_eq!(held.code(), Code::FailedPrecondition);
    let second = positions
        .appoint_position(appoint(second_member, now(), true))
        .await
        .expect("hand over")
        .into_inner();
    let holders = positions
        .list_current_holders(pb::ListCurrentHoldersRequest {
            unit_id: s.committee.id.clone(),
            role: pb::PositionRole::Secretary as i32,
            ..Default::default()
        })
        .await
        .expect("holders")
        .into_inner()
        .positions;
    assert_eq!(
        holders.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str()]
    );
    let history = positions
        .list_positions(pb::ListPositionsRequest {
            unit_id: s.committee.id.clone(),
            include_ended: true,
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .positions;
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .any(|p| p.id == first.id && p.term_end.is_some())
    );

    let mut outsider = s
        .platform
        .client_as(s.other_admin(), PositionServiceClient::new)
        .await;
    let denied = outsider
        .appoint_position(appoint(MEMBER_ID, now(), true))
        .await
        .expect_err("outside scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let part_time = pb::AppointPositionRequest {
        unit_id: s.street.id.clone(),
        role: pb::PositionRole::PartTimeCommitteeMember as i32,
        holder: Some(pb::appoint_position_request::Holder::Person(
            pb::ExternalPerson {
                name: "李某".into(),
                unit_name: "某区税务所".into(),
            },
        )),
        ..Default::default()
    };
    let missing = positions
        .appoint_position(part_time)
        .await
        .expect_err("no stationed unit");
    assert_eq!(fields_of(&missing), ["stationed_unit_name"]);
}

async fn a_project_cannot_skip_or_repeat_a_meeting(db: TestDatabase) {
    let s = street(db).await;
    let mut meetings = s
        .platform
        .client_as(s.street_admin(), MeetingServiceClient::new)
        .await;
    let project = meetings
        .create_project(pb::CreateProjectRequest {
            unit_id: s.committee.id.clone(),
            name: "东城一村加装电梯".into(),
            ..Default::default()
        })
        .await
        .expect("project")
        .into_inner();
    let record = |stage: pb::ProjectStage| pb::RecordProjectMeetingRequest {
        project_id: project.id.clone(),
        stage: stage as i32,
        opinions: vec!["低层住户担心采光".into()],
        outcome: "同意推进".into(),
        vote: Some(pb::Vote {
            in_favour: 40,
            against: 3,
            abstaining: 2,
        }),
        ..Default::default()
    };
    let skipped = meetings
        .record_project_meeting(record(pb::ProjectStage::Evaluation))
        .await
        .expect_err("skip");
    assert_eq!(skipped.code(), Code::FailedPrecondition);
    meetings
        .record_project_meeting(record(pb::ProjectStage::Hearing))
        .await
        .expect("hearing");
    let repeated = meetings
        .record_project_meeting(record(pb::ProjectStage::Hearing))
        .await
        .expect_err("repeat");
    assert_eq!(repeated.code(), Code::FailedPrecondition);
    let project = meetings
        .get_project(pb::GetProjectRequest {
            id: project.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(project.next_stage, pb::ProjectStage::Coordination as i32);
    assert_eq!(project.meetings.len(), 1);
    let unknown = meetings
        .record_project_meeting(pb::RecordProjectMeetingRequest {
            stage: 0,
            ..record(pb::ProjectStage::Hearing)
        })
        .await;
    assert_eq!(fields_of(&unknown.expect_err("no stage")), ["stage",]);
}

async fn joint_meetings_take_one_topic_and_track_decisions(db: TestDatabase) {
    let s = street(db).await;
    let mut meetings = s
        .platform
        .client_as(s.street_admin(), MeetingServiceClient::new)
        .await;
    let no_topic = meetings
        .schedule_joint_meeting(pb::ScheduleJointMeetingRequest {
            host: Some(pb::schedule_joint_meeting_request::Host::HostUnitId(
                s.street.id.clone(),
            )),
            title: "行政党组会议".into(),
            scheduled_time: Some(at(now() + 86_400_000)),
            ..Default::default()
        })
        .await
        .expect_err("no topic");
    assert_eq!(fields_of(&no_topic), ["topic"]);
    let meeting = meetings
        .schedule_joint_meeting(pb::ScheduleJointMeetingRequest {
            host: Some(pb::schedule_joint_meeting_request::Host::HostUnitId(
                s.street.id.clone(),
            )),
            title: "行政党组会议".into(),
            topic: Some(pb::schedule_joint_meeting_request::Topic::TopicText(
                "楼道堆物屡清屡堆".into(),
            )),
            scheduled_time: Some(at(now() + 86_400_000)),
            ..Default::default()
        })
        .await
        .expect("schedule")
        .into_inner();
    let decision = meetings
        .add_decision(pb::AddDecisionRequest {
            meeting_id: meeting.id.clone(),
            text: "三日内清理楼道堆物".into(),
            owner_unit_id: s.committee.id.clone(),
            due_time: Some(at(now() - 1000)),
            ..Default::default()
        })
        .await
        .expect("decision")
        .into_inner();
    let overdue = meetings
        .list_overdue_decisions(pb::ListOverdueDecisionsRequest {
            ..Default::default()
        })
        .await
        .expect("overdue")
        .into_inner()
        .decisions;
    assert_eq!(
        overdue.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [decision.id.as_str()]
    );
    let mut outsider = s
        .platform
        .client_as(s.other_admin(), MeetingServiceClient::new)
        .await;
    let hidden = outsider
        .get_joint_meeting(pb::GetJointMeetingRequest {
            id: meeting.id.clone(),
        })
        .await
        .expect_err("scope");
    assert_eq!(hidden.code(), Code::PermissionDenied);
    assert!(
        outsider
            .list_overdue_decisions(pb::ListOverdueDecisionsRequest {
                ..Default::default()
            })
            .await
            .expect("own scope")
            .into_inner()
            .decisions
            .is_empty()
    );
}

async fn alliances_check_credit_codes_and_lead_admins(db: TestDatabase) {
    let s = street(db).await;
    let mut alliances = s
        .platform
        .client_as(s.street_admin(), AllianceServiceClient::new)
        .await;
    let alliance = alliances
        .create_alliance(pb::CreateAllianceRequest {
            name: "洋泾街区党建联盟".into(),
            kind: pb::AllianceKind::StreetBlock as i32,
            lead_unit_id: s.street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("alliance")
        .into_inner();
    let organisation = |code: &str| pb::AddAllianceMemberRequest {
        alliance_id: alliance.id.clone(),
        member: Some(pb::add_alliance_member_request::Member::Organisation(
            pb::ExternalOrganisation {
                name: "某科技有限公司".into(),
                credit_code: code.into(),
            },
        )),
        ..Default::default()
    };
    let bad = alliances
        .add_alliance_member(organisation("91350100M000100Y44"))
        .await
        .expect_err("check character");
    assert_eq!(fields_of(&bad), ["organisation.credit_code"]);
    alliances
        .add_alliance_member(organisation("91350100M000100Y43"))
        .await
        .expect("join");
    let mut outsider = s
        .platform
        .client_as(s.other_admin(), AllianceServiceClient::new)
        .await;
    let denied = outsider
        .add_alliance_member(organisation("9144030071526726XG"))
        .await
        .expect_err("not the lead");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let members = alliances
        .list_alliance_members(pb::ListAllianceMembersRequest {
            alliance_id: alliance.id.clone(),
            include_past: false,
            ..Default::default()
        })
        .await
        .expect("members")
        .into_inner()
        .members;
    assert_eq!(members.len(), 1);
}

async fn members_book_venues_and_slots_do_not_overlap(db: TestDatabase) {
    let s = street(db).await;
    let mut admin = s.platform.admin().await;
    let centre = create(
        &mut admin,
        &s.street.id,
        UnitKind::PartyMassServiceCentre,
        "洋泾党群服务中心",
    )
    .await;
    let mut venues = s
        .platform
        .client_as(s.street_admin(), VenueServiceClient::new)
        .await;
    let venue = venues
        .create_venue(pb::CreateVenueRequest {
            unit_id: centre.id.clone(),
            name: "党员活动室".into(),
            capacity: 40,
            ..Default::default()
        })
        .await
        .expect("venue")
        .into_inner();
    let start = (now() / 86_400_000 + 2) * 86_400_000;
    let book = |unit: &str, offset_hours: i64| pb::CreateBookingRequest {
        venue_id: venue.id.clone(),
        unit_id: unit.to_owned(),
        title: "主题党日".into(),
        expected_attendees: 20,
        start_time: Some(at(start + offset_hours * 3_600_000)),
        end_time: Some(at(start + (offset_hours + 2) * 3_600_000)),
        ..Default::default()
    };
    let member_token = Bearer::new(&bearer(MEMBER_ID, &[Role::Member], &s.committee.id));
    let mut member = s
        .platform
        .client_as(member_token, VenueServiceClient::new)
        .await;
    let booked = member
        .create_booking(book("", 0))
        .await
        .expect("member books")
        .into_inner();
    assert_eq!(
        booked.booker,
        Some(pb::booking::Booker::MemberId(MEMBER_ID.into()))
    );
    assert_eq!(booked.status, pb::BookingStatus::Confirmed as i32);
    let clash = venues
        .create_booking(book(&s.committee.id, 1))
        .await
        .expect_err("overlap");
    assert_eq!(clash.code(), Code::FailedPrecondition);
    venues
        .create_booking(book(&s.committee.id, 2))
        .await
        .expect("adjacent slot");
    let backwards = pb::CreateBookingRequest {
        end_time: Some(at(start)),
        ..book("", 3)
    };
    assert_eq!(
        fields_of(
            &member
                .create_booking(backwards)
                .await
                .expect_err("backwards")
        ),
        ["end_time"]
    );
    let by_member_for_unit = member
        .create_booking(book(&s.committee.id, 6))
        .await
        .expect_err("members book as themselves");
    assert_eq!(by_member_for_unit.code(), Code::PermissionDenied);
    let cancelled = member
        .cancel_booking(pb::CancelBookingRequest {
            id: booked.id.clone(),
            reason: "改期".into(),
            ..Default::default()
        })
        .await
        .expect("own booking")
        .into_inner();
    assert_eq!(cancelled.status, pb::BookingStatus::Cancelled as i32);
}

on_both_backends!(
    secretaries_are_appointed_and_handed_over_by_their_admins,
    a_project_cannot_skip_or_repeat_a_meeting,
    joint_meetings_take_one_topic_and_track_decisions,
    alliances_check_credit_codes_and_lead_admins,
    members_book_venues_and_slots_do_not_overlap,
);
