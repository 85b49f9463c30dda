//! The notify service's SQL, and nothing else.
//!
//! Publishing takes the inbox lock for its transaction: inbox cursors are then allocated and
//! committed in the same order, which is what lets a stream resume from a cursor without gaps.

use std::collections::{BTreeMap, HashSet};

use jiceng_db::{Database, LockMode, RequestIds, Tx, lock_key};

use crate::domain::{
    Attempt, Category, DeliveryStatus, InboxItem, Name, NewNotification, Notification, Priority,
    Template, Topic, Webhook,
};

/// The inbox.
pub const IN_APP: &str = "in_app";
/// The recipient's webhooks.
pub const WEBHOOK: &str = "webhook";

pub use jiceng_db::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// Where the notify service keeps its callers' request ids.
const REQUEST_IDS: RequestIds = RequestIds::new("notify_requests");

/// What a publish did: the notification, and whether this call created it.
#[derive(Clone, Debug)]
pub struct Published {
    pub notification: Notification,
    pub created: bool,
}

const TOPIC_COLUMNS: &str = "name, owner_org_id, description, created_at";

/// A row of [`TOPIC_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct TopicRow {
    name: String,
    owner_org_id: String,
    description: String,
    created_at: i64,
}

impl TryFrom<TopicRow> for Topic {
    type Error = sqlx::Error;

    fn try_from(row: TopicRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(Topic {
            // Names were checked when the topic was created: one that no longer parses is
            // corrupt.
            name: Name::parse(&row.name)
                .map_err(|e| sqlx::Error::Decode(format!("topic {}: {e}", row.name).into()))?,
            owner_org_id: row.owner_org_id,
            description: row.description,
            created_at: row.created_at,
        })
    }
}

/// A webhook delivery the dispatcher leased.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub notification: Notification,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub recipient: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The publishing request's W3C trace context.
    pub traceparent: Option<String>,
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(i64),
    Failed,
}

/// Filters of an inbox listing.
#[derive(Clone, Debug, Default)]
pub struct InboxFilter {
    pub unread_only: bool,
    pub category: Option<Name>,
    pub since: Option<i64>,
    pub include_archived: bool,
}

#[derive(Clone, Debug)]
pub struct NotifyStore {
    db: Database,
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.category, n.priority, n.title, n.body, n.link, n.data, \
    n.delivered_count, n.source_event_id, n.trace_id, n.created_at";

/// A row of [`NOTIFICATION_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    category: String,
    priority: String,
    title: String,
    body: String,
    link: String,
    data: String,
    delivered_count: i64,
    source_event_id: Option<String>,
    trace_id: Option<String>,
    created_at: i64,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = sqlx::Error;

    fn try_from(row: NotificationRow) -> std::result::Result<Self, sqlx::Error> {
        let data: BTreeMap<String, String> =
            serde_json::from_str(&row.data).map_err(|_| decode_error("data"))?;
        Ok(Notification {
            id: row.id,
            category: Name::parse(&row.category).map_err(|_| decode_error("category"))?,
            priority: Priority::parse(&row.priority).ok_or_else(|| decode_error("priority"))?,
            title: row.title,
            body: row.body,
            link: row.link,
            data,
            delivered_count: row.delivered_count,
            source_event_id: row.source_event_id,
            trace_id: row.trace_id,
            created_at: row.created_at,
        })
    }
}

/// An inbox item's columns, then its notification's: `i.seq, i.read_at, i.archived_at,
/// i.delivered_at, {NOTIFICATION_COLUMNS}`.
#[derive(sqlx::FromRow)]
struct InboxItemRow {
    seq: i64,
    read_at: Option<i64>,
    archived_at: Option<i64>,
    delivered_at: i64,
    #[sqlx(flatten)]
    notification: NotificationRow,
}

impl TryFrom<InboxItemRow> for InboxItem {
    type Error = sqlx::Error;

    fn try_from(row: InboxItemRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(InboxItem {
            seq: row.seq,
            read: row.read_at.is_some(),
            archived: row.archived_at.is_some(),
            delivered_at: row.delivered_at,
            notification: row.notification.try_into()?,
        })
    }
}

const CATEGORY_COLUMNS: &str =
    "name, title_template, body_template, variables, critical, digest_window";

/// A row of [`CATEGORY_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct CategoryRow {
    name: String,
    title_template: String,
    body_template: String,
    variables: String,
    critical: i64,
    digest_window: i64,
}

impl TryFrom<CategoryRow> for Category {
    type Error = sqlx::Error;

    fn try_from(row: CategoryRow) -> std::result::Result<Self, sqlx::Error> {
        let variables: Vec<String> =
            serde_json::from_str(&row.variables).map_err(|_| decode_error("variables"))?;
        Category::new(
            Name::parse(&row.name).map_err(|_| decode_error("category name"))?,
            Template::parse(&row.title_template).map_err(|_| decode_error("title template"))?,
            Template::parse(&row.body_template).map_err(|_| decode_error("body template"))?,
            variables,
            row.critical != 0,
        )
        .and_then(|category| category.with_digest(row.digest_window))
        .map_err(|_| decode_error("category"))
    }
}

const ATTEMPT_COLUMNS: &str = "attempted_at, http_status, latency_ms, error";

/// A row of [`ATTEMPT_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct AttemptRow {
    attempted_at: i64,
    http_status: i64,
    latency_ms: i64,
    error: String,
}

impl From<AttemptRow> for Attempt {
    fn from(row: AttemptRow) -> Self {
        Attempt {
            at: row.attempted_at,
            http_status: row.http_status,
            latency_ms: row.latency_ms,
            error: row.error,
        }
    }
}

/// A delivery a claim leased: the columns its `RETURNING` names.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    notification_id: String,
    webhook_id: String,
    recipient: String,
    attempts: i64,
    traceparent: Option<String>,
}

impl NotifyStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The time the store acts at (its database's clock).
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Registers or replaces a category.
    pub async fn register_category(&self, category: &Category) -> Result<()> {
        self.write_category(
            category,
            "DO UPDATE SET title_template = $2, body_template = $3, variables = $4, critical = $5,
                 digest_window = $6, updated_at = $7",
        )
        .await
    }

    /// Registers `category` unless a category of that name exists: built-in categories never
    /// overwrite what a district changed.
    pub async fn ensure_category(&self, category: &Category) -> Result<()> {
        self.write_category(category, "DO NOTHING").await
    }

    async fn write_category(&self, category: &Category, on_conflict: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO notify_categories
                 (name, title_template, body_template, variables, critical, digest_window, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) {on_conflict}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(category.name.as_str())
            .bind(category.title.source())
            .bind(category.body.source())
            .bind(serde_json::to_string(&category.variables).unwrap_or_default())
            .bind(i64::from(category.critical))
            .bind(category.digest_window_ms)
            .bind(self.db.now())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn category(&self, name: &Name) -> Result<Category> {
        let row = sqlx::query_as::<_, CategoryRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CATEGORY_COLUMNS} FROM notify_categories WHERE name = $1"
        )))
        .bind(name.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("category", name.as_str()))?;
        Ok(Category::try_from(row)?)
    }

    pub async fn categories(&self) -> Result<Vec<Category>> {
        let rows = sqlx::query_as::<_, CategoryRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CATEGORY_COLUMNS} FROM notify_categories ORDER BY name"
        )))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(Category::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Publishes to `recipients` (already resolved to member ids) unless the key was published
    /// before, in which case the first notification is returned and nothing is created.
    /// Recipients who muted a channel for the category are skipped on it unless the category is
    /// critical; a low-priority item of a digest category waits for the recipient's digest.
    #[tracing::instrument(name = "notify.store.publish", skip_all, fields(category = new.category.as_str(), recipients = recipients.len()))]
    pub async fn publish(
        &self,
        new: &NewNotification,
        recipients: &[String],
        category: &Category,
        traceparent: Option<&str>,
    ) -> Result<Published> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, lock_key(INBOX_LOCK), LockMode::Exclusive)
            .await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM notify_notifications WHERE publisher = $1 AND idempotency_key = $2",
        )
        .bind(&new.publisher)
        .bind(&new.idempotency_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            let notification = fetch_notification(&mut tx, &existing).await?;
            tx.commit().await?;
            return Ok(Published {
                notification,
                created: false,
            });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.db.now();
        insert_notification(&mut tx, &id, new, now).await?;
        if category.digests(new.priority) {
            for recipient in recipients {
                sqlx::query(
                    "INSERT INTO notify_digest_pending (recipient, category, notification_id, held_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (recipient, notification_id) DO NOTHING",
                )
                .bind(recipient)
                .bind(category.name.as_str())
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        } else {
            deliver(&mut tx, &id, recipients, category, now, traceparent).await?;
        }
        let notification = fetch_notification(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(Published {
            notification,
            created: true,
        })
    }

    /// Folds each recipient's held low-priority items into one digest notification per
    /// category, once the oldest has waited the category's window at `now`. Returns how many
    /// digests it delivered.
    pub async fn fold_digests(&self, now: i64) -> Result<usize> {
        let groups = sqlx::query_as::<_, (String, String)>(
            "SELECT p.recipient, p.category FROM notify_digest_pending p
             JOIN notify_categories c ON c.name = p.category
             GROUP BY p.recipient, p.category, c.digest_window
             HAVING MIN(p.held_at) + c.digest_window <= $1",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut folded = 0;
        for (recipient, category_name) in groups {
            let category = self
                .category(&Name::parse(&category_name).map_err(|_| decode_error("category"))?)
                .await?;
            let mut tx = self.db.begin_write().await?;
            self.db
                .lock(&mut tx, lock_key(INBOX_LOCK), LockMode::Exclusive)
                .await?;
            let held = sqlx::query_as::<_, (String, String)>(
                "SELECT n.id, n.title FROM notify_digest_pending p JOIN notify_notifications n ON n.id = p.notification_id
                 WHERE p.recipient = $1 AND p.category = $2 ORDER BY p.held_at, n.id",
            )
            .bind(&recipient)
            .bind(&category_name)
            .fetch_all(&mut *tx)
            .await?;
            if held.is_empty() {
                continue;
            }
            let (ids, titles): (Vec<String>, Vec<String>) = held.into_iter().unzip();
            let digest = NewNotification {
                publisher: "jiceng-notify-digest".into(),
                idempotency_key: format!("digest:{recipient}:{category_name}:{}", ids[0]),
                category: category.name.clone(),
                priority: Priority::Low,
                title: format!("{} 条通知汇总", ids.len()),
                body: titles.join("\n"),
                link: String::new(),
                data: BTreeMap::from([("items".to_owned(), ids.join(","))]),
                source_event_id: None,
                trace_id: None,
            };
            let id = uuid::Uuid::now_v7().to_string();
            insert_notification(&mut tx, &id, &digest, now).await?;
            deliver(
                &mut tx,
                &id,
                std::slice::from_ref(&recipient),
                &category,
                now,
                None,
            )
            .await?;
            sqlx::query("DELETE FROM notify_digest_pending WHERE recipient = $1 AND category = $2")
                .bind(&recipient)
                .bind(&category_name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            folded += 1;
        }
        Ok(folded)
    }

    /// Creates `topic`, named by `creator`; a name already taken is a conflict.
    pub async fn create_topic(&self, topic: &Topic, creator: &str) -> Result<Topic> {
        let created = sqlx::query(
            "INSERT INTO notify_topics (name, owner_org_id, description, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(topic.name.as_str())
        .bind(&topic.owner_org_id)
        .bind(&topic.description)
        .bind(creator)
        .bind(topic.created_at)
        .execute(self.db.pool())
        .await?;
        if created.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "topic {} already exists",
                topic.name.as_str()
            )));
        }
        Ok(topic.clone())
    }

    pub async fn topic(&self, name: &Name) -> Result<Topic> {
        let row = sqlx::query_as::<_, TopicRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {TOPIC_COLUMNS} FROM notify_topics WHERE name = $1"
        )))
        .bind(name.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("topic", name.as_str()))?;
        Ok(Topic::try_from(row)?)
    }

    /// Topics by name, after `after` when given.
    pub async fn topics(&self, after: Option<&str>, limit: i64) -> Result<Vec<Topic>> {
        Ok(sqlx::query_as::<_, TopicRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {TOPIC_COLUMNS} FROM notify_topics
             WHERE name > $1 ORDER BY name LIMIT $2"
        )))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(Topic::try_from)
        .collect::<std::result::Result<_, _>>()?)
    }

    /// Followers of a topic.
    pub async fn followers(&self, topic: &Name) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT recipient FROM notify_topic_followers WHERE topic = $1 ORDER BY recipient",
        )
        .bind(topic.as_str())
        .fetch_all(self.db.pool())
        .await?)
    }

    pub async fn follow(&self, topic: &Name, recipient: &str) -> Result<()> {
        sqlx::query("INSERT INTO notify_topic_followers (topic, recipient) VALUES ($1, $2) ON CONFLICT (topic, recipient) DO NOTHING")
            .bind(topic.as_str())
            .bind(recipient)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn unfollow(&self, topic: &Name, recipient: &str) -> Result<()> {
        sqlx::query("DELETE FROM notify_topic_followers WHERE topic = $1 AND recipient = $2")
            .bind(topic.as_str())
            .bind(recipient)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// A recipient's inbox, newest first, below the cursor `before` when given.
    pub async fn inbox(
        &self,
        recipient: &str,
        filter: &InboxFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        let mut sql = format!(
            "SELECT i.seq, i.read_at, i.archived_at, i.delivered_at, {NOTIFICATION_COLUMNS}
             FROM notify_inbox i JOIN notify_notifications n ON n.id = i.notification_id
             WHERE i.recipient = $1 AND i.seq < $2"
        );
        if filter.unread_only {
            sql.push_str(" AND i.read_at IS NULL");
        }
        if !filter.include_archived {
            sql.push_str(" AND i.archived_at IS NULL");
        }
        sql.push_str(" AND i.delivered_at >= $3");
        if filter.category.is_some() {
            sql.push_str(" AND n.category = $5");
        }
        sql.push_str(" ORDER BY i.seq DESC LIMIT $4");
        let mut query = sqlx::query_as::<_, InboxItemRow>(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(before.unwrap_or(i64::MAX))
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(limit);
        if let Some(category) = &filter.category {
            query = query.bind(category.as_str());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        Ok(rows
            .into_iter()
            .map(InboxItem::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// A recipient's items after the cursor `after`, oldest first: what a stream sends next.
    pub async fn inbox_after(
        &self,
        recipient: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        let sql = format!(
            "SELECT i.seq, i.read_at, i.archived_at, i.delivered_at, {NOTIFICATION_COLUMNS}
             FROM notify_inbox i JOIN notify_notifications n ON n.id = i.notification_id
             WHERE i.recipient = $1 AND i.seq > $2 ORDER BY i.seq LIMIT $3"
        );
        let rows = sqlx::query_as::<_, InboxItemRow>(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(after)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(InboxItem::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    pub async fn unread_count(&self, recipient: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM notify_inbox WHERE recipient = $1 AND read_at IS NULL AND archived_at IS NULL")
            .bind(recipient)
            .fetch_one(self.db.pool())
            .await?)
    }

    /// Marks one of the recipient's items read or unread.
    pub async fn mark_read(
        &self,
        recipient: &str,
        notification_id: &str,
        read: bool,
    ) -> Result<InboxItem> {
        let read_at = read.then(|| self.db.now());
        self.update_item(recipient, notification_id, "read_at", read_at)
            .await
    }

    pub async fn archive(&self, recipient: &str, notification_id: &str) -> Result<InboxItem> {
        self.update_item(
            recipient,
            notification_id,
            "archived_at",
            Some(self.db.now()),
        )
        .await
    }

    async fn update_item(
        &self,
        recipient: &str,
        notification_id: &str,
        column: &str,
        value: Option<i64>,
    ) -> Result<InboxItem> {
        let sql = format!(
            "UPDATE notify_inbox SET {column} = $1 WHERE recipient = $2 AND notification_id = $3"
        );
        let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(recipient)
            .bind(notification_id)
            .execute(self.db.pool())
            .await?;
        if updated.rows_affected() == 0 {
            // Someone else's item looks exactly like a missing one.
            return Err(StoreError::not_found("inbox item", notification_id));
        }
        let sql = format!(
            "SELECT i.seq, i.read_at, i.archived_at, i.delivered_at, {NOTIFICATION_COLUMNS}
             FROM notify_inbox i JOIN notify_notifications n ON n.id = i.notification_id
             WHERE i.recipient = $1 AND i.notification_id = $2"
        );
        let row = sqlx::query_as::<_, InboxItemRow>(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(notification_id)
            .fetch_one(self.db.pool())
            .await?;
        Ok(InboxItem::try_from(row)?)
    }

    pub async fn mark_all_read(&self, recipient: &str) -> Result<i64> {
        let marked = sqlx::query(
            "UPDATE notify_inbox SET read_at = $1 WHERE recipient = $2 AND read_at IS NULL",
        )
        .bind(self.db.now())
        .bind(recipient)
        .execute(self.db.pool())
        .await?;
        Ok(marked.rows_affected() as i64)
    }

    /// Turns a category on or off for a recipient; a critical category cannot be turned off.
    pub async fn set_preference(
        &self,
        recipient: &str,
        category: &Name,
        channel: &str,
        enabled: bool,
    ) -> Result<()> {
        let category = self.category(category).await?;
        if category.critical && !enabled {
            return Err(StoreError::precondition(
                "CRITICAL",
                "preferences",
                format!("{} is critical and cannot be muted", category.name.as_str()),
            ));
        }
        sqlx::query(
            "INSERT INTO notify_preferences (recipient, category, channel, enabled) VALUES ($1, $2, $3, $4)
             ON CONFLICT (recipient, category, channel) DO UPDATE SET enabled = $4",
        )
        .bind(recipient)
        .bind(category.name.as_str())
        .bind(channel)
        .bind(i64::from(enabled))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A recipient's explicit preferences: (category, channel, enabled).
    pub async fn preferences(&self, recipient: &str) -> Result<Vec<(Name, String, bool)>> {
        let rows = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT category, channel, enabled FROM notify_preferences WHERE recipient = $1
             ORDER BY category, channel",
        )
        .bind(recipient)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(name, channel, enabled)| {
                let name = Name::parse(&name)
                    .map_err(|_| sqlx::Error::Decode("invalid category".into()))?;
                Ok((name, channel, enabled != 0))
            })
            .collect()
    }

    /// Registers a webhook for `recipient` with its signing secret.
    /// Registers a webhook. A retried `request_id` of the same caller returns the first one.
    pub async fn register_webhook(
        &self,
        actor: &str,
        request_id: Option<&str>,
        recipient: &str,
        url: &str,
        secret: &str,
    ) -> Result<Webhook> {
        let webhook = Webhook {
            id: uuid::Uuid::now_v7().to_string(),
            recipient: recipient.to_owned(),
            url: url.to_owned(),
            secret: secret.to_owned(),
            created_at: self.db.now(),
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(first) = REQUEST_IDS
            .claim_create(
                &mut tx,
                actor,
                request_id,
                "RegisterWebhook",
                &webhook.id,
                webhook.created_at,
            )
            .await?
        {
            let (recipient, url, secret, created_at): (String, String, String, i64) =
                sqlx::query_as(
                    "SELECT recipient, url, secret, created_at FROM notify_webhooks WHERE id = $1",
                )
                .bind(&first)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Webhook {
                id: first,
                recipient,
                url,
                secret,
                created_at,
            });
        }
        sqlx::query("INSERT INTO notify_webhooks (id, recipient, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&webhook.id)
            .bind(&webhook.recipient)
            .bind(&webhook.url)
            .bind(&webhook.secret)
            .bind(webhook.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(webhook)
    }

    /// Leases up to `limit` due deliveries until `lease_until`, counting the attempt.
    pub async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>> {
        let due = sqlx::query(
            "SELECT 1 FROM notify_deliveries WHERE state = 'pending' AND available_at <= $1 AND lease_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.db.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let lock = match self.db.dialect() {
            jiceng_db::Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            jiceng_db::Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE notify_deliveries SET lease_until = $1, attempts = attempts + 1
             WHERE (notification_id, webhook_id) IN (
                 SELECT notification_id, webhook_id FROM notify_deliveries
                 WHERE state = 'pending' AND available_at <= $2 AND lease_until <= $2
                 ORDER BY available_at LIMIT $3 {lock})
             RETURNING notification_id, webhook_id, recipient, attempts, traceparent"
        );
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query_as::<_, ClaimedRow>(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let (url, secret): (String, String) =
                sqlx::query_as("SELECT url, secret FROM notify_webhooks WHERE id = $1")
                    .bind(&row.webhook_id)
                    .fetch_one(&mut *tx)
                    .await?;
            claimed.push(DueDelivery {
                notification: fetch_notification(&mut tx, &row.notification_id).await?,
                webhook_id: row.webhook_id,
                url,
                secret,
                recipient: row.recipient,
                attempts: row.attempts,
                traceparent: row.traceparent,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records one attempt and what follows: delivered, another try at `retry_at`, or failed.
    pub async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        attempt: &Attempt,
        next: NextStep,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO notify_delivery_attempts (notification_id, webhook_id, attempted_at, http_status, latency_ms, error)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&delivery.notification.id)
        .bind(&delivery.webhook_id)
        .bind(attempt.at)
        .bind(attempt.http_status)
        .bind(attempt.latency_ms)
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await?;
        let (state, available_at) = match next {
            NextStep::Delivered => ("delivered", attempt.at),
            NextStep::RetryAt(at) => ("pending", at),
            NextStep::Failed => ("failed", attempt.at),
        };
        sqlx::query(
            "UPDATE notify_deliveries SET state = $1, available_at = $2, lease_until = 0
             WHERE notification_id = $3 AND webhook_id = $4",
        )
        .bind(state)
        .bind(available_at)
        .bind(&delivery.notification.id)
        .bind(&delivery.webhook_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every webhook delivery of a notification to `recipient` (all recipients when `None`).
    pub async fn delivery_status(
        &self,
        notification_id: &str,
        recipient: Option<&str>,
    ) -> Result<Vec<DeliveryStatus>> {
        let rows = sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT d.webhook_id, w.url, d.state, d.recipient FROM notify_deliveries d
             JOIN notify_webhooks w ON w.id = d.webhook_id WHERE d.notification_id = $1 ORDER BY d.webhook_id",
        )
        .bind(notification_id)
        .fetch_all(self.db.pool())
        .await?;
        let mut statuses = Vec::new();
        for (webhook_id, url, state, owner) in rows {
            if recipient.is_some_and(|r| r != owner) {
                continue;
            }
            let attempts = sqlx::query_as::<_, AttemptRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {ATTEMPT_COLUMNS} FROM notify_delivery_attempts
                 WHERE notification_id = $1 AND webhook_id = $2 ORDER BY attempted_at"
            )))
            .bind(notification_id)
            .bind(&webhook_id)
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(Attempt::from)
            .collect();
            statuses.push(DeliveryStatus {
                webhook_id,
                url,
                state,
                attempts,
            });
        }
        Ok(statuses)
    }
}

/// Inbox rows written by one INSERT; well under both databases' limits on bound parameters.
const INBOX_ROWS_PER_STATEMENT: usize = 500;

/// The lock publishing and digest folding hold: inbox cursors are allocated in commit order.
const INBOX_LOCK: &str = "notify:inbox";

async fn insert_notification(tx: &mut Tx, id: &str, new: &NewNotification, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO notify_notifications (id, publisher, idempotency_key, category, priority, title, body,
             link, data, delivered_count, source_event_id, trace_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12)",
    )
    .bind(id)
    .bind(&new.publisher)
    .bind(&new.idempotency_key)
    .bind(new.category.as_str())
    .bind(new.priority.as_str())
    .bind(&new.title)
    .bind(&new.body)
    .bind(&new.link)
    .bind(serde_json::to_string(&new.data).unwrap_or_default())
    .bind(new.source_event_id.clone())
    .bind(new.trace_id.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts a notification in the inboxes of the recipients who did not mute it there, and queues
/// it for the webhooks of those who did not mute that channel; records the inbox count.
async fn deliver(
    tx: &mut Tx,
    id: &str,
    recipients: &[String],
    category: &Category,
    now: i64,
    traceparent: Option<&str>,
) -> Result<()> {
    let muted_in_app = muted_recipients(tx, &category.name, IN_APP, category.critical).await?;
    let inboxes: Vec<&String> = recipients
        .iter()
        .filter(|r| !muted_in_app.contains(*r))
        .collect();
    let mut delivered = 0_i64;
    // Many rows per statement: a fan-out to a thousand members is a handful of round trips.
    for chunk in inboxes.chunks(INBOX_ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, $2)", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO notify_inbox (recipient, notification_id, delivered_at) VALUES {}
             ON CONFLICT (recipient, notification_id) DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(now);
        for recipient in chunk {
            query = query.bind(recipient.as_str());
        }
        delivered += query.execute(&mut **tx).await?.rows_affected() as i64;
    }
    sqlx::query("UPDATE notify_notifications SET delivered_count = $1 WHERE id = $2")
        .bind(delivered)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let muted_webhook = muted_recipients(tx, &category.name, WEBHOOK, category.critical).await?;
    let wanted: HashSet<&str> = recipients
        .iter()
        .filter(|r| !muted_webhook.contains(*r))
        .map(String::as_str)
        .collect();
    let hooks = sqlx::query_as::<_, (String, String)>("SELECT id, recipient FROM notify_webhooks")
        .fetch_all(&mut **tx)
        .await?;
    for (hook_id, recipient) in hooks {
        if !wanted.contains(recipient.as_str()) {
            continue;
        }
        sqlx::query(
            "INSERT INTO notify_deliveries (notification_id, webhook_id, recipient, state, available_at, traceparent)
             VALUES ($1, $2, $3, 'pending', $4, $5)",
        )
        .bind(id)
        .bind(&hook_id)
        .bind(&recipient)
        .bind(now)
        .bind(traceparent.map(str::to_owned))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Recipients who turned `category` off on `channel`; nobody, for a critical category.
async fn muted_recipients(
    tx: &mut Tx,
    category: &Name,
    channel: &str,
    critical: bool,
) -> Result<HashSet<String>> {
    if critical {
        return Ok(HashSet::new());
    }
    let rows: Vec<String> = sqlx::query_scalar("SELECT recipient FROM notify_preferences WHERE category = $1 AND channel = $2 AND enabled = 0")
        .bind(category.as_str())
        .bind(channel)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().collect())
}

async fn fetch_notification(tx: &mut Tx, id: &str) -> Result<Notification> {
    let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notify_notifications n WHERE n.id = $1");
    let row = sqlx::query_as::<_, NotificationRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("notification", id))?;
    Ok(Notification::try_from(row)?)
}

fn decode_error(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("invalid {what} in notify tables").into())
}
