//! A retried call with its `request_id` acts once: the mutations that took no key before
//! (confirming a booking, creating a grid, a case's step, a pledge, registering a webhook) and
//! `Publish`, whose key is now `request_id` too.

use crate::common;

use common::{Platform, create, fields_of};
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{
        self as gpb, case_service_client::CaseServiceClient, grid_service_client::GridServiceClient,
    },
    member::{self as mpb, member_service_client::MemberServiceClient},
    notify::{self as npb, notify_service_client::NotifyServiceClient},
    org::{self as pb, UnitKind, venue_service_client::VenueServiceClient},
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::Code;

fn at(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: 0,
    }
}

async fn a_retried_mutation_acts_once_and_a_reused_key_is_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let admin = || {
        Bearer::new(&bearer(
            "district-admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let committee = create(
        &mut org,
        &street.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;

    // A booking confirmed twice with one key: the second answers as the first did.
    let mut venues = platform.client_as(admin(), VenueServiceClient::new).await;
    let venue = venues
        .create_venue(pb::CreateVenueRequest {
            unit_id: committee.id.clone(),
            name: "党员活动室".into(),
            capacity: 40,
            requires_confirmation: true,
            ..Default::default()
        })
        .await
        .expect("venue")
        .into_inner();
    let start = (jiceng_db::now_millis() / 86_400_000 + 2) * 86_400_000;
    let booking = venues
        .create_booking(pb::CreateBookingRequest {
            venue_id: venue.id.clone(),
            unit_id: committee.id.clone(),
            title: "主题党日".into(),
            expected_attendees: 20,
            start_time: Some(at(start)),
            end_time: Some(at(start + 7_200_000)),
            ..Default::default()
        })
        .await
        .expect("booking")
        .into_inner();
    assert_eq!(booking.status, pb::BookingStatus::Pending as i32);
    let confirm = pb::ConfirmBookingRequest {
        id: booking.id.clone(),
        request_id: "confirm-1".into(),
    };
    let first = venues
        .confirm_booking(confirm.clone())
        .await
        .expect("confirmed")
        .into_inner();
    let again = venues
        .confirm_booking(confirm)
        .await
        .expect("the retry answers as the first call")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(again.status, pb::BookingStatus::Confirmed as i32);
    let without_key = venues
        .confirm_booking(pb::ConfirmBookingRequest {
            id: booking.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a second confirmation without the key");
    assert_eq!(without_key.code(), Code::FailedPrecondition);
    let reused = venues
        .cancel_booking(pb::CancelBookingRequest {
            id: booking.id.clone(),
            reason: "改期".into(),
            request_id: "confirm-1".into(),
        })
        .await
        .expect_err("the key was a confirmation's");
    assert_eq!(
        (reused.code(), fields_of(&reused)),
        (Code::InvalidArgument, vec!["request_id".to_owned()])
    );

    // A grid created twice with one key: one grid, not ALREADY_EXISTS.
    let mut grids = platform.client_as(admin(), GridServiceClient::new).await;
    let new_grid = gpb::CreateGridRequest {
        grid: Some(gpb::Grid {
            code: "PD-LJZ-009".into(),
            name: "梅园一村第九网格".into(),
            layer: gpb::Layer::SocialManagement as i32,
            org_id: committee.id.clone(),
            ..Default::default()
        }),
        request_id: "grid-9".into(),
    };
    let grid = grids
        .create_grid(new_grid.clone())
        .await
        .expect("grid")
        .into_inner();
    let retried = grids
        .create_grid(new_grid.clone())
        .await
        .expect("the retry")
        .into_inner();
    assert_eq!(retried, grid);
    let without_key = grids
        .create_grid(gpb::CreateGridRequest {
            request_id: String::new(),
            ..new_grid
        })
        .await
        .expect_err("the code is taken");
    assert_eq!(without_key.code(), Code::AlreadyExists);

    // A webhook registered twice with one key: one webhook, its secret answered again.
    let mut notify = platform.client_as(admin(), NotifyServiceClient::new).await;
    let register = npb::RegisterWebhookRequest {
        url: "http://127.0.0.1:9/hook".into(),
        request_id: "hook-1".into(),
        ..Default::default()
    };
    let hook = notify
        .register_webhook(register.clone())
        .await
        .expect("webhook")
        .into_inner();
    let again = notify
        .register_webhook(register)
        .await
        .expect("the retry")
        .into_inner();
    assert_eq!(
        (again.id, again.signing_secret),
        (hook.id, hook.signing_secret)
    );

    // A case accepted twice with one key: the step is taken once.
    let grid_id = common::garbage_grid(&platform, &committee.id).await;
    let mut cases = platform.client_as(admin(), CaseServiceClient::new).await;
    let case = cases
        .report_case(gpb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "楼道口堆放建筑垃圾".into(),
            attributes: [("volume".to_owned(), "large".to_owned())].into(),
            grid_id,
            reporter_kind: gpb::ReporterKind::Resident as i32,
            ..Default::default()
        })
        .await
        .expect("reported")
        .into_inner();
    let accept = gpb::AcceptCaseRequest {
        case_id: case.id.clone(),
        etag: case.etag.clone(),
        request_id: "accept-1".into(),
        ..Default::default()
    };
    let accepted = cases
        .accept_case(accept.clone())
        .await
        .expect("accepted")
        .into_inner();
    let again = cases
        .accept_case(accept)
        .await
        .expect("the retry, with the etag it read before")
        .into_inner();
    assert_eq!(again, accepted);
    let history = cases
        .list_case_history(gpb::ListCaseHistoryRequest {
            case_id: case.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .events;
    assert_eq!(
        history
            .iter()
            .filter(|e| e.to_state == gpb::CaseState::Accepted as i32)
            .count(),
        1,
        "accepted once"
    );

    // A member's pledge published twice with one key: one pledge.
    let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
    let member = members
        .create_member(mpb::CreateMemberRequest {
            name: "王某".into(),
            org_id: committee.id.clone(),
            birth_date: "1970-01-01".into(),
            ..Default::default()
        })
        .await
        .expect("member")
        .into_inner();
    let pledge = mpb::PublishCommitmentRequest {
        member_id: member.id.clone(),
        text: "每月参加一次社区志愿服务".into(),
        due_date: "2027-01-31".into(),
        request_id: "pledge-1".into(),
    };
    let first = members
        .publish_commitment(pledge.clone())
        .await
        .expect("pledged")
        .into_inner();
    let again = members
        .publish_commitment(pledge)
        .await
        .expect("the retry")
        .into_inner();
    assert_eq!(again.id, first.id);
    let mut pledger = platform
        .client_as(
            Bearer::new(&bearer(&member.id, &[Role::Member], &committee.id)),
            MemberServiceClient::new,
        )
        .await;
    let fulfil = mpb::FulfilCommitmentRequest {
        id: first.id.clone(),
        evidence: "服务记录 12 次".into(),
        request_id: "fulfil-1".into(),
    };
    let fulfilled = pledger
        .fulfil_commitment(fulfil.clone())
        .await
        .expect("fulfilled")
        .into_inner();
    assert_eq!(
        pledger
            .fulfil_commitment(fulfil)
            .await
            .expect("the retry")
            .into_inner(),
        fulfilled
    );
    let unkeyed = pledger
        .fulfil_commitment(mpb::FulfilCommitmentRequest {
            id: first.id.clone(),
            evidence: "服务记录 12 次".into(),
            ..Default::default()
        })
        .await
        .expect_err("a second fulfilment without the key");
    assert_eq!(unkeyed.code(), Code::FailedPrecondition);
    let activity = mpb::RecordActivityRequest {
        kind: mpb::ActivityKind::OrgLife as i32,
        title: "主题党日".into(),
        org_id: committee.id.clone(),
        held_on: "2026-12-01".into(),
        attendee_member_ids: vec![member.id.clone()],
        request_id: "activity-1".into(),
    };
    let recorded = members
        .record_activity(activity.clone())
        .await
        .expect("recorded")
        .into_inner();
    let again = members
        .record_activity(activity)
        .await
        .expect("the retry")
        .into_inner();
    assert_eq!(again.id, recorded.id);
    let attended = members
        .list_member_activities(mpb::ListMemberActivitiesRequest {
            member_id: member.id.clone(),
            ..Default::default()
        })
        .await
        .expect("activities")
        .into_inner()
        .activities;
    assert_eq!(attended.len(), 1, "one activity, attended once");

    // Publish takes its key as request_id; the former name still works, and the two must agree.
    notify
        .register_category(npb::RegisterCategoryRequest {
            category: Some(npb::Category {
                name: "party.notice".into(),
                title_template: "{{title}}".into(),
                body_template: "请准时参加".into(),
                variables: vec!["title".into()],
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    let publish = |request_id: &str, idempotency_key: &str| npb::PublishRequest {
        request_id: request_id.into(),
        idempotency_key: idempotency_key.into(),
        category: "party.notice".into(),
        variables: [("title".to_owned(), "主题党日".to_owned())].into(),
        recipients: vec![npb::Recipient {
            recipient: Some(npb::recipient::Recipient::MemberId("member-1".into())),
        }],
        ..Default::default()
    };
    let first = notify
        .publish(publish("notice-1", ""))
        .await
        .expect("published")
        .into_inner();
    let by_old_name = notify
        .publish(publish("", "notice-1"))
        .await
        .expect("the same key under its former name")
        .into_inner();
    assert_eq!(by_old_name.id, first.id);
    let both = notify
        .publish(publish("notice-1", "notice-2"))
        .await
        .expect_err("two different keys");
    assert_eq!(both.code(), Code::InvalidArgument);
    let neither = notify.publish(publish("", "")).await.expect_err("no key");
    assert_eq!(
        (neither.code(), fields_of(&neither)),
        (Code::InvalidArgument, vec!["request_id".to_owned()])
    );
    platform.stop().await;
}

on_both_backends!(a_retried_mutation_acts_once_and_a_reused_key_is_refused);
