//! The member service's SQL, and nothing else. Personal data arrives here already sealed.

pub mod activities;
pub mod community;
pub mod leaderboard;
pub mod ledger;
pub mod transfers;

use jiceng_db::{Database, RequestIds, Tx};
use jiceng_org_client::{
    OrgPath, PathHolder,
    paths::{self},
};

use crate::domain::{Date, Gender, Member, MemberStatus, StatusChange, points::periods};

pub use jiceng_db::StoreError;

/// FAILED_PRECONDITION about the member service's records.
fn precondition(kind: &'static str, description: impl Into<String>) -> StoreError {
    StoreError::precondition(kind, "members", description)
}

type Result<T> = std::result::Result<T, StoreError>;

/// Where the member service keeps its callers' request ids.
const REQUEST_IDS: RequestIds = RequestIds::new("member_requests");

/// The member service's rows that hold org paths: members (their org's) and balance rows
/// (their member's).
pub const ORG_PATH_HOLDERS: &[PathHolder] = &[
    PathHolder::ByOrg {
        table: "member_members",
        org_column: "org_id",
    },
    PathHolder::ByParent {
        table: "member_balances",
        key_column: "member_id",
        parent_table: "member_members",
    },
];

/// A member about to be registered, personal numbers sealed and indexed by the caller.
#[derive(Clone, Debug)]
pub struct NewMember {
    pub name: String,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    pub phone: Option<(String, String)>,
    /// Sealed, masked, blind index.
    pub id_card: Option<(String, String, String)>,
    pub join_date: Option<Date>,
    pub status: MemberStatus,
    pub org_id: String,
    /// The org's path from the district root, `/root/…/org/`.
    pub org_path: OrgPath,
}

#[derive(Clone, Debug)]
pub struct MemberStore {
    db: Database,
    /// The CloudEvents `source` of this service's events, e.g. `//jiceng/310115/member`.
    event_source: String,
}

const COLUMNS: &str = "id, name, gender, birth_date, phone_sealed, phone_masked, id_card_sealed, id_card_masked, \
    join_date, status, org_id, version, created_at, updated_at";

/// A row of `member_members` as read: its fields are the columns of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    name: String,
    gender: Option<String>,
    birth_date: Option<String>,
    phone_sealed: Option<String>,
    phone_masked: Option<String>,
    id_card_sealed: Option<String>,
    id_card_masked: Option<String>,
    join_date: Option<String>,
    status: String,
    org_id: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = sqlx::Error;

    fn try_from(row: MemberRow) -> std::result::Result<Self, Self::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in member_members").into());
        Ok(Member {
            id: row.id,
            name: row.name,
            gender: row
                .gender
                .map(|g| Gender::parse(&g).ok_or_else(|| corrupt("gender")))
                .transpose()?,
            birth_date: row.birth_date,
            phone_sealed: row.phone_sealed,
            phone_masked: row.phone_masked,
            id_card_sealed: row.id_card_sealed,
            id_card_masked: row.id_card_masked,
            join_date: row.join_date,
            status: MemberStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            org_id: row.org_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const HISTORY_COLUMNS: &str =
    "from_status, to_status, effective_date, approving_org_id, note, actor, recorded_at";

/// A row of `member_status_history` as read: its fields are the columns of [`HISTORY_COLUMNS`].
#[derive(sqlx::FromRow)]
struct StatusChangeRow {
    from_status: Option<String>,
    to_status: String,
    effective_date: String,
    approving_org_id: String,
    note: String,
    actor: String,
    recorded_at: i64,
}

impl TryFrom<StatusChangeRow> for StatusChange {
    type Error = sqlx::Error;

    fn try_from(row: StatusChangeRow) -> std::result::Result<Self, Self::Error> {
        let corrupt = || sqlx::Error::Decode("invalid status in member_status_history".into());
        Ok(StatusChange {
            from: row
                .from_status
                .map(|f| MemberStatus::parse(&f).ok_or_else(corrupt))
                .transpose()?,
            to: MemberStatus::parse(&row.to_status).ok_or_else(corrupt)?,
            effective_date: row.effective_date,
            approving_org_id: row.approving_org_id,
            note: row.note,
            actor: row.actor,
            recorded_at: row.recorded_at,
        })
    }
}

impl MemberStore {
    pub fn new(db: Database, event_source: String) -> Self {
        Self { db, event_source }
    }

    /// The time the store acts at (its database's clock).
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Registers a member with their first status in the history. A retried request id returns
    /// the member the first call created; a known ID-card number is ALREADY_EXISTS.
    pub async fn create(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewMember,
    ) -> Result<Member> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.db.now();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "CreateMember", &id, now)
            .await?
        {
            let member = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(member);
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO member_members ({COLUMNS}, id_card_index, org_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14)"
        )))
        .bind(&id)
        .bind(&new.name)
        .bind(new.gender.map(|g| g.as_str().to_owned()))
        .bind(new.birth_date.map(|d| d.to_string()))
        .bind(new.phone.as_ref().map(|(sealed, _)| sealed.clone()))
        .bind(new.phone.as_ref().map(|(_, masked)| masked.clone()))
        .bind(new.id_card.as_ref().map(|(sealed, _, _)| sealed.clone()))
        .bind(new.id_card.as_ref().map(|(_, masked, _)| masked.clone()))
        .bind(new.join_date.map(|d| d.to_string()))
        .bind(new.status.as_str())
        .bind(&new.org_id)
        .bind(now)
        .bind(new.id_card.as_ref().map(|(_, _, index)| index.clone()))
        .bind(new.org_path.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::conflict_on_unique(
            "a member with this ID-card number exists",
        ))?;
        // Registration takes effect on the day it is recorded, in Beijing time.
        record_change(
            &mut tx,
            &id,
            None,
            new.status,
            &periods(now).2,
            &new.org_id,
            "registered",
            actor,
            now,
        )
        .await?;
        let member = fetch(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(member)
    }

    pub async fn get(&self, id: &str) -> Result<Member> {
        let mut tx = self.db.begin().await?;
        let member = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Member `id`, read to be shown in clear: `reveal` is recorded in the same transaction,
    /// or nothing is read.
    pub async fn reveal(
        &self,
        id: &str,
        reveal: &jiceng_pii_audit::Reveal<'_>,
        now: i64,
    ) -> Result<Member> {
        let mut tx = self.db.begin_write().await?;
        let member = fetch(&mut tx, id).await?;
        jiceng_pii_audit::record(&self.db, &mut tx, reveal, now).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// The member whose ID-card number has this blind index.
    pub async fn find_by_id_card(&self, index: &str) -> Result<Member> {
        let row = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member_members WHERE id_card_index = $1"
        )))
        .bind(index)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("member", "by ID card"))?;
        Ok(Member::try_from(row)?)
    }

    /// Members of an org by (name, id), after the cursor when given.
    pub async fn list(
        &self,
        org_id: &str,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Member>> {
        let (name, id) = after.unwrap_or(("", ""));
        let rows = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member_members WHERE org_id = $1 AND (name > $2 OR (name = $2 AND id > $3))
             ORDER BY name, id LIMIT $4"
        )))
        .bind(org_id)
        .bind(name)
        .bind(id)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(Member::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Moves a member to `to` when the pipeline allows it, with its history entry.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_status(
        &self,
        (actor, request_id): (&str, Option<&str>),
        id: &str,
        to: MemberStatus,
        effective_date: Date,
        approving_org_id: &str,
        note: &str,
        etag: Option<i64>,
    ) -> Result<Member> {
        let mut tx = self.db.begin_write().await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(
                &mut tx,
                actor,
                request_id,
                "ChangeMemberStatus",
                id,
                self.db.now(),
            )
            .await?
        {
            let member = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(member);
        }
        let member = fetch(&mut tx, id).await?;
        if etag.is_some_and(|version| version != member.version) {
            return Err(StoreError::Stale { what: "member" });
        }
        if let Some(refusal) = member.status.refuses(to) {
            return Err(precondition("PIPELINE", refusal));
        }
        let now = self.db.now();
        let joined = (to == MemberStatus::Probationary).then(|| effective_date.to_string());
        let updated = sqlx::query(
            "UPDATE member_members SET status = $1, join_date = COALESCE($2, join_date), version = version + 1,
                 updated_at = $3 WHERE id = $4 AND version = $5",
        )
        .bind(to.as_str())
        .bind(joined)
        .bind(now)
        .bind(id)
        .bind(member.version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale { what: "member" });
        }
        record_change(
            &mut tx,
            id,
            Some(member.status),
            to,
            &effective_date.to_string(),
            approving_org_id,
            note,
            actor,
            now,
        )
        .await?;
        let member = fetch(&mut tx, id).await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            crate::events::status_changed(&member),
        )
        .await?;
        tx.commit().await?;
        Ok(member)
    }

    pub async fn history(&self, id: &str) -> Result<Vec<StatusChange>> {
        let rows = sqlx::query_as::<_, StatusChangeRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {HISTORY_COLUMNS}
             FROM member_status_history WHERE member_id = $1 ORDER BY recorded_at, id"
        )))
        .bind(id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(StatusChange::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }
}

#[allow(clippy::too_many_arguments)]
async fn record_change(
    tx: &mut Tx,
    member_id: &str,
    from: Option<MemberStatus>,
    to: MemberStatus,
    effective_date: &str,
    approving_org_id: &str,
    note: &str,
    actor: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_status_history
             (id, member_id, from_status, to_status, effective_date, approving_org_id, note, actor, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(member_id)
    .bind(from.map(|s| s.as_str().to_owned()))
    .bind(to.as_str())
    .bind(effective_date)
    .bind(approving_org_id)
    .bind(note)
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn fetch(tx: &mut Tx, id: &str) -> Result<Member> {
    let row = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM member_members WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("member", id))?;
    Ok(Member::try_from(row)?)
}
