//! Alliances (regional party-building platforms) and their memberships.

use jiceng_db::{LockMode, Target, Tx, lock_key};
use serde_json::json;

use super::{
    Mutation, OrgStore, Result, StoreError, audit, claim_request, fetch_unit, precondition,
};
use crate::domain::{
    UnitId,
    alliances::{Alliance, AllianceKind, AllianceMember, AllianceMemberRef, CreditCode},
};

const ALLIANCE_COLUMNS: &str = "a.id, a.name, a.kind, a.lead_unit_id, a.description, a.created_at, \
    (SELECT COUNT(*) FROM org_alliance_members m WHERE m.alliance_id = a.id AND m.left_at IS NULL) \
    AS current_member_count";

/// A row of [`ALLIANCE_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct AllianceRow {
    id: String,
    name: String,
    kind: String,
    lead_unit_id: String,
    description: String,
    created_at: i64,
    current_member_count: i64,
}

impl TryFrom<AllianceRow> for Alliance {
    type Error = sqlx::Error;

    fn try_from(row: AllianceRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in org_alliances").into());
        Ok(Alliance {
            id: row.id,
            name: row.name,
            kind: AllianceKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
            lead_unit_id: UnitId::from_stored(row.lead_unit_id)
                .map_err(|_| corrupt("lead unit"))?,
            description: row.description,
            created_at: row.created_at,
            current_member_count: row.current_member_count,
        })
    }
}

const MEMBER_COLUMNS: &str =
    "id, alliance_id, unit_id, org_name, credit_code, joined_at, left_at, leave_reason";

/// A row of [`MEMBER_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    alliance_id: String,
    unit_id: Option<String>,
    org_name: Option<String>,
    credit_code: Option<String>,
    joined_at: i64,
    left_at: Option<i64>,
    leave_reason: Option<String>,
}

impl TryFrom<MemberRow> for AllianceMember {
    type Error = sqlx::Error;

    fn try_from(row: MemberRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt = |what: &str| {
            sqlx::Error::Decode(format!("invalid {what} in org_alliance_members").into())
        };
        let member = match (row.unit_id, row.org_name, row.credit_code) {
            (Some(unit), _, _) => {
                AllianceMemberRef::Unit(UnitId::from_stored(unit).map_err(|_| corrupt("unit"))?)
            }
            (None, Some(name), Some(code)) => AllianceMemberRef::Organisation {
                name,
                credit_code: CreditCode::parse(&code).map_err(|_| corrupt("credit code"))?,
            },
            _ => return Err(corrupt("member")),
        };
        Ok(AllianceMember {
            id: row.id,
            alliance_id: row.alliance_id,
            member,
            joined_at: row.joined_at,
            left_at: row.left_at,
            leave_reason: row.leave_reason,
        })
    }
}

impl OrgStore {
    pub async fn create_alliance(
        &self,
        mutation: &Mutation,
        name: &str,
        kind: AllianceKind,
        lead: &UnitId,
        description: &str,
    ) -> Result<Alliance> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "CreateAlliance", Target::New(&id)).await?
        {
            let alliance = fetch_alliance(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(alliance);
        }
        let unit = fetch_unit(&mut tx, lead.as_str()).await?;
        if !unit.is_active() {
            return Err(precondition(
                "DISSOLVED",
                format_args!("units/{lead}"),
                "the lead unit is dissolved",
            ));
        }
        sqlx::query(
            "INSERT INTO org_alliances (id, name, kind, lead_unit_id, description, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(kind.as_str())
        .bind(lead.as_str())
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "CreateAlliance",
            lead,
            json!({ "alliance_id": id, "name": name }),
        )
        .await?;
        let alliance = fetch_alliance(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(alliance)
    }

    pub async fn alliance(&self, id: &str) -> Result<Alliance> {
        let mut tx = self.db.begin().await?;
        let alliance = fetch_alliance(&mut tx, id).await?;
        tx.commit().await?;
        Ok(alliance)
    }

    /// Alliances `unit` leads or currently belongs to, by name.
    pub async fn alliances_of(&self, unit: &UnitId) -> Result<Vec<Alliance>> {
        let sql = format!(
            "SELECT {ALLIANCE_COLUMNS} FROM org_alliances a
             WHERE a.lead_unit_id = $1 OR EXISTS (
                 SELECT 1 FROM org_alliance_members m
                 WHERE m.alliance_id = a.id AND m.unit_id = $1 AND m.left_at IS NULL)
             ORDER BY a.name, a.id"
        );
        let rows = sqlx::query_as::<_, AllianceRow>(sqlx::AssertSqlSafe(sql))
            .bind(unit.as_str())
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(Alliance::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Adds a member; a unit or organisation belongs to an alliance at most once at a time.
    pub async fn join_alliance(
        &self,
        mutation: &Mutation,
        alliance_id: &str,
        member: &AllianceMemberRef,
        joined_at: i64,
    ) -> Result<AllianceMember> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(
                &mut tx,
                lock_key(&format!("alliance:{alliance_id}")),
                LockMode::Exclusive,
            )
            .await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "CreateAllianceMember",
            Target::New(&id),
        )
        .await?
        {
            let member = fetch_member(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(member);
        }
        fetch_alliance(&mut tx, alliance_id).await?;
        let (unit_id, org_name, credit_code) = match member {
            AllianceMemberRef::Unit(unit) => {
                fetch_unit(&mut tx, unit.as_str()).await?;
                (Some(unit.to_string()), None, None)
            }
            AllianceMemberRef::Organisation { name, credit_code } => (
                None,
                Some(name.clone()),
                Some(credit_code.as_str().to_owned()),
            ),
        };
        let current = sqlx::query(
            "SELECT 1 FROM org_alliance_members
             WHERE alliance_id = $1 AND left_at IS NULL AND (unit_id = $2 OR credit_code = $3)",
        )
        .bind(alliance_id)
        .bind(unit_id.clone())
        .bind(credit_code.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if current.is_some() {
            return Err(precondition(
                "MEMBER",
                format_args!("alliances/{alliance_id}"),
                "already a member of the alliance",
            ));
        }
        sqlx::query(
            "INSERT INTO org_alliance_members (id, alliance_id, unit_id, org_name, credit_code, joined_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(alliance_id)
        .bind(unit_id)
        .bind(org_name)
        .bind(credit_code)
        .bind(joined_at)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "AddAllianceMember",
            format!("alliances/{alliance_id}"),
            json!({ "member_id": id }),
        )
        .await?;
        let member = fetch_member(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(member)
    }

    pub async fn alliance_member(&self, id: &str) -> Result<AllianceMember> {
        let mut tx = self.db.begin().await?;
        let member = fetch_member(&mut tx, id).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Records a member leaving at `left_at`.
    pub async fn leave_alliance(
        &self,
        mutation: &Mutation,
        id: &str,
        left_at: i64,
        reason: &str,
    ) -> Result<AllianceMember> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "RemoveAllianceMember",
            Target::Existing(id),
        )
        .await?
        {
            let member = fetch_member(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(member);
        }
        let member = fetch_member(&mut tx, id).await?;
        if member.left_at.is_some() {
            return Err(precondition(
                "LEFT",
                format_args!("alliance-members/{id}"),
                "the member has already left",
            ));
        }
        if left_at < member.joined_at {
            return Err(precondition(
                "LEFT",
                format_args!("alliance-members/{id}"),
                "a member leaves after joining",
            ));
        }
        sqlx::query(
            "UPDATE org_alliance_members SET left_at = $1, leave_reason = $2 WHERE id = $3",
        )
        .bind(left_at)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "RemoveAllianceMember",
            format!("alliances/{}", member.alliance_id),
            json!({ "member_id": id }),
        )
        .await?;
        let member = fetch_member(&mut tx, id).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// An alliance's members by joining date; past members too when asked.
    pub async fn alliance_members(
        &self,
        alliance_id: &str,
        include_past: bool,
    ) -> Result<Vec<AllianceMember>> {
        let current = if include_past {
            ""
        } else {
            "AND left_at IS NULL"
        };
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM org_alliance_members WHERE alliance_id = $1 {current}
             ORDER BY joined_at, id"
        );
        let rows = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql))
            .bind(alliance_id)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(AllianceMember::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }
}

async fn fetch_alliance(tx: &mut Tx, id: &str) -> Result<Alliance> {
    let row = sqlx::query_as::<_, AllianceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ALLIANCE_COLUMNS} FROM org_alliances a WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("alliance", id))?;
    Ok(Alliance::try_from(row)?)
}

async fn fetch_member(tx: &mut Tx, id: &str) -> Result<AllianceMember> {
    let row = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM org_alliance_members WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("alliance member", id))?;
    Ok(AllianceMember::try_from(row)?)
}
