//! Activities and who attended them.

use jiceng_db::Tx;

use super::{MemberStore, REQUEST_IDS, Result, StoreError};
use crate::domain::activities::Activity;

/// An activity about to be recorded; attendees the service does not know are left out.
#[derive(Clone, Debug)]
pub struct NewActivity {
    pub kind: &'static str,
    pub title: String,
    pub org_id: String,
    pub held_on: String,
    pub attendees: Vec<String>,
    pub booking_id: Option<String>,
    /// Who records it and their idempotency key: a retry that repeats the key adds to the
    /// first call's activity, so that no attendee is credited twice.
    pub request: Option<(String, String)>,
}

const COLUMNS: &str = "id, kind, title, org_id, held_on, booking_id, recorded_at";

/// A row of `member_activities` as read: its fields are the columns of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct ActivityRow {
    id: String,
    kind: String,
    title: String,
    org_id: String,
    held_on: String,
    booking_id: Option<String>,
    recorded_at: i64,
}

impl ActivityRow {
    /// The activity this row holds, attended by `attendees`.
    fn into_domain(self, attendees: Vec<String>) -> Activity {
        Activity {
            id: self.id,
            kind: self.kind,
            title: self.title,
            org_id: self.org_id,
            held_on: self.held_on,
            booking_id: self.booking_id,
            recorded_at: self.recorded_at,
            attendees,
        }
    }
}

impl MemberStore {
    /// Records an activity, or for a booking already recorded adds only attendees it lacks.
    /// Returns the activity and the members newly recorded as attending.
    pub async fn record_activity(&self, new: &NewActivity) -> Result<(Activity, Vec<String>)> {
        let mut tx = self.db.begin_write().await?;
        let fresh = uuid::Uuid::now_v7().to_string();
        let existing: Option<String> = match (&new.booking_id, &new.request) {
            (Some(booking), _) => {
                sqlx::query_scalar("SELECT id FROM member_activities WHERE booking_id = $1")
                    .bind(booking)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            (None, Some((actor, request_id))) => {
                REQUEST_IDS
                    .claim_create(
                        &mut tx,
                        actor,
                        Some(request_id),
                        "RecordActivity",
                        &fresh,
                        self.db.now(),
                    )
                    .await?
            }
            (None, None) => None,
        };
        let id = match existing {
            Some(id) => id,
            None => {
                let id = fresh;
                sqlx::query(
                    "INSERT INTO member_activities (id, kind, title, org_id, held_on, booking_id, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(new.kind)
                .bind(&new.title)
                .bind(&new.org_id)
                .bind(&new.held_on)
                .bind(new.booking_id.clone())
                .bind(self.db.now())
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        let mut added = Vec::new();
        for member in &new.attendees {
            let known = sqlx::query("SELECT 1 FROM member_members WHERE id = $1")
                .bind(member)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                continue;
            }
            let inserted = sqlx::query(
                "INSERT INTO member_activity_attendees (activity_id, member_id) VALUES ($1, $2)
                 ON CONFLICT (activity_id, member_id) DO NOTHING",
            )
            .bind(&id)
            .bind(member)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                added.push(member.clone());
            }
        }
        let activity = fetch_activity(&mut tx, &id).await?;
        tx.commit().await?;
        Ok((activity, added))
    }

    /// The activities a member attended, newest first.
    pub async fn activities_of(&self, member_id: &str) -> Result<Vec<Activity>> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let ids: Vec<String> = sqlx::query_as::<_, ActivityRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM member_activities a JOIN member_activity_attendees t ON t.activity_id = a.id
             WHERE t.member_id = $1 ORDER BY a.held_on DESC, a.id DESC"
        )))
        .bind(member_id)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
        let mut tx = self.db.begin().await?;
        let mut activities = Vec::with_capacity(ids.len());
        for id in ids {
            activities.push(fetch_activity(&mut tx, &id).await?);
        }
        tx.commit().await?;
        Ok(activities)
    }
}

async fn fetch_activity(tx: &mut Tx, id: &str) -> Result<Activity> {
    let row = sqlx::query_as::<_, ActivityRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM member_activities WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("activity", id))?;
    let attendees = sqlx::query_scalar(
        "SELECT member_id FROM member_activity_attendees WHERE activity_id = $1 ORDER BY member_id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(row.into_domain(attendees))
}
