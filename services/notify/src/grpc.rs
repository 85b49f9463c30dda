//! The gRPC adapter: `jiceng.notify.v1.NotifyService` for people and systems, and
//! `jiceng.events.v1.EventSinkService` for other services' outbox relays. Authorisation, request
//! validation and error mapping live here; protobuf conversions live in `proto`, SQL in the store.

use std::{collections::BTreeMap, pin::Pin, sync::Arc, time::Duration};

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{
    FieldViolations, PageRequest,
    status::{failed_precondition, invalid_field},
};
use jiceng_member_client::MemberRoll;
use jiceng_org_client::OrgDirectory;
use jiceng_proto::{
    events::{DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService},
    notify::{self as pb, notify_service_server::NotifyService},
};
use jiceng_values::RequestId;
use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use crate::{
    InboxSignal,
    domain::{Category, Name, NewNotification, Notification, Priority, Template, Topic},
    egress::WebhookPolicy,
    org_events::{RecipientSpec, UNIT_MOVED, moved_unit, publication_for},
    proto::{
        category_to_proto, channel_from_proto, delivery_to_proto, item_to_proto,
        notification_to_proto, preference_to_proto, priority_from_proto, topic_to_proto,
        webhook_to_proto,
    },
    store::{InboxFilter, NotifyStore, StoreError},
};

/// Roles that may publish: machines and admins, to role holders within their scope.
const PUBLISHERS: &[Role] = &[
    Role::Service,
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
];
/// Admins, who publish within their scope and own topics there.
const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];
/// How often a live stream looks for items another replica published.
const STREAM_POLL: Duration = Duration::from_secs(1);
/// Items a stream reads per query.
const STREAM_BATCH: i64 = 100;

#[derive(Clone, Debug)]
pub struct NotifyApi {
    store: NotifyStore,
    org: OrgDirectory,
    signal: InboxSignal,
    /// The member service, asked where the members an admin addresses are held; without it,
    /// only the platform's services address members by id.
    members: Option<MemberRoll>,
    /// Where webhooks may be registered to go.
    webhooks: Arc<WebhookPolicy>,
}

/// Everything a publish needs once the request is validated.
#[derive(Clone, Debug)]
pub struct PublishSpec {
    pub idempotency_key: String,
    pub category: Name,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub variables: BTreeMap<String, String>,
    pub link: String,
    pub data: BTreeMap<String, String>,
    pub recipients: Vec<RecipientSpec>,
    pub source_event_id: Option<String>,
}

impl NotifyApi {
    pub fn new(
        store: NotifyStore,
        org: OrgDirectory,
        signal: InboxSignal,
        members: Option<MemberRoll>,
        webhooks: Arc<WebhookPolicy>,
    ) -> Self {
        Self {
            store,
            org,
            signal,
            members,
            webhooks,
        }
    }

    /// The recipients of a publish request, each one the caller may address: the platform's
    /// services anyone; an admin the members held within their scope (others, unknown ids
    /// included, are refused by their place in the request, so that the answer does not tell
    /// which ids exist), an outside recipient that is no member only from the whole district,
    /// unit roles within their scope, and topics whose owner unit is within it.
    async fn recipients_from_proto(
        &self,
        caller: &Caller,
        violations: &mut FieldViolations,
        recipients: &[pb::Recipient],
    ) -> Result<Vec<RecipientSpec>, Status> {
        let trusted = caller.has_any(&[Role::Service]);
        // Asked only of a request that addresses an outside recipient or a district topic.
        let whole_district = tokio::sync::OnceCell::new();
        let of_whole_district = || async {
            trusted
                || self
                    .org
                    .scopes()
                    .require_whole_district(caller, &[Role::DistrictAdmin])
                    .await
                    .is_ok()
        };
        let mut specs = Vec::new();
        // Member ids an admin names, with their place in the request, to look up at once.
        let mut named = Vec::new();
        for (index, recipient) in recipients.iter().enumerate() {
            let field = format!("recipients[{index}]");
            match &recipient.recipient {
                Some(pb::recipient::Recipient::MemberId(member))
                    if !member.is_empty() && member.len() <= 128 =>
                {
                    if !trusted {
                        named.push((field, member.clone()));
                    }
                    specs.push(RecipientSpec::Member(member.clone()))
                }
                Some(pb::recipient::Recipient::MemberId(_)) => {
                    violations.add(field, "a member_id is 1 to 128 characters")
                }
                Some(pb::recipient::Recipient::UnitRole(unit_role)) => {
                    if unit_role.unit_id.is_empty() || unit_role.role == 0 {
                        violations.add(field, "a unit_role names a unit_id and a role");
                        continue;
                    }
                    self.org.scopes().check(caller, &unit_role.unit_id).await?;
                    specs.push(RecipientSpec::UnitRole {
                        unit_id: unit_role.unit_id.clone(),
                        role: unit_role.role,
                    });
                }
                Some(pb::recipient::Recipient::Topic(topic)) => {
                    let Some(name) = violations.check(&field, Name::parse(topic)) else {
                        continue;
                    };
                    let topic = self.store.topic(&name).await.map_err(|err| match err {
                        StoreError::NotFound { .. } => {
                            failed_precondition("TOPIC", name.as_str(), "create the topic first")
                        }
                        other => Status::from(other),
                    })?;
                    let owned = if topic.owner_org_id.is_empty() {
                        *whole_district.get_or_init(of_whole_district).await
                    } else {
                        trusted
                            || self
                                .org
                                .scopes()
                                .check(caller, &topic.owner_org_id)
                                .await
                                .is_ok()
                    };
                    if !owned {
                        return Err(Status::permission_denied(format!(
                            "only admins over the owner of topic {} publish to it",
                            name.as_str()
                        )));
                    }
                    specs.push(RecipientSpec::Topic(name));
                }
                None => violations.add(
                    field,
                    "each recipient is a member_id, a unit_role or a topic",
                ),
            }
        }
        if specs.is_empty() && violations.is_empty() {
            violations.add("recipients", "name at least one recipient");
        }
        if !named.is_empty() {
            let roll = jiceng_member_client::required(
                self.members.as_ref(),
                "recipients",
                "notices to members by id",
            )?;
            let ids: Vec<String> = named.iter().map(|(_, id)| id.clone()).collect();
            for ((field, _), entry) in named.into_iter().zip(roll.look_up(&ids).await?) {
                let admitted = match entry {
                    Some(member) => {
                        member.active
                            && self
                                .org
                                .scopes()
                                .check(caller, &member.org_id)
                                .await
                                .is_ok()
                    }
                    // No member: an outside system's recipient, addressed from the whole
                    // district only.
                    None => *whole_district.get_or_init(of_whole_district).await,
                };
                if !admitted {
                    violations.add(field, "is not a member within the publisher's scope");
                }
            }
        }
        Ok(specs)
    }

    /// Renders, resolves recipients (role holders now, topic followers), stores, and wakes the
    /// live streams. A repeated key returns the first notification.
    pub async fn publish(
        &self,
        publisher: &str,
        spec: PublishSpec,
    ) -> Result<(Notification, bool), Status> {
        let category = self
            .store
            .category(&spec.category)
            .await
            .map_err(|err| match err {
                StoreError::NotFound { .. } => failed_precondition(
                    "CATEGORY",
                    spec.category.as_str(),
                    "register the category first",
                ),
                other => Status::from(other),
            })?;
        let (title, body) = category
            .render(&spec.title, &spec.body, &spec.variables)
            .map_err(|e| invalid_field("variables", e))?;
        let mut recipients = Vec::new();
        for recipient in &spec.recipients {
            match recipient {
                RecipientSpec::Member(member) => recipients.push(member.clone()),
                RecipientSpec::UnitRole { unit_id, role } => {
                    recipients.extend(self.org.holders(unit_id, *role).await?)
                }
                RecipientSpec::Topic(topic) => {
                    recipients.extend(self.store.followers(topic).await?)
                }
            }
        }
        recipients.sort();
        recipients.dedup();
        // Webhook deliveries continue this trace when they are sent later.
        let traceparent = jiceng_telemetry::traceparent_of(&tracing::Span::current());
        let new = NewNotification {
            publisher: publisher.to_owned(),
            idempotency_key: spec.idempotency_key,
            category: spec.category,
            priority: spec.priority,
            title,
            body,
            link: spec.link,
            data: spec.data,
            source_event_id: spec.source_event_id,
            trace_id: jiceng_telemetry::current_trace_id(),
        };
        let published = self
            .store
            .publish(&new, &recipients, &category, traceparent.as_deref())
            .await?;
        if published.created {
            self.signal.notify();
        }
        Ok((published.notification, published.created))
    }
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<pb::InboxItem, Status>> + Send>>;

#[tonic::async_trait]
impl NotifyService for NotifyApi {
    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(PUBLISHERS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        // `request_id` is the key's name; `idempotency_key` its former one, still read.
        let key = match (req.request_id.is_empty(), req.idempotency_key.is_empty()) {
            (false, false) if req.request_id != req.idempotency_key => {
                violations.add(
                    "idempotency_key",
                    "differs from request_id, which supersedes it: send one",
                );
                String::new()
            }
            (false, _) => req.request_id.clone(),
            (true, _) => req.idempotency_key.clone(),
        };
        if key.is_empty() || key.len() > 128 {
            violations.add(
                "request_id",
                "must be 1 to 128 characters: the event id or a request id",
            );
        }
        let category = violations.check("category", Name::parse(&req.category));
        let priority = violations.check("priority", priority_from_proto(req.priority));
        if req.title.chars().count() > 200 {
            violations.add("title", "must be at most 200 characters");
        }
        if req.body.chars().count() > 10_000 {
            violations.add("body", "must be at most 10,000 characters");
        }
        if req.link.len() > 500 {
            violations.add("link", "must be at most 500 characters");
        }
        let recipients = self
            .recipients_from_proto(&caller, &mut violations, &req.recipients)
            .await?;
        violations.into_result()?;
        let (Some(category), Some(priority)) = (category, priority) else {
            return Err(Status::internal("validation fell through"));
        };
        let spec = PublishSpec {
            idempotency_key: key,
            category,
            priority,
            title: req.title,
            body: req.body,
            variables: req.variables.into_iter().collect(),
            link: req.link,
            data: req.data.into_iter().collect(),
            recipients,
            source_event_id: None,
        };
        let (notification, _) = self.publish(&caller.subject, spec).await?;
        Ok(Response::new(notification_to_proto(&notification)))
    }

    async fn register_category(
        &self,
        request: Request<pb::RegisterCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        // Categories and their templates hold for the whole district.
        self.org
            .scopes()
            .require_whole_district(caller(&request)?, &[Role::DistrictAdmin, Role::Service])
            .await?;
        let given = request.get_ref().category.clone().unwrap_or_default();
        let mut violations = FieldViolations::new();
        let name = violations.check("category.name", Name::parse(&given.name));
        let title = violations.check(
            "category.title_template",
            Template::parse(&given.title_template),
        );
        let body = violations.check(
            "category.body_template",
            Template::parse(&given.body_template),
        );
        violations.into_result()?;
        let (Some(name), Some(title), Some(body)) = (name, title, body) else {
            return Err(Status::internal("validation fell through"));
        };
        let category = Category::new(name, title, body, given.variables, given.critical)
            .map_err(|e| invalid_field("category.variables", e))?
            .with_digest(i64::from(given.digest_window_seconds) * 1000)
            .map_err(|e| invalid_field("category.digest_window_seconds", e))?;
        self.store.register_category(&category).await?;
        Ok(Response::new(category_to_proto(&category)))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            "notice-categories".to_owned(),
        )?;
        let categories = self.store.categories().await?;
        let (categories, next_page_token) =
            page.page_of(categories, |c| c.name.as_str().to_owned());
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.iter().map(category_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> Result<Response<pb::ListInboxResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let category = if req.category.is_empty() {
            None
        } else {
            violations.check("category", Name::parse(&req.category))
        };
        violations.into_result()?;
        let since = req
            .since
            .as_ref()
            .map(|t| t.seconds.saturating_mul(1000) + i64::from(t.nanos / 1_000_000));
        let filter = InboxFilter {
            unread_only: req.unread_only,
            category,
            since,
            include_archived: req.include_archived,
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("inbox|{}|{filter:?}", caller.subject),
        )?;
        let before = page
            .after
            .as_deref()
            .map(|c| c.parse::<i64>())
            .transpose()
            .map_err(|_| invalid_field("page_token", "is not a token this list issued"))?;
        let mut items = self
            .store
            .inbox(&caller.subject, &filter, before, page.fetch_limit())
            .await?;
        let next_page_token = page.finish(&mut items, |item| item.seq.to_string());
        Ok(Response::new(pb::ListInboxResponse {
            items: items.iter().map(item_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::GetUnreadCountResponse>, Status> {
        let caller = caller(&request)?;
        let unread = self.store.unread_count(&caller.subject).await?;
        Ok(Response::new(pb::GetUnreadCountResponse { unread }))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::InboxItem>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let item = self
            .store
            .mark_read(&caller.subject, &req.notification_id, req.read)
            .await?;
        Ok(Response::new(item_to_proto(&item)))
    }

    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::MarkAllReadResponse>, Status> {
        let caller = caller(&request)?;
        let marked = self.store.mark_all_read(&caller.subject).await?;
        Ok(Response::new(pb::MarkAllReadResponse { marked }))
    }

    async fn archive_item(
        &self,
        request: Request<pb::ArchiveItemRequest>,
    ) -> Result<Response<pb::InboxItem>, Status> {
        let caller = caller(&request)?;
        let item = self
            .store
            .archive(&caller.subject, &request.get_ref().notification_id)
            .await?;
        Ok(Response::new(item_to_proto(&item)))
    }

    type SubscribeStream = ItemStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let recipient = caller(&request)?.subject.clone();
        let mut after = request.get_ref().after_cursor;
        if after < 0 {
            return Err(invalid_field("after_cursor", "must not be negative"));
        }
        let (sender, receiver) = mpsc::channel(STREAM_BATCH as usize);
        let store = self.store.clone();
        let mut wake = self.signal.subscribe();
        let closed = self.signal.closed();
        tokio::spawn(async move {
            tokio::pin!(closed);
            loop {
                // Seen before reading, so a publish that lands after the read still wakes us.
                wake.borrow_and_update();
                let items = match store.inbox_after(&recipient, after, STREAM_BATCH).await {
                    Ok(items) => items,
                    Err(err) => {
                        let _ = sender.send(Err(Status::from(err))).await;
                        return;
                    }
                };
                let full = items.len() as i64 == STREAM_BATCH;
                for item in items {
                    after = item.seq;
                    if sender.send(Ok(item_to_proto(&item))).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = wake.changed() => {}
                    () = tokio::time::sleep(STREAM_POLL) => {}
                    () = sender.closed() => return,
                    () = &mut closed => {
                        let goodbye = Status::unavailable("the server is shutting down; resubscribe with your last cursor");
                        let _ = sender.send(Err(goodbye)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn set_preference(
        &self,
        request: Request<pb::SetPreferenceRequest>,
    ) -> Result<Response<pb::Preference>, Status> {
        let caller = caller(&request)?;
        let preference = request.get_ref().preference.clone().unwrap_or_default();
        let mut violations = FieldViolations::new();
        let category = violations.check("preference.category", Name::parse(&preference.category));
        let channel =
            violations.check("preference.channel", channel_from_proto(preference.channel));
        violations.into_result()?;
        let (Some(category), Some(channel)) = (category, channel) else {
            return Err(Status::internal("validation fell through"));
        };
        self.store
            .set_preference(&caller.subject, &category, channel, preference.enabled)
            .await?;
        Ok(Response::new(preference))
    }

    async fn list_preferences(
        &self,
        request: Request<pb::ListPreferencesRequest>,
    ) -> Result<Response<pb::ListPreferencesResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("preferences|{}", caller.subject),
        )?;
        let preferences = self.store.preferences(&caller.subject).await?;
        let (preferences, next_page_token) = page.page_of(preferences, |(category, channel, _)| {
            format!("{}|{channel:?}", category.as_str())
        });
        Ok(Response::new(pb::ListPreferencesResponse {
            preferences: preferences
                .iter()
                .map(|(category, channel, enabled)| {
                    preference_to_proto(category, channel, *enabled)
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn register_webhook(
        &self,
        request: Request<pb::RegisterWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let recipient = if req.recipient.is_empty() {
            caller.subject.clone()
        } else {
            req.recipient.clone()
        };
        // Anyone's notifications may be sent to the URL: only for the whole district's admins.
        if recipient != caller.subject {
            self.org
                .scopes()
                .require_whole_district(&caller, &[Role::DistrictAdmin, Role::Service])
                .await?;
        }
        let mut violations = FieldViolations::new();
        if let Err(refusal) = self.webhooks.check_url(&req.url) {
            violations.add("url", refusal.to_string());
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let webhook = self
            .store
            .register_webhook(
                &caller.subject,
                request_id.as_ref().map(RequestId::as_str),
                &recipient,
                &req.url,
                &crate::webhooks::new_secret(),
            )
            .await?;
        Ok(Response::new(webhook_to_proto(webhook)))
    }

    async fn get_delivery_status(
        &self,
        request: Request<pb::GetDeliveryStatusRequest>,
    ) -> Result<Response<pb::GetDeliveryStatusResponse>, Status> {
        let caller = caller(&request)?;
        // Recipients see their own deliveries; the whole district's admins and services see all.
        let sees_all = self
            .org
            .scopes()
            .require_whole_district(caller, &[Role::DistrictAdmin, Role::Service])
            .await
            .is_ok();
        let only = (!sees_all).then_some(caller.subject.as_str());
        let statuses = self
            .store
            .delivery_status(&request.get_ref().notification_id, only)
            .await?;
        Ok(Response::new(pb::GetDeliveryStatusResponse {
            deliveries: statuses.into_iter().map(delivery_to_proto).collect(),
        }))
    }

    async fn create_topic(
        &self,
        request: Request<pb::CreateTopicRequest>,
    ) -> Result<Response<pb::Topic>, Status> {
        let caller = caller(&request)?.clone();
        let given = request.into_inner().topic.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let name = violations.check("topic.name", Name::parse(&given.name));
        if given.owner_org_id.is_empty() {
            violations.add(
                "topic.owner_org_id",
                "names the unit whose admins publish to it",
            );
        }
        if given.description.chars().count() > 500 {
            violations.add("topic.description", "must be at most 500 characters");
        }
        violations.into_result()?;
        let Some(name) = name else {
            return Err(Status::internal("validation fell through"));
        };
        caller.require_any(ADMINS)?;
        self.org
            .scopes()
            .check(&caller, &given.owner_org_id)
            .await?;
        let topic = Topic {
            name,
            owner_org_id: given.owner_org_id,
            description: given.description,
            created_at: self.store.now(),
        };
        let topic = self.store.create_topic(&topic, &caller.subject).await?;
        Ok(Response::new(topic_to_proto(&topic)))
    }

    async fn list_topics(
        &self,
        request: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let page = PageRequest::parse(req.page_size, &req.page_token, "topics".to_owned())?;
        let mut topics = self
            .store
            .topics(page.after.as_deref(), page.fetch_limit())
            .await?;
        let next_page_token = page.finish(&mut topics, |t| t.name.as_str().to_owned());
        Ok(Response::new(pb::ListTopicsResponse {
            topics: topics.iter().map(topic_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn follow_topic(
        &self,
        request: Request<pb::FollowTopicRequest>,
    ) -> Result<Response<pb::FollowTopicResponse>, Status> {
        let caller = caller(&request)?;
        let topic = Name::parse(&request.get_ref().topic).map_err(|e| invalid_field("topic", e))?;
        // Only a topic that exists, so that its owner answers for what reaches its followers.
        self.store.topic(&topic).await?;
        self.store.follow(&topic, &caller.subject).await?;
        Ok(Response::new(pb::FollowTopicResponse {}))
    }

    async fn unfollow_topic(
        &self,
        request: Request<pb::UnfollowTopicRequest>,
    ) -> Result<Response<pb::UnfollowTopicResponse>, Status> {
        let caller = caller(&request)?;
        let topic = Name::parse(&request.get_ref().topic).map_err(|e| invalid_field("topic", e))?;
        self.store.unfollow(&topic, &caller.subject).await?;
        Ok(Response::new(pb::UnfollowTopicResponse {}))
    }
}

#[tonic::async_trait]
impl EventSinkService for NotifyApi {
    /// Turns another service's event into a notification. The event's source and id are the
    /// idempotency key, so a redelivered event changes nothing.
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| invalid_field("event", "is required"))?;
        if event.r#type == UNIT_MOVED {
            let moved = moved_unit(&event)?;
            self.org
                .scopes()
                .invalidate_subtree(&moved.unit_id, moved.tree_generation);
            return Ok(Response::new(DeliverResponse { duplicate: false }));
        }
        let Some(publication) = publication_for(&event, &self.org).await? else {
            return Ok(Response::new(DeliverResponse { duplicate: false }));
        };
        let category =
            Name::parse(publication.category).map_err(|e| Status::internal(e.to_string()))?;
        let spec = PublishSpec {
            idempotency_key: event.id.clone(),
            category,
            priority: publication.priority,
            title: String::new(),
            body: String::new(),
            variables: publication.variables,
            link: publication.link,
            data: BTreeMap::from([("event_type".to_owned(), event.r#type.clone())]),
            recipients: publication.recipients,
            source_event_id: Some(event.id.clone()),
        };
        let (_, created) = self.publish(&event.source, spec).await?;
        Ok(Response::new(DeliverResponse {
            duplicate: !created,
        }))
    }
}
