//! Joint meetings and their decisions, and the three meetings of residential projects.

use jiceng_db::{Target, Tx};
use serde_json::json;

use super::{
    Mutation, OrgStore, Result, StoreError, audit, claim_request, decode_json, fetch_unit,
    json_text, precondition,
};
use crate::{
    domain::{
        Unit, UnitId, UnitKind,
        meetings::{
            Attendee, Decision, DecisionStatus, Host, JointMeeting, MeetingStatus, Project,
            ProjectMeeting, ProjectStage, Topic, Vote,
        },
        subtree_range,
    },
    events,
};

const MEETING_COLUMNS: &str = "id, host_unit_id, host_alliance_id, title, topic_text, grid_case_id, \
    scheduled_at, status, attendees, minutes, held_at";

/// A row of [`MEETING_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct MeetingRow {
    id: String,
    host_unit_id: Option<String>,
    host_alliance_id: Option<String>,
    title: String,
    topic_text: Option<String>,
    grid_case_id: Option<String>,
    scheduled_at: i64,
    status: String,
    attendees: String,
    minutes: String,
    held_at: Option<i64>,
}

impl MeetingRow {
    /// The meeting, with the rows of its decisions.
    fn into_domain(
        self,
        decisions: Vec<DecisionRow>,
    ) -> std::result::Result<JointMeeting, sqlx::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in org_meetings").into());
        let host = match (self.host_unit_id, self.host_alliance_id) {
            (Some(unit), _) => Host::Unit(UnitId::from_stored(unit).map_err(|_| corrupt("host"))?),
            (None, Some(alliance)) => Host::Alliance(alliance),
            (None, None) => return Err(corrupt("host")),
        };
        let topic = match (self.topic_text, self.grid_case_id) {
            (Some(text), _) => Topic::Text(text),
            (None, Some(case)) => Topic::GridCase(case),
            (None, None) => return Err(corrupt("topic")),
        };
        Ok(JointMeeting {
            id: self.id,
            host,
            title: self.title,
            topic,
            scheduled_at: self.scheduled_at,
            status: MeetingStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            attendees: decode_json(&self.attendees, "attendees")?,
            minutes: self.minutes,
            held_at: self.held_at,
            decisions: decisions
                .into_iter()
                .map(Decision::try_from)
                .collect::<std::result::Result<_, _>>()?,
        })
    }
}

const DECISION_COLUMNS: &str =
    "id, meeting_id, text, owner_unit_id, due_at, status, note, closed_at";

/// A row of [`DECISION_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: String,
    meeting_id: String,
    text: String,
    owner_unit_id: String,
    due_at: i64,
    status: String,
    note: String,
    closed_at: Option<i64>,
}

impl TryFrom<DecisionRow> for Decision {
    type Error = sqlx::Error;

    fn try_from(row: DecisionRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in org_decisions").into());
        Ok(Decision {
            id: row.id,
            meeting_id: row.meeting_id,
            text: row.text,
            owner_unit_id: UnitId::from_stored(row.owner_unit_id).map_err(|_| corrupt("owner"))?,
            due_at: row.due_at,
            status: DecisionStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            note: row.note,
            closed_at: row.closed_at,
        })
    }
}

const PROJECT_COLUMNS: &str = "id, unit_id, name, description, next_stage, created_at";

/// A row of [`PROJECT_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: String,
    unit_id: String,
    name: String,
    description: String,
    next_stage: Option<String>,
    created_at: i64,
}

impl ProjectRow {
    /// The project, with its meetings (sorted here by stage).
    fn into_domain(
        self,
        mut meetings: Vec<ProjectMeeting>,
    ) -> std::result::Result<Project, sqlx::Error> {
        meetings.sort_by_key(|m| m.stage);
        Ok(Project {
            id: self.id,
            unit_id: UnitId::from_stored(self.unit_id).map_err(|_| corrupt_project("unit"))?,
            name: self.name,
            description: self.description,
            next_stage: self
                .next_stage
                .map(|s| ProjectStage::parse(&s).ok_or_else(|| corrupt_project("next_stage")))
                .transpose()?,
            meetings,
            created_at: self.created_at,
        })
    }
}

/// What a corrupt value in a project's rows is reported as.
fn corrupt_project(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("invalid {what} in org_projects").into())
}

const PROJECT_MEETING_COLUMNS: &str = "stage, held_at, attendees, opinions, outcome, vote";

/// A row of [`PROJECT_MEETING_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct ProjectMeetingRow {
    stage: String,
    held_at: i64,
    attendees: String,
    opinions: String,
    outcome: String,
    vote: Option<String>,
}

impl TryFrom<ProjectMeetingRow> for ProjectMeeting {
    type Error = sqlx::Error;

    fn try_from(row: ProjectMeetingRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(ProjectMeeting {
            stage: ProjectStage::parse(&row.stage).ok_or_else(|| corrupt_project("stage"))?,
            held_at: row.held_at,
            attendees: decode_json(&row.attendees, "attendees")?,
            opinions: decode_json(&row.opinions, "opinions")?,
            outcome: row.outcome,
            vote: row.vote.map(|v| decode_json(&v, "vote")).transpose()?,
        })
    }
}

/// A joint meeting about to be scheduled, already validated.
#[derive(Clone, Debug)]
pub struct NewMeeting {
    pub host: Host,
    pub title: String,
    pub topic: Topic,
    pub scheduled_at: i64,
}

/// A project meeting about to be recorded, already validated.
#[derive(Clone, Debug)]
pub struct NewProjectMeeting {
    pub stage: ProjectStage,
    pub held_at: i64,
    pub attendees: Vec<Attendee>,
    pub opinions: Vec<String>,
    pub outcome: String,
    pub vote: Option<Vote>,
}

impl OrgStore {
    pub async fn schedule_meeting(
        &self,
        mutation: &Mutation,
        new: &NewMeeting,
    ) -> Result<JointMeeting> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "CreateJointMeeting",
            Target::New(&id),
        )
        .await?
        {
            let meeting = fetch_meeting(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(meeting);
        }
        let (host_unit, host_alliance) = match &new.host {
            Host::Unit(unit) => (Some(unit.to_string()), None),
            Host::Alliance(alliance) => (None, Some(alliance.clone())),
        };
        let (topic_text, grid_case) = match &new.topic {
            Topic::Text(text) => (Some(text.clone()), None),
            Topic::GridCase(case) => (None, Some(case.clone())),
        };
        sqlx::query(
            "INSERT INTO org_meetings (id, host_unit_id, host_alliance_id, title, topic_text, grid_case_id,
                 scheduled_at, status, attendees, minutes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', '[]', '', $8)",
        )
        .bind(&id)
        .bind(host_unit)
        .bind(host_alliance)
        .bind(&new.title)
        .bind(topic_text)
        .bind(grid_case)
        .bind(new.scheduled_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let meeting = fetch_meeting(&mut tx, &id).await?;
        audit(
            &mut tx,
            now,
            mutation,
            "ScheduleJointMeeting",
            format!("meetings/{id}"),
            json!({ "title": new.title }),
        )
        .await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::meeting_scheduled(&meeting),
        )
        .await?;
        tx.commit().await?;
        Ok(meeting)
    }

    /// Records a scheduled meeting as held; a meeting is held once.
    pub async fn record_meeting(
        &self,
        mutation: &Mutation,
        id: &str,
        attendees: &[Attendee],
        minutes: &str,
        held_at: i64,
    ) -> Result<JointMeeting> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "RecordJointMeeting",
            Target::Existing(id),
        )
        .await?
        {
            let meeting = fetch_meeting(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(meeting);
        }
        let updated = sqlx::query(
            "UPDATE org_meetings SET status = 'held', attendees = $1, minutes = $2, held_at = $3
             WHERE id = $4 AND status = 'scheduled'",
        )
        .bind(json_text(&attendees))
        .bind(minutes)
        .bind(held_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let meeting = fetch_meeting(&mut tx, id).await?;
        if updated.rows_affected() == 0 {
            return Err(precondition(
                "HELD",
                format_args!("meetings/{id}"),
                "the meeting was already recorded",
            ));
        }
        audit(
            &mut tx,
            now,
            mutation,
            "RecordJointMeeting",
            format!("meetings/{id}"),
            json!({ "attendees": attendees.len() }),
        )
        .await?;
        tx.commit().await?;
        Ok(meeting)
    }

    pub async fn meeting(&self, id: &str) -> Result<JointMeeting> {
        let mut tx = self.db.begin().await?;
        let meeting = fetch_meeting(&mut tx, id).await?;
        tx.commit().await?;
        Ok(meeting)
    }

    pub async fn add_decision(
        &self,
        mutation: &Mutation,
        meeting_id: &str,
        text: &str,
        owner: &UnitId,
        due_at: i64,
    ) -> Result<Decision> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        fetch_meeting(&mut tx, meeting_id).await?;
        fetch_unit(&mut tx, owner.as_str()).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "AddDecision", Target::New(&id)).await?
        {
            let decision = fetch_decision(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(decision);
        }
        sqlx::query(
            "INSERT INTO org_decisions (id, meeting_id, text, owner_unit_id, due_at, status, note, created_at)
             VALUES ($1, $2, $3, $4, $5, 'open', '', $6)",
        )
        .bind(&id)
        .bind(meeting_id)
        .bind(text)
        .bind(owner.as_str())
        .bind(due_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "AddDecision",
            owner,
            json!({ "decision_id": id, "meeting_id": meeting_id }),
        )
        .await?;
        let decision = fetch_decision(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(decision)
    }

    pub async fn decision(&self, id: &str) -> Result<Decision> {
        let mut tx = self.db.begin().await?;
        let decision = fetch_decision(&mut tx, id).await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Closes an open decision as done or dropped.
    pub async fn close_decision(
        &self,
        mutation: &Mutation,
        id: &str,
        status: DecisionStatus,
        note: &str,
    ) -> Result<Decision> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "UpdateDecisionStatus",
            Target::Existing(id),
        )
        .await?
        {
            let decision = fetch_decision(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(decision);
        }
        let updated = sqlx::query(
            "UPDATE org_decisions SET status = $1, note = $2, closed_at = $3 WHERE id = $4 AND status = 'open'",
        )
        .bind(status.as_str())
        .bind(note)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let decision = fetch_decision(&mut tx, id).await?;
        if updated.rows_affected() == 0 {
            return Err(precondition(
                "CLOSED",
                format_args!("decisions/{id}"),
                "the decision is already closed",
            ));
        }
        audit(
            &mut tx,
            now,
            mutation,
            "UpdateDecisionStatus",
            &decision.owner_unit_id,
            json!({ "decision_id": id, "status": status.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Open decisions past due at `now` whose owner lies in `scope`'s subtree, oldest due first.
    pub async fn overdue_decisions(&self, scope: &Unit, now: i64) -> Result<Vec<Decision>> {
        let (lo, hi) = subtree_range(&scope.path);
        let columns = DECISION_COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM org_decisions d JOIN org_units u ON u.id = d.owner_unit_id
             WHERE d.status = 'open' AND d.due_at <= $1 AND u.path >= $2 AND u.path < $3
             ORDER BY d.due_at, d.id"
        );
        let rows = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(lo)
            .bind(hi)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(Decision::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Publishes `decision.due` for open decisions due within `warning_ms` of `now`, and
    /// `decision.overdue` for those past due, each once. Returns how many events it wrote.
    pub async fn scan_decisions(&self, now: i64, warning_ms: i64) -> Result<usize> {
        let mut written = 0;
        for (overdue, flag, window_end) in [
            (false, "due_notified", now + warning_ms),
            (true, "overdue_notified", now),
        ] {
            let mut tx = self.db.begin_write().await?;
            let sql = format!(
                "SELECT {DECISION_COLUMNS} FROM org_decisions
                 WHERE status = 'open' AND {flag} = 0 AND due_at <= $1 ORDER BY due_at LIMIT 500"
            );
            let rows = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(sql))
                .bind(window_end)
                .fetch_all(&mut *tx)
                .await?;
            let decisions: Vec<Decision> = rows
                .into_iter()
                .map(Decision::try_from)
                .collect::<std::result::Result<_, _>>()?;
            for decision in &decisions {
                // An overdue notice makes the earlier warning moot, so both flags are set then.
                let set = if overdue {
                    "due_notified = 1, overdue_notified = 1"
                } else {
                    "due_notified = 1"
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE org_decisions SET {set} WHERE id = $1"
                )))
                .bind(&decision.id)
                .execute(&mut *tx)
                .await?;
                jiceng_outbox::enqueue(
                    &mut tx,
                    &self.event_source,
                    events::decision_due(decision, overdue),
                )
                .await?;
            }
            tx.commit().await?;
            written += decisions.len();
        }
        Ok(written)
    }

    /// A project of a residential or village committee, before its hearing.
    pub async fn create_project(
        &self,
        mutation: &Mutation,
        unit: &UnitId,
        name: &str,
        description: &str,
    ) -> Result<Project> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "CreateProject", Target::New(&id)).await?
        {
            let project = fetch_project(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(project);
        }
        let owner = fetch_unit(&mut tx, unit.as_str()).await?;
        if !matches!(
            owner.kind,
            UnitKind::ResidentialCommittee | UnitKind::VillageCommittee
        ) || !owner.is_active()
        {
            return Err(precondition(
                "PROJECT_UNIT",
                format_args!("units/{unit}"),
                "projects are run by active residential or village committees",
            ));
        }
        sqlx::query(
            "INSERT INTO org_projects (id, unit_id, name, description, next_stage, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(unit.as_str())
        .bind(name)
        .bind(description)
        .bind(ProjectStage::Hearing.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "CreateProject",
            unit,
            json!({ "project_id": id, "name": name }),
        )
        .await?;
        let project = fetch_project(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Records the project's next meeting. Skipping a stage or repeating one is refused; the
    /// stage advances only from the stage read, so concurrent attempts cannot both succeed.
    pub async fn record_project_meeting(
        &self,
        mutation: &Mutation,
        id: &str,
        meeting: &NewProjectMeeting,
    ) -> Result<Project> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "RecordProjectMeeting",
            Target::Existing(id),
        )
        .await?
        {
            let project = fetch_project(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(project);
        }
        let project = fetch_project(&mut tx, id).await?;
        if let Some(refusal) = project.refuses(meeting.stage) {
            return Err(precondition(
                "STAGE",
                format_args!("projects/{id}"),
                refusal,
            ));
        }
        let advanced = sqlx::query(
            "UPDATE org_projects SET next_stage = $1 WHERE id = $2 AND next_stage = $3",
        )
        .bind(meeting.stage.next().map(ProjectStage::as_str))
        .bind(id)
        .bind(meeting.stage.as_str())
        .execute(&mut *tx)
        .await?;
        if advanced.rows_affected() != 1 {
            return Err(StoreError::Stale { what: "project" });
        }
        sqlx::query(
            "INSERT INTO org_project_meetings (project_id, stage, held_at, attendees, opinions, outcome, vote)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(meeting.stage.as_str())
        .bind(meeting.held_at)
        .bind(json_text(&meeting.attendees))
        .bind(json_text(&meeting.opinions))
        .bind(&meeting.outcome)
        .bind(meeting.vote.as_ref().map(json_text))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "RecordProjectMeeting",
            &project.unit_id,
            json!({ "project_id": id, "stage": meeting.stage.as_str() }),
        )
        .await?;
        let project = fetch_project(&mut tx, id).await?;
        tx.commit().await?;
        Ok(project)
    }

    pub async fn project(&self, id: &str) -> Result<Project> {
        let mut tx = self.db.begin().await?;
        let project = fetch_project(&mut tx, id).await?;
        tx.commit().await?;
        Ok(project)
    }
}

async fn fetch_meeting(tx: &mut Tx, id: &str) -> Result<JointMeeting> {
    let row = sqlx::query_as::<_, MeetingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {MEETING_COLUMNS} FROM org_meetings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("meeting", id))?;
    let decisions = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DECISION_COLUMNS} FROM org_decisions WHERE meeting_id = $1 ORDER BY due_at, id"
    )))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(row.into_domain(decisions)?)
}

async fn fetch_decision(tx: &mut Tx, id: &str) -> Result<Decision> {
    let row = sqlx::query_as::<_, DecisionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {DECISION_COLUMNS} FROM org_decisions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("decision", id))?;
    Ok(Decision::try_from(row)?)
}

async fn fetch_project(tx: &mut Tx, id: &str) -> Result<Project> {
    let row = sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_COLUMNS} FROM org_projects WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("project", id))?;
    let meetings = sqlx::query_as::<_, ProjectMeetingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_MEETING_COLUMNS} FROM org_project_meetings
         WHERE project_id = $1 ORDER BY held_at"
    )))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(ProjectMeeting::try_from)
    .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
    Ok(row.into_domain(meetings)?)
}
