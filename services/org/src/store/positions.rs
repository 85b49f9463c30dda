//! Positions: terms of people in roles of units.

use jiceng_db::{LockMode, Target, Tx, lock_key};
use serde_json::json;

use super::{
    Mutation, OrgStore, Result, StoreError, audit, claim_request, fetch_unit, precondition,
};
use crate::{
    domain::{
        UnitId,
        positions::{Holder, NewPosition, Position, PositionRole},
        text::Person,
    },
    events,
};

const POSITION_COLUMNS: &str = "id, unit_id, role, member_id, person_name, person_unit_name, \
    stationed_unit_name, term_start, term_end, end_reason, created_at";

/// A row of [`POSITION_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct PositionRow {
    id: String,
    unit_id: String,
    role: String,
    member_id: Option<String>,
    person_name: Option<String>,
    person_unit_name: Option<String>,
    stationed_unit_name: Option<String>,
    term_start: i64,
    term_end: Option<i64>,
    end_reason: Option<String>,
    created_at: i64,
}

impl TryFrom<PositionRow> for Position {
    type Error = sqlx::Error;

    fn try_from(row: PositionRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in org_positions").into());
        let holder = match (row.member_id, row.person_name) {
            (Some(member), _) => Holder::Member(member),
            (None, Some(name)) => Holder::Person(Person {
                name,
                unit_name: row.person_unit_name.unwrap_or_default(),
            }),
            (None, None) => return Err(corrupt("holder")),
        };
        Ok(Position {
            id: row.id,
            unit_id: UnitId::from_stored(row.unit_id).map_err(|_| corrupt("unit_id"))?,
            role: PositionRole::parse(&row.role).ok_or_else(|| corrupt("role"))?,
            holder,
            stationed_unit_name: row.stationed_unit_name,
            term_start: row.term_start,
            term_end: row.term_end,
            end_reason: row.end_reason,
            created_at: row.created_at,
        })
    }
}

impl OrgStore {
    /// Appoints `new`. For a one-holder role the terms of a unit may not overlap: with
    /// `replace_current` the term open at the new start ends there (a hand-over); otherwise the
    /// appointment is refused.
    #[tracing::instrument(name = "org.store.appoint", skip_all, fields(unit.id = %new.unit_id))]
    pub async fn appoint(
        &self,
        mutation: &Mutation,
        new: &NewPosition,
        replace_current: bool,
    ) -> Result<Position> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let key = lock_key(&format!("positions:{}:{}", new.unit_id, new.role.as_str()));
        self.db.lock(&mut tx, key, LockMode::Exclusive).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "AppointPosition", Target::New(&id)).await?
        {
            let position = fetch_position(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(position);
        }
        let unit = fetch_unit(&mut tx, new.unit_id.as_str()).await?;
        if !unit.is_active() {
            return Err(precondition(
                "DISSOLVED",
                format_args!("units/{}", unit.id),
                "the unit is dissolved",
            ));
        }
        let mut handed_over = Vec::new();
        if new.role.has_one_holder() {
            let terms = positions_of(&mut tx, &new.unit_id, Some(new.role)).await?;
            for term in terms
                .into_iter()
                .filter(|t| t.overlaps(new.term_start, new.term_end))
            {
                let open_at_start = term.term_start < new.term_start;
                if !(replace_current && open_at_start) {
                    return Err(precondition(
                        "HELD",
                        format_args!("positions/{}", term.id),
                        format!(
                            "the {} of this unit is held in that period; hand over with replace_current",
                            new.role.as_str()
                        ),
                    ));
                }
                sqlx::query(
                    "UPDATE org_positions SET term_end = $1, end_reason = $2 WHERE id = $3",
                )
                .bind(new.term_start)
                .bind("handed over")
                .bind(&term.id)
                .execute(&mut *tx)
                .await?;
                handed_over.push(fetch_position(&mut tx, &term.id).await?);
            }
        }
        let (member_id, person) = match &new.holder {
            Holder::Member(id) => (Some(id.clone()), None),
            Holder::Person(person) => (None, Some(person)),
        };
        sqlx::query(
            "INSERT INTO org_positions (id, unit_id, role, member_id, person_name, person_unit_name,
                 stationed_unit_name, term_start, term_end, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(new.unit_id.as_str())
        .bind(new.role.as_str())
        .bind(member_id)
        .bind(person.map(|p| p.name.clone()))
        .bind(person.map(|p| p.unit_name.clone()))
        .bind(new.stationed_unit_name.clone())
        .bind(new.term_start)
        .bind(new.term_end)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let position = fetch_position(&mut tx, &id).await?;
        audit(
            &mut tx,
            now,
            mutation,
            "AppointPosition",
            &new.unit_id,
            json!({
                "position_id": id, "role": new.role.as_str(),
                "handed_over": handed_over.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        for changed in handed_over.iter().chain([&position]) {
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                events::position_changed(changed),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(position)
    }

    /// Ends an open term at `term_end`.
    pub async fn end_position(
        &self,
        mutation: &Mutation,
        id: &str,
        term_end: i64,
        reason: &str,
    ) -> Result<Position> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "EndPosition", Target::Existing(id)).await?
        {
            let position = fetch_position(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(position);
        }
        let position = fetch_position(&mut tx, id).await?;
        if position.term_end.is_some_and(|end| end <= now) {
            return Err(precondition(
                "ENDED",
                format_args!("positions/{id}"),
                "the term has already ended",
            ));
        }
        if term_end <= position.term_start {
            return Err(precondition(
                "TERM",
                format_args!("positions/{id}"),
                "a term must end after it starts",
            ));
        }
        sqlx::query("UPDATE org_positions SET term_end = $1, end_reason = $2 WHERE id = $3")
            .bind(term_end)
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let position = fetch_position(&mut tx, id).await?;
        audit(
            &mut tx,
            now,
            mutation,
            "EndPosition",
            &position.unit_id,
            json!({ "position_id": id, "reason": reason }),
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::position_changed(&position),
        )
        .await?;
        tx.commit().await?;
        Ok(position)
    }

    pub async fn position(&self, id: &str) -> Result<Position> {
        let mut tx = self.db.begin().await?;
        let position = fetch_position(&mut tx, id).await?;
        tx.commit().await?;
        Ok(position)
    }

    /// A unit's terms, newest first; ended ones only when asked.
    pub async fn positions(
        &self,
        unit: &UnitId,
        include_ended: bool,
        now: i64,
    ) -> Result<Vec<Position>> {
        let mut tx = self.db.begin().await?;
        let mut terms = positions_of(&mut tx, unit, None).await?;
        tx.commit().await?;
        terms.retain(|t| include_ended || t.term_end.is_none_or(|end| end > now));
        terms.reverse();
        Ok(terms)
    }

    /// Who holds `role` in `unit` at `at`.
    pub async fn current_holders(
        &self,
        unit: &UnitId,
        role: PositionRole,
        at: i64,
    ) -> Result<Vec<Position>> {
        let mut tx = self.db.begin().await?;
        let mut terms = positions_of(&mut tx, unit, Some(role)).await?;
        tx.commit().await?;
        terms.retain(|t| t.is_current_at(at));
        Ok(terms)
    }
}

/// A unit's terms (of one role when given), oldest first.
async fn positions_of(
    tx: &mut Tx,
    unit: &UnitId,
    role: Option<PositionRole>,
) -> Result<Vec<Position>> {
    let role_clause = if role.is_some() { "AND role = $2" } else { "" };
    let sql = format!(
        "SELECT {POSITION_COLUMNS} FROM org_positions WHERE unit_id = $1 {role_clause}
         ORDER BY term_start, id"
    );
    let mut query = sqlx::query_as::<_, PositionRow>(sqlx::AssertSqlSafe(sql)).bind(unit.as_str());
    if let Some(role) = role {
        query = query.bind(role.as_str());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(Position::try_from)
        .collect::<std::result::Result<_, _>>()?)
}

async fn fetch_position(tx: &mut Tx, id: &str) -> Result<Position> {
    let row = sqlx::query_as::<_, PositionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {POSITION_COLUMNS} FROM org_positions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(Position::try_from(row)?),
        None => Err(StoreError::not_found("position", id)),
    }
}
