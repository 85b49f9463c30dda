//! Needs, resources and projects (清单制): each row moves under a version check, and accepting
//! a project commits its need and its resource in the same transaction, so neither ends up in
//! two active projects.

use jiceng_db::Tx;
use jiceng_org_client::{OrgPath, paths};
use sqlx::{Row as _, any::AnyRow};

use super::{
    Conditions, GridStore, Result, StoreError, corrupt, first_request, not_found, precondition,
};
use crate::{
    domain::project::{NeedState, ProjectAction, ProjectState, Provider, ResourceState, Side},
    events,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub id: String,
    pub org_id: String,
    pub org_path: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub state: NeedState,
    pub posted_by: String,
    pub version: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct NewNeed {
    pub org_id: String,
    pub org_path: OrgPath,
    pub title: String,
    pub description: String,
    pub category: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: String,
    pub provider: Provider,
    pub org_id: String,
    pub org_path: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub state: ResourceState,
    pub offered_by: String,
    pub version: i64,
    pub created_at: i64,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub need_id: String,
    pub resource_id: String,
    pub org_id: String,
    pub org_path: String,
    pub provider: Provider,
    pub title: String,
    pub state: ProjectState,
    pub proposed_by_side: Side,
    pub proposed_by: String,
    pub proposal_note: String,
    pub answered_by: String,
    pub outcome: String,
    pub version: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
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
const RESOURCE_COLUMNS: &str = "id, provider_org_id, provider_member_id, org_id, org_path, title, description, \
    category, state, offered_by, version, created_at";
const PROJECT_COLUMNS: &str = "id, need_id, resource_id, org_id, org_path, provider_org_id, provider_member_id, \
    title, state, proposed_by_side, proposed_by, proposal_note, answered_by, outcome, version, created_at, \
    started_at, ended_at";

fn provider_from(org: String, member: String) -> Result<Provider> {
    match (org.is_empty(), member.is_empty()) {
        (false, true) => Ok(Provider::Org(org)),
        (true, false) => Ok(Provider::Member(member)),
        _ => Err(corrupt("provider")),
    }
}

fn provider_columns(provider: &Provider) -> (&str, &str) {
    match provider {
        Provider::Org(org) => (org, ""),
        Provider::Member(member) => ("", member),
    }
}

fn need_from_row(row: &AnyRow) -> Result<Need> {
    let state: String = row.try_get(6)?;
    Ok(Need {
        id: row.try_get(0)?,
        org_id: row.try_get(1)?,
        org_path: row.try_get(2)?,
        title: row.try_get(3)?,
        description: row.try_get(4)?,
        category: row.try_get(5)?,
        state: NeedState::parse(&state).ok_or_else(|| corrupt("need state"))?,
        posted_by: row.try_get(7)?,
        version: row.try_get(8)?,
        created_at: row.try_get(9)?,
    })
}

fn resource_from_row(row: &AnyRow) -> Result<Resource> {
    let state: String = row.try_get(8)?;
    Ok(Resource {
        id: row.try_get(0)?,
        provider: provider_from(row.try_get(1)?, row.try_get(2)?)?,
        org_id: row.try_get(3)?,
        org_path: row.try_get(4)?,
        title: row.try_get(5)?,
        description: row.try_get(6)?,
        category: row.try_get(7)?,
        state: ResourceState::parse(&state).ok_or_else(|| corrupt("resource state"))?,
        offered_by: row.try_get(9)?,
        version: row.try_get(10)?,
        created_at: row.try_get(11)?,
    })
}

fn project_from_row(row: &AnyRow) -> Result<Project> {
    let state: String = row.try_get(8)?;
    let side: String = row.try_get(9)?;
    Ok(Project {
        id: row.try_get(0)?,
        need_id: row.try_get(1)?,
        resource_id: row.try_get(2)?,
        org_id: row.try_get(3)?,
        org_path: row.try_get(4)?,
        provider: provider_from(row.try_get(5)?, row.try_get(6)?)?,
        title: row.try_get(7)?,
        state: ProjectState::parse(&state).ok_or_else(|| corrupt("project state"))?,
        proposed_by_side: Side::parse(&side).ok_or_else(|| corrupt("project side"))?,
        proposed_by: row.try_get(10)?,
        proposal_note: row.try_get(11)?,
        answered_by: row.try_get(12)?,
        outcome: row.try_get(13)?,
        version: row.try_get(14)?,
        created_at: row.try_get(15)?,
        started_at: row.try_get(16)?,
        ended_at: row.try_get(17)?,
    })
}

/// The row of `table` with `id`, read by `from_row`; NOT_FOUND naming `what` otherwise.
async fn fetch_row<T>(
    tx: &mut Tx,
    (table, columns, what): (&str, &str, &'static str),
    id: &str,
    from_row: fn(&AnyRow) -> Result<T>,
) -> Result<T> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(what, id))?;
    from_row(&row)
}

const NEEDS: (&str, &str, &str) = ("grid_needs", NEED_COLUMNS, "need");
const RESOURCES: (&str, &str, &str) = ("grid_resources", RESOURCE_COLUMNS, "resource");
const PROJECTS: (&str, &str, &str) = ("grid_projects", PROJECT_COLUMNS, "project");

async fn fetch_need(tx: &mut Tx, id: &str) -> Result<Need> {
    fetch_row(tx, NEEDS, id, need_from_row).await
}

async fn fetch_resource(tx: &mut Tx, id: &str) -> Result<Resource> {
    fetch_row(tx, RESOURCES, id, resource_from_row).await
}

async fn fetch_project(tx: &mut Tx, id: &str) -> Result<Project> {
    fetch_row(tx, PROJECTS, id, project_from_row).await
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

fn list_sql(
    columns: &str,
    table: &str,
    filter: &ListFilter,
    conditions: &mut Conditions,
) -> String {
    if let Some(path) = &filter.subtree {
        conditions.subtree(path);
    }
    if let Some(member) = &filter.provider_member {
        let member = conditions.text(member);
        conditions.push(format!("provider_member_id = {member}"));
    }
    if let Some(state) = filter.state {
        let state = conditions.text(state);
        conditions.push(format!("state = {state}"));
    }
    format!("SELECT {columns} FROM {table}")
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
        if let Some(first) = first_request(&mut tx, "need", actor, request_id, &id).await? {
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

    /// Withdraws an open need (at `expected_version`, when given).
    pub async fn withdraw_need(&self, id: &str, expected_version: Option<i64>) -> Result<Need> {
        let mut tx = self.db.begin_write().await?;
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
        let mut conditions = Conditions::default();
        let select = list_sql(NEED_COLUMNS, "grid_needs", filter, &mut conditions);
        self.page(conditions, select, after, limit)
            .await?
            .iter()
            .map(need_from_row)
            .collect()
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
        if let Some(first) = first_request(&mut tx, "resource", actor, request_id, &id).await? {
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
    ) -> Result<Resource> {
        let mut tx = self.db.begin_write().await?;
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
        let mut conditions = Conditions::default();
        let select = list_sql(RESOURCE_COLUMNS, "grid_resources", filter, &mut conditions);
        self.page(conditions, select, after, limit)
            .await?
            .iter()
            .map(resource_from_row)
            .collect()
    }

    /// Proposes matching an open need with an available resource, from `side`; the other side
    /// hears of it. One proposal of a pair waits at a time.
    #[allow(clippy::too_many_arguments)]
    pub async fn propose_project(
        &self,
        actor: &str,
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
        require_free(&need, &resource)?;
        let id = uuid::Uuid::now_v7().to_string();
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
    pub async fn act_on_project(
        &self,
        id: &str,
        actor: &str,
        action: ProjectAction,
        text: &str,
        now: i64,
    ) -> Result<Project> {
        let mut tx = self.db.begin_write().await?;
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
        let mut conditions = Conditions::default();
        let select = list_sql(PROJECT_COLUMNS, "grid_projects", filter, &mut conditions);
        self.page(conditions, select, after, limit)
            .await?
            .iter()
            .map(project_from_row)
            .collect()
    }

    /// One page of `select` under `conditions`, newest first.
    async fn page(
        &self,
        mut conditions: Conditions,
        select: String,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<AnyRow>> {
        conditions.after(after);
        let limit = conditions.int(limit);
        let sql = format!(
            "{select} {} ORDER BY created_at DESC, id DESC LIMIT {limit}",
            conditions.clause()
        );
        conditions.fetch(&self.db, sql).await
    }
}

/// A match needs an open need and an available resource.
fn require_free(need: &Need, resource: &Resource) -> Result<()> {
    if need.state != NeedState::Open {
        return Err(precondition(
            "projects",
            "NEED_STATE",
            format!(
                "the need is {}: only an open need is matched",
                need.state.as_str()
            ),
        ));
    }
    if resource.state != ResourceState::Available {
        return Err(precondition(
            "projects",
            "RESOURCE_STATE",
            format!(
                "the resource is {}: only an available resource is matched",
                resource.state.as_str()
            ),
        ));
    }
    Ok(())
}
