//! The notify service's authorization matrix: see `authz/mod.rs`.

use crate::authz;

use authz::{Fixture, Row, Side};
use jiceng_auth::Role;
use jiceng_proto::{
    notify::{self as pb, notify_service_client::NotifyServiceClient},
    org::PositionRole,
};

/// The category the rows publish in and set preferences for.
const CATEGORY: &str = "authz.notice";
/// A topic every caller of the matrix follows, so one notification reaches each of their inboxes.
const EVERY_CALLER: &str = "authz.every_caller";
/// The topic of street A's branch, which the topic rows follow and publish to.
const VOLUNTEERS: &str = "lujiazui.volunteers";
/// A URL nothing listens on: deliveries to it are recorded, then fail.
const WEBHOOK_URL: &str = "http://127.0.0.1:9/notify";

struct Extra {
    /// A notification to street A's member, who has a webhook, so it has a delivery.
    delivered_to_member: String,
}

fn topic(name: &str) -> pb::Recipient {
    pb::Recipient {
        recipient: Some(pb::recipient::Recipient::Topic(name.into())),
    }
}

async fn setup(f: &Fixture) -> Extra {
    let mut admin = f.admin(NotifyServiceClient::new).await;
    admin
        .register_category(pb::RegisterCategoryRequest {
            category: Some(pb::Category {
                name: CATEGORY.into(),
                ..Default::default()
            }),
        })
        .await
        .expect("category");
    for (name, owner) in [(EVERY_CALLER, &f.root), (VOLUNTEERS, &f.a.branch)] {
        admin
            .create_topic(pb::CreateTopicRequest {
                topic: Some(pb::Topic {
                    name: name.into(),
                    owner_org_id: owner.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("topic");
    }
    for role in Role::ALL {
        for side in [Side::In, Side::Out] {
            f.as_role(role, side, NotifyServiceClient::new)
                .await
                .follow_topic(pb::FollowTopicRequest {
                    topic: EVERY_CALLER.into(),
                })
                .await
                .expect("follow");
        }
    }
    admin
        .register_webhook(pb::RegisterWebhookRequest {
            recipient: f.a.member.clone(),
            url: WEBHOOK_URL.into(),
            ..Default::default()
        })
        .await
        .expect("webhook");
    let delivered_to_member = admin
        .publish(pb::PublishRequest {
            idempotency_key: authz::unique("authz-"),
            category: CATEGORY.into(),
            title: "支部通知".into(),
            recipients: vec![pb::Recipient {
                recipient: Some(pb::recipient::Recipient::MemberId(f.a.member.clone())),
            }],
            ..Default::default()
        })
        .await
        .expect("publish")
        .into_inner()
        .id;
    Extra {
        delivered_to_member,
    }
}

/// A new notification in every caller's inbox, so a caller's own item is there in any state.
async fn notice_to_every_caller(f: &Fixture<Extra>) -> String {
    f.admin(NotifyServiceClient::new)
        .await
        .publish(pb::PublishRequest {
            idempotency_key: authz::unique("authz-"),
            category: CATEGORY.into(),
            title: "全体通知".into(),
            recipients: vec![topic(EVERY_CALLER)],
            ..Default::default()
        })
        .await
        .expect("notice")
        .into_inner()
        .id
}

fn rows() -> Vec<Row<Extra>> {
    vec![
        row!(
            "/jiceng.notify.v1.NotifyService/Publish",
            [Admins, Service],
            Subtree,
            |f| pb::PublishRequest {
                idempotency_key: authz::unique("authz-"),
                category: CATEGORY.into(),
                title: "支部书记请注意".into(),
                // Each kind of recipient within street A's branch: a role, a member, a topic.
                recipients: vec![
                    pb::Recipient {
                        recipient: Some(pb::recipient::Recipient::UnitRole(pb::UnitRole {
                            unit_id: f.a.branch.clone(),
                            role: PositionRole::Secretary as i32,
                        })),
                    },
                    pb::Recipient {
                        recipient: Some(pb::recipient::Recipient::MemberId(f.a.member.clone())),
                    },
                    topic(VOLUNTEERS),
                ],
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/CreateTopic",
            [Admins],
            Subtree,
            |f| pb::CreateTopicRequest {
                topic: Some(pb::Topic {
                    name: authz::unique("lujiazui.t"),
                    owner_org_id: f.a.branch.clone(),
                    ..Default::default()
                }),
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/ListTopics",
            [Everyone],
            Anywhere,
            |f| pb::ListTopicsRequest::default()
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/RegisterCategory",
            [DistrictAdmin, Service],
            Subtree,
            |f| pb::RegisterCategoryRequest {
                category: Some(pb::Category {
                    name: "authz.registered".into(),
                    title_template: "{{subject}}".into(),
                    variables: vec!["subject".into()],
                    ..Default::default()
                }),
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/ListCategories",
            [Everyone],
            Anywhere,
            |f| pb::ListCategoriesRequest {
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/ListInbox",
            [Everyone],
            Anywhere,
            |f| pb::ListInboxRequest {
                unread_only: true,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/GetUnreadCount",
            [Everyone],
            Anywhere,
            |f| pb::GetUnreadCountRequest {}
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/MarkRead",
            [Everyone],
            Anywhere,
            |f| pb::MarkReadRequest {
                notification_id: notice_to_every_caller(&f).await,
                read: true,
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/MarkAllRead",
            [Everyone],
            Anywhere,
            |f| pb::MarkAllReadRequest {}
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/ArchiveItem",
            [Everyone],
            Anywhere,
            |f| pb::ArchiveItemRequest {
                notification_id: notice_to_every_caller(&f).await,
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/Subscribe",
            [Everyone],
            Anywhere,
            |f| pb::SubscribeRequest { after_cursor: 0 }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/SetPreference",
            [Everyone],
            Anywhere,
            |f| pb::SetPreferenceRequest {
                // Enabled, so the notices later rows publish still reach the caller's inbox.
                preference: Some(pb::Preference {
                    category: CATEGORY.into(),
                    channel: pb::Channel::InApp as i32,
                    enabled: true,
                }),
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/ListPreferences",
            [Everyone],
            Anywhere,
            |f| pb::ListPreferencesRequest {
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/FollowTopic",
            [Everyone],
            Anywhere,
            |f| pb::FollowTopicRequest {
                topic: VOLUNTEERS.into(),
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/UnfollowTopic",
            [Everyone],
            Anywhere,
            |f| pb::UnfollowTopicRequest {
                topic: VOLUNTEERS.into(),
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/RegisterWebhook",
            [Everyone],
            Anywhere,
            |f| pb::RegisterWebhookRequest {
                recipient: String::new(),
                url: WEBHOOK_URL.into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.notify.v1.NotifyService/GetDeliveryStatus",
            [Everyone],
            Anywhere,
            |f| pb::GetDeliveryStatusRequest {
                notification_id: f.x.delivered_to_member.clone(),
            }
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notify_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    authz::check("notify", base.with(extra), rows()).await;
}

/// What one row cannot show: a webhook for someone else, and every recipient's deliveries, are
/// for admins of the whole district and the platform's services, not for a district admin
/// scoped at a street.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_for_others_and_all_deliveries_need_the_whole_district() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    let f = base.with(extra);
    let for_member_a = || pb::RegisterWebhookRequest {
        recipient: f.a.member.clone(),
        url: WEBHOOK_URL.into(),
        ..Default::default()
    };
    let refused = f
        .as_role(Role::DistrictAdmin, Side::Out, NotifyServiceClient::new)
        .await
        .register_webhook(for_member_a())
        .await
        .expect_err("scoped at street B");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    f.as_role(Role::DistrictAdmin, Side::In, NotifyServiceClient::new)
        .await
        .register_webhook(for_member_a())
        .await
        .expect("scoped at the district root");
    // The platform's own services act on the whole district.
    f.as_role(Role::Service, Side::Out, NotifyServiceClient::new)
        .await
        .register_webhook(for_member_a())
        .await
        .expect("an internal token");

    let deliveries = |side| {
        let f = &f;
        async move {
            f.as_role(Role::DistrictAdmin, side, NotifyServiceClient::new)
                .await
                .get_delivery_status(pb::GetDeliveryStatusRequest {
                    notification_id: f.x.delivered_to_member.clone(),
                })
                .await
                .expect("own deliveries at least")
                .into_inner()
                .deliveries
        }
    };
    let seen = jiceng_testkit::eventually(std::time::Duration::from_secs(5), || {
        let delivered = deliveries(Side::In);
        async move { Some(delivered.await).filter(|seen| !seen.is_empty()) }
    })
    .await
    .unwrap_or_default();
    assert!(
        !seen.is_empty(),
        "the whole district's admin sees member A's delivery"
    );
    assert!(
        deliveries(Side::Out).await.is_empty(),
        "a district admin scoped at street B sees only their own deliveries"
    );
    f.platform.stop().await;
}
