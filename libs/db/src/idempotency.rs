//! Request ids: a caller's retry of a mutation returns what the first call did instead of doing
//! it twice, and a request id reused for another operation is refused.
//!
//! Every service keeps them in one table of one shape, made by its migrations:
//!
//! ```sql
//! CREATE TABLE <service>_requests (
//!     caller      TEXT NOT NULL,   -- the token's subject: ids are per caller
//!     request_id  TEXT NOT NULL,
//!     operation   TEXT NOT NULL,   -- the RPC, e.g. 'CreateUnit'
//!     resource_id TEXT NOT NULL,   -- what the first call acted on or made
//!     affected    BIGINT NOT NULL DEFAULT 0,
//!     created_at  BIGINT NOT NULL,
//!     PRIMARY KEY (caller, request_id)
//! );
//! ```
//!
//! The claim is written first in the mutation's transaction, so a concurrent duplicate waits on
//! the key until the first commits, and a first call that fails leaves no claim behind.

use crate::{StoreError, Tx};

/// One service's table of request ids.
#[derive(Clone, Copy, Debug)]
pub struct RequestIds {
    table: &'static str,
}

/// What a mutation acts on, for the check that a retry is the same call.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A create, about to give the new resource this id: a retry makes a new one, so only the
    /// operation must match, and the first call's resource is what the retry gets back.
    New(&'a str),
    /// An existing resource: a retry must name the same one.
    Existing(&'a str),
}

impl Target<'_> {
    fn id(&self) -> &str {
        match self {
            Target::New(id) | Target::Existing(id) => id,
        }
    }
}

/// What the first call with a request id did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The resource it acted on or made.
    pub resource_id: String,
    /// How many records it changed, where the operation says (a move: the units re-pathed).
    pub affected: i64,
}

impl RequestIds {
    /// The table `table`, of the shape above.
    pub const fn new(table: &'static str) -> Self {
        Self { table }
    }

    /// Claims `request_id` of `caller` for `operation` on `target`. `None` means go ahead;
    /// `Some` is what the first call with this id did, to answer with again.
    /// [`StoreError::RequestIdReused`] when the first call was another operation or, for
    /// [`Target::Existing`], named another resource.
    pub async fn claim(
        &self,
        tx: &mut Tx,
        caller: &str,
        request_id: &str,
        operation: &str,
        target: Target<'_>,
        now: i64,
    ) -> Result<Option<Replay>, StoreError> {
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} (caller, request_id, operation, resource_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caller, request_id) DO NOTHING",
            self.table
        )))
        .bind(caller)
        .bind(request_id)
        .bind(operation)
        .bind(target.id())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        let (first_operation, resource_id, affected): (String, String, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT operation, resource_id, affected FROM {}
                 WHERE caller = $1 AND request_id = $2",
                self.table
            )))
            .bind(caller)
            .bind(request_id)
            .fetch_one(&mut **tx)
            .await?;
        let same_target = match target {
            Target::New(_) => true,
            Target::Existing(id) => resource_id == id,
        };
        if first_operation != operation || !same_target {
            return Err(StoreError::RequestIdReused);
        }
        Ok(Some(Replay {
            resource_id,
            affected,
        }))
    }

    /// Claims `request_id` for a create when one was given: the id of what the first call made,
    /// if this is a retry. The shape of most creates.
    pub async fn claim_create(
        &self,
        tx: &mut Tx,
        caller: &str,
        request_id: Option<&str>,
        operation: &str,
        new_id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let replay = self
            .claim(tx, caller, request_id, operation, Target::New(new_id), now)
            .await?;
        Ok(replay.map(|replay| replay.resource_id))
    }

    /// Claims `request_id` for a change of the existing resource `id` when one was given: the
    /// resource's id to answer with, if this is a retry. The shape of most changes.
    pub async fn claim_existing(
        &self,
        tx: &mut Tx,
        caller: &str,
        request_id: Option<&str>,
        operation: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let replay = self
            .claim(tx, caller, request_id, operation, Target::Existing(id), now)
            .await?;
        Ok(replay.map(|replay| replay.resource_id))
    }

    /// Points a claim at the resource the call ended up acting on (a report that another
    /// system had already sent returns the first case), and records how many records it
    /// changed, so that a retry answers the same.
    pub async fn settle(
        &self,
        tx: &mut Tx,
        caller: &str,
        request_id: &str,
        resource_id: &str,
        affected: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET resource_id = $1, affected = $2 WHERE caller = $3 AND request_id = $4",
            self.table
        )))
        .bind(resource_id)
        .bind(affected)
        .bind(caller)
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
