//! Three-party linkage: a compound's joint meetings and their decisions, a town's assessments of
//! its companies with their scores, and the rewards and rectification orders that follow.

use std::collections::BTreeMap;

use jiceng_db::Tx;

use super::{PropertyStore, REQUEST_IDS, Result, StoreError, precondition};
use crate::domain::linkage::{Attendee, Criterion, DecisionState, Party, weighted_total};

/// The linkage's entities, defined in [`crate::domain::linkage`]: re-exported at their old
/// paths.
pub use crate::domain::linkage::{Assessment, Decision, Meeting, Order, Score};

/// A decision a recorded meeting hands out.
#[derive(Clone, Debug)]
pub struct NewDecision {
    pub text: String,
    pub owner: Party,
    pub due_at: Option<i64>,
}

/// Whose orders to list.
#[derive(Clone, Copy, Debug)]
pub enum OrdersOf<'a> {
    Company(&'a str),
    Assessment(&'a str),
}

const MEETING_COLUMNS: &str =
    "id, compound_id, title, agenda, scheduled_at, held_at, attendees, minutes";

/// A row of [`MEETING_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct MeetingRow {
    id: String,
    compound_id: String,
    title: String,
    agenda: String,
    scheduled_at: i64,
    held_at: Option<i64>,
    attendees: String,
    minutes: String,
}

/// The meeting without its decisions.
impl TryFrom<MeetingRow> for Meeting {
    type Error = StoreError;

    fn try_from(row: MeetingRow) -> Result<Self> {
        Ok(Meeting {
            id: row.id,
            compound_id: row.compound_id,
            title: row.title,
            agenda: row.agenda,
            scheduled_at: row.scheduled_at,
            held_at: row.held_at,
            attendees: json(&row.attendees, "attendees")?,
            minutes: row.minutes,
            decisions: Vec::new(),
        })
    }
}

const DECISION_COLUMNS: &str = "id, meeting_id, text, owner, due_at, state, follow_up";

/// A row of [`DECISION_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: String,
    meeting_id: String,
    text: String,
    owner: String,
    due_at: Option<i64>,
    state: String,
    follow_up: String,
}

impl TryFrom<DecisionRow> for Decision {
    type Error = StoreError;

    fn try_from(row: DecisionRow) -> Result<Self> {
        Ok(Decision {
            id: row.id,
            meeting_id: row.meeting_id,
            text: row.text,
            owner: Party::parse(&row.owner).ok_or_else(|| StoreError::corrupt("decision owner"))?,
            due_at: row.due_at,
            state: DecisionState::parse(&row.state)
                .ok_or_else(|| StoreError::corrupt("decision state"))?,
            follow_up: row.follow_up,
        })
    }
}

const ASSESSMENT_COLUMNS: &str = "id, org_id, org_path, period, criteria";

/// A row of [`ASSESSMENT_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct AssessmentRow {
    id: String,
    org_id: String,
    org_path: String,
    period: String,
    criteria: String,
}

impl TryFrom<AssessmentRow> for Assessment {
    type Error = StoreError;

    fn try_from(row: AssessmentRow) -> Result<Self> {
        Ok(Assessment {
            id: row.id,
            org_id: row.org_id,
            org_path: row.org_path,
            period: row.period,
            criteria: json(&row.criteria, "criteria")?,
        })
    }
}

const SCORE_COLUMNS: &str = "company_id, scores, total, comment";

/// A row of [`SCORE_COLUMNS`]: its fields are the constant's columns (a score's, but its
/// assessment's id, which the query is by).
#[derive(sqlx::FromRow)]
struct ScoreRow {
    company_id: String,
    scores: String,
    total: i64,
    comment: String,
}

impl ScoreRow {
    /// The score of the assessment `assessment_id`, whose row this is.
    fn into_score(self, assessment_id: &str) -> Result<Score> {
        Ok(Score {
            assessment_id: assessment_id.to_owned(),
            company_id: self.company_id,
            scores: json(&self.scores, "scores")?,
            total: self.total,
            comment: self.comment,
        })
    }
}

const ORDER_COLUMNS: &str =
    "id, assessment_id, company_id, kind, text, due_at, issued_by, issued_at";

/// A row of [`ORDER_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    assessment_id: String,
    company_id: String,
    kind: String,
    text: String,
    due_at: Option<i64>,
    issued_by: String,
    issued_at: i64,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Order {
            id: row.id,
            assessment_id: row.assessment_id,
            company_id: row.company_id,
            kind: row.kind,
            text: row.text,
            due_at: row.due_at,
            issued_by: row.issued_by,
            issued_at: row.issued_at,
        }
    }
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| StoreError::corrupt(what))
}

async fn fetch_meeting(tx: &mut Tx, id: &str) -> Result<Meeting> {
    let mut meeting: Meeting = sqlx::query_as::<_, MeetingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {MEETING_COLUMNS} FROM property_meetings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("meeting", id))?
    .try_into()?;
    meeting.decisions = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DECISION_COLUMNS} FROM property_decisions
         WHERE meeting_id = $1 ORDER BY seq"
    )))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(Decision::try_from)
    .collect::<Result<_>>()?;
    Ok(meeting)
}

async fn fetch_assessment(tx: &mut Tx, id: &str) -> Result<Assessment> {
    sqlx::query_as::<_, AssessmentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSESSMENT_COLUMNS} FROM property_assessments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("assessment", id))?
    .try_into()
}

impl PropertyStore {
    /// Schedules a meeting. `by` is the actor and their request id: a retry that repeats it
    /// returns the first meeting.
    pub async fn schedule_meeting(
        &self,
        compound_id: &str,
        title: &str,
        agenda: &str,
        scheduled_at: i64,
        (actor, request_id): (&str, Option<&str>),
        now: i64,
    ) -> Result<Meeting> {
        let mut tx = self.db.begin_write().await?;
        super::fetch_compound(&mut tx, compound_id, now).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(
                &mut tx,
                actor,
                request_id,
                "ScheduleLinkageMeeting",
                &id,
                now,
            )
            .await?
        {
            let meeting = fetch_meeting(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(meeting);
        }
        sqlx::query(
            "INSERT INTO property_meetings (id, compound_id, title, agenda, scheduled_at, held_at, attendees,
                 minutes, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, NULL, '[]', '', $6, $7)",
        )
        .bind(&id)
        .bind(compound_id)
        .bind(title)
        .bind(agenda)
        .bind(scheduled_at)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let meeting = fetch_meeting(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(meeting)
    }

    pub async fn meeting(&self, id: &str) -> Result<Meeting> {
        let mut tx = self.db.begin().await?;
        let meeting = fetch_meeting(&mut tx, id).await?;
        tx.commit().await?;
        Ok(meeting)
    }

    /// Records a scheduled meeting as held, once, with its decisions.
    /// Records what a meeting decided. `by` is the actor and their request id: a retry that
    /// repeats it answers with the meeting as it now stands.
    pub async fn record_meeting(
        &self,
        id: &str,
        held_at: i64,
        attendees: &[Attendee],
        minutes: &str,
        decisions: &[NewDecision],
        by: (&str, Option<&str>),
    ) -> Result<Meeting> {
        let mut tx = self.db.begin_write().await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(
                &mut tx,
                by.0,
                by.1,
                "RecordLinkageMeeting",
                id,
                self.db.now(),
            )
            .await?
        {
            let meeting = fetch_meeting(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(meeting);
        }
        let recorded = sqlx::query(
            "UPDATE property_meetings SET held_at = $1, attendees = $2, minutes = $3
             WHERE id = $4 AND held_at IS NULL",
        )
        .bind(held_at)
        .bind(serde_json::to_string(attendees).unwrap_or_else(|_| "[]".into()))
        .bind(minutes)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            fetch_meeting(&mut tx, id).await?;
            return Err(precondition("MEETING", "the meeting was recorded already"));
        }
        for (seq, decision) in decisions.iter().enumerate() {
            sqlx::query(
                "INSERT INTO property_decisions (id, meeting_id, seq, text, owner, due_at, state, follow_up)
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', '')",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(id)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(&decision.text)
            .bind(decision.owner.as_str())
            .bind(decision.due_at)
            .execute(&mut *tx)
            .await?;
        }
        let meeting = fetch_meeting(&mut tx, id).await?;
        tx.commit().await?;
        Ok(meeting)
    }

    /// A compound's meetings, newest first.
    pub async fn meetings(&self, compound_id: &str) -> Result<Vec<Meeting>> {
        let mut tx = self.db.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM property_meetings WHERE compound_id = $1 ORDER BY scheduled_at DESC, id DESC
             LIMIT 200",
        )
        .bind(compound_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut meetings = Vec::with_capacity(ids.len());
        for id in ids {
            meetings.push(fetch_meeting(&mut tx, &id).await?);
        }
        tx.commit().await?;
        Ok(meetings)
    }

    /// The meeting a decision belongs to.
    pub async fn meeting_of_decision(&self, decision_id: &str) -> Result<Meeting> {
        let meeting_id: String =
            sqlx::query_scalar("SELECT meeting_id FROM property_decisions WHERE id = $1")
                .bind(decision_id)
                .fetch_optional(self.db.pool())
                .await?
                .ok_or_else(|| StoreError::not_found("decision", decision_id))?;
        self.meeting(&meeting_id).await
    }

    /// Closes an open decision as done or dropped, with a note.
    /// Follows a decision up. `by` is the actor and their request id: a retry that repeats it
    /// answers with the decision as it now stands.
    pub async fn follow_up(
        &self,
        decision_id: &str,
        state: DecisionState,
        note: &str,
        by: (&str, Option<&str>),
    ) -> Result<Decision> {
        let mut tx = self.db.begin_write().await?;
        let replayed = REQUEST_IDS
            .claim_existing(
                &mut tx,
                by.0,
                by.1,
                "FollowUpDecision",
                decision_id,
                self.db.now(),
            )
            .await?
            .is_some();
        let closed = sqlx::query(
            "UPDATE property_decisions SET state = $1, follow_up = $2 WHERE id = $3 AND state = 'open'",
        )
        .bind(state.as_str())
        .bind(note)
        .bind(decision_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {DECISION_COLUMNS} FROM property_decisions WHERE id = $1"
        )))
        .bind(decision_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("decision", decision_id))?;
        if closed.rows_affected() == 0 && !replayed {
            return Err(precondition(
                "DECISION",
                "the decision was followed up already",
            ));
        }
        let decision = Decision::try_from(row)?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Defines a town's assessment for a period (one per town and period).
    pub async fn define_assessment(
        &self,
        org_id: &str,
        org_path: &str,
        period: &str,
        criteria: &[Criterion],
        now: i64,
    ) -> Result<Assessment> {
        let mut tx = self.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        let inserted = sqlx::query(
            "INSERT INTO property_assessments (id, org_id, org_path, period, criteria, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, period) DO NOTHING",
        )
        .bind(&id)
        .bind(org_id)
        .bind(org_path)
        .bind(period)
        .bind(serde_json::to_string(criteria).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "the org has an assessment for {period} already"
            )));
        }
        let assessment = fetch_assessment(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(assessment)
    }

    pub async fn assessment(&self, id: &str) -> Result<Assessment> {
        let mut tx = self.db.begin().await?;
        let assessment = fetch_assessment(&mut tx, id).await?;
        tx.commit().await?;
        Ok(assessment)
    }

    /// Scores a company registered below the assessing org; scoring again replaces the scores.
    pub async fn score(
        &self,
        assessment_id: &str,
        company_id: &str,
        scores: &BTreeMap<String, i64>,
        comment: &str,
        actor: &str,
        now: i64,
    ) -> Result<Score> {
        let mut tx = self.db.begin_write().await?;
        let assessment = fetch_assessment(&mut tx, assessment_id).await?;
        let company = super::fetch_company(&mut tx, company_id).await?;
        if !company.org_path.starts_with(&assessment.org_path) {
            return Err(precondition(
                "COMPANY",
                "the company is not registered with the assessing org",
            ));
        }
        let total = weighted_total(&assessment.criteria, scores)
            .map_err(|description| precondition("SCORES", description))?;
        let scores_json = serde_json::to_string(scores).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO property_scores (assessment_id, company_id, scores, total, comment, scored_by, scored_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (assessment_id, company_id) DO UPDATE SET scores = $3, total = $4, comment = $5,
                 scored_by = $6, scored_at = $7",
        )
        .bind(assessment_id)
        .bind(company_id)
        .bind(&scores_json)
        .bind(total)
        .bind(comment)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Score {
            assessment_id: assessment_id.to_owned(),
            company_id: company_id.to_owned(),
            scores: scores.clone(),
            total,
            comment: comment.to_owned(),
        })
    }

    /// The scores of an assessment, best first (ties by company id).
    pub async fn ranking(&self, assessment_id: &str) -> Result<Vec<Score>> {
        sqlx::query_as::<_, ScoreRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {SCORE_COLUMNS} FROM property_scores WHERE assessment_id = $1
             ORDER BY total DESC, company_id"
        )))
        .bind(assessment_id)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(|row| row.into_score(assessment_id))
        .collect()
    }

    /// Issues a reward or a rectification order to a company the assessment scored.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_order(
        &self,
        assessment_id: &str,
        company_id: &str,
        kind: &str,
        text: &str,
        due_at: Option<i64>,
        (actor, request_id): (&str, Option<&str>),
        now: i64,
    ) -> Result<Order> {
        let mut tx = self.db.begin_write().await?;
        fetch_assessment(&mut tx, assessment_id).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "IssueOrder", &id, now)
            .await?
        {
            let order = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM property_orders WHERE id = $1"
            )))
            .bind(&first)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Order::from(order));
        }
        let scored = sqlx::query(
            "SELECT 1 FROM property_scores WHERE assessment_id = $1 AND company_id = $2",
        )
        .bind(assessment_id)
        .bind(company_id)
        .fetch_optional(&mut *tx)
        .await?;
        if scored.is_none() {
            return Err(precondition(
                "COMPANY",
                "orders follow a score: the assessment has not scored that company",
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO property_orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(&id)
        .bind(assessment_id)
        .bind(company_id)
        .bind(kind)
        .bind(text)
        .bind(due_at)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Order {
            id,
            assessment_id: assessment_id.to_owned(),
            company_id: company_id.to_owned(),
            kind: kind.to_owned(),
            text: text.to_owned(),
            due_at,
            issued_by: actor.to_owned(),
            issued_at: now,
        })
    }

    /// The orders of a company or of an assessment, newest first.
    pub async fn orders(&self, of: OrdersOf<'_>) -> Result<Vec<Order>> {
        let (column, id) = match of {
            OrdersOf::Company(id) => ("company_id", id),
            OrdersOf::Assessment(id) => ("assessment_id", id),
        };
        Ok(sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM property_orders WHERE {column} = $1 ORDER BY issued_at DESC, id DESC
             LIMIT 500"
        )))
        .bind(id)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(Order::from)
        .collect())
    }
}
