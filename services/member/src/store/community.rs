//! Dual registration with residential communities, the service logged there, and commitments.

use jiceng_db::Tx;

use super::{MemberStore, REQUEST_IDS, Result, StoreError, fetch, precondition};
use crate::domain::community::{Commitment, CommitmentState, Registration};

const REGISTRATION: &str = "SELECT r.id, r.member_id, r.community_org_id, r.registered_at,
    (SELECT CAST(COALESCE(SUM(l.minutes), 0) AS BIGINT) FROM member_service_logs l WHERE l.registration_id = r.id) AS service_minutes
    FROM member_community_registrations r";

/// A registration as [`REGISTRATION`] reads it: its fields are the columns it selects.
#[derive(sqlx::FromRow)]
struct RegistrationRow {
    id: String,
    member_id: String,
    community_org_id: String,
    registered_at: i64,
    service_minutes: i64,
}

impl From<RegistrationRow> for Registration {
    fn from(row: RegistrationRow) -> Self {
        Registration {
            id: row.id,
            member_id: row.member_id,
            community_org_id: row.community_org_id,
            registered_at: row.registered_at,
            service_minutes: row.service_minutes,
        }
    }
}

const COMMITMENT_COLUMNS: &str =
    "id, member_id, text, due_date, state, evidence, confirmation_note, published_at";

/// A row of `member_commitments` as read: its fields are the columns of [`COMMITMENT_COLUMNS`].
#[derive(sqlx::FromRow)]
struct CommitmentRow {
    id: String,
    member_id: String,
    text: String,
    due_date: String,
    state: String,
    evidence: String,
    confirmation_note: String,
    published_at: i64,
}

impl TryFrom<CommitmentRow> for Commitment {
    type Error = sqlx::Error;

    fn try_from(row: CommitmentRow) -> std::result::Result<Self, Self::Error> {
        Ok(Commitment {
            id: row.id,
            member_id: row.member_id,
            text: row.text,
            due_date: row.due_date,
            state: CommitmentState::parse(&row.state)
                .ok_or_else(|| sqlx::Error::Decode("invalid commitment state".into()))?,
            evidence: row.evidence,
            confirmation_note: row.confirmation_note,
            published_at: row.published_at,
        })
    }
}

impl MemberStore {
    /// Registers a member with a community other than the org that holds them; once per pair.
    pub async fn register_in_community(
        &self,
        member_id: &str,
        community_org_id: &str,
    ) -> Result<Registration> {
        let mut tx = self.db.begin_write().await?;
        let member = fetch(&mut tx, member_id).await?;
        if member.status.is_final() {
            return Err(precondition(
                "REGISTRATION",
                format!("a {} member does not register", member.status.as_str()),
            ));
        }
        if member.org_id == community_org_id {
            return Err(precondition(
                "REGISTRATION",
                "the community already holds the member's relation",
            ));
        }
        let existing = sqlx::query_as::<_, RegistrationRow>(sqlx::AssertSqlSafe(format!(
            "{REGISTRATION} WHERE r.member_id = $1 AND r.community_org_id = $2"
        )))
        .bind(member_id)
        .bind(community_org_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            tx.commit().await?;
            return Ok(existing.into());
        }
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO member_community_registrations (id, member_id, community_org_id, registered_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(member_id)
        .bind(community_org_id)
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let registration = fetch_registration(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(registration)
    }

    pub async fn registration(&self, id: &str) -> Result<Registration> {
        let mut tx = self.db.begin().await?;
        let registration = fetch_registration(&mut tx, id).await?;
        tx.commit().await?;
        Ok(registration)
    }

    pub async fn community_registrations(
        &self,
        community_org_id: &str,
    ) -> Result<Vec<Registration>> {
        let rows = sqlx::query_as::<_, RegistrationRow>(sqlx::AssertSqlSafe(format!(
            "{REGISTRATION} WHERE r.community_org_id = $1 ORDER BY r.registered_at, r.id"
        )))
        .bind(community_org_id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(Registration::from).collect())
    }

    /// Logs hours of service. A retried `request_id` of the same actor for the same registration
    /// answers with it as it now stands instead of logging the hours again.
    pub async fn log_service(
        &self,
        actor: &str,
        request_id: Option<&str>,
        registration_id: &str,
        minutes: i64,
        date: &str,
        description: &str,
    ) -> Result<Registration> {
        let mut tx = self.db.begin_write().await?;
        fetch_registration(&mut tx, registration_id).await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(
                &mut tx,
                actor,
                request_id,
                "LogServiceHours",
                registration_id,
                self.db.now(),
            )
            .await?
        {
            let registration = fetch_registration(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(registration);
        }
        sqlx::query(
            "INSERT INTO member_service_logs (id, registration_id, minutes, service_date, description, logged_by, logged_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(registration_id)
        .bind(minutes)
        .bind(date)
        .bind(description)
        .bind(actor)
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let registration = fetch_registration(&mut tx, registration_id).await?;
        tx.commit().await?;
        Ok(registration)
    }

    /// Publishes a member's pledge. A retried `request_id` of the same actor returns the first.
    pub async fn publish_commitment(
        &self,
        actor: &str,
        request_id: Option<&str>,
        member_id: &str,
        text: &str,
        due_date: &str,
    ) -> Result<Commitment> {
        let mut tx = self.db.begin_write().await?;
        fetch(&mut tx, member_id).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(
                &mut tx,
                actor,
                request_id,
                "PublishCommitment",
                &id,
                self.db.now(),
            )
            .await?
        {
            let commitment = fetch_commitment(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(commitment);
        }
        sqlx::query(
            "INSERT INTO member_commitments (id, member_id, text, due_date, state, published_at) VALUES ($1, $2, $3, $4, 'open', $5)",
        )
        .bind(&id)
        .bind(member_id)
        .bind(text)
        .bind(due_date)
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let commitment = fetch_commitment(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(commitment)
    }

    pub async fn commitment(&self, id: &str) -> Result<Commitment> {
        let mut tx = self.db.begin().await?;
        let commitment = fetch_commitment(&mut tx, id).await?;
        tx.commit().await?;
        Ok(commitment)
    }

    /// Open → fulfilled with evidence.
    pub async fn fulfil_commitment(
        &self,
        id: &str,
        evidence: &str,
        by: (&str, Option<&str>),
    ) -> Result<Commitment> {
        self.move_commitment(
            id,
            CommitmentState::Open,
            CommitmentState::Fulfilled,
            ("evidence", evidence),
            by,
        )
        .await
    }

    /// Fulfilled → confirmed, or back to open when the branch does not accept the evidence.
    pub async fn confirm_commitment(
        &self,
        id: &str,
        confirm: bool,
        note: &str,
        by: (&str, Option<&str>),
    ) -> Result<Commitment> {
        let to = if confirm {
            CommitmentState::Confirmed
        } else {
            CommitmentState::Open
        };
        self.move_commitment(
            id,
            CommitmentState::Fulfilled,
            to,
            ("confirmation_note", note),
            by,
        )
        .await
    }

    /// Moves a pledge from `from` to `to`, setting `column` to the value. `by` is the actor and
    /// their request id: a retry that repeats it answers with the pledge as it now stands.
    async fn move_commitment(
        &self,
        id: &str,
        from: CommitmentState,
        to: CommitmentState,
        (column, value): (&'static str, &str),
        (actor, request_id): (&str, Option<&str>),
    ) -> Result<Commitment> {
        let mut tx = self.db.begin_write().await?;
        let operation = if from == CommitmentState::Open {
            "FulfilCommitment"
        } else {
            "ConfirmCommitment"
        };
        if let Some(first) = REQUEST_IDS
            .claim_existing(&mut tx, actor, request_id, operation, id, self.db.now())
            .await?
        {
            let commitment = fetch_commitment(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(commitment);
        }
        let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE member_commitments SET state = $1, {column} = $2 WHERE id = $3 AND state = $4"
        )))
        .bind(to.as_str())
        .bind(value)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        let commitment = fetch_commitment(&mut tx, id).await?;
        if moved.rows_affected() == 0 {
            return Err(precondition(
                "COMMITMENT",
                format!(
                    "a {} commitment cannot become {}",
                    commitment.state.as_str(),
                    to.as_str()
                ),
            ));
        }
        tx.commit().await?;
        Ok(commitment)
    }

    /// Open commitments due before `today` of the members `org_id` holds.
    pub async fn overdue_commitments(&self, org_id: &str, today: &str) -> Result<Vec<Commitment>> {
        let columns = COMMITMENT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query_as::<_, CommitmentRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM member_commitments c JOIN member_members m ON m.id = c.member_id
             WHERE m.org_id = $1 AND c.state = 'open' AND c.due_date < $2 ORDER BY c.due_date, c.id"
        )))
        .bind(org_id)
        .bind(today)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(Commitment::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }
}

async fn fetch_registration(tx: &mut Tx, id: &str) -> Result<Registration> {
    let row = sqlx::query_as::<_, RegistrationRow>(sqlx::AssertSqlSafe(format!(
        "{REGISTRATION} WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("registration", id))?;
    Ok(row.into())
}

async fn fetch_commitment(tx: &mut Tx, id: &str) -> Result<Commitment> {
    let row = sqlx::query_as::<_, CommitmentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COMMITMENT_COLUMNS} FROM member_commitments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("commitment", id))?;
    Ok(Commitment::try_from(row)?)
}
