//! The notify service through the public gRPC API: publishing and fan-out, inboxes, live
//! streams that resume without gaps or repeats, templates and preferences, and org events
//! arriving through the outbox — on both databases.

use crate::common;

use std::time::Duration;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_proto::{
    notify as pb,
    org::{
        self as org_pb, UnitKind, meeting_service_client::MeetingServiceClient,
        position_service_client::PositionServiceClient,
    },
};
use jiceng_testkit::{Bearer, HttpReceiver, TestDatabase, bearer, on_both_backends};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_types::StatusExt as _;

const WANG: &str = "01937f6e-0000-7000-8000-0000000000a1";
const LI: &str = "01937f6e-0000-7000-8000-0000000000a2";

fn member(id: &str) -> pb::Recipient {
    pb::Recipient {
        recipient: Some(pb::recipient::Recipient::MemberId(id.into())),
    }
}

async fn register(notify: &mut common::NotifyClient, name: &str, critical: bool) {
    notify
        .register_category(pb::RegisterCategoryRequest {
            category: Some(pb::Category {
                name: name.into(),
                critical,
                ..Default::default()
            }),
        })
        .await
        .expect("register");
}

fn message(key: &str, category: &str, recipients: Vec<pb::Recipient>) -> pb::PublishRequest {
    pb::PublishRequest {
        idempotency_key: key.into(),
        category: category.into(),
        title: format!("通知 {key}"),
        recipients,
        ..Default::default()
    }
}

async fn inbox(client: &mut common::NotifyClient) -> Vec<pb::InboxItem> {
    client
        .list_inbox(pb::ListInboxRequest::default())
        .await
        .expect("inbox")
        .into_inner()
        .items
}

async fn publishing_is_idempotent_and_inboxes_are_private(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform
        .notify_as(Bearer::new(&bearer(
            "admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        )))
        .await;
    register(&mut admin, "volunteer", false).await;
    let first = admin
        .publish(message(
            "req-1",
            "volunteer",
            vec![member(WANG), member(LI)],
        ))
        .await
        .expect("publish")
        .into_inner();
    let retry = admin
        .publish(message(
            "req-1",
            "volunteer",
            vec![member(WANG), member(LI)],
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);
    assert_eq!(first.delivered_count, 2);
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let items = inbox(&mut wang).await;
    assert_eq!(items.len(), 1, "one notification per recipient");
    let id = items[0]
        .notification
        .as_ref()
        .expect("notification")
        .id
        .clone();
    let mut li = platform
        .notify_as(Bearer::new(&bearer(LI, &[Role::Member], &platform.root_id)))
        .await;
    let foreign = li
        .archive_item(pb::ArchiveItemRequest {
            notification_id: "not-mine".into(),
        })
        .await
        .expect_err("not found");
    assert_eq!(foreign.code(), Code::NotFound);
    wang.mark_read(pb::MarkReadRequest {
        notification_id: id.clone(),
        read: true,
    })
    .await
    .expect("read");
    assert_eq!(
        wang.get_unread_count(pb::GetUnreadCountRequest {})
            .await
            .expect("count")
            .into_inner()
            .unread,
        0
    );
    assert_eq!(
        li.get_unread_count(pb::GetUnreadCountRequest {})
            .await
            .expect("count")
            .into_inner()
            .unread,
        1
    );
    let by_member = wang
        .publish(message("req-2", "volunteer", vec![member(LI)]))
        .await
        .expect_err("members do not publish");
    assert_eq!(by_member.code(), Code::PermissionDenied);
    let unregistered = admin
        .publish(message("req-3", "nope", vec![member(LI)]))
        .await
        .expect_err("unknown category");
    assert_eq!(unregistered.code(), Code::FailedPrecondition);
    let no_key = admin
        .publish(message("", "volunteer", vec![member(LI)]))
        .await
        .expect_err("no key");
    let fields: Vec<_> = no_key
        .get_details_bad_request()
        .expect("details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    // The key is `request_id`; `idempotency_key`, which this test's messages use, its former name.
    assert_eq!(fields, ["request_id"]);
}

async fn templates_are_checked_at_registration_and_filled_at_publish(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform
        .notify_as(Bearer::new(&bearer(
            "admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        )))
        .await;
    let category = |title: &str, variables: &[&str]| pb::RegisterCategoryRequest {
        category: Some(pb::Category {
            name: "activity".into(),
            title_template: title.into(),
            body_template: "地点：{{place}}".into(),
            variables: variables.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }),
    };
    let broken = admin
        .register_category(category("{{name", &["name", "place"]))
        .await
        .expect_err("unclosed");
    assert_eq!(broken.code(), Code::InvalidArgument);
    let undeclared = admin
        .register_category(category("{{name}}", &["place"]))
        .await
        .expect_err("undeclared");
    assert_eq!(undeclared.code(), Code::InvalidArgument);
    admin
        .register_category(category("活动：{{name}}", &["name", "place"]))
        .await
        .expect("register");
    let mut publish = message("act-1", "activity", vec![member(WANG)]);
    publish.variables = [("name".to_string(), "主题党日".to_string())].into();
    let missing = admin
        .publish(publish.clone())
        .await
        .expect_err("missing variable");
    assert_eq!(missing.code(), Code::InvalidArgument);
    publish
        .variables
        .insert("place".into(), "陆家嘴党群服务中心".into());
    let done = admin.publish(publish).await.expect("publish").into_inner();
    assert_eq!(
        (done.title.as_str(), done.body.as_str()),
        ("活动：主题党日", "地点：陆家嘴党群服务中心")
    );
}

async fn a_muted_category_is_not_delivered_but_a_critical_one_is(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform
        .notify_as(Bearer::new(&bearer(
            "admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        )))
        .await;
    register(&mut admin, "newsletter", false).await;
    register(&mut admin, "escalation", true).await;
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let preference = |category: &str| pb::SetPreferenceRequest {
        preference: Some(pb::Preference {
            category: category.into(),
            channel: pb::Channel::InApp as i32,
            enabled: false,
        }),
    };
    wang.set_preference(preference("newsletter"))
        .await
        .expect("mute");
    let critical = wang
        .set_preference(preference("escalation"))
        .await
        .expect_err("critical");
    assert_eq!(critical.code(), Code::FailedPrecondition);
    admin
        .publish(message("news-1", "newsletter", vec![member(WANG)]))
        .await
        .expect("publish");
    admin
        .publish(message("esc-1", "escalation", vec![member(WANG)]))
        .await
        .expect("publish");
    let titles: Vec<_> = inbox(&mut wang)
        .await
        .into_iter()
        .map(|i| i.notification.expect("n").title)
        .collect();
    assert_eq!(titles, ["通知 esc-1"]);
}

/// The next item of a stream, within five seconds.
async fn next(stream: &mut tonic::Streaming<pb::InboxItem>) -> pb::InboxItem {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item in time")
        .expect("the stream is open")
        .expect("an item, not an error")
}

async fn a_stream_resumes_from_its_cursor_without_gaps_or_repeats(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform
        .notify_as(Bearer::new(&bearer(
            "admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        )))
        .await;
    register(&mut admin, "live", false).await;
    admin
        .publish(message("live-0", "live", vec![member(WANG)]))
        .await
        .expect("publish");
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let mut stream = wang
        .subscribe(pb::SubscribeRequest { after_cursor: 0 })
        .await
        .expect("subscribe")
        .into_inner();
    let replayed = next(&mut stream).await;
    admin
        .publish(message("live-1", "live", vec![member(WANG)]))
        .await
        .expect("publish");
    let live = next(&mut stream).await;
    assert!(live.cursor > replayed.cursor);
    drop(stream);
    // Published while the subscriber is away.
    for key in ["live-2", "live-3", "live-4"] {
        admin
            .publish(message(key, "live", vec![member(WANG), member(LI)]))
            .await
            .expect("publish");
    }
    let mut resumed = wang
        .subscribe(pb::SubscribeRequest {
            after_cursor: live.cursor,
        })
        .await
        .expect("resubscribe")
        .into_inner();
    let mut titles = Vec::new();
    for _ in 0..3 {
        titles.push(next(&mut resumed).await.notification.expect("n").title);
    }
    admin
        .publish(message("live-5", "live", vec![member(WANG)]))
        .await
        .expect("publish");
    titles.push(next(&mut resumed).await.notification.expect("n").title);
    assert_eq!(
        titles,
        ["通知 live-2", "通知 live-3", "通知 live-4", "通知 live-5"]
    );
    let nothing_more = tokio::time::timeout(Duration::from_millis(300), resumed.next()).await;
    assert!(nothing_more.is_err(), "no repeats");
}

async fn role_fan_out_reaches_the_current_holder_only(db: TestDatabase) {
    let platform = Platform::start(db).await;
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
    let admin_token = || Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut positions = platform
        .client_as(admin_token(), PositionServiceClient::new)
        .await;
    let appoint = |holder: &str| org_pb::AppointPositionRequest {
        unit_id: committee.id.clone(),
        role: org_pb::PositionRole::Secretary as i32,
        holder: Some(org_pb::appoint_position_request::Holder::MemberId(
            holder.into(),
        )),
        replace_current: true,
        ..Default::default()
    };
    positions
        .appoint_position(appoint(WANG))
        .await
        .expect("wang");
    positions
        .appoint_position(appoint(LI))
        .await
        .expect("li takes over");
    let mut notify = platform.notify_as(admin_token()).await;
    register(&mut notify, "task", false).await;
    let secretary = pb::Recipient {
        recipient: Some(pb::recipient::Recipient::UnitRole(pb::UnitRole {
            unit_id: committee.id.clone(),
            role: org_pb::PositionRole::Secretary as i32,
        })),
    };
    let published = notify
        .publish(message("task-1", "task", vec![secretary]))
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(published.delivered_count, 1);
    let mut li = platform
        .notify_as(Bearer::new(&bearer(LI, &[Role::Member], &platform.root_id)))
        .await;
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let task_titles = |items: Vec<pb::InboxItem>| -> Vec<String> {
        items
            .into_iter()
            .filter_map(|i| i.notification)
            .filter(|n| n.category == "task")
            .map(|n| n.title)
            .collect()
    };
    assert_eq!(task_titles(inbox(&mut li).await), ["通知 task-1"]);
    assert!(
        task_titles(inbox(&mut wang).await).is_empty(),
        "the former secretary is not told"
    );
    let mut street_admin = platform
        .notify_as(Bearer::new(&bearer("s", &[Role::StreetAdmin], &street.id)))
        .await;
    let elsewhere = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let outside = pb::Recipient {
        recipient: Some(pb::recipient::Recipient::UnitRole(pb::UnitRole {
            unit_id: elsewhere.id.clone(),
            role: org_pb::PositionRole::Secretary as i32,
        })),
    };
    let denied = street_admin
        .publish(message("task-2", "task", vec![outside]))
        .await
        .expect_err("outside scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

async fn org_events_arrive_as_notifications_once(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let admin_token = || Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut positions = platform
        .client_as(admin_token(), PositionServiceClient::new)
        .await;
    positions
        .appoint_position(org_pb::AppointPositionRequest {
            unit_id: street.id.clone(),
            role: org_pb::PositionRole::Secretary as i32,
            holder: Some(org_pb::appoint_position_request::Holder::MemberId(
                WANG.into(),
            )),
            ..Default::default()
        })
        .await
        .expect("appoint");
    let mut meetings = platform
        .client_as(admin_token(), MeetingServiceClient::new)
        .await;
    meetings
        .schedule_joint_meeting(org_pb::ScheduleJointMeetingRequest {
            host: Some(org_pb::schedule_joint_meeting_request::Host::HostUnitId(
                street.id.clone(),
            )),
            title: "行政党组会议".into(),
            topic: Some(org_pb::schedule_joint_meeting_request::Topic::TopicText(
                "停车难".into(),
            )),
            scheduled_time: Some(prost_types::Timestamp {
                seconds: jiceng_db::now_millis() / 1000 + 86_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("schedule");
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    // Both events have become notices once every delivery is done.
    platform.settle().await;
    let mut categories = inbox(&mut wang)
        .await
        .into_iter()
        .filter_map(|i| i.notification)
        .map(|n| n.category)
        .collect::<Vec<_>>();
    categories.sort();
    assert_eq!(
        categories,
        ["org.meeting.scheduled", "org.position.changed"]
    );
    let meeting = inbox(&mut wang)
        .await
        .into_iter()
        .find_map(|i| {
            i.notification
                .filter(|n| n.category == "org.meeting.scheduled")
        })
        .expect("meeting");
    assert_eq!(meeting.title, "会议通知：行政党组会议");
    assert!(
        !meeting.source_event_id.is_empty(),
        "traceable to the org event"
    );
}

async fn a_webhook_that_fails_twice_gets_the_notification_once_signed(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let receiver = HttpReceiver::start(vec![500, 503]).await;
    let mut admin = platform
        .notify_as(Bearer::new(&bearer(
            "admin",
            &[Role::DistrictAdmin],
            &platform.root_id,
        )))
        .await;
    register(&mut admin, "dispatch", false).await;
    let hotline = "city-hotline-12345";
    let webhook = admin
        .register_webhook(pb::RegisterWebhookRequest {
            recipient: hotline.into(),
            url: receiver.url("/jiceng"),
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner();
    assert_eq!(webhook.signing_secret.len(), 64);
    let bad_url = admin
        .register_webhook(pb::RegisterWebhookRequest {
            recipient: hotline.into(),
            url: "ftp://x".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad url");
    assert_eq!(bad_url.code(), Code::InvalidArgument);
    let published = admin
        .publish(message("case-9", "dispatch", vec![member(hotline)]))
        .await
        .expect("publish")
        .into_inner();
    let requests = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    for request in &requests {
        let timestamp: i64 = request
            .header("x-jiceng-timestamp")
            .expect("timestamp")
            .parse()
            .expect("number");
        let expected =
            jiceng_notify::webhooks::signature(&webhook.signing_secret, timestamp, &request.body);
        assert_eq!(
            request.header("x-jiceng-signature"),
            Some(expected.as_str())
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body["id"], published.id.as_str());
    }
    let delivery_status = || {
        let (mut admin, notification_id) = (admin.clone(), published.id.clone());
        async move {
            admin
                .get_delivery_status(pb::GetDeliveryStatusRequest { notification_id })
                .await
                .expect("status")
                .into_inner()
        }
    };
    let delivered = jiceng_testkit::eventually(Duration::from_secs(2), || {
        let status = delivery_status();
        async move {
            let status = status.await;
            status
                .deliveries
                .first()
                .is_some_and(|d| d.state == pb::DeliveryState::Delivered as i32)
                .then_some(status)
        }
    })
    .await;
    let status = match delivered {
        Some(status) => status,
        None => delivery_status().await,
    };
    let delivery = &status.deliveries[0];
    assert_eq!(delivery.state, pb::DeliveryState::Delivered as i32);
    // Delivered is final (the dispatcher claims pending deliveries only), and once the outboxes
    // have settled no event can make another notification to send: nothing more comes.
    platform.settle().await;
    assert_eq!(
        receiver.requests().len(),
        3,
        "delivered once, then never again"
    );
    assert_eq!(
        delivery
            .attempts
            .iter()
            .map(|a| a.http_status)
            .collect::<Vec<_>>(),
        [500, 503, 200]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_live_streams_instead_of_waiting_for_them() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let mut wang = platform
        .notify_as(Bearer::new(&bearer(
            WANG,
            &[Role::Member],
            &platform.root_id,
        )))
        .await;
    let mut stream = wang
        .subscribe(pb::SubscribeRequest { after_cursor: 0 })
        .await
        .expect("subscribe")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(10), platform.stop())
        .await
        .expect("the platform stops despite an open stream");
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends");
    match ended {
        Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        Ok(item) => assert!(item.is_none(), "no item after shutdown"),
    }
}

on_both_backends!(
    a_webhook_that_fails_twice_gets_the_notification_once_signed,
    publishing_is_idempotent_and_inboxes_are_private,
    templates_are_checked_at_registration_and_filled_at_publish,
    a_muted_category_is_not_delivered_but_a_critical_one_is,
    a_stream_resumes_from_its_cursor_without_gaps_or_repeats,
    role_fan_out_reaches_the_current_holder_only,
    org_events_arrive_as_notifications_once,
);
