//! The notify service's SQL, and nothing else.
//!
//! Publishing takes the inbox lock for its transaction: inbox cursors are then allocated and
//! committed in the same order, which is what lets a stream resume from a cursor without gaps.

use std::collections::BTreeMap;

use jiceng_db::{Database, LockMode, Tx, lock_key, now_millis};
use sqlx::{Row as _, any::AnyRow};

use crate::domain::{Category, InboxItem, Name, NewNotification, Notification, Priority, Template};

/// The only channel so far: the inbox.
pub const IN_APP: &str = "in_app";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Precondition(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, StoreError>;

/// What a publish did: the notification, and whether this call created it.
#[derive(Clone, Debug)]
pub struct Published {
    pub notification: Notification,
    pub created: bool,
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

impl NotifyStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Registers or replaces a category.
    pub async fn register_category(&self, category: &Category) -> Result<()> {
        sqlx::query(
            "INSERT INTO notify_categories (name, title_template, body_template, variables, critical, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET title_template = $2, body_template = $3, variables = $4,
                 critical = $5, updated_at = $6",
        )
        .bind(category.name.as_str())
        .bind(category.title.source())
        .bind(category.body.source())
        .bind(serde_json::to_string(&category.variables).unwrap_or_default())
        .bind(i64::from(category.critical))
        .bind(now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Registers `category` unless a category of that name exists: built-in categories never
    /// overwrite what a district changed.
    pub async fn ensure_category(&self, category: &Category) -> Result<()> {
        sqlx::query(
            "INSERT INTO notify_categories (name, title_template, body_template, variables, critical, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(category.name.as_str())
        .bind(category.title.source())
        .bind(category.body.source())
        .bind(serde_json::to_string(&category.variables).unwrap_or_default())
        .bind(i64::from(category.critical))
        .bind(now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn category(&self, name: &Name) -> Result<Category> {
        let row = sqlx::query("SELECT name, title_template, body_template, variables, critical FROM notify_categories WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "category", id: name.as_str().to_owned() })?;
        Ok(category_from_row(&row)?)
    }

    pub async fn categories(&self) -> Result<Vec<Category>> {
        let rows = sqlx::query("SELECT name, title_template, body_template, variables, critical FROM notify_categories ORDER BY name")
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .iter()
            .map(category_from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Publishes to `recipients` (already resolved to member ids) unless the key was published
    /// before, in which case the first notification is returned and nothing is created.
    /// Recipients who muted the category are skipped unless it is critical.
    #[tracing::instrument(name = "notify.store.publish", skip_all, fields(category = new.category.as_str(), recipients = recipients.len()))]
    pub async fn publish(
        &self,
        new: &NewNotification,
        recipients: &[String],
        critical: bool,
    ) -> Result<Published> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, lock_key("notify:inbox"), LockMode::Exclusive)
            .await?;
        let existing = sqlx::query(
            "SELECT id FROM notify_notifications WHERE publisher = $1 AND idempotency_key = $2",
        )
        .bind(&new.publisher)
        .bind(&new.idempotency_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            let notification = fetch_notification(&mut tx, &row.try_get::<String, _>(0)?).await?;
            tx.commit().await?;
            return Ok(Published {
                notification,
                created: false,
            });
        }
        let muted: Vec<String> = if critical {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT recipient FROM notify_preferences WHERE category = $1 AND channel = $2 AND enabled = 0",
            )
            .bind(new.category.as_str())
            .bind(IN_APP)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()?
        };
        let delivered: Vec<&String> = recipients.iter().filter(|r| !muted.contains(r)).collect();
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_millis();
        sqlx::query(
            "INSERT INTO notify_notifications (id, publisher, idempotency_key, category, priority, title, body,
                 link, data, delivered_count, source_event_id, trace_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(&new.publisher)
        .bind(&new.idempotency_key)
        .bind(new.category.as_str())
        .bind(new.priority.as_str())
        .bind(&new.title)
        .bind(&new.body)
        .bind(&new.link)
        .bind(serde_json::to_string(&new.data).unwrap_or_default())
        .bind(delivered.len() as i64)
        .bind(new.source_event_id.clone())
        .bind(new.trace_id.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for recipient in delivered {
            sqlx::query(
                "INSERT INTO notify_inbox (recipient, notification_id, delivered_at) VALUES ($1, $2, $3)
                 ON CONFLICT (recipient, notification_id) DO NOTHING",
            )
            .bind(recipient)
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let notification = fetch_notification(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(Published {
            notification,
            created: true,
        })
    }

    /// Followers of a topic.
    pub async fn followers(&self, topic: &Name) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT recipient FROM notify_topic_followers WHERE topic = $1 ORDER BY recipient",
        )
        .bind(topic.as_str())
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()?)
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
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(before.unwrap_or(i64::MAX))
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(limit);
        if let Some(category) = &filter.category {
            query = query.bind(category.as_str());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        Ok(rows
            .iter()
            .map(item_from_row)
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
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(after)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .iter()
            .map(item_from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    pub async fn unread_count(&self, recipient: &str) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM notify_inbox WHERE recipient = $1 AND read_at IS NULL AND archived_at IS NULL")
            .bind(recipient)
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)?)
    }

    /// Marks one of the recipient's items read or unread.
    pub async fn mark_read(
        &self,
        recipient: &str,
        notification_id: &str,
        read: bool,
    ) -> Result<InboxItem> {
        let read_at = read.then(now_millis);
        self.update_item(recipient, notification_id, "read_at", read_at)
            .await
    }

    pub async fn archive(&self, recipient: &str, notification_id: &str) -> Result<InboxItem> {
        self.update_item(
            recipient,
            notification_id,
            "archived_at",
            Some(now_millis()),
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
            return Err(StoreError::NotFound {
                what: "inbox item",
                id: notification_id.to_owned(),
            });
        }
        let sql = format!(
            "SELECT i.seq, i.read_at, i.archived_at, i.delivered_at, {NOTIFICATION_COLUMNS}
             FROM notify_inbox i JOIN notify_notifications n ON n.id = i.notification_id
             WHERE i.recipient = $1 AND i.notification_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(recipient)
            .bind(notification_id)
            .fetch_one(self.db.pool())
            .await?;
        Ok(item_from_row(&row)?)
    }

    pub async fn mark_all_read(&self, recipient: &str) -> Result<i64> {
        let marked = sqlx::query(
            "UPDATE notify_inbox SET read_at = $1 WHERE recipient = $2 AND read_at IS NULL",
        )
        .bind(now_millis())
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
        enabled: bool,
    ) -> Result<()> {
        let category = self.category(category).await?;
        if category.critical && !enabled {
            return Err(StoreError::Precondition(format!(
                "{} is critical and cannot be muted",
                category.name.as_str()
            )));
        }
        sqlx::query(
            "INSERT INTO notify_preferences (recipient, category, channel, enabled) VALUES ($1, $2, $3, $4)
             ON CONFLICT (recipient, category, channel) DO UPDATE SET enabled = $4",
        )
        .bind(recipient)
        .bind(category.name.as_str())
        .bind(IN_APP)
        .bind(i64::from(enabled))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A recipient's explicit preferences: (category, enabled).
    pub async fn preferences(&self, recipient: &str) -> Result<Vec<(Name, bool)>> {
        let rows = sqlx::query("SELECT category, enabled FROM notify_preferences WHERE recipient = $1 AND channel = $2 ORDER BY category")
            .bind(recipient)
            .bind(IN_APP)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                let name = Name::parse(&name)
                    .map_err(|_| sqlx::Error::Decode("invalid category".into()))?;
                Ok((name, row.try_get::<i64, _>(1)? != 0))
            })
            .collect()
    }
}

async fn fetch_notification(tx: &mut Tx, id: &str) -> Result<Notification> {
    let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notify_notifications n WHERE n.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "notification",
            id: id.to_owned(),
        })?;
    Ok(notification_from_row(&row, 0)?)
}

fn decode_error(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("invalid {what} in notify tables").into())
}

fn category_from_row(row: &AnyRow) -> std::result::Result<Category, sqlx::Error> {
    let name: String = row.try_get(0)?;
    let title: String = row.try_get(1)?;
    let body: String = row.try_get(2)?;
    let variables: Vec<String> = serde_json::from_str(&row.try_get::<String, _>(3)?)
        .map_err(|_| decode_error("variables"))?;
    Category::new(
        Name::parse(&name).map_err(|_| decode_error("category name"))?,
        Template::parse(&title).map_err(|_| decode_error("title template"))?,
        Template::parse(&body).map_err(|_| decode_error("body template"))?,
        variables,
        row.try_get::<i64, _>(4)? != 0,
    )
    .map_err(|_| decode_error("category"))
}

/// Decodes [`NOTIFICATION_COLUMNS`] starting at column `at`.
fn notification_from_row(
    row: &AnyRow,
    at: usize,
) -> std::result::Result<Notification, sqlx::Error> {
    let category: String = row.try_get(at + 1)?;
    let priority: String = row.try_get(at + 2)?;
    let data: BTreeMap<String, String> = serde_json::from_str(&row.try_get::<String, _>(at + 6)?)
        .map_err(|_| decode_error("data"))?;
    Ok(Notification {
        id: row.try_get(at)?,
        category: Name::parse(&category).map_err(|_| decode_error("category"))?,
        priority: Priority::parse(&priority).ok_or_else(|| decode_error("priority"))?,
        title: row.try_get(at + 3)?,
        body: row.try_get(at + 4)?,
        link: row.try_get(at + 5)?,
        data,
        delivered_count: row.try_get(at + 7)?,
        source_event_id: row.try_get(at + 8)?,
        trace_id: row.try_get(at + 9)?,
        created_at: row.try_get(at + 10)?,
    })
}

fn item_from_row(row: &AnyRow) -> std::result::Result<InboxItem, sqlx::Error> {
    Ok(InboxItem {
        seq: row.try_get(0)?,
        read: row.try_get::<Option<i64>, _>(1)?.is_some(),
        archived: row.try_get::<Option<i64>, _>(2)?.is_some(),
        delivered_at: row.try_get(3)?,
        notification: notification_from_row(row, 4)?,
    })
}
