//! Transfers of a member's organisational relation. Each write holds the member's lock, so a
//! member has at most one pending transfer and exactly one holding org.

use jiceng_db::{LockMode, Tx, lock_key};
use jiceng_org_client::{OrgPath, paths};

use super::{
    MemberStore, REQUEST_IDS, Result, StoreError, fetch, leaderboard::move_balances,
    ledger::points_lock_key, precondition,
};
use crate::domain::transfers::{Transfer, TransferState};

const COLUMNS: &str = "id, member_id, from_org_id, to_org_id, state, reason, decision_note, requested_by, \
    decided_by, requested_at, decided_at";

/// A row of `member_transfers` as read: its fields are the columns of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct TransferRow {
    id: String,
    member_id: String,
    from_org_id: String,
    to_org_id: String,
    state: String,
    reason: String,
    decision_note: String,
    requested_by: String,
    decided_by: String,
    requested_at: i64,
    decided_at: Option<i64>,
}

impl TryFrom<TransferRow> for Transfer {
    type Error = sqlx::Error;

    fn try_from(row: TransferRow) -> std::result::Result<Self, Self::Error> {
        Ok(Transfer {
            id: row.id,
            member_id: row.member_id,
            from_org_id: row.from_org_id,
            to_org_id: row.to_org_id,
            state: TransferState::parse(&row.state)
                .ok_or_else(|| sqlx::Error::Decode("invalid transfer state".into()))?,
            reason: row.reason,
            decision_note: row.decision_note,
            requested_by: row.requested_by,
            decided_by: row.decided_by,
            requested_at: row.requested_at,
            decided_at: row.decided_at,
        })
    }
}

impl MemberStore {
    /// Asks to move `member_id` to `to_org_id` (whose existence and state the caller checked).
    /// A retried request id of the same actor returns the first transfer.
    pub async fn request_transfer(
        &self,
        (actor, request_id): (&str, Option<&str>),
        member_id: &str,
        to_org_id: &str,
        reason: &str,
    ) -> Result<Transfer> {
        let mut tx = self.lock_member(member_id).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(
                &mut tx,
                actor,
                request_id,
                "RequestTransfer",
                &id,
                self.db.now(),
            )
            .await?
        {
            let transfer = fetch_transfer(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(transfer);
        }
        let member = fetch(&mut tx, member_id).await?;
        if member.status.is_final() {
            return Err(precondition(
                "TRANSFER",
                format!("a {} member is not transferred", member.status.as_str()),
            ));
        }
        if member.org_id == to_org_id {
            return Err(precondition(
                "TRANSFER",
                "the member already belongs to that org",
            ));
        }
        let pending: Option<String> = sqlx::query_scalar(
            "SELECT id FROM member_transfers WHERE member_id = $1 AND state = 'pending'",
        )
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = pending {
            return Err(precondition(
                "TRANSFER",
                format!("transfer {id} is still pending"),
            ));
        }
        sqlx::query(
            "INSERT INTO member_transfers (id, member_id, from_org_id, to_org_id, state, reason, requested_by, requested_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        )
        .bind(&id)
        .bind(member_id)
        .bind(&member.org_id)
        .bind(to_org_id)
        .bind(reason)
        .bind(actor)
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let transfer = fetch_transfer(&mut tx, &id).await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            crate::events::transfer_requested(&transfer),
        )
        .await?;
        tx.commit().await?;
        Ok(transfer)
    }

    /// Accepts (the receiving org now holds the relation) or rejects a pending transfer.
    /// `to_org_path` is the receiving org's path, which the member takes on acceptance.
    /// A retried request id of the same actor answers with the transfer as it now stands.
    pub async fn decide_transfer(
        &self,
        (actor, request_id): (&str, Option<&str>),
        id: &str,
        accept: bool,
        note: &str,
        to_org_path: &OrgPath,
    ) -> Result<Transfer> {
        let member_id = self.transfer(id).await?.member_id;
        let mut tx = self.lock_member(&member_id).await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(
                &mut tx,
                actor,
                request_id,
                "DecideTransfer",
                id,
                self.db.now(),
            )
            .await?
        {
            let transfer = fetch_transfer(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(transfer);
        }
        if accept {
            paths::admit(&self.db, &mut tx, to_org_path).await?;
        }
        let transfer = fetch_transfer(&mut tx, id).await?;
        if transfer.state != TransferState::Pending {
            return Err(precondition(
                "TRANSFER",
                format!("transfer {id} is already {}", transfer.state.as_str()),
            ));
        }
        let now = self.db.now();
        let state = if accept {
            TransferState::Accepted
        } else {
            TransferState::Rejected
        };
        sqlx::query("UPDATE member_transfers SET state = $1, decision_note = $2, decided_by = $3, decided_at = $4 WHERE id = $5")
            .bind(state.as_str())
            .bind(note)
            .bind(actor)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if accept {
            // Awards write balance rows with the member's path; holding their lock as well
            // keeps one from landing under the old path after this moves the rest.
            self.db
                .lock(&mut tx, points_lock_key(&member_id), LockMode::Exclusive)
                .await?;
            sqlx::query(
                "UPDATE member_members SET org_id = $1, org_path = $4, version = version + 1, updated_at = $2
                 WHERE id = $3",
            )
            .bind(&transfer.to_org_id)
            .bind(now)
            .bind(&member_id)
            .bind(to_org_path.as_str())
            .execute(&mut *tx)
            .await?;
            move_balances(&mut tx, &member_id, to_org_path.as_str()).await?;
        }
        let transfer = fetch_transfer(&mut tx, id).await?;
        tx.commit().await?;
        Ok(transfer)
    }

    pub async fn transfer(&self, id: &str) -> Result<Transfer> {
        let mut tx = self.db.begin().await?;
        let transfer = fetch_transfer(&mut tx, id).await?;
        tx.commit().await?;
        Ok(transfer)
    }

    /// A member's transfers, newest first.
    pub async fn transfers_of(&self, member_id: &str) -> Result<Vec<Transfer>> {
        self.transfers_where(
            "member_id = $1 ORDER BY requested_at DESC, id DESC",
            member_id,
        )
        .await
    }

    /// Transfers waiting for `org_id`'s decision, oldest first.
    pub async fn pending_transfers_to(&self, org_id: &str) -> Result<Vec<Transfer>> {
        self.transfers_where(
            "to_org_id = $1 AND state = 'pending' ORDER BY requested_at, id",
            org_id,
        )
        .await
    }

    async fn transfers_where(&self, condition: &'static str, value: &str) -> Result<Vec<Transfer>> {
        let rows = sqlx::query_as::<_, TransferRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM member_transfers WHERE {condition}"
        )))
        .bind(value)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(Transfer::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn lock_member(&self, member_id: &str) -> Result<Tx> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(
                &mut tx,
                lock_key(&format!("member:{member_id}")),
                LockMode::Exclusive,
            )
            .await?;
        Ok(tx)
    }
}

async fn fetch_transfer(tx: &mut Tx, id: &str) -> Result<Transfer> {
    let row = sqlx::query_as::<_, TransferRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM member_transfers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("transfer", id))?;
    Ok(Transfer::try_from(row)?)
}
