//! The witnessed heads of the platform's transparency logs (`org_log_witness`): read, advanced
//! under the witness's lock by [`crate::domain::witness::admits`]'s rule, and reset by an
//! operator with the reason in the audit trail.

use jiceng_db::{LockMode, Tx};
use jiceng_merkle::{self as merkle, Hash};

use super::{Mutation, OrgStore, Result, StoreError, audit, precondition};
use crate::domain::witness::{self, LogHead, LogName, Refusal, WitnessedHead};

/// The lock every change of a witnessed head takes (PostgreSQL; SQLite's write transactions
/// already exclude each other).
const WITNESS_LOCK: i64 = 0x6f72_675f_7769_746e;

const WITNESS_COLUMNS: &str = "log, tree_size, root_hash, signed_at, signature, witnessed_at";

/// A row of [`WITNESS_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct WitnessRow {
    log: String,
    tree_size: i64,
    root_hash: String,
    signed_at: i64,
    signature: String,
    witnessed_at: i64,
}

impl TryFrom<WitnessRow> for WitnessedHead {
    type Error = StoreError;

    fn try_from(row: WitnessRow) -> Result<Self> {
        let corrupt = |what: &str| StoreError::corrupt(format!("witnessed head's {what}"));
        Ok(WitnessedHead {
            log: LogName::parse(&row.log).map_err(|_| corrupt("log"))?,
            head: LogHead {
                size: u64::try_from(row.tree_size).map_err(|_| corrupt("size"))?,
                root: merkle::unhex(&row.root_hash)
                    .and_then(|bytes| Hash::try_from(bytes).ok())
                    .ok_or_else(|| corrupt("root"))?,
                timestamp_ms: row.signed_at,
                signature: merkle::unhex(&row.signature).ok_or_else(|| corrupt("signature"))?,
            },
            witnessed_at: row.witnessed_at,
        })
    }
}

async fn fetch_witnessed(tx: &mut Tx, log: &LogName) -> Result<Option<WitnessedHead>> {
    sqlx::query_as::<_, WitnessRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {WITNESS_COLUMNS} FROM org_log_witness WHERE log = $1"
    )))
    .bind(log.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .map(WitnessedHead::try_from)
    .transpose()
}

fn size_column(size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| precondition("TREE_SIZE", "witness", "the tree is too large"))
}

impl OrgStore {
    /// The head witnessed for `log`.
    pub async fn witnessed_head(&self, log: &LogName) -> Result<WitnessedHead> {
        let mut tx = self.db.begin().await?;
        let head = fetch_witnessed(&mut tx, log).await?;
        tx.commit().await?;
        head.ok_or_else(|| StoreError::not_found("witnessed head", log.as_str()))
    }

    /// Advances `log`'s witnessed head from the head of `from_size` to `head`, which `proof`
    /// shows contains it; returns the head witnessed afterwards.
    pub async fn witness(
        &self,
        log: &LogName,
        from_size: u64,
        head: LogHead,
        proof: &[Hash],
    ) -> Result<WitnessedHead> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, WITNESS_LOCK, LockMode::Exclusive)
            .await?;
        let current = fetch_witnessed(&mut tx, log).await?;
        let subject = format!("logs/{}", log.as_str());
        witness::admits(current.as_ref().map(|w| &w.head), from_size, &head, proof).map_err(
            |refusal| match refusal {
                Refusal::Moved { .. } => StoreError::Stale {
                    what: "witnessed head",
                },
                Refusal::NotLarger { .. } => {
                    precondition("NOT_LARGER", &subject, refusal.to_string())
                }
                Refusal::NotConsistent { .. } => {
                    precondition("NOT_CONSISTENT", &subject, refusal.to_string())
                }
            },
        )?;
        let sql = if current.is_some() {
            "UPDATE org_log_witness
             SET tree_size = $2, root_hash = $3, signed_at = $4, signature = $5, witnessed_at = $6
             WHERE log = $1"
        } else {
            "INSERT INTO org_log_witness (log, tree_size, root_hash, signed_at, signature, witnessed_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        };
        let now = self.db.now();
        sqlx::query(sql)
            .bind(log.as_str())
            .bind(size_column(head.size)?)
            .bind(merkle::hex(&head.root))
            .bind(head.timestamp_ms)
            .bind(merkle::hex(&head.signature))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(WitnessedHead {
            log: log.clone(),
            head,
            witnessed_at: now,
        })
    }

    /// Forgets `log`'s witnessed head of `size`, recording it and `reason` in the audit trail;
    /// returns the head forgotten. A head of another size has been witnessed since the operator
    /// looked: the reset is refused as stale.
    pub async fn reset_witness(
        &self,
        log: &LogName,
        size: u64,
        mutation: &Mutation,
        reason: &str,
    ) -> Result<WitnessedHead> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, WITNESS_LOCK, LockMode::Exclusive)
            .await?;
        let current = fetch_witnessed(&mut tx, log)
            .await?
            .ok_or_else(|| StoreError::not_found("witnessed head", log.as_str()))?;
        if current.head.size != size {
            return Err(StoreError::Stale {
                what: "witnessed head",
            });
        }
        sqlx::query("DELETE FROM org_log_witness WHERE log = $1")
            .bind(log.as_str())
            .execute(&mut *tx)
            .await?;
        let now = self.db.now();
        audit(
            &mut tx,
            now,
            mutation,
            "witness.reset",
            format!("logs/{}", log.as_str()),
            serde_json::json!({
                "reason": reason,
                "tree_size": current.head.size,
                "root_hash": merkle::hex(&current.head.root),
                "signed_at": current.head.timestamp_ms,
                "signature": merkle::hex(&current.head.signature),
                "witnessed_at": current.witnessed_at,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(current)
    }
}
