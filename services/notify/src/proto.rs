//! Every conversion between the notify API's protobuf messages and the service's own values.

use jiceng_grpc::timestamp;
use jiceng_proto::notify as pb;

use crate::{
    domain::{Category, DeliveryStatus, InboxItem, Name, Notification, Priority, Topic, Webhook},
    store::{IN_APP, WEBHOOK},
};

pub(crate) fn topic_to_proto(topic: &Topic) -> pb::Topic {
    pb::Topic {
        name: topic.name.as_str().to_owned(),
        owner_org_id: topic.owner_org_id.clone(),
        description: topic.description.clone(),
        create_time: Some(timestamp(topic.created_at)),
    }
}

pub(crate) fn channel_from_proto(value: i32) -> Result<&'static str, &'static str> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::InApp) => Ok(IN_APP),
        Ok(pb::Channel::Webhook) => Ok(WEBHOOK),
        _ => Err("must be IN_APP or WEBHOOK"),
    }
}

fn channel_to_proto(channel: &str) -> pb::Channel {
    match channel {
        IN_APP => pb::Channel::InApp,
        WEBHOOK => pb::Channel::Webhook,
        _ => pb::Channel::Unspecified,
    }
}

const PRIORITIES: &[(pb::Priority, Priority)] = &[
    (pb::Priority::Low, Priority::Low),
    (pb::Priority::Normal, Priority::Normal),
    (pb::Priority::High, Priority::High),
    (pb::Priority::Urgent, Priority::Urgent),
];

pub(crate) fn priority_from_proto(value: i32) -> Result<Priority, &'static str> {
    if value == pb::Priority::Unspecified as i32 {
        return Ok(Priority::Normal);
    }
    PRIORITIES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, p)| *p)
        .ok_or("must be a known priority")
}

fn priority_to_proto(priority: Priority) -> pb::Priority {
    PRIORITIES
        .iter()
        .find(|(_, p)| *p == priority)
        .map_or(pb::Priority::Unspecified, |(p, _)| *p)
}

pub(crate) fn notification_to_proto(notification: &Notification) -> pb::Notification {
    pb::Notification {
        id: notification.id.clone(),
        category: notification.category.as_str().to_owned(),
        priority: priority_to_proto(notification.priority) as i32,
        title: notification.title.clone(),
        body: notification.body.clone(),
        link: notification.link.clone(),
        data: notification.data.clone().into_iter().collect(),
        delivered_count: i32::try_from(notification.delivered_count).unwrap_or(i32::MAX),
        source_event_id: notification.source_event_id.clone().unwrap_or_default(),
        trace_id: notification.trace_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(notification.created_at)),
    }
}

pub(crate) fn item_to_proto(item: &InboxItem) -> pb::InboxItem {
    pb::InboxItem {
        cursor: item.seq,
        notification: Some(notification_to_proto(&item.notification)),
        read: item.read,
        archived: item.archived,
        deliver_time: Some(timestamp(item.delivered_at)),
    }
}

pub(crate) fn category_to_proto(category: &Category) -> pb::Category {
    pb::Category {
        name: category.name.as_str().to_owned(),
        title_template: category.title.source().to_owned(),
        body_template: category.body.source().to_owned(),
        variables: category.variables.clone(),
        critical: category.critical,
        digest_window_seconds: i32::try_from(category.digest_window_ms / 1000).unwrap_or(i32::MAX),
    }
}

pub(crate) fn preference_to_proto(category: &Name, channel: &str, enabled: bool) -> pb::Preference {
    pb::Preference {
        category: category.as_str().to_owned(),
        channel: channel_to_proto(channel) as i32,
        enabled,
    }
}

/// The webhook as its registrant sees it, signing secret included.
pub(crate) fn webhook_to_proto(webhook: Webhook) -> pb::Webhook {
    pb::Webhook {
        id: webhook.id,
        recipient: webhook.recipient,
        url: webhook.url,
        signing_secret: webhook.secret,
        create_time: Some(timestamp(webhook.created_at)),
    }
}

pub(crate) fn delivery_to_proto(status: DeliveryStatus) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        webhook_id: status.webhook_id,
        url: status.url,
        state: match status.state.as_str() {
            "pending" => pb::DeliveryState::Pending,
            "delivered" => pb::DeliveryState::Delivered,
            _ => pb::DeliveryState::Failed,
        } as i32,
        attempts: status
            .attempts
            .into_iter()
            .map(|attempt| pb::DeliveryAttempt {
                time: Some(timestamp(attempt.at)),
                http_status: i32::try_from(attempt.http_status).unwrap_or_default(),
                latency_ms: attempt.latency_ms,
                error: attempt.error,
            })
            .collect(),
    }
}
