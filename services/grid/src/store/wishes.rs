//! Micro-wishes: collected with the resident's details sealed, moved one step at a time under a
//! version check (so one claim wins), and announced when fulfilled.

use jiceng_db::Tx;
use jiceng_org_client::{OrgPath, paths};

use super::{GridStore, ListQuery, REQUEST_IDS, Result, StoreError, precondition};
use crate::{
    domain::wish::{ClaimParts, Claimant, WishState},
    events,
};

pub use crate::domain::wish::Wish;

/// A wish about to be collected, the resident's details already sealed and masked.
#[derive(Clone, Debug)]
pub struct NewWish {
    pub title: String,
    pub description: String,
    pub beneficiary_sealed: String,
    pub beneficiary_masked: String,
    pub phone_sealed: Option<String>,
    pub phone_masked: String,
    pub org_id: String,
    pub org_path: OrgPath,
    pub claim_by: Option<i64>,
}

/// What a step of a wish carries.
#[derive(Clone, Debug, Default)]
pub struct WishChange {
    pub claimant: Option<Claimant>,
    pub evidence: Vec<String>,
    pub note: String,
    /// Who confirms a fulfilment, kept with the wish.
    pub confirmed_by: String,
    /// Who takes the step, and their idempotency key: a retry that repeats it answers with the
    /// wish as it now stands instead of taking the step again.
    pub actor: String,
    pub request_id: Option<String>,
}

/// Claims a step's request id, when it has one: the wish to answer with, if this is a retry.
async fn replayed(
    tx: &mut Tx,
    change: &WishChange,
    operation: &str,
    id: &str,
    now: i64,
) -> Result<Option<Wish>> {
    let first = REQUEST_IDS
        .claim_existing(
            tx,
            &change.actor,
            change.request_id.as_deref(),
            operation,
            id,
            now,
        )
        .await?;
    match first {
        Some(first) => Ok(Some(fetch(tx, &first).await?)),
        None => Ok(None),
    }
}

/// Which wishes a list shows.
#[derive(Clone, Debug, Default)]
pub struct WishFilter {
    /// The org path of a subtree; `None` for every wish of the district.
    pub subtree: Option<String>,
    pub state: Option<WishState>,
    /// Only those unclaimed past their date at this time.
    pub unclaimed_at: Option<i64>,
}

const WISH_COLUMNS: &str = "id, title, description, beneficiary_sealed, beneficiary_masked, phone_sealed, \
    phone_masked, org_id, org_path, state, claimant_org_id, claimant_member_id, participants, evidence, \
    follow_up_note, claim_by, version, created_at, updated_at, fulfilled_at, accepted_participants, confirmed_at";

/// A row of `grid_wishes` as read: its fields are the columns of [`WISH_COLUMNS`].
#[derive(sqlx::FromRow)]
struct WishRow {
    id: String,
    title: String,
    description: String,
    beneficiary_sealed: String,
    beneficiary_masked: String,
    phone_sealed: Option<String>,
    phone_masked: String,
    org_id: String,
    org_path: String,
    state: String,
    claimant_org_id: String,
    claimant_member_id: String,
    participants: String,
    evidence: String,
    follow_up_note: String,
    claim_by: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    fulfilled_at: Option<i64>,
    accepted_participants: String,
    confirmed_at: Option<i64>,
}

fn strings(text: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|_| StoreError::corrupt(what))
}

impl TryFrom<WishRow> for Wish {
    type Error = StoreError;

    fn try_from(row: WishRow) -> Result<Self> {
        let claimant = match (
            row.claimant_org_id.is_empty(),
            row.claimant_member_id.is_empty(),
        ) {
            (false, _) => Some(Claimant::Org(row.claimant_org_id)),
            (true, false) => Some(Claimant::Member {
                member_id: row.claimant_member_id,
                participants: strings(&row.participants, "wish participants")?,
                accepted: strings(&row.accepted_participants, "wish participants' acceptance")?,
            }),
            (true, true) => None,
        };
        Ok(Wish {
            id: row.id,
            title: row.title,
            description: row.description,
            beneficiary_sealed: row.beneficiary_sealed,
            beneficiary_masked: row.beneficiary_masked,
            phone_sealed: row.phone_sealed,
            phone_masked: row.phone_masked,
            org_id: row.org_id,
            org_path: row.org_path,
            state: WishState::parse(&row.state).ok_or_else(|| StoreError::corrupt("wish state"))?,
            claimant,
            evidence: strings(&row.evidence, "wish evidence")?,
            follow_up_note: row.follow_up_note,
            claim_by: row.claim_by,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            fulfilled_at: row.fulfilled_at,
            confirmed_at: row.confirmed_at,
        })
    }
}

async fn fetch(tx: &mut Tx, id: &str) -> Result<Wish> {
    sqlx::query_as::<_, WishRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {WISH_COLUMNS} FROM grid_wishes WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("wish", id))?
    .try_into()
}

/// Writes `wish`'s course as it now stands, if nobody changed it since it was read.
async fn save(tx: &mut Tx, wish: &mut Wish, confirmed_by: Option<&str>, now: i64) -> Result<()> {
    let claim = ClaimParts::of(wish.claimant.as_ref());
    let json = |values: &[String]| serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    let saved = sqlx::query(
        "UPDATE grid_wishes SET state = $1, claimant_org_id = $2, claimant_member_id = $3, participants = $4,
             evidence = $5, follow_up_note = $6, fulfilled_at = $7, accepted_participants = $8,
             confirmed_at = $9, confirmed_by = COALESCE($10, confirmed_by),
             version = version + 1, updated_at = $11
         WHERE id = $12 AND version = $13",
    )
    .bind(wish.state.as_str())
    .bind(&claim.org_id)
    .bind(&claim.member_id)
    .bind(json(&claim.participants))
    .bind(json(&wish.evidence))
    .bind(&wish.follow_up_note)
    .bind(wish.fulfilled_at)
    .bind(json(&claim.accepted))
    .bind(wish.confirmed_at)
    .bind(confirmed_by)
    .bind(now)
    .bind(&wish.id)
    .bind(wish.version)
    .execute(&mut **tx)
    .await?;
    if saved.rows_affected() != 1 {
        return Err(StoreError::Stale { what: "wish" });
    }
    wish.version += 1;
    wish.updated_at = now;
    Ok(())
}

impl GridStore {
    /// Collects a wish. A retried `request_id` of the same caller returns the first wish.
    pub async fn collect_wish(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewWish,
        now: i64,
    ) -> Result<Wish> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "PublishWish", &id, now)
            .await?
        {
            let wish = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(wish);
        }
        sqlx::query(
            "INSERT INTO grid_wishes (id, title, description, beneficiary_sealed, beneficiary_masked, phone_sealed,
                 phone_masked, org_id, org_path, state, claimant_org_id, claimant_member_id, participants,
                 evidence, follow_up_note, claim_by, version, created_at, updated_at, fulfilled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '', '[]', '[]', '', $11, 1, $12, $12, NULL)",
        )
        .bind(&id)
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.beneficiary_sealed)
        .bind(&new.beneficiary_masked)
        .bind(new.phone_sealed.as_deref())
        .bind(&new.phone_masked)
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(WishState::Collected.as_str())
        .bind(new.claim_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let wish = fetch(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(wish)
    }

    /// Wish `id`, read to show its resident in clear: `reveal` is recorded in the same
    /// transaction, or nothing is read.
    pub async fn reveal_wish(
        &self,
        id: &str,
        reveal: &jiceng_pii_audit::Reveal<'_>,
        now: i64,
    ) -> Result<Wish> {
        let mut tx = self.db.begin_write().await?;
        let wish = fetch(&mut tx, id).await?;
        jiceng_pii_audit::record(&self.db, &mut tx, reveal, now).await?;
        tx.commit().await?;
        Ok(wish)
    }

    pub async fn wish(&self, id: &str) -> Result<Wish> {
        let mut tx = self.db.begin().await?;
        let wish = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(wish)
    }

    /// Moves a wish to `to`, the next step of its course. Claiming records the one claimant and
    /// announces it to the collecting org (and to the fellow members it names, to answer); fulfilling records the evidence and announces it (a
    /// notice to the collecting org, to confirm); confirming announces it (points for the
    /// credited members); each in the same transaction.
    #[tracing::instrument(name = "grid.store.advance_wish", skip_all, fields(to = to.as_str()))]
    pub async fn advance_wish(
        &self,
        id: &str,
        to: WishState,
        change: WishChange,
        now: i64,
    ) -> Result<Wish> {
        let mut tx = self.db.begin_write().await?;
        if let Some(wish) = replayed(&mut tx, &change, to.as_str(), id, now).await? {
            tx.commit().await?;
            return Ok(wish);
        }
        let mut wish = fetch(&mut tx, id).await?;
        wish.state = wish
            .state
            .advance(to)
            .map_err(|description| precondition("wishes", "WISH_STATE", description))?;
        match to {
            WishState::Claimed => wish.claimant = change.claimant,
            WishState::Fulfilled => {
                wish.evidence = change.evidence;
                wish.fulfilled_at = Some(now);
            }
            WishState::Confirmed => wish.confirmed_at = Some(now),
            WishState::FollowedUp => wish.follow_up_note = change.note,
            _ => {}
        }
        save(
            &mut tx,
            &mut wish,
            (!change.confirmed_by.is_empty()).then_some(change.confirmed_by.as_str()),
            now,
        )
        .await?;
        let mut announced = match to {
            WishState::Claimed => vec![events::wish_claimed(&wish)],
            WishState::Fulfilled => vec![events::wish_fulfilled(&wish)],
            WishState::Confirmed => vec![events::wish_confirmed(&wish)],
            _ => Vec::new(),
        };
        if matches!(&wish.claimant, Some(Claimant::Member { participants, .. }) if to == WishState::Claimed && !participants.is_empty())
        {
            announced.push(events::wish_fellows_named(&wish));
        }
        for event in announced {
            jiceng_outbox::enqueue(&mut tx, &self.event_source, event).await?;
        }
        tx.commit().await?;
        Ok(wish)
    }

    /// The claim of wish `id` after the named fellow `member` accepts it (`accept`) or declines
    /// and leaves it: while it is claimed or fulfilled, not once confirmed.
    pub async fn answer_wish_claim(
        &self,
        id: &str,
        answer: &WishChange,
        accept: bool,
        now: i64,
    ) -> Result<Wish> {
        let member = answer.actor.as_str();
        let mut tx = self.db.begin_write().await?;
        let operation = if accept {
            "AcceptWishClaim"
        } else {
            "DeclineWishClaim"
        };
        if let Some(wish) = replayed(&mut tx, answer, operation, id, now).await? {
            tx.commit().await?;
            return Ok(wish);
        }
        let mut wish = fetch(&mut tx, id).await?;
        if !matches!(wish.state, WishState::Claimed | WishState::Fulfilled) {
            return Err(precondition(
                "wishes",
                "WISH_STATE",
                format!(
                    "a wish that is {} takes no answers to its claim",
                    wish.state.as_str().replace('_', " ")
                ),
            ));
        }
        wish.claimant = Some(
            wish.claimant
                .as_ref()
                .and_then(|claim| claim.answered_by(member, accept))
                .ok_or_else(|| StoreError::not_found("named claimant", member))?,
        );
        save(&mut tx, &mut wish, None, now).await?;
        tx.commit().await?;
        Ok(wish)
    }

    /// Wishes matching `filter`, newest first, after the page position (created_at, id).
    pub async fn list_wishes(
        &self,
        filter: &WishFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Wish>> {
        let mut query = ListQuery::select(WISH_COLUMNS, "grid_wishes");
        if let Some(path) = &filter.subtree {
            query.subtree(path);
        }
        if let Some(state) = filter.state {
            query.filter().push("state = ").push_bind(state.as_str());
        }
        if let Some(at) = filter.unclaimed_at {
            query
                .filter()
                .push("claimant_org_id = '' AND claimant_member_id = '' AND claim_by IS NOT NULL")
                .push(" AND claim_by < ")
                .push_bind(at);
        }
        query.page(after, limit);
        query.fetch::<WishRow, Wish>(&self.db).await
    }
}
