//! The points ledger's SQL. Every write for a member holds that member's lock, so caps and the
//! never-below-zero balance are decided one entry at a time, on PostgreSQL as on SQLite.

use std::collections::{BTreeMap, BTreeSet};

use jiceng_db::{LockMode, Tx, lock_key, placeholders, value_rows};
use jiceng_org_client::paths;
use sqlx::FromRow as _;

use super::{MemberStore, Result, StoreError, precondition};
use crate::domain::points::{EntryKind, EntryState, LedgerEntry, PointsRule, periods};

const ENTRY_COLUMNS: &str = "id, member_id, kind, amount, rule_code, rule_version, reason, evidence, \
    source_event_id, state, reverses, year, actor, created_at";

/// A row of `member_ledger` as read: its fields are the columns of [`ENTRY_COLUMNS`].
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    member_id: String,
    kind: String,
    amount: i64,
    rule_code: Option<String>,
    rule_version: Option<i64>,
    reason: String,
    evidence: String,
    source_event_id: String,
    state: String,
    reverses: Option<String>,
    year: i64,
    actor: String,
    created_at: i64,
}

impl TryFrom<EntryRow> for LedgerEntry {
    type Error = sqlx::Error;

    fn try_from(row: EntryRow) -> std::result::Result<Self, Self::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in member_ledger").into());
        Ok(LedgerEntry {
            id: row.id,
            member_id: row.member_id,
            kind: EntryKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
            amount: row.amount,
            rule_code: row.rule_code,
            rule_version: row.rule_version,
            reason: row.reason,
            evidence: row.evidence,
            source_event_id: row.source_event_id,
            state: EntryState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            reverses: row.reverses,
            year: row.year,
            actor: row.actor,
            created_at: row.created_at,
        })
    }
}

const RULE_COLUMNS: &str = "code, version, name, points, evidence_required, approval_required, daily_cap, \
    monthly_cap, yearly_cap, valid_from, valid_to";

/// A row of `member_points_rules` as read: its fields are the columns of [`RULE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct RuleRow {
    code: String,
    version: i64,
    name: String,
    points: i64,
    evidence_required: i64,
    approval_required: i64,
    daily_cap: Option<i64>,
    monthly_cap: Option<i64>,
    yearly_cap: Option<i64>,
    valid_from: i64,
    valid_to: Option<i64>,
}

impl From<RuleRow> for PointsRule {
    fn from(row: RuleRow) -> Self {
        PointsRule {
            code: row.code,
            version: row.version,
            name: row.name,
            points: row.points,
            evidence_required: row.evidence_required != 0,
            approval_required: row.approval_required != 0,
            daily_cap: row.daily_cap,
            monthly_cap: row.monthly_cap,
            yearly_cap: row.yearly_cap,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
        }
    }
}

/// What an award reads besides its rule (the columns of [`RULE_COLUMNS`], all NULL when the
/// code names no rule), in the same row: a retry's fingerprint and the member.
#[derive(sqlx::FromRow)]
struct AwardRead {
    /// The fingerprint of an entry already written with the award's id.
    fingerprint: Option<String>,
    /// How many members have the award's member id: 0 or 1.
    members: i64,
    /// The rule's code, NULL when there is no such rule.
    code: Option<String>,
}

/// An entry about to be written.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub id: String,
    pub member_id: String,
    pub reason: String,
    pub evidence: String,
    pub source_event_id: String,
    pub actor: String,
}

impl NewEntry {
    /// What makes a retry the same request: everything but who sent it.
    fn fingerprint(&self, kind: EntryKind, detail: &str) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            kind.as_str(),
            self.member_id,
            detail,
            self.reason,
            self.evidence,
            self.source_event_id
        )
    }
}

/// Rows per INSERT of an import: few round trips, and within both databases' limits on
/// parameters per statement (17 × 500).
const IMPORT_ROWS_PER_STATEMENT: usize = 500;

/// A points entry carried over from a district's earlier system (see
/// [`MemberStore::import_points`]).
#[derive(Clone, Debug)]
pub struct ImportedEntry {
    pub entry: NewEntry,
    pub rule_code: String,
    pub points: i64,
    /// When the points were granted, in milliseconds since the Unix epoch.
    pub at: i64,
}

impl MemberStore {
    /// Defines `rule` as the next version of its code.
    pub async fn define_rule(&self, rule: &PointsRule) -> Result<PointsRule> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(
                &mut tx,
                lock_key(&format!("rule:{}", rule.code)),
                LockMode::Exclusive,
            )
            .await?;
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM member_points_rules WHERE code = $1",
        )
        .bind(&rule.code)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO member_points_rules ({RULE_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(&rule.code)
        .bind(version)
        .bind(&rule.name)
        .bind(rule.points)
        .bind(i64::from(rule.evidence_required))
        .bind(i64::from(rule.approval_required))
        .bind(rule.daily_cap)
        .bind(rule.monthly_cap)
        .bind(rule.yearly_cap)
        .bind(rule.valid_from)
        .bind(rule.valid_to)
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PointsRule {
            version,
            ..rule.clone()
        })
    }

    /// The newest version of every rule.
    pub async fn rules(&self) -> Result<Vec<PointsRule>> {
        let rows = sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM member_points_rules r
             WHERE version = (SELECT MAX(version) FROM member_points_rules WHERE code = r.code) ORDER BY code"
        )))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(PointsRule::from).collect())
    }

    /// Awards points under the newest version of `rule_code`, valid at `now`, within its caps.
    #[tracing::instrument(name = "member.store.award", skip_all, fields(member.id = %new.member_id))]
    pub async fn award(&self, new: &NewEntry, rule_code: &str, now: i64) -> Result<LedgerEntry> {
        let fingerprint = new.fingerprint(EntryKind::Award, rule_code);
        let mut tx = self.begin_for_member(&new.member_id).await?;
        // A retry, the member and the rule in one round trip: an award is the ledger's
        // busiest write.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT rule.*, (SELECT fingerprint FROM member_ledger WHERE id = $1) AS fingerprint,
                    (SELECT COUNT(*) FROM member_members WHERE id = $2) AS members
             FROM (SELECT 1 AS one) AS one LEFT JOIN (
                 SELECT {RULE_COLUMNS} FROM member_points_rules WHERE code = $3
                 ORDER BY version DESC LIMIT 1
             ) AS rule ON TRUE"
        )))
        .bind(&new.id)
        .bind(&new.member_id)
        .bind(rule_code)
        .fetch_one(&mut *tx)
        .await?;
        let read = AwardRead::from_row(&row)?;
        if let Some(first) = replayed(&mut tx, new, read.fingerprint, &fingerprint).await? {
            tx.commit().await?;
            return Ok(first);
        }
        require_member(&new.member_id, read.members)?;
        if read.code.is_none() {
            return Err(StoreError::not_found("points rule", rule_code));
        }
        let rule = PointsRule::from(RuleRow::from_row(&row)?);
        if !rule.is_valid_at(now) {
            return Err(precondition(
                "RULE_VALIDITY",
                format!("rule {} is not in force now", rule.code),
            ));
        }
        if rule.evidence_required && new.evidence.is_empty() {
            return Err(precondition(
                "EVIDENCE",
                format!("rule {} needs evidence", rule.code),
            ));
        }
        let (year, _, _) = periods(now);
        let earned = earned_under(&mut tx, &new.member_id, &rule, now).await?;
        for (cap, column, earned) in [
            (rule.daily_cap, "day", earned.day),
            (rule.monthly_cap, "month", earned.month),
            (rule.yearly_cap, "year", earned.year),
        ] {
            let Some(cap) = cap else { continue };
            if earned + rule.points > cap {
                return Err(precondition(
                    "CAP",
                    format!(
                        "rule {} allows {cap} points per {} and {earned} are earned",
                        rule.code,
                        period_name(column)
                    ),
                ));
            }
        }
        let state = if rule.approval_required {
            EntryState::Pending
        } else {
            EntryState::Approved
        };
        let entry = insert_entry(
            &mut tx,
            new,
            EntryKind::Award,
            rule.points,
            Some((&rule.code, rule.version)),
            state,
            None,
            now,
            year,
            &fingerprint,
        )
        .await?;
        if state == EntryState::Approved {
            add_to_balance(&mut tx, &new.member_id, year, rule.points).await?;
        }
        if state == EntryState::Approved {
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                crate::events::points_approved(&entry),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(entry)
    }

    /// Approves or rejects a pending entry.
    pub async fn decide(&self, entry_id: &str, approve: bool, now: i64) -> Result<LedgerEntry> {
        let member_id = self.entry(entry_id).await?.member_id;
        let mut tx = self.begin_for_member(&member_id).await?;
        let entry = fetch_entry(&mut tx, entry_id).await?;
        if entry.state != EntryState::Pending {
            return Err(precondition(
                "DECIDED",
                format!("entry {entry_id} is already {}", entry.state.as_str()),
            ));
        }
        let state = if approve {
            EntryState::Approved
        } else {
            EntryState::Rejected
        };
        sqlx::query("UPDATE member_ledger SET state = $1, decided_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(now)
            .bind(entry_id)
            .execute(&mut *tx)
            .await?;
        if approve {
            add_to_balance(&mut tx, &entry.member_id, entry.year, entry.amount).await?;
        }
        let entry = fetch_entry(&mut tx, entry_id).await?;
        if approve {
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                crate::events::points_approved(&entry),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(entry)
    }

    /// Corrects an approved award or redemption with an entry of the opposite amount, once.
    /// Refused when it would leave the year's balance below zero.
    pub async fn reverse(&self, new: &NewEntry, reverses: &str, now: i64) -> Result<LedgerEntry> {
        let mut tx = self.begin_for_member(&new.member_id).await?;
        if let Some(first) =
            replay(&mut tx, new, new.fingerprint(EntryKind::Reversal, reverses)).await?
        {
            tx.commit().await?;
            return Ok(first);
        }
        let target = fetch_entry(&mut tx, reverses).await?;
        if target.member_id != new.member_id {
            return Err(StoreError::not_found("ledger entry", reverses));
        }
        if target.state != EntryState::Approved || target.kind == EntryKind::Reversal {
            return Err(precondition(
                "REVERSAL",
                "only approved awards and redemptions are reversed",
            ));
        }
        let already = sqlx::query("SELECT id FROM member_ledger WHERE reverses = $1")
            .bind(reverses)
            .fetch_optional(&mut *tx)
            .await?;
        if already.is_some() {
            return Err(precondition(
                "REVERSAL",
                format!("entry {reverses} is already reversed"),
            ));
        }
        let balance = balance_of(&mut tx, &new.member_id, target.year).await?;
        if balance - target.amount < 0 {
            return Err(precondition(
                "BALANCE",
                "the reversal would leave the balance below zero",
            ));
        }
        let fingerprint = new.fingerprint(EntryKind::Reversal, reverses);
        let rule = target.rule_code.as_deref().zip(target.rule_version);
        // The correction counts in the year of what it corrects.
        let entry = insert_entry(
            &mut tx,
            new,
            EntryKind::Reversal,
            -target.amount,
            rule,
            EntryState::Approved,
            Some(reverses),
            now,
            target.year,
            &fingerprint,
        )
        .await?;
        add_to_balance(&mut tx, &new.member_id, target.year, -target.amount).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Spends `points` of this year's balance; never below zero, however many redeem at once.
    #[tracing::instrument(name = "member.store.redeem", skip_all, fields(member.id = %new.member_id))]
    pub async fn redeem(&self, new: &NewEntry, points: i64, now: i64) -> Result<LedgerEntry> {
        let fingerprint = new.fingerprint(EntryKind::Redemption, &points.to_string());
        let (year, _, _) = periods(now);
        let mut tx = self.begin_for_member(&new.member_id).await?;
        // A retry, the member and the balance in one round trip.
        let (stored, members, balance) = sqlx::query_as::<_, (Option<String>, i64, Option<i64>)>(
            "SELECT (SELECT fingerprint FROM member_ledger WHERE id = $1),
                    (SELECT COUNT(*) FROM member_members WHERE id = $2),
                    (SELECT balance FROM member_balances WHERE member_id = $2 AND year = $3)",
        )
        .bind(&new.id)
        .bind(&new.member_id)
        .bind(year)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(first) = replayed(&mut tx, new, stored, &fingerprint).await? {
            tx.commit().await?;
            return Ok(first);
        }
        require_member(&new.member_id, members)?;
        let balance = balance.unwrap_or(0);
        if balance < points {
            return Err(precondition(
                "BALANCE",
                format!("the balance is {balance} points, {points} were asked"),
            ));
        }
        let entry = insert_entry(
            &mut tx,
            new,
            EntryKind::Redemption,
            -points,
            None,
            EntryState::Approved,
            None,
            now,
            year,
            &fingerprint,
        )
        .await?;
        add_to_balance(&mut tx, &new.member_id, year, -points).await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub async fn entry(&self, id: &str) -> Result<LedgerEntry> {
        let mut tx = self.db.begin().await?;
        let entry = fetch_entry(&mut tx, id).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Approved points of the year, and pending awards.
    pub async fn balance(&self, member_id: &str, year: i64) -> Result<(i64, i64)> {
        let mut tx = self.db.begin().await?;
        let balance = balance_of(&mut tx, member_id, year).await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM member_ledger WHERE member_id = $1 AND year = $2 AND state = 'pending'",
        )
        .bind(member_id)
        .bind(year)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((balance, pending))
    }

    /// A member's entries, newest first, created before the entry `before` when given.
    pub async fn ledger(
        &self,
        member_id: &str,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        let (at, id) = before.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM member_ledger
             WHERE member_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4"
        )))
        .bind(member_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(LedgerEntry::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Carries over points a district granted in its earlier system: each entry becomes an
    /// approved award at its original time, under the version of its rule then in force, and
    /// the balances it changes are updated in the same transaction. An entry already in the
    /// ledger with the same fields is skipped, so an interrupted import can simply be run again;
    /// the same id with other fields is a conflict and nothing is written. Caps and evidence are
    /// not applied again: those points were decided under the old system's rules. Returns how
    /// many entries were written.
    #[tracing::instrument(name = "member.store.import_points", skip_all, fields(entries = entries.len()))]
    pub async fn import_points(&self, entries: &[ImportedEntry]) -> Result<u64> {
        let mut ids = BTreeSet::new();
        if let Some(twice) = entries.iter().find(|e| !ids.insert(e.entry.id.as_str())) {
            return Err(precondition(
                "IMPORT_POINTS",
                format!("entry {} appears twice in one import", twice.entry.id),
            ));
        }
        if let Some(bad) = entries.iter().find(|e| e.points <= 0) {
            return Err(precondition(
                "IMPORT_POINTS",
                format!(
                    "imported entry {} must grant a positive number of points",
                    bad.entry.id
                ),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        // Balance rows copy their members' org paths.
        paths::hold(&self.db, &mut tx).await?;
        let rules: Vec<PointsRule> = sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM member_points_rules ORDER BY code, version"
        )))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(PointsRule::from)
        .collect();
        let mut deltas: BTreeMap<(String, i64), i64> = BTreeMap::new();
        // Each balance row carries its member's org path, so leaderboards read balances alone.
        let mut org_paths: BTreeMap<String, String> = BTreeMap::new();
        let mut written = 0;
        for chunk in entries.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let members: BTreeSet<&str> =
                chunk.iter().map(|e| e.entry.member_id.as_str()).collect();
            let known = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
                "SELECT id, org_path FROM member_members WHERE id IN ({})",
                placeholders(1, members.len())
            )));
            for (id, org_path) in members
                .iter()
                .fold(known, |query, id| query.bind(*id))
                .fetch_all(&mut *tx)
                .await?
            {
                org_paths.insert(id, org_path);
            }
            if let Some(unknown) = members.iter().find(|id| !org_paths.contains_key(**id)) {
                return Err(StoreError::not_found("member", *unknown));
            }
            let mut rows = Vec::with_capacity(chunk.len());
            for imported in chunk {
                let version = rules
                    .iter()
                    .filter(|r| r.code == imported.rule_code && r.is_valid_at(imported.at))
                    .map(|r| r.version)
                    .next_back()
                    .ok_or_else(|| {
                        StoreError::not_found(
                            "points rule in force at the imported entry's time",
                            imported.rule_code.clone(),
                        )
                    })?;
                let (year, month, day) = periods(imported.at);
                let fingerprint = imported.entry.fingerprint(
                    EntryKind::Award,
                    &format!(
                        "import:{}:{}:{}",
                        imported.rule_code, imported.points, imported.at
                    ),
                );
                rows.push((imported, version, year, month, day, fingerprint));
            }
            let sql = format!(
                "INSERT INTO member_ledger (id, member_id, kind, amount, rule_code, rule_version, reason, evidence,
                     source_event_id, state, year, month, day, fingerprint, actor, created_at, decided_at)
                 VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id, member_id, year, amount",
                value_rows(rows.len(), 17)
            );
            let mut query =
                sqlx::query_as::<_, (String, String, i64, i64)>(sqlx::AssertSqlSafe(sql));
            for (imported, version, year, month, day, fingerprint) in &rows {
                let new = &imported.entry;
                query = query
                    .bind(&new.id)
                    .bind(&new.member_id)
                    .bind(EntryKind::Award.as_str())
                    .bind(imported.points)
                    .bind(&imported.rule_code)
                    .bind(*version)
                    .bind(&new.reason)
                    .bind(&new.evidence)
                    .bind(&new.source_event_id)
                    .bind(EntryState::Approved.as_str())
                    .bind(*year)
                    .bind(month.as_str())
                    .bind(day.as_str())
                    .bind(fingerprint.as_str())
                    .bind(&new.actor)
                    .bind(imported.at)
                    .bind(imported.at);
            }
            let mut inserted = BTreeSet::new();
            for (id, member_id, year, amount) in query.fetch_all(&mut *tx).await? {
                *deltas.entry((member_id, year)).or_default() += amount;
                inserted.insert(id);
                written += 1;
            }
            // An id already in the ledger is skipped only if it is the same entry.
            let existing: Vec<_> = rows
                .iter()
                .filter(|row| !inserted.contains(&row.0.entry.id))
                .collect();
            if !existing.is_empty() {
                let query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
                    "SELECT id, fingerprint FROM member_ledger WHERE id IN ({})",
                    placeholders(1, existing.len())
                )));
                let stored: BTreeMap<String, String> = existing
                    .iter()
                    .fold(query, |query, row| query.bind(&row.0.entry.id))
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                if let Some(clash) = existing
                    .iter()
                    .find(|row| stored.get(&row.0.entry.id) != Some(&row.5))
                {
                    return Err(StoreError::Conflict(format!(
                        "entry {} exists with other fields",
                        clash.0.entry.id
                    )));
                }
            }
        }
        // In key order, so that concurrent imports touch balance rows in one order.
        let deltas: Vec<_> = deltas.into_iter().collect();
        for chunk in deltas.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO member_balances (member_id, year, balance, org_path) VALUES {}
                 ON CONFLICT (member_id, year) DO UPDATE
                 SET balance = member_balances.balance + excluded.balance, org_path = excluded.org_path",
                value_rows(chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((member_id, year), delta) in chunk {
                query = query
                    .bind(member_id)
                    .bind(*year)
                    .bind(*delta)
                    .bind(&org_paths[member_id]);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// A write transaction holding re-pathing off (its balance rows copy the member's org
    /// path) and then the member's points lock, in the order a transfer takes them.
    async fn begin_for_member(&self, member_id: &str) -> Result<Tx> {
        let mut tx = self.db.begin_write().await?;
        paths::hold(&self.db, &mut tx).await?;
        self.db
            .lock(&mut tx, points_lock_key(member_id), LockMode::Exclusive)
            .await?;
        Ok(tx)
    }
}

/// The lock that serialises changes to one member's points and balance rows.
pub(super) fn points_lock_key(member_id: &str) -> i64 {
    lock_key(&format!("points:{member_id}"))
}

fn period_name(column: &str) -> &'static str {
    match column {
        "day" => "day",
        "month" => "month",
        _ => "year",
    }
}

/// The first entry of a retried id: the same request returns it, another is a conflict.
async fn replay(tx: &mut Tx, new: &NewEntry, fingerprint: String) -> Result<Option<LedgerEntry>> {
    let stored = sqlx::query_scalar("SELECT fingerprint FROM member_ledger WHERE id = $1")
        .bind(&new.id)
        .fetch_optional(&mut **tx)
        .await?;
    replayed(tx, new, stored, &fingerprint).await
}

/// [`replay`] with the stored fingerprint already read (by a query that reads more at once).
async fn replayed(
    tx: &mut Tx,
    new: &NewEntry,
    stored: Option<String>,
    fingerprint: &str,
) -> Result<Option<LedgerEntry>> {
    let Some(first) = stored else { return Ok(None) };
    if first != fingerprint {
        return Err(StoreError::Conflict(format!(
            "entry {} exists with other fields",
            new.id
        )));
    }
    Ok(Some(fetch_entry(tx, &new.id).await?))
}

/// NOT_FOUND for a member that a combined read counted `count` times.
fn require_member(member_id: &str, count: i64) -> Result<()> {
    if count == 0 {
        return Err(StoreError::not_found("member", member_id));
    }
    Ok(())
}

/// Points a member has earned under a rule's code (awards not rejected) in the day, month and
/// year of `now`; only the periods the rule caps are counted.
#[derive(Debug, Default)]
struct Earned {
    day: i64,
    month: i64,
    year: i64,
}

async fn earned_under(tx: &mut Tx, member_id: &str, rule: &PointsRule, now: i64) -> Result<Earned> {
    let (year, month, day) = periods(now);
    // One query over the widest capped period; the narrower ones are sums within it.
    let widest = if rule.yearly_cap.is_some() {
        "year = $5"
    } else if rule.monthly_cap.is_some() {
        "month = $4"
    } else if rule.daily_cap.is_some() {
        "day = $3"
    } else {
        return Ok(Earned::default());
    };
    let (in_day, in_month, in_year) =
        sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN day = $3 THEN amount ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN month = $4 THEN amount ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN year = $5 THEN amount ELSE 0 END), 0) AS BIGINT)
         FROM member_ledger
         WHERE member_id = $1 AND rule_code = $2 AND kind = 'award' AND state <> 'rejected'
           AND {widest}"
        )))
        .bind(member_id)
        .bind(&rule.code)
        .bind(day)
        .bind(month)
        .bind(year)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Earned {
        day: in_day,
        month: in_month,
        year: in_year,
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert_entry(
    tx: &mut Tx,
    new: &NewEntry,
    kind: EntryKind,
    amount: i64,
    rule: Option<(&str, i64)>,
    state: EntryState,
    reverses: Option<&str>,
    now: i64,
    year: i64,
    fingerprint: &str,
) -> Result<LedgerEntry> {
    let (_, month, day) = periods(now);
    let row = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO member_ledger (id, member_id, kind, amount, rule_code, rule_version, reason, evidence,
             source_event_id, state, reverses, year, month, day, fingerprint, actor, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING {ENTRY_COLUMNS}"
    )))
    .bind(&new.id)
    .bind(&new.member_id)
    .bind(kind.as_str())
    .bind(amount)
    .bind(rule.map(|(code, _)| code.to_owned()))
    .bind(rule.map(|(_, version)| version))
    .bind(&new.reason)
    .bind(&new.evidence)
    .bind(&new.source_event_id)
    .bind(state.as_str())
    .bind(reverses.map(str::to_owned))
    .bind(year)
    .bind(month)
    .bind(day)
    .bind(fingerprint)
    .bind(&new.actor)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(LedgerEntry::try_from(row)?)
}

async fn add_to_balance(tx: &mut Tx, member_id: &str, year: i64, delta: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_balances (member_id, year, balance, org_path)
         SELECT $1, $2, $3, org_path FROM member_members WHERE id = $1
         ON CONFLICT (member_id, year) DO UPDATE
         SET balance = member_balances.balance + excluded.balance, org_path = excluded.org_path",
    )
    .bind(member_id)
    .bind(year)
    .bind(delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn balance_of(tx: &mut Tx, member_id: &str, year: i64) -> Result<i64> {
    let balance: Option<i64> = sqlx::query_scalar(
        "SELECT balance FROM member_balances WHERE member_id = $1 AND year = $2",
    )
    .bind(member_id)
    .bind(year)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(balance.unwrap_or(0))
}

async fn fetch_entry(tx: &mut Tx, id: &str) -> Result<LedgerEntry> {
    let row = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM member_ledger WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("ledger entry", id))?;
    Ok(LedgerEntry::try_from(row)?)
}
