//! Needs, resources and projects (清单制): each row moves under a version check, and accepting
//! a project commits its need and its resource in the same transaction, so neither ends up in
//! two active projects.

use jiceng_db::Tx;
use jiceng_org_client::{OrgPath, paths};
use sqlx::any::AnyRow;

use super::{GridStore, ListQuery, REQUEST_IDS, Result, StoreError, precondition};
use crate::{
    domain::project::{NeedState, ProjectAction, ProjectState, Provider, ResourceState, Side},
    events,
};

pub use crate::domain::project::{Need, Project, Resource};

#[derive(Clone, Debug)]
pub struct NewNeed {
    pub org_id: String,
    pub org_path: OrgPath,
    pub title: String,
    pub description: String,
    pub category: String,
}

#[derive(Clone, Debug)]
pub struct NewResource {
    pub provider: Provider,
    pub org_id: String,
    pub org_path: OrgPath,
    pub title: String,
    pub description: String,
    pub category: String,
}

/// Which rows a list shows: a subtree (by org path), a member provider, a state.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub subtree: Option<String>,
    pub provider_member: Option<String>,
    /// The stored name of a state.
    pub state: Option<&'static str>,
}

const NEED_COLUMNS: &str =
    "id, org_id, org_path, title, description, category, state, posted_by, version, created_at";

/// A row of `grid_needs` as read: its fields are the columns of [`NEED_COLUMNS`].
#[derive(sqlx::FromRow)]
struct NeedRow {
    id: String,
    org_id: String,
    org_path: String,
    title: String,
    description: String,
    category: String,
    state: String,
    posted_by: String,
    version: i64,
    created_at: i64,
}

const RESOURCE_COLUMNS: &str = "id, provider_org_id, provider_member_id, org_id, org_path, title, description, \
    category, state, offered_by, version, created_at";

/// A row of `grid_resources` as read: its fields are the columns of [`RESOURCE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: String,
    provider_org_id: String,
    provider_member_id: String,
    org_id: String,
    org_path: String,
    title: String,
    description: String,
    category: String,
    state: String,
    offered_by: String,
    version: i64,
    created_at: i64,
}

const PROJECT_COLUMNS: &str = "id, need_id, resource_id, org_id, org_path, provider_org_id, provider_member_id, \
    title, state, proposed_by_side, proposed_by, proposal_note, answered_by, outcome, version, created_at, \
    started_at, ended_at";

/// A row of `grid_projects` as read: its fields are the columns of [`PROJECT_COLUMNS`].
#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: String,
    need_id: String,
    resource_id: String,
    org_id: String,
    org_path: String,
    provider_org_id: String,
    provider_member_id: String,
    title: String,
    state: String,
    proposed_by_side: String,
    proposed_by: String,
    proposal_note: String,
    answered_by: String,
    outcome: String,
    version: i64,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

fn provider_from(org: String, member: String) -> Result<Provider> {
    match (org.is_empty(), member.is_empty()) {
        (false, true) => Ok(Provider::Org(org)),
        (true, false) => Ok(Provider::Member(member)),
        _ => Err(StoreError::corrupt("provider")),
    }
}

fn provider_columns(provider: &Provider) -> (&str, &str) {
    match provider {
        Provider::Org(org) => (org, ""),
        Provider::Member(member) => ("", member),
    }
}

impl TryFrom<NeedRow> for Need {
    type Error = StoreError;

    fn try_from(row: NeedRow) -> Result<Self> {
        Ok(Need {
            id: row.id,
            org_id: row.org_id,
            org_path: row.org_path,
            title: row.title,
            description: row.description,
            category: row.category,
            state: NeedState::parse(&row.state).ok_or_else(|| StoreError::corrupt("need state"))?,
            posted_by: row.posted_by,
            version: row.version,
            created_at: row.created_at,
        })
    }
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;

    fn try_from(row: ResourceRow) -> Result<Self> {
        Ok(Resource {
            id: row.id,
            provider: provider_from(row.provider_org_id, row.provider_member_id)?,
            org_id: row.org_id,
            org_path: row.org_path,
            title: row.title,
            description: row.description,
            category: row.category,
            state: ResourceState::parse(&row.state)
                .ok_or_else(|| StoreError::corrupt("resource state"))?,
            offered_by: row.offered_by,
            version: row.version,
            created_at: row.created_at,
        })
    }
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;

    fn try_from(row: ProjectRow) -> Result<Self> {
        Ok(Project {
            id: row.id,
            need_id: row.need_id,
            resource_id: row.resource_id,
            org_id: row.org_id,
            org_path: row.org_path,
            provider: provider_from(row.provider_org_id, row.provider_member_id)?,
            title: row.title,
            state: ProjectState::parse(&row.state)
                .ok_or_else(|| StoreError::corrupt("project state"))?,
            proposed_by_side: Side::parse(&row.proposed_by_side)
                .ok_or_else(|| StoreError::corrupt("project side"))?,
            proposed_by: row.proposed_by,
            proposal_note: row.proposal_note,
            answered_by: row.answered_by,
            outcome: row.outcome,
            version: row.version,
            created_at: row.created_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
        })
    }
}

/// The row of `table` with `id`, read as `R`; NOT_FOUND naming `what` otherwise.
async fn fetch_row<R, T>(
    tx: &mut Tx,
    (table, columns, what): (&str, &str, &'static str),
    id: &str,
) -> Result<T>
where
    R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found(what, id))?
    .try_into()
}

const NEEDS: (&str, &str, &str) = ("grid_needs", NEED_COLUMNS, "need");
const RESOURCES: (&str, &str, &str) = ("grid_resources", RESOURCE_COLUMNS, "resource");
const PROJECTS: (&str, &str, &str) = ("grid_projects", PROJECT_COLUMNS, "project");

async fn fetch_need(tx: &mut Tx, id: &str) -> Result<Need> {
    fetch_row::<NeedRow, _>(tx, NEEDS, id).await
}

async fn fetch_resource(tx: &mut Tx, id: &str) -> Result<Resource> {
    fetch_row::<ResourceRow, _>(tx, RESOURCES, id).await
}

async fn fetch_project(tx: &mut Tx, id: &str) -> Result<Project> {
    fetch_row::<ProjectRow, _>(tx, PROJECTS, id).await
}

/// Moves the row `id` of `record`'s table to `state` if it is still at `version`.
async fn set_state(
    tx: &mut Tx,
    (table, _, what): (&str, &str, &'static str),
    id: &str,
    version: i64,
    state: &str,
) -> Result<()> {
    let saved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET state = $1, version = version + 1 WHERE id = $2 AND version = $3"
    )))
    .bind(state)
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    if saved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale { what })
    }
}

async fn set_need(tx: &mut Tx, need: &mut Need, to: NeedState) -> Result<()> {
    set_state(tx, NEEDS, &need.id, need.version, to.as_str()).await?;
    need.state = to;
    need.version += 1;
    Ok(())
}

async fn set_resource(tx: &mut Tx, resource: &mut Resource, to: ResourceState) -> Result<()> {
    set_state(tx, RESOURCES, &resource.id, resource.version, to.as_str()).await?;
    resource.state = to;
    resource.version += 1;
    Ok(())
}

/// The page of `(table, columns)` matching `filter` after the page position `after`, newest
/// first.
fn list_query(
    (table, columns, _): (&str, &str, &str),
    filter: &ListFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> ListQuery {
    let mut query = ListQuery::select(columns, table);
    if let Some(path) = &filter.subtree {
        query.subtree(path);
    }
    if let Some(member) = &filter.provider_member {
        query
            .filter()
            .push("provider_member_id = ")
            .push_bind(member);
    }
    if let Some(state) = filter.state {
        query.filter().push("state = ").push_bind(state);
    }
    query.page(after, limit);
    query
}

impl GridStore {
    /// Posts a need. A retried `request_id` of the same caller returns the first need.
    pub async fn post_need(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewNeed,
        now: i64,
    ) -> Result<Need> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "PostNeed", &id, now)
            .await?
        {
            let need = fetch_need(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(need);
        }
        sqlx::query(
            "INSERT INTO grid_needs (id, org_id, org_path, title, description, category, state, posted_by,
                 version, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
        )
        .bind(&id)
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.category)
        .bind(NeedState::Open.as_str())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let need = fetch_need(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(need)
    }

    pub async fn need(&self, id: &str) -> Result<Need> {
        let mut tx = self.db.begin().await?;
        let need = fetch_need(&mut tx, id).await?;
        tx.commit().await?;
        Ok(need)
    }

    /// Withdraws an open need (at `expected_version`, when given). `by` is the actor and their
    /// request id: a retry that repeats it answers with the need as it now stands.
    pub async fn withdraw_need(
        &self,
        id: &str,
        expected_version: Option<i64>,
        by: (&str, Option<&str>),
    ) -> Result<Need> {
        let mut tx = self.db.begin_write().await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(&mut tx, by.0, by.1, "WithdrawNeed", id, self.db.now())
            .await?
        {
            let need = fetch_need(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(need);
        }
        let mut need = fetch_need(&mut tx, id).await?;
        if expected_version.is_some_and(|v| v != need.version) {
            return Err(StoreError::Stale { what: "need" });
        }
        if need.state != NeedState::Open {
            return Err(precondition(
                "projects",
                "NEED_STATE",
                format!("a need that is {} cannot be withdrawn", need.state.as_str()),
            ));
        }
        set_need(&mut tx, &mut need, NeedState::Withdrawn).await?;
        tx.commit().await?;
        Ok(need)
    }

    /// Needs matching `filter`, newest first, after the page position (created_at, id).
    pub async fn list_needs(
        &self,
        filter: &ListFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Need>> {
        list_query(NEEDS, filter, after, limit)
            .fetch::<NeedRow, Need>(&self.db)
            .await
    }

    /// Offers a resource. A retried `request_id` of the same caller returns the first one.
    pub async fn offer_resource(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewResource,
        now: i64,
    ) -> Result<Resource> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "OfferResource", &id, now)
            .await?
        {
            let resource = fetch_resource(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(resource);
        }
        let (provider_org, provider_member) = provider_columns(&new.provider);
        sqlx::query(
            "INSERT INTO grid_resources (id, provider_org_id, provider_member_id, org_id, org_path, title,
                 description, category, state, offered_by, version, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11)",
        )
        .bind(&id)
        .bind(provider_org)
        .bind(provider_member)
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.category)
        .bind(ResourceState::Available.as_str())
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let resource = fetch_resource(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(resource)
    }

    pub async fn resource(&self, id: &str) -> Result<Resource> {
        let mut tx = self.db.begin().await?;
        let resource = fetch_resource(&mut tx, id).await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// Withdraws an available resource (at `expected_version`, when given).
    pub async fn withdraw_resource(
        &self,
        id: &str,
        expected_version: Option<i64>,
        by: (&str, Option<&str>),
    ) -> Result<Resource> {
        let mut tx = self.db.begin_write().await?;
        if let Some(first) = REQUEST_IDS
            .claim_existing(&mut tx, by.0, by.1, "WithdrawResource", id, self.db.now())
            .await?
        {
            let resource = fetch_resource(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(resource);
        }
        let mut resource = fetch_resource(&mut tx, id).await?;
        if expected_version.is_some_and(|v| v != resource.version) {
            return Err(StoreError::Stale { what: "resource" });
        }
        if resource.state != ResourceState::Available {
            return Err(precondition(
                "projects",
                "RESOURCE_STATE",
                format!(
                    "a resource that is {} cannot be withdrawn",
                    resource.state.as_str()
                ),
            ));
        }
        set_resource(&mut tx, &mut resource, ResourceState::Withdrawn).await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// Resources matching `filter`, newest first, after the page position (created_at, id).
    pub async fn list_resources(
        &self,
        filter: &ListFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Resource>> {
        list_query(RESOURCES, filter, after, limit)
            .fetch::<ResourceRow, Resource>(&self.db)
            .await
    }

    /// Proposes matching an open need with an available resource, from `side`; the other side
    /// hears of it. One proposal of a pair waits at a time.
    #[allow(clippy::too_many_arguments)]
    pub async fn propose_project(
        &self,
        (actor, request_id): (&str, Option<&str>),
        side: Side,
        need_id: &str,
        resource_id: &str,
        title: &str,
        note: &str,
        now: i64,
    ) -> Result<Project> {
        let mut tx = self.db.begin_write().await?;
        // The project takes its need's path: a re-path must wait for it, or miss it.
        paths::hold(&self.db, &mut tx).await?;
        let need = fetch_need(&mut tx, need_id).await?;
        let resource = fetch_resource(&mut tx, resource_id).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "ProposeProject", &id, now)
            .await?
        {
            let project = fetch_project(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(project);
        }
        require_free(&need, &resource)?;
        let (provider_org, provider_member) = provider_columns(&resource.provider);
        let title = if title.is_empty() { &need.title } else { title };
        let inserted = sqlx::query(
            "INSERT INTO grid_projects (id, need_id, resource_id, org_id, org_path, provider_org_id,
                 provider_member_id, title, state, proposed_by_side, proposed_by, proposal_note, answered_by,
                 outcome, version, created_at, started_at, ended_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', '', 1, $13, NULL, NULL)
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(&need.id)
        .bind(&resource.id)
        .bind(&need.org_id)
        .bind(&need.org_path)
        .bind(provider_org)
        .bind(provider_member)
        .bind(title)
        .bind(ProjectState::Proposed.as_str())
        .bind(side.as_str())
        .bind(actor)
        .bind(note)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "this need and this resource are already proposed as a project".into(),
            ));
        }
        let project = fetch_project(&mut tx, &id).await?;
        jiceng_outbox::enqueue(
            &mut tx,
            &self.event_source,
            events::project_proposed(&project, &need, &resource),
        )
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    pub async fn project(&self, id: &str) -> Result<Project> {
        let mut tx = self.db.begin().await?;
        let project = fetch_project(&mut tx, id).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Takes `action` on a project. Accepting commits the need and the resource (both must still
    /// be free); completing meets the need and frees the resource; cancelling an active project
    /// frees both. `text` is the reason or the outcome.
    #[tracing::instrument(name = "grid.store.act_on_project", skip_all, fields(action = ?action))]
    /// A retried `request_id` of the same actor answers with the project as it now stands.
    pub async fn act_on_project(
        &self,
        id: &str,
        actor: &str,
        request_id: Option<&str>,
        action: ProjectAction,
        text: &str,
        now: i64,
    ) -> Result<Project> {
        let mut tx = self.db.begin_write().await?;
        let operation = match action {
            ProjectAction::Accept => "AcceptProject",
            ProjectAction::Decline => "DeclineProject",
            ProjectAction::Complete => "CompleteProject",
            ProjectAction::Cancel => "CancelProject",
        };
        if let Some(first) = REQUEST_IDS
            .claim_existing(&mut tx, actor, request_id, operation, id, now)
            .await?
        {
            let project = fetch_project(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(project);
        }
        let mut project = fetch_project(&mut tx, id).await?;
        let from = project.state;
        let to = action
            .apply(from)
            .map_err(|description| precondition("projects", "PROJECT_STATE", description))?;
        let mut need = fetch_need(&mut tx, &project.need_id).await?;
        let mut resource = fetch_resource(&mut tx, &project.resource_id).await?;
        match (from, to) {
            (_, ProjectState::Active) => {
                require_free(&need, &resource)?;
                set_need(&mut tx, &mut need, NeedState::Matched).await?;
                set_resource(&mut tx, &mut resource, ResourceState::Matched).await?;
                project.started_at = Some(now);
            }
            (ProjectState::Active, ProjectState::Completed) => {
                set_need(&mut tx, &mut need, NeedState::Met).await?;
                set_resource(&mut tx, &mut resource, ResourceState::Available).await?;
            }
            (ProjectState::Active, ProjectState::Cancelled) => {
                set_need(&mut tx, &mut need, NeedState::Open).await?;
                set_resource(&mut tx, &mut resource, ResourceState::Available).await?;
            }
            _ => {}
        }
        if matches!(action, ProjectAction::Accept | ProjectAction::Decline) {
            project.answered_by = actor.to_owned();
        }
        if !matches!(to, ProjectState::Active) {
            project.outcome = text.to_owned();
            project.ended_at = Some(now);
        }
        let saved = sqlx::query(
            "UPDATE grid_projects SET state = $1, answered_by = $2, outcome = $3, started_at = $4,
                 ended_at = $5, version = version + 1
             WHERE id = $6 AND version = $7",
        )
        .bind(to.as_str())
        .bind(&project.answered_by)
        .bind(&project.outcome)
        .bind(project.started_at)
        .bind(project.ended_at)
        .bind(&project.id)
        .bind(project.version)
        .execute(&mut *tx)
        .await?;
        if saved.rows_affected() != 1 {
            return Err(StoreError::Stale { what: "project" });
        }
        project.state = to;
        project.version += 1;
        tx.commit().await?;
        Ok(project)
    }

    /// Projects matching `filter`, newest first, after the page position (created_at, id).
    pub async fn list_projects(
        &self,
        filter: &ListFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Project>> {
        list_query(PROJECTS, filter, after, limit)
            .fetch::<ProjectRow, Project>(&self.db)
            .await
    }
}

/// A match needs an open need and an available resource.
fn require_free(need: &Need, resource: &Resource) -> Result<()> {
    need.matchable()
        .map_err(|description| precondition("projects", "NEED_STATE", description))?;
    resource
        .matchable()
        .map_err(|description| precondition("projects", "RESOURCE_STATE", description))
}
