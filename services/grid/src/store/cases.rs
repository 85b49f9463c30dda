//! Cases: reports, transitions with their history, change requests approved by the level above,
//! and the escalation of overdue steps. Every write to a case compares and bumps its version,
//! so two writers (or two scanners on two replicas) never both apply a change to one state.

use std::collections::BTreeMap;

use jiceng_db::Tx;
use jiceng_org_client::{OrgPath, paths};
use sqlx::{Row as _, any::AnyRow};

use super::{
    Conditions, GridStore, Result, StoreError, corrupt, load_calendar, load_category, not_found,
    precondition, subtree_range,
};
use crate::{
    domain::{
        Point,
        calendar::WorkCalendar,
        case::{Action, CaseState, ReporterKind, RequestKind, RequestState, Step, Urgency},
        category::Category,
    },
    events,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub id: String,
    pub category_code: String,
    pub urgency: Urgency,
    pub description: String,
    pub attributes: BTreeMap<String, String>,
    pub location: Option<Point>,
    pub address: String,
    pub grid_id: Option<String>,
    pub owner_org_id: String,
    pub org_path: String,
    pub reporter_kind: ReporterKind,
    pub reporter: String,
    /// How to reach the reporter, sealed, and its mask.
    pub contact_sealed: Option<String>,
    pub contact_masked: String,
    pub source: String,
    pub external_id: String,
    pub attachments: Vec<String>,
    pub state: CaseState,
    pub handler_org_id: String,
    pub handled_by: String,
    pub step_started_at: Option<i64>,
    pub step_due_at: Option<i64>,
    pub overall_due_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub escalation_level: i64,
    pub escalated_org_id: String,
    pub satisfaction: Option<i64>,
    pub evaluation: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    /// For a merged case: the case it duplicates.
    pub duplicate_of: Option<String>,
    /// When the last approved deferral ends: the clock stands still until then.
    pub deferred_until: Option<i64>,
}

impl Case {
    /// Past its step's or its overall time limit at `now`, while still open and its clock runs.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.state.is_open()
            && self.paused_at.is_none()
            && (self.step_due_at.is_some_and(|due| due < now)
                || self.overall_due_at.is_some_and(|due| due < now))
    }

    /// The ids of the owning org's chain, root first.
    fn chain(&self) -> Vec<&str> {
        self.org_path
            .split('/')
            .filter(|id| !id.is_empty())
            .collect()
    }
}

/// A case about to be reported, validated by the caller.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub category_code: String,
    pub urgency: Urgency,
    pub description: String,
    pub attributes: BTreeMap<String, String>,
    pub location: Option<Point>,
    pub address: String,
    pub grid_id: Option<String>,
    pub owner_org_id: String,
    pub org_path: OrgPath,
    pub reporter_kind: ReporterKind,
    pub reporter: String,
    /// How to reach the reporter: sealed, and its mask.
    pub contact: Option<(String, String)>,
    pub source: String,
    pub external_id: String,
    pub attachments: Vec<String>,
}

/// A closed case carried over from a district's earlier system (see
/// [`GridStore::import_closed_cases`]).
#[derive(Clone, Debug)]
pub struct ImportedCase {
    pub case: NewCase,
    /// When it was reported and closed, in milliseconds since the Unix epoch.
    pub reported_at: i64,
    pub closed_at: i64,
    /// The org that handled it, and who there.
    pub handler_org_id: String,
    pub handled_by: String,
    /// The reporter's rating, 1 to 5, when they gave one: the case is then evaluated.
    pub satisfaction: Option<i64>,
}

impl ImportedCase {
    fn state(&self) -> CaseState {
        if self.satisfaction.is_some() {
            CaseState::Evaluated
        } else {
            CaseState::Closed
        }
    }
}

impl NewCase {
    /// The reporter's contact as its two columns: sealed (or NULL) and masked (or empty).
    fn contact_columns(&self) -> (Option<String>, String) {
        match &self.contact {
            Some((sealed, masked)) => (Some(sealed.clone()), masked.clone()),
            None => (None, String::new()),
        }
    }
}

/// Binds what a report says of a case, `category_code` to `attachments` in the column order of
/// a case's INSERT: a report and an import write the same columns.
fn bind_reported<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    new: &'q NewCase,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&new.category_code)
        .bind(new.urgency.as_str())
        .bind(&new.description)
        .bind(serde_json::to_string(&new.attributes).unwrap_or_else(|_| "{}".into()))
        .bind(new.location.map(|p| p.latitude))
        .bind(new.location.map(|p| p.longitude))
        .bind(&new.address)
        .bind(new.grid_id.as_deref())
        .bind(&new.owner_org_id)
        .bind(new.org_path.as_str())
        .bind(new.reporter_kind.as_str())
        .bind(&new.reporter)
        .bind(&new.source)
        .bind(&new.external_id)
        .bind(serde_json::to_string(&new.attachments).unwrap_or_else(|_| "[]".into()))
}

/// Rows per INSERT of an import: within both databases' limits on parameters per statement
/// (34 × 400).
const IMPORT_ROWS_PER_STATEMENT: usize = 400;

/// One transition in a case's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    pub seq: i64,
    pub action: String,
    pub from_state: CaseState,
    pub to_state: CaseState,
    pub actor: String,
    pub note: String,
    pub evidence: Vec<String>,
    pub org_id: String,
    pub trace_id: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    pub id: String,
    pub case_id: String,
    pub kind: RequestKind,
    pub reason: String,
    pub minutes: Option<i64>,
    pub until: Option<i64>,
    pub state: RequestState,
    pub requested_by: String,
    pub decided_by: String,
    pub decision_note: String,
    pub requested_at: i64,
}

/// A case that climbed (or, at the top, was flagged again) for being overdue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    pub case_id: String,
    pub step: Step,
    pub from_org_id: String,
    pub to_org_id: String,
    pub level: i64,
}

/// Which cases a list shows.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    /// The org path of a subtree.
    pub subtree: Option<String>,
    pub grid_id: Option<String>,
    pub reporter: Option<String>,
    pub state: Option<CaseState>,
    /// Only the cases overdue at this time.
    pub overdue_at: Option<i64>,
}

/// What an action carries besides the action itself.
#[derive(Clone, Debug, Default)]
pub struct ActionDetail {
    pub note: String,
    pub evidence: Vec<String>,
    pub comment: String,
    /// The version the caller read (etag), when it matters to them.
    pub expected_version: Option<i64>,
}

const CASE_COLUMNS: &str = "id, category_code, urgency, description, attributes, latitude, longitude, address, \
    grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id, attachments, state, \
    handler_org_id, handled_by, step_started_at, step_due_at, overall_due_at, paused_at, escalation_level, \
    escalated_org_id, satisfaction, evaluation, version, created_at, updated_at, closed_at, contact_sealed, \
    contact_masked, duplicate_of, deferred_until";

fn json_strings(text: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).ok()
}

fn case_from_row(row: &AnyRow) -> Result<Case> {
    let bad = |what: &str| corrupt(&format!("case {what}"));
    let attributes: String = row.try_get(4)?;
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&attributes).map_err(|_| bad("attributes"))?;
    let (latitude, longitude): (Option<f64>, Option<f64>) = (row.try_get(5)?, row.try_get(6)?);
    let attachments: String = row.try_get(15)?;
    let urgency: String = row.try_get(2)?;
    let reporter_kind: String = row.try_get(11)?;
    let state: String = row.try_get(16)?;
    Ok(Case {
        id: row.try_get(0)?,
        category_code: row.try_get(1)?,
        urgency: Urgency::parse(&urgency).ok_or_else(|| bad("urgency"))?,
        description: row.try_get(3)?,
        attributes,
        location: latitude.zip(longitude).map(|(latitude, longitude)| Point {
            latitude,
            longitude,
        }),
        address: row.try_get(7)?,
        grid_id: row.try_get(8)?,
        owner_org_id: row.try_get(9)?,
        org_path: row.try_get(10)?,
        reporter_kind: ReporterKind::parse(&reporter_kind).ok_or_else(|| bad("reporter kind"))?,
        reporter: row.try_get(12)?,
        source: row.try_get(13)?,
        external_id: row.try_get(14)?,
        attachments: json_strings(&attachments).ok_or_else(|| bad("attachments"))?,
        state: CaseState::parse(&state).ok_or_else(|| bad("state"))?,
        handler_org_id: row.try_get(17)?,
        handled_by: row.try_get(18)?,
        step_started_at: row.try_get(19)?,
        step_due_at: row.try_get(20)?,
        overall_due_at: row.try_get(21)?,
        paused_at: row.try_get(22)?,
        escalation_level: row.try_get(23)?,
        escalated_org_id: row.try_get(24)?,
        satisfaction: row.try_get(25)?,
        evaluation: row.try_get(26)?,
        version: row.try_get(27)?,
        created_at: row.try_get(28)?,
        updated_at: row.try_get(29)?,
        closed_at: row.try_get(30)?,
        contact_sealed: row.try_get(31)?,
        contact_masked: row.try_get(32)?,
        duplicate_of: row.try_get(33)?,
        deferred_until: row.try_get(34)?,
    })
}

fn history_from_row(row: &AnyRow) -> Result<HistoryEvent> {
    let state = |index: usize| -> Result<CaseState> {
        let text: String = row.try_get(index)?;
        CaseState::parse(&text).ok_or_else(|| corrupt("history state"))
    };
    let evidence: String = row.try_get(6)?;
    Ok(HistoryEvent {
        seq: row.try_get(0)?,
        action: row.try_get(1)?,
        from_state: state(2)?,
        to_state: state(3)?,
        actor: row.try_get(4)?,
        note: row.try_get(5)?,
        evidence: json_strings(&evidence).ok_or_else(|| corrupt("history evidence"))?,
        org_id: row.try_get(7)?,
        trace_id: row.try_get(8)?,
        at: row.try_get(9)?,
    })
}

fn request_from_row(row: &AnyRow) -> Result<ChangeRequest> {
    let kind: String = row.try_get(2)?;
    let state: String = row.try_get(6)?;
    Ok(ChangeRequest {
        id: row.try_get(0)?,
        case_id: row.try_get(1)?,
        kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("request kind"))?,
        reason: row.try_get(3)?,
        minutes: row.try_get(4)?,
        until: row.try_get(5)?,
        state: RequestState::parse(&state).ok_or_else(|| corrupt("request state"))?,
        requested_by: row.try_get(7)?,
        decided_by: row.try_get(8)?,
        decision_note: row.try_get(9)?,
        requested_at: row.try_get(10)?,
    })
}

const REQUEST_COLUMNS: &str = "id, case_id, kind, reason, minutes, until_at, state, requested_by, decided_by, \
    decision_note, requested_at";

async fn fetch(tx: &mut Tx, id: &str) -> Result<Case> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM grid_cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found("case", id))?;
    case_from_row(&row)
}

async fn pending_request(tx: &mut Tx, case_id: &str) -> Result<Option<ChangeRequest>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM grid_case_requests WHERE case_id = $1 AND state = 'pending'"
    )))
    .bind(case_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(request_from_row)
    .transpose()
}

/// Writes the changed fields of `case` if nobody changed it since it was read at `read_version`.
async fn save(tx: &mut Tx, case: &mut Case, read_version: i64, now: i64) -> Result<()> {
    case.version = read_version + 1;
    case.updated_at = now;
    let saved = sqlx::query(
        "UPDATE grid_cases SET state = $1, handler_org_id = $2, handled_by = $3, step_started_at = $4,
             step_due_at = $5, paused_at = $6, escalation_level = $7, escalated_org_id = $8,
             satisfaction = $9, evaluation = $10, version = $11, updated_at = $12, closed_at = $13,
             overall_due_at = $16, duplicate_of = $17, deferred_until = $18
         WHERE id = $14 AND version = $15",
    )
    .bind(case.state.as_str())
    .bind(&case.handler_org_id)
    .bind(&case.handled_by)
    .bind(case.step_started_at)
    .bind(case.step_due_at)
    .bind(case.paused_at)
    .bind(case.escalation_level)
    .bind(&case.escalated_org_id)
    .bind(case.satisfaction)
    .bind(&case.evaluation)
    .bind(case.version)
    .bind(now)
    .bind(case.closed_at)
    .bind(&case.id)
    .bind(read_version)
    .bind(case.overall_due_at)
    .bind(&case.duplicate_of)
    .bind(case.deferred_until)
    .execute(&mut **tx)
    .await?;
    if saved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale { what: "case" })
    }
}

/// One row of history, numbered after the case's last.
struct Entry<'a> {
    action: &'a str,
    from: CaseState,
    to: CaseState,
    actor: &'a str,
    note: &'a str,
    evidence: &'a [String],
    org_id: &'a str,
}

async fn record(tx: &mut Tx, case_id: &str, entry: Entry<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO grid_case_history (case_id, seq, action, from_state, to_state, actor, note, evidence, org_id, trace_id, at)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10
         FROM grid_case_history WHERE case_id = $1",
    )
    .bind(case_id)
    .bind(entry.action)
    .bind(entry.from.as_str())
    .bind(entry.to.as_str())
    .bind(entry.actor)
    .bind(entry.note)
    .bind(serde_json::to_string(entry.evidence).unwrap_or_else(|_| "[]".into()))
    .bind(entry.org_id)
    .bind(jiceng_telemetry::current_trace_id().unwrap_or_default())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Starts the clock of the step `case` is now in (or stops it, when the state has none).
fn start_step(case: &mut Case, category: &Category, calendar: &WorkCalendar, now: i64) {
    let limits = category.limits(case.urgency);
    let step = case.state.step();
    case.step_started_at = step.map(|_| now);
    case.step_due_at = step
        .and_then(|step| limits.of(step))
        .map(|minutes| calendar.add(now, minutes, category.clock));
    case.paused_at = None;
    // A new step answers to the owning org again; the history keeps the climb.
    case.escalation_level = 0;
    case.escalated_org_id = case.owner_org_id.clone();
}

/// The source of the rows the raw-SQL baseline writes; no report names it.
pub const BASELINE_SOURCE: &str = "jiceng-bench-baseline";

impl GridStore {
    /// Reports a case, with its first step's clock started. A retried `request_id` of the same
    /// caller, or a `source` and `external_id` seen before, returns the first case.
    #[tracing::instrument(name = "grid.store.report", skip_all)]
    /// The case row of a report alone, by one plain INSERT outside the service's write path (no
    /// category, calendar, history, request id or event): the raw-SQL baseline `jiceng bench`
    /// holds a report against. Its rows carry [`BASELINE_SOURCE`] and are deleted by
    /// [`GridStore::delete_baseline_cases`].
    pub async fn insert_baseline_case(&self, new: &NewCase, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude, longitude,
                 address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id,
                 attachments, state, handler_org_id, handled_by, step_started_at, step_due_at,
                 overall_due_at, paused_at, escalation_level, escalated_org_id, satisfaction, evaluation,
                 duplicate_of, version, created_at, updated_at, closed_at, contact_sealed, contact_masked)
             VALUES ($1, $2, $3, $4, '{}', NULL, NULL, '', $5, $6, $7, $8, $9, $10, '', '[]', $11, '', '',
                 $12, $13, $14, NULL, 0, $6, NULL, '', NULL, 1, $12, $12, NULL, NULL, '')",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&new.category_code)
        .bind(new.urgency.as_str())
        .bind(&new.description)
        .bind(new.grid_id.as_deref())
        .bind(&new.owner_org_id)
        .bind(new.org_path.as_str())
        .bind(new.reporter_kind.as_str())
        .bind(&new.reporter)
        .bind(BASELINE_SOURCE)
        .bind(CaseState::Reported.as_str())
        .bind(now)
        .bind(now + 2 * 3_600_000)
        .bind(now + 48 * 3_600_000)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Deletes the rows [`GridStore::insert_baseline_case`] wrote.
    pub async fn delete_baseline_cases(&self) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM grid_cases WHERE source = $1")
            .bind(BASELINE_SOURCE)
            .execute(self.db.pool())
            .await?;
        Ok(deleted.rows_affected())
    }

    pub async fn report(&self, request_id: Option<&str>, new: &NewCase, now: i64) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let category = load_category(&mut tx, &new.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(request_id) = request_id {
            let claimed = sqlx::query(
                "INSERT INTO grid_request_ids (caller, request_id, case_id) VALUES ($1, $2, $3)
                 ON CONFLICT (caller, request_id) DO NOTHING",
            )
            .bind(&new.reporter)
            .bind(request_id)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                let first: String = sqlx::query(
                    "SELECT case_id FROM grid_request_ids WHERE caller = $1 AND request_id = $2",
                )
                .bind(&new.reporter)
                .bind(request_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                let case = fetch(&mut tx, &first).await?;
                tx.commit().await?;
                return Ok(case);
            }
        }
        let limits = category.limits(new.urgency);
        let step_due = limits
            .of(Step::Accept)
            .map(|minutes| calendar.add(now, minutes, category.clock));
        let overall_due =
            (limits.overall > 0).then(|| calendar.add(now, limits.overall, category.clock));
        // The stored case comes back from the insert itself; no row means the report was a
        // repeat of an external one.
        let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude, longitude,
                 address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source, external_id,
                 attachments, state, handler_org_id, handled_by, step_started_at, step_due_at,
                 overall_due_at, paused_at, escalation_level, escalated_org_id, satisfaction, evaluation,
                 duplicate_of, version, created_at, updated_at, closed_at, contact_sealed, contact_masked)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '', '',
                 $18, $19, $20, NULL, 0, $10, NULL, '', NULL, 1, $18, $18, NULL, $21, $22)
             ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
             RETURNING {CASE_COLUMNS}"
        )))
        .bind(&id);
        let (contact_sealed, contact_masked) = new.contact_columns();
        let inserted = bind_reported(insert, new)
            .bind(CaseState::Reported.as_str())
            .bind(now)
            .bind(step_due)
            .bind(overall_due)
            .bind(contact_sealed)
            .bind(contact_masked)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(inserted) = inserted else {
            // Another system sent this report before: the first case stands.
            let first = sqlx::query(
                "SELECT id, reporter FROM grid_cases WHERE source = $1 AND external_id = $2",
            )
            .bind(&new.source)
            .bind(&new.external_id)
            .fetch_one(&mut *tx)
            .await?;
            let (first, reporter): (String, String) = (first.try_get(0)?, first.try_get(1)?);
            // Only the system that sent the report gets it back.
            if reporter != new.reporter {
                return Err(StoreError::Conflict(format!(
                    "another reporter's case has source {} and external id {}",
                    new.source, new.external_id
                )));
            }
            if let Some(request_id) = request_id {
                sqlx::query(
                    "UPDATE grid_request_ids SET case_id = $1 WHERE caller = $2 AND request_id = $3",
                )
                .bind(&first)
                .bind(&new.reporter)
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
            }
            let case = fetch(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(case);
        };
        let case = case_from_row(&inserted)?;
        record(
            &mut tx,
            &id,
            Entry {
                action: "report",
                from: CaseState::Reported,
                to: CaseState::Reported,
                actor: &new.reporter,
                note: "",
                evidence: &[],
                org_id: &new.owner_org_id,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    /// Writes closed cases carried over from a district's earlier system, hundreds per
    /// statement, each with one history entry that says so (the earlier system's own history
    /// does not come with them). Cases with a `source` and `external_id` already stored are
    /// skipped, so a repeated import of such cases writes nothing twice. Returns how many
    /// were written.
    #[tracing::instrument(name = "grid.store.import_closed_cases", skip_all, fields(cases = cases.len()))]
    pub async fn import_closed_cases(&self, cases: &[ImportedCase]) -> Result<u64> {
        if let Some(bad) = cases.iter().find(|c| c.closed_at < c.reported_at) {
            return Err(precondition(
                "cases",
                "IMPORT_CASES",
                format!(
                    "case \"{}\" is closed before it was reported",
                    bad.case.description
                ),
            ));
        }
        if let Some(bad) = cases
            .iter()
            .find(|c| c.satisfaction.is_some_and(|s| !(1..=5).contains(&s)))
        {
            return Err(precondition(
                "cases",
                "IMPORT_CASES",
                format!(
                    "case \"{}\": a satisfaction is 1 to 5",
                    bad.case.description
                ),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let oldest_path = cases
            .iter()
            .map(|c| &c.case.org_path)
            .min_by_key(|path| path.generation());
        if let Some(oldest_path) = oldest_path {
            paths::admit(&self.db, &mut tx, oldest_path).await?;
        }
        let categories: std::collections::BTreeSet<String> =
            sqlx::query("SELECT code FROM grid_categories")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
        if let Some(bad) = cases
            .iter()
            .find(|c| !categories.contains(&c.case.category_code))
        {
            return Err(not_found("category", &bad.case.category_code));
        }
        let mut written = 0;
        for chunk in cases.chunks(IMPORT_ROWS_PER_STATEMENT) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect();
            let insert = format!(
                "INSERT INTO grid_cases (id, category_code, urgency, description, attributes, latitude,
                     longitude, address, grid_id, owner_org_id, org_path, reporter_kind, reporter, source,
                     external_id, attachments, state, handler_org_id, handled_by, step_started_at,
                     step_due_at, overall_due_at, paused_at, escalation_level, escalated_org_id,
                     satisfaction, evaluation, duplicate_of, version, created_at, updated_at, closed_at,
                     contact_sealed, contact_masked)
                 VALUES {}
                 ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
                 RETURNING id",
                jiceng_db::value_rows(chunk.len(), 34)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
            for (id, imported) in ids.iter().zip(chunk) {
                let new = &imported.case;
                let (contact_sealed, contact_masked) = new.contact_columns();
                query = bind_reported(query.bind(id), new)
                    .bind(imported.state().as_str())
                    .bind(&imported.handler_org_id)
                    .bind(&imported.handled_by)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(0_i64)
                    .bind(&new.owner_org_id)
                    .bind(imported.satisfaction)
                    .bind("")
                    .bind(None::<String>)
                    .bind(1_i64)
                    .bind(imported.reported_at)
                    .bind(imported.closed_at)
                    .bind(imported.closed_at)
                    .bind(contact_sealed)
                    .bind(contact_masked);
            }
            let inserted: std::collections::BTreeSet<String> = query
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            let entries: Vec<(&String, &ImportedCase)> = ids
                .iter()
                .zip(chunk)
                .filter(|(id, _)| inserted.contains(*id))
                .collect();
            if entries.is_empty() {
                continue;
            }
            let history = format!(
                "INSERT INTO grid_case_history (case_id, seq, action, from_state, to_state, actor,
                     note, evidence, org_id, trace_id, at)
                 VALUES {}",
                jiceng_db::value_rows(entries.len(), 11)
            );
            let trace_id = jiceng_telemetry::current_trace_id().unwrap_or_default();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(history));
            for (id, imported) in &entries {
                let state = imported.state();
                query = query
                    .bind(*id)
                    .bind(1_i64)
                    .bind("import")
                    .bind(state.as_str())
                    .bind(state.as_str())
                    .bind("import")
                    .bind("closed in the district's earlier system")
                    .bind("[]")
                    .bind(&imported.handler_org_id)
                    .bind(&trace_id)
                    .bind(imported.closed_at);
            }
            query.execute(&mut *tx).await?;
            written += entries.len() as u64;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Case `id`, read to show its reporter's contact in clear: `reveal` is recorded in the
    /// same transaction, or nothing is read.
    pub async fn reveal_case(
        &self,
        id: &str,
        reveal: &jiceng_pii_audit::Reveal<'_>,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        let case = fetch(&mut tx, id).await?;
        jiceng_pii_audit::record(&self.db, &mut tx, reveal, now).await?;
        tx.commit().await?;
        Ok(case)
    }

    pub async fn case(&self, id: &str) -> Result<Case> {
        let mut tx = self.db.begin().await?;
        let case = fetch(&mut tx, id).await?;
        tx.commit().await?;
        Ok(case)
    }

    /// Takes `action` on a case: the state machine decides whether it may, the step's clock
    /// restarts when the step changes, and the transition joins the history.
    #[tracing::instrument(name = "grid.store.act", skip_all, fields(action = action.name()))]
    pub async fn act(
        &self,
        case_id: &str,
        actor: &str,
        action: &Action,
        detail: &ActionDetail,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        if detail.expected_version.is_some_and(|v| v != case.version) {
            return Err(StoreError::Stale { what: "case" });
        }
        let from = case.state;
        let to = action
            .apply(from)
            .map_err(|description| precondition("cases", "CASE_STATE", description))?;
        if let Some(waiting) = pending_request(&mut tx, case_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let category = load_category(&mut tx, &case.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        if matches!(action, Action::Verify { .. }) && case.handled_by == actor {
            return Err(precondition(
                "cases",
                "VERIFIER",
                "the case must be verified by someone other than its handler",
            ));
        }
        let read_version = case.version;
        case.state = to;
        let mut org_id = String::new();
        match action {
            Action::Dispatch { handler_org_id } => {
                case.handler_org_id = handler_org_id.clone();
                org_id = handler_org_id.clone();
            }
            Action::Handle => case.handled_by = actor.to_owned(),
            Action::Evaluate { satisfaction } => {
                case.satisfaction = Some(*satisfaction);
                case.evaluation = detail.comment.clone();
            }
            _ => {}
        }
        // A failed verification sends the case back to its handler with a fresh handling limit.
        let reopened = matches!(action, Action::Verify { passed: false });
        if from.step() != to.step() || reopened {
            start_step(&mut case, &category, &calendar, now);
        }
        if matches!(to, CaseState::Closed | CaseState::Rejected) {
            case.closed_at = Some(now);
        }
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action: action.name(),
                from,
                to,
                actor,
                note: &detail.note,
                evidence: &detail.evidence,
                org_id: &org_id,
            },
            now,
        )
        .await?;
        let event = match action {
            Action::Dispatch { .. } => Some(events::dispatched(&case)),
            Action::Verify { passed: false } => Some(events::verification_failed(&case)),
            _ => None,
        };
        if let Some(event) = event {
            jiceng_outbox::enqueue(&mut tx, &self.event_source, event).await?;
        }
        tx.commit().await?;
        Ok(case)
    }

    /// Open cases of `case`'s category reported within `radius_m` metres of it and within
    /// `window_ms` either side of its report, nearest first, at most `limit`. A case without a
    /// location has no candidates: nearness is all that makes one.
    pub async fn duplicate_candidates(
        &self,
        case: &Case,
        radius_m: f64,
        window_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Case, f64)>> {
        let Some(centre) = case.location else {
            return Ok(Vec::new());
        };
        // A box around the circle narrows the rows read; the exact distance decides.
        const METRES_PER_DEGREE: f64 = 111_320.0;
        let d_lat = radius_m / METRES_PER_DEGREE;
        let d_lng = radius_m / (METRES_PER_DEGREE * centre.latitude.to_radians().cos().max(0.01));
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM grid_cases
             WHERE category_code = $1 AND created_at >= $2 AND created_at <= $3
                 AND state IN ({OPEN_STATES_SQL}) AND id <> $4
                 AND latitude BETWEEN $5 AND $6 AND longitude BETWEEN $7 AND $8"
        )))
        .bind(&case.category_code)
        .bind(case.created_at.saturating_sub(window_ms))
        .bind(case.created_at.saturating_add(window_ms))
        .bind(&case.id)
        .bind(centre.latitude - d_lat)
        .bind(centre.latitude + d_lat)
        .bind(centre.longitude - d_lng)
        .bind(centre.longitude + d_lng)
        .fetch_all(self.db.pool())
        .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            let candidate = case_from_row(row)?;
            let Some(at) = candidate.location else {
                continue;
            };
            let distance = centre.distance_to(&at);
            if distance <= radius_m {
                candidates.push((candidate, distance));
            }
        }
        candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        candidates.truncate(limit);
        Ok(candidates)
    }

    /// Merges the open case `duplicate_id` into the open case `original_id`: the duplicate is
    /// merged and linked, both histories record it, and both reporters hear of it. Both cases
    /// are written under their versions, so a merge never races another move of either.
    #[tracing::instrument(name = "grid.store.merge", skip_all)]
    pub async fn merge(
        &self,
        duplicate_id: &str,
        original_id: &str,
        actor: &str,
        detail: &ActionDetail,
        now: i64,
    ) -> Result<(Case, Case)> {
        if duplicate_id == original_id {
            return Err(precondition(
                "cases",
                "MERGE",
                "a case cannot be merged into itself",
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let mut duplicate = fetch(&mut tx, duplicate_id).await?;
        if detail
            .expected_version
            .is_some_and(|v| v != duplicate.version)
        {
            return Err(StoreError::Stale { what: "case" });
        }
        let mut original = fetch(&mut tx, original_id).await?;
        let from = duplicate.state;
        let to = Action::Merge
            .apply(from)
            .map_err(|description| precondition("cases", "CASE_STATE", description))?;
        if !original.state.is_open() {
            return Err(precondition(
                "cases",
                "MERGE",
                format!(
                    "the original case is {}: only an open case takes duplicates",
                    original.state.as_str()
                ),
            ));
        }
        if original.category_code != duplicate.category_code {
            return Err(precondition(
                "cases",
                "MERGE",
                "a duplicate has the category of the case it duplicates",
            ));
        }
        if let Some(waiting) = pending_request(&mut tx, duplicate_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let (duplicate_version, original_version) = (duplicate.version, original.version);
        duplicate.state = to;
        duplicate.duplicate_of = Some(original.id.clone());
        duplicate.closed_at = Some(now);
        duplicate.step_started_at = None;
        duplicate.step_due_at = None;
        duplicate.paused_at = None;
        save(&mut tx, &mut duplicate, duplicate_version, now).await?;
        save(&mut tx, &mut original, original_version, now).await?;
        // Each history names the other case, so either leads to both.
        let with_note = |text: String| {
            if detail.note.is_empty() {
                text
            } else {
                format!("{text}: {}", detail.note)
            }
        };
        record(
            &mut tx,
            duplicate_id,
            Entry {
                action: "merge",
                from,
                to,
                actor,
                note: &with_note(format!("duplicate of case {original_id}")),
                evidence: &[],
                org_id: &original.owner_org_id,
            },
            now,
        )
        .await?;
        record(
            &mut tx,
            original_id,
            Entry {
                action: "merge_in",
                from: original.state,
                to: original.state,
                actor,
                note: &with_note(format!("case {duplicate_id} merged in as a duplicate")),
                evidence: &[],
                org_id: &duplicate.owner_org_id,
            },
            now,
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::merged(&duplicate, &original),
        )
        .await?;
        tx.commit().await?;
        Ok((duplicate, original))
    }

    /// The handling org asks the level above for a change. A return, deferral or backlog
    /// request stops the step's clock while it waits.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_change(
        &self,
        case_id: &str,
        actor: &str,
        kind: RequestKind,
        reason: &str,
        minutes: Option<i64>,
        until: Option<i64>,
        now: i64,
    ) -> Result<ChangeRequest> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        if !matches!(case.state, CaseState::Dispatched | CaseState::InProgress) {
            return Err(precondition(
                "cases",
                "CASE_STATE",
                format!(
                    "changes are asked for while a case is being handled, not while it is {}",
                    case.state.as_str()
                ),
            ));
        }
        if let Some(waiting) = pending_request(&mut tx, case_id).await? {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                format!(
                    "a {} request already waits for the level above",
                    waiting.kind.as_str()
                ),
            ));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO grid_case_requests ({REQUEST_COLUMNS}, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, '', '', $8, NULL)"
        )))
        .bind(&id)
        .bind(case_id)
        .bind(kind.as_str())
        .bind(reason)
        .bind(minutes)
        .bind(until)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await;
        // Two requests at once on PostgreSQL: the pending-request index lets one through.
        if let Err(sqlx::Error::Database(err)) = &inserted
            && err.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            return Err(precondition(
                "cases",
                "CHANGE_PENDING",
                "another request already waits for the level above",
            ));
        }
        inserted?;
        let read_version = case.version;
        if kind.stops_clock() {
            case.paused_at = Some(now);
        }
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action: "request",
                from: case.state,
                to: case.state,
                actor,
                note: &format!("{}: {reason}", kind.as_str()),
                evidence: &[],
                org_id: "",
            },
            now,
        )
        .await?;
        let request = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM grid_case_requests WHERE id = $1"
        )))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        request_from_row(&request)
    }

    /// The waiting change request of a case, if any.
    pub async fn pending_change(&self, case_id: &str) -> Result<Option<ChangeRequest>> {
        let mut tx = self.db.begin().await?;
        let request = pending_request(&mut tx, case_id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Approves or rejects the waiting change request of a case. An approved return sends the
    /// case back to be dispatched; a backlog entry puts it on the books; an extension moves the
    /// step's deadline; a deferral keeps the clock stopped until its date. A rejection restarts
    /// a stopped clock with the time that was left.
    pub async fn decide_change(
        &self,
        case_id: &str,
        actor: &str,
        approve: bool,
        note: &str,
        now: i64,
    ) -> Result<Case> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        let request = pending_request(&mut tx, case_id)
            .await?
            .ok_or_else(|| not_found("waiting change request of case", case_id))?;
        let category = load_category(&mut tx, &case.category_code).await?;
        let calendar = load_calendar(&mut tx).await?;
        let state = if approve {
            RequestState::Approved
        } else {
            RequestState::Rejected
        };
        sqlx::query(
            "UPDATE grid_case_requests SET state = $1, decided_by = $2, decision_note = $3, decided_at = $4
             WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(actor)
        .bind(note)
        .bind(now)
        .bind(&request.id)
        .execute(&mut *tx)
        .await?;
        let read_version = case.version;
        let from = case.state;
        let (stopped_at, step_due_before) = (case.paused_at, case.step_due_at);
        // When the clock runs again: now, or at the end of an approved deferral.
        let mut resumed_at = now;
        // The limit left when the clock stopped, counted on the category's clock.
        let left = |case: &Case| {
            case.step_due_at
                .map(|due| calendar.between(case.paused_at.unwrap_or(now), due, category.clock))
        };
        let action = match (approve, request.kind) {
            (true, RequestKind::Return) => {
                case.state = Action::Return
                    .apply(from)
                    .map_err(|d| precondition("cases", "CASE_STATE", d))?;
                case.handler_org_id.clear();
                case.handled_by.clear();
                start_step(&mut case, &category, &calendar, now);
                "return"
            }
            (true, RequestKind::Backlog) => {
                case.state = Action::Backlog
                    .apply(from)
                    .map_err(|d| precondition("cases", "CASE_STATE", d))?;
                start_step(&mut case, &category, &calendar, now);
                "backlog"
            }
            (true, RequestKind::Extension) => {
                let minutes = request.minutes.unwrap_or_default();
                case.step_due_at = case
                    .step_due_at
                    .map(|due| calendar.add(due, minutes, category.clock));
                "extend"
            }
            (true, RequestKind::Deferral) => {
                let resume = request.until.unwrap_or(now).max(now);
                resumed_at = resume;
                case.step_due_at =
                    left(&case).map(|left| calendar.add(resume, left, category.clock));
                case.paused_at = None;
                case.deferred_until = (resume > now).then_some(resume);
                "defer"
            }
            (false, kind) => {
                if kind.stops_clock() {
                    case.step_due_at =
                        left(&case).map(|left| calendar.add(now, left, category.clock));
                    case.paused_at = None;
                }
                "decline"
            }
        };
        // The overall limit moves with the step's: by the time the clock stood still, or by
        // an approved extension.
        let moved_by = if approve && request.kind == RequestKind::Extension {
            step_due_before
                .zip(case.step_due_at)
                .map_or(0, |(before, after)| after.saturating_sub(before))
        } else {
            stopped_at.map_or(0, |stopped| resumed_at.saturating_sub(stopped))
        };
        if moved_by > 0 {
            case.overall_due_at = case.overall_due_at.map(|due| due.saturating_add(moved_by));
        }
        save(&mut tx, &mut case, read_version, now).await?;
        record(
            &mut tx,
            case_id,
            Entry {
                action,
                from,
                to: case.state,
                actor,
                note: &format!("{}: {note}", request.kind.as_str()),
                evidence: &[],
                org_id: "",
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    /// Records in a case's history that a joint meeting of the org service takes it up: once per
    /// meeting, however often it is told. False when it was recorded before.
    pub async fn record_meeting(
        &self,
        case_id: &str,
        meeting_id: &str,
        host_org_id: &str,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        let first = sqlx::query(
            "INSERT INTO grid_case_meetings (case_id, meeting_id) VALUES ($1, $2)
             ON CONFLICT (case_id, meeting_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(meeting_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            // A new version, as for any other entry, so that history numbers never collide.
            let read_version = case.version;
            save(&mut tx, &mut case, read_version, now).await?;
            record(
                &mut tx,
                case_id,
                Entry {
                    action: "meeting",
                    from: case.state,
                    to: case.state,
                    actor: "org",
                    note,
                    evidence: &[],
                    org_id: host_org_id,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(first)
    }

    /// A case's history, oldest first.
    pub async fn history(&self, case_id: &str) -> Result<Vec<HistoryEvent>> {
        sqlx::query(
            "SELECT seq, action, from_state, to_state, actor, note, evidence, org_id, trace_id, at
             FROM grid_case_history WHERE case_id = $1 ORDER BY seq",
        )
        .bind(case_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(history_from_row)
        .collect()
    }

    /// Escalates up to `batch` cases whose step is past its limit at `now`: each climbs one level
    /// up its owning org's chain (at the top it is flagged again) and gets a new deadline for
    /// the same step, so that staying overdue keeps climbing. Safe with several scanners at
    /// once: a case escalates once per deadline missed.
    #[tracing::instrument(name = "grid.store.escalate_overdue", skip(self))]
    pub async fn escalate_overdue(&self, now: i64, batch: i64) -> Result<Vec<Escalation>> {
        let due: Vec<String> = sqlx::query(
            "SELECT id FROM grid_cases WHERE step_due_at IS NOT NULL AND step_due_at < $1
                 AND paused_at IS NULL
             ORDER BY step_due_at LIMIT $2",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
        let calendar = self.calendar().await?;
        let mut escalations = Vec::new();
        for id in due {
            match self.escalate(&id, &calendar, now).await {
                Ok(Some(escalation)) => escalations.push(escalation),
                // Already escalated by another scanner, or moved on meanwhile.
                Ok(None) | Err(StoreError::Stale { .. }) => {}
                // One case that cannot be escalated does not hold up the others.
                Err(err) => tracing::warn!(case = %id, error = %err, "case not escalated"),
            }
        }
        Ok(escalations)
    }

    async fn escalate(
        &self,
        case_id: &str,
        calendar: &WorkCalendar,
        now: i64,
    ) -> Result<Option<Escalation>> {
        let mut tx = self.db.begin_write().await?;
        let mut case = fetch(&mut tx, case_id).await?;
        let (Some(step), Some(due)) = (case.state.step(), case.step_due_at) else {
            return Ok(None);
        };
        if due >= now || case.paused_at.is_some() {
            return Ok(None);
        }
        let category = load_category(&mut tx, &case.category_code).await?;
        let read_version = case.version;
        let Some(limit) = category.limits(case.urgency).of(step) else {
            // The category no longer limits this step: the deadline goes, so the case stops
            // coming back to every scan.
            case.step_due_at = None;
            save(&mut tx, &mut case, read_version, now).await?;
            tx.commit().await?;
            return Ok(None);
        };
        let chain = case.chain();
        let from_org = case.escalated_org_id.clone();
        let to_org = chain
            .iter()
            .position(|id| *id == from_org)
            .filter(|at| *at > 0)
            .map_or(from_org.clone(), |at| chain[at - 1].to_owned());
        if to_org != from_org {
            case.escalation_level += 1;
            case.escalated_org_id = to_org.clone();
        }
        case.step_due_at = Some(calendar.add(now, limit, category.clock));
        save(&mut tx, &mut case, read_version, now).await?;
        let escalation = Escalation {
            case_id: case.id.clone(),
            step,
            from_org_id: from_org,
            to_org_id: to_org,
            level: case.escalation_level,
        };
        record(
            &mut tx,
            case_id,
            Entry {
                action: "escalate",
                from: case.state,
                to: case.state,
                actor: "scanner",
                note: &format!("{} step overdue", step.as_str()),
                evidence: &[],
                org_id: &escalation.to_org_id,
            },
            now,
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::escalated(&case, &escalation),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(escalation))
    }

    /// Cases matching `filter`, newest first, after the page position `after` (created_at, id).
    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Case>> {
        let mut conditions = Conditions::default();
        if let Some(path) = &filter.subtree {
            conditions.subtree(path);
        }
        if let Some(grid) = &filter.grid_id {
            let grid = conditions.text(grid);
            conditions.push(format!("grid_id = {grid}"));
        }
        if let Some(reporter) = &filter.reporter {
            let reporter = conditions.text(reporter);
            conditions.push(format!("reporter = {reporter}"));
        }
        if let Some(state) = filter.state {
            let state = conditions.text(state.as_str());
            conditions.push(format!("state = {state}"));
        }
        if let Some(at) = filter.overdue_at {
            let at = conditions.int(at);
            conditions.push(format!(
                "state IN ({OPEN_STATES_SQL})
                 AND paused_at IS NULL AND (step_due_at < {at} OR overall_due_at < {at})"
            ));
        }
        conditions.after(after);
        let limit = conditions.int(limit);
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM grid_cases {} ORDER BY created_at DESC, id DESC LIMIT {limit}",
            conditions.clause()
        );
        conditions
            .fetch(&self.db, sql)
            .await?
            .iter()
            .map(case_from_row)
            .collect()
    }

    /// Counts of the subtree's cases per state, and how many open ones are overdue at `now`:
    /// one pass over the subtree's range of the dashboard index.
    pub async fn count_cases(
        &self,
        org_path: &str,
        now: i64,
    ) -> Result<(Vec<(CaseState, i64)>, i64)> {
        let (lo, hi) = subtree_range(org_path);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT state, COUNT(*),
                 SUM(CASE WHEN state IN ({OPEN_STATES_SQL})
                     AND paused_at IS NULL AND (step_due_at < $3 OR overall_due_at < $3)
                     THEN 1 ELSE 0 END)
             FROM grid_cases WHERE org_path >= $1 AND org_path < $2 GROUP BY state"
        )))
        .bind(&lo)
        .bind(&hi)
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        let mut overdue = 0;
        for row in &rows {
            let state: String = row.try_get(0)?;
            let state = CaseState::parse(&state).ok_or_else(|| corrupt("case state"))?;
            counts.push((state, row.try_get(1)?));
            overdue += row.try_get::<Option<i64>, _>(2)?.unwrap_or_default();
        }
        Ok((counts, overdue))
    }
}

/// The open states as an SQL list, for the overdue queries.
const OPEN_STATES_SQL: &str = "'reported', 'accepted', 'dispatched', 'in_progress', 'handled'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_list_of_open_states_matches_the_workflow() {
        let open: Vec<String> = CaseState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(open.join(", "), OPEN_STATES_SQL);
    }
}
