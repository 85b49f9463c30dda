//! The grid service's SQL, and nothing else: grids, staff, categories, the calendar, and (in
//! `store/cases/`) cases with their history, change requests and escalations.

pub mod cases;
pub mod projects;
pub mod wishes;

use std::{
    collections::BTreeMap,
    fmt::{Display, Write as _},
};

use jiceng_db::{Database, RequestIds, Tx};
use jiceng_org_client::{
    OrgPath, PathHolder,
    paths::{self},
};
use serde_json::{Value, json};
use sqlx::{
    Any, Arguments as _, Encode, Type,
    any::{AnyArguments, AnyRow},
    error::BoxDynError,
};

use crate::domain::{
    Layer, Point, StaffRole,
    calendar::{ClockKind, WorkCalendar},
    category::{Attribute, AttributeKind, Category, Limits},
};

pub use crate::domain::{Grid, Staff};
pub use jiceng_db::StoreError;

pub type Result<T> = std::result::Result<T, StoreError>;

/// The grid's rows that hold org paths: grids, cases (their owning org's), wishes, needs,
/// resources and projects (their need's org).
pub const ORG_PATH_HOLDERS: &[PathHolder] = &[
    PathHolder::ByOrg {
        table: "grid_grids",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "grid_cases",
        org_column: "owner_org_id",
    },
    PathHolder::ByOrg {
        table: "grid_wishes",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "grid_needs",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "grid_resources",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "grid_projects",
        org_column: "org_id",
    },
];

/// FAILED_PRECONDITION about `subject` ("cases", "wishes", "projects").
fn precondition(subject: &str, kind: &'static str, description: impl Into<String>) -> StoreError {
    StoreError::Precondition {
        kind,
        subject: subject.to_owned(),
        description: description.into(),
    }
}

pub(crate) use jiceng_org_client::paths::subtree_range;

/// A list's SELECT, with a WHERE made of only the filters the list has, each an index
/// condition (rather than `$1 = '' OR …`, which no planner can use), and its page.
///
/// It is built as sqlx's `QueryBuilder` is (`push`, `push_bind`), but `QueryBuilder<Any>`
/// writes `?` placeholders (`AnyArguments` keeps the default `format_placeholder`), which
/// PostgreSQL rejects: this one writes `$N`, numbered by the values bound before it.
pub(crate) struct ListQuery {
    sql: String,
    arguments: AnyArguments,
    /// Why a value could not be bound, returned by [`ListQuery::fetch`].
    unbound: Option<BoxDynError>,
    filtered: bool,
}

impl ListQuery {
    /// `SELECT columns FROM table`, filtered by what follows.
    pub(crate) fn select(columns: &str, table: &str) -> Self {
        Self {
            sql: format!("SELECT {columns} FROM {table}"),
            arguments: AnyArguments::default(),
            unbound: None,
            filtered: false,
        }
    }

    /// Starts a filter: `WHERE` before the first, `AND` before the others.
    pub(crate) fn filter(&mut self) -> &mut Self {
        let word = if self.filtered { " AND " } else { " WHERE " };
        self.filtered = true;
        self.push(word)
    }

    /// Appends SQL, never a value (see [`ListQuery::push_bind`]).
    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        // Writing to a String does not fail.
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Binds `value` and appends its placeholder.
    pub(crate) fn push_bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Any> + Type<Any>,
    {
        match self.arguments.add(value) {
            Ok(()) => {
                let placeholder = self.arguments.len();
                self.push(format_args!("${placeholder}"))
            }
            Err(err) => {
                self.unbound.get_or_insert(err);
                self
            }
        }
    }

    /// Rows in the subtree at `path`.
    pub(crate) fn subtree(&mut self, path: &str) -> &mut Self {
        let (lo, hi) = subtree_range(path);
        self.filter()
            .push("org_path >= ")
            .push_bind(lo)
            .push(" AND org_path < ")
            .push_bind(hi)
    }

    /// At most `limit` rows in `created_at DESC, id DESC` order, after the page position
    /// `after` in it.
    pub(crate) fn page(&mut self, after: Option<(i64, String)>, limit: i64) -> &mut Self {
        if let Some((time, id)) = after {
            self.filter()
                .push("(created_at < ")
                .push_bind(time)
                .push(" OR (created_at = ")
                .push_bind(time)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        self.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit)
    }

    /// The rows, read as `R` and made into `T`s.
    pub(crate) async fn fetch<R, T>(self, db: &Database) -> Result<Vec<T>>
    where
        R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        if let Some(err) = self.unbound {
            return Err(sqlx::Error::Encode(err).into());
        }
        sqlx::query_as_with::<_, R, _>(sqlx::AssertSqlSafe(self.sql), self.arguments)
            .fetch_all(db.pool())
            .await?
            .into_iter()
            .map(T::try_from)
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct NewGrid {
    pub code: String,
    pub name: String,
    pub layer: Layer,
    pub org_id: String,
    pub org_path: OrgPath,
    pub polygon: Vec<Point>,
}

#[derive(Clone, Debug)]
pub struct GridStore {
    db: Database,
    event_source: String,
}

const GRID_COLUMNS: &str = "id, code, name, layer, org_id, org_path, polygon, created_at";

/// A row of `grid_grids` as read: its fields are the columns of [`GRID_COLUMNS`].
#[derive(sqlx::FromRow)]
struct GridRow {
    id: String,
    code: String,
    name: String,
    layer: String,
    org_id: String,
    org_path: String,
    polygon: Option<String>,
    created_at: i64,
}

impl TryFrom<GridRow> for Grid {
    type Error = StoreError;

    fn try_from(row: GridRow) -> Result<Self> {
        let polygon = match row.polygon {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<(f64, f64)>>(&text)
                .map_err(|_| StoreError::corrupt("grid polygon"))?
                .into_iter()
                .map(|(latitude, longitude)| Point {
                    latitude,
                    longitude,
                })
                .collect(),
        };
        Ok(Grid {
            id: row.id,
            code: row.code,
            name: row.name,
            layer: Layer::parse(&row.layer).ok_or_else(|| StoreError::corrupt("grid layer"))?,
            org_id: row.org_id,
            org_path: row.org_path,
            polygon,
            created_at: row.created_at,
        })
    }
}

const STAFF_COLUMNS: &str = "grid_id, subject, name, role, since";

/// A row of `grid_staff` as read: its fields are the columns of [`STAFF_COLUMNS`].
#[derive(sqlx::FromRow)]
struct StaffRow {
    grid_id: String,
    subject: String,
    name: String,
    role: String,
    since: i64,
}

impl TryFrom<StaffRow> for Staff {
    type Error = StoreError;

    fn try_from(row: StaffRow) -> Result<Self> {
        Ok(Staff {
            grid_id: row.grid_id,
            subject: row.subject,
            name: row.name,
            role: StaffRole::parse(&row.role).ok_or_else(|| StoreError::corrupt("staff role"))?,
            since: row.since,
        })
    }
}

fn limits_to_json(limits: &Limits) -> Value {
    json!([
        limits.accept,
        limits.dispatch,
        limits.handle,
        limits.verify,
        limits.overall
    ])
}

fn limits_from_json(value: &Value) -> Option<Limits> {
    let list: Vec<i64> = value
        .as_array()?
        .iter()
        .map(Value::as_i64)
        .collect::<Option<_>>()?;
    let [accept, dispatch, handle, verify, overall] = list.as_slice() else {
        return None;
    };
    Some(Limits {
        accept: *accept,
        dispatch: *dispatch,
        handle: *handle,
        verify: *verify,
        overall: *overall,
    })
}

const CATEGORY_COLUMNS: &str = "code, name, attributes, default_handler_kind, clock, limits";

/// A row of `grid_categories` as read: its fields are the columns of [`CATEGORY_COLUMNS`].
#[derive(sqlx::FromRow)]
struct CategoryRow {
    code: String,
    name: String,
    attributes: String,
    default_handler_kind: String,
    clock: String,
    limits: String,
}

impl TryFrom<CategoryRow> for Category {
    type Error = StoreError;

    fn try_from(row: CategoryRow) -> Result<Self> {
        let bad = || StoreError::corrupt("category");
        let attributes: Value = serde_json::from_str(&row.attributes).map_err(|_| bad())?;
        let attributes = attributes
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|a| {
                Some(Attribute {
                    code: a["code"].as_str()?.to_owned(),
                    name: a["name"].as_str()?.to_owned(),
                    kind: AttributeKind::parse(a["kind"].as_str()?)?,
                    required: a["required"].as_bool()?,
                    choices: a["choices"]
                        .as_array()?
                        .iter()
                        .map(|c| c.as_str().map(str::to_owned))
                        .collect::<Option<_>>()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        let limits: Value = serde_json::from_str(&row.limits).map_err(|_| bad())?;
        let limits = limits
            .as_array()
            .filter(|tiers| tiers.len() == 3)
            .and_then(|tiers| {
                Some([
                    limits_from_json(&tiers[0])?,
                    limits_from_json(&tiers[1])?,
                    limits_from_json(&tiers[2])?,
                ])
            })
            .ok_or_else(bad)?;
        Ok(Category {
            code: row.code,
            name: row.name,
            attributes,
            default_handler_kind: row.default_handler_kind,
            clock: ClockKind::parse(&row.clock).ok_or_else(bad)?,
            limits,
        })
    }
}

impl GridStore {
    pub fn new(db: Database, event_source: String) -> Self {
        Self { db, event_source }
    }

    /// The time the store acts at (its database's clock).
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Creates a grid; its code is unique in the district (ALREADY_EXISTS otherwise). A retried
    /// `request_id` of the same caller returns the first grid.
    pub async fn create_grid(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewGrid,
    ) -> Result<Grid> {
        let now = self.db.now();
        let id = uuid::Uuid::now_v7().to_string();
        let polygon = (!new.polygon.is_empty()).then(|| {
            serde_json::to_string(
                &new.polygon
                    .iter()
                    .map(|p| (p.latitude, p.longitude))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default()
        });
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "CreateGrid", &id, now)
            .await?
        {
            tx.commit().await?;
            return self.grid(&first).await;
        }
        let inserted = sqlx::query(
            "INSERT INTO grid_grids (id, code, name, layer, org_id, org_path, polygon, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (code) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.code)
        .bind(&new.name)
        .bind(new.layer.as_str())
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(polygon)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a grid with code {} exists",
                new.code
            )));
        }
        tx.commit().await?;
        self.grid(&id).await
    }

    pub async fn grid(&self, id: &str) -> Result<Grid> {
        sqlx::query_as::<_, GridRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {GRID_COLUMNS} FROM grid_grids WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("grid", id))?
        .try_into()
    }

    /// The grids of the subtree at `org_path`, by code, after `after_code`.
    pub async fn list_grids(
        &self,
        org_path: &str,
        layer: Option<Layer>,
        after_code: &str,
        limit: i64,
    ) -> Result<Vec<Grid>> {
        let (lo, hi) = subtree_range(org_path);
        sqlx::query_as::<_, GridRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {GRID_COLUMNS} FROM grid_grids
             WHERE org_path >= $1 AND org_path < $2 AND ($3 = '' OR layer = $3) AND code > $4
             ORDER BY code LIMIT $5"
        )))
        .bind(&lo)
        .bind(&hi)
        .bind(layer.map(Layer::as_str).unwrap_or_default())
        .bind(after_code)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(Grid::try_from)
        .collect()
    }

    /// Stations someone in a grid, or changes their role there (keeping their start date).
    pub async fn assign_staff(
        &self,
        grid_id: &str,
        subject: &str,
        name: &str,
        role: StaffRole,
    ) -> Result<Staff> {
        self.grid(grid_id).await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO grid_staff (grid_id, subject, name, role, since) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (grid_id, subject) DO UPDATE SET name = excluded.name, role = excluded.role",
        )
        .bind(grid_id)
        .bind(subject)
        .bind(name)
        .bind(role.as_str())
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {STAFF_COLUMNS} FROM grid_staff WHERE grid_id = $1 AND subject = $2"
        )))
        .bind(grid_id)
        .bind(subject)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn remove_staff(&self, grid_id: &str, subject: &str) -> Result<()> {
        let removed = sqlx::query("DELETE FROM grid_staff WHERE grid_id = $1 AND subject = $2")
            .bind(grid_id)
            .bind(subject)
            .execute(self.db.pool())
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::not_found("grid staff", subject));
        }
        Ok(())
    }

    pub async fn staff(&self, grid_id: &str) -> Result<Vec<Staff>> {
        sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {STAFF_COLUMNS} FROM grid_staff WHERE grid_id = $1 ORDER BY since, subject"
        )))
        .bind(grid_id)
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(Staff::try_from)
        .collect()
    }

    /// Whether `subject` is stationed in `grid_id`.
    pub async fn is_staff(&self, grid_id: &str, subject: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM grid_staff WHERE grid_id = $1 AND subject = $2")
                .bind(grid_id)
                .bind(subject)
                .fetch_optional(self.db.pool())
                .await?
                .is_some(),
        )
    }

    /// Defines a category, or replaces its definition: cases already reported keep the
    /// deadlines they were given.
    pub async fn define_category(&self, category: &Category) -> Result<Category> {
        let attributes: Vec<Value> = category
            .attributes
            .iter()
            .map(|a| {
                json!({
                    "code": a.code, "name": a.name, "kind": a.kind.as_str(),
                    "required": a.required, "choices": a.choices,
                })
            })
            .collect();
        let limits: Vec<Value> = category.limits.iter().map(limits_to_json).collect();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO grid_categories (code, name, attributes, default_handler_kind, clock, limits, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, attributes = excluded.attributes,
                 default_handler_kind = excluded.default_handler_kind, clock = excluded.clock,
                 limits = excluded.limits, updated_at = excluded.updated_at",
        )
        .bind(&category.code)
        .bind(&category.name)
        .bind(Value::Array(attributes).to_string())
        .bind(&category.default_handler_kind)
        .bind(category.clock.as_str())
        .bind(Value::Array(limits).to_string())
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.category(&category.code).await
    }

    pub async fn category(&self, code: &str) -> Result<Category> {
        let mut tx = self.db.begin().await?;
        let category = load_category(&mut tx, code).await?;
        tx.commit().await?;
        Ok(category)
    }

    pub async fn categories(&self) -> Result<Vec<Category>> {
        sqlx::query_as::<_, CategoryRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CATEGORY_COLUMNS} FROM grid_categories ORDER BY code"
        )))
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(Category::try_from)
        .collect()
    }

    /// Marks a day as working or not (`Some`), or clears the mark (`None`).
    pub async fn set_calendar_day(
        &self,
        day: &str,
        working: Option<bool>,
        note: &str,
    ) -> Result<()> {
        match working {
            Some(working) => {
                sqlx::query(
                    "INSERT INTO grid_calendar (day, working, note) VALUES ($1, $2, $3)
                     ON CONFLICT (day) DO UPDATE SET working = excluded.working, note = excluded.note",
                )
                .bind(day)
                .bind(i64::from(working))
                .bind(note)
                .execute(self.db.pool())
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM grid_calendar WHERE day = $1")
                    .bind(day)
                    .execute(self.db.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// The marked days from `from` to `to` (inclusive): (day, working, note).
    pub async fn calendar_days(&self, from: &str, to: &str) -> Result<Vec<(String, bool, String)>> {
        let days: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT day, working, note FROM grid_calendar WHERE day >= $1 AND day <= $2 ORDER BY day",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await?;
        Ok(days
            .into_iter()
            .map(|(day, working, note)| (day, working != 0, note))
            .collect())
    }

    /// The district's working calendar.
    pub async fn calendar(&self) -> Result<WorkCalendar> {
        let mut tx = self.db.begin().await?;
        let calendar = load_calendar(&mut tx).await?;
        tx.commit().await?;
        Ok(calendar)
    }
}

impl GridStore {
    /// Gives the grids, cases, wishes, needs, resources and projects below a moved unit the
    /// unit's path now (see [`paths::repath`]).
    pub async fn repath(&self, unit_id: &str, unit_path: &OrgPath) -> Result<u64> {
        Ok(paths::repath(&self.db, ORG_PATH_HOLDERS, unit_id, unit_path).await?)
    }
}

/// Where the grid service keeps its callers' request ids.
pub(crate) const REQUEST_IDS: RequestIds = RequestIds::new("grid_requests");

/// A category, read in the caller's transaction (a case's writes read it on their own
/// connection rather than take a second one while they hold the write lock).
pub(crate) async fn load_category(tx: &mut Tx, code: &str) -> Result<Category> {
    sqlx::query_as::<_, CategoryRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CATEGORY_COLUMNS} FROM grid_categories WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("category", code))?
    .try_into()
}

/// The working calendar, read in the caller's transaction.
pub(crate) async fn load_calendar(tx: &mut Tx) -> Result<WorkCalendar> {
    let days: Vec<(String, i64)> = sqlx::query_as("SELECT day, working FROM grid_calendar")
        .fetch_all(&mut **tx)
        .await?;
    let days: BTreeMap<String, bool> = days
        .into_iter()
        .map(|(day, working)| (day, working != 0))
        .collect();
    Ok(WorkCalendar::new(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_numbers_its_placeholders_in_the_order_of_its_values() {
        let mut query = ListQuery::select("id", "t");
        query.page(None, 10);
        assert_eq!(
            query.sql,
            "SELECT id FROM t ORDER BY created_at DESC, id DESC LIMIT $1"
        );

        let mut query = ListQuery::select("id", "t");
        query.subtree("/1/");
        query.filter().push("state = ").push_bind("open");
        query.page(Some((5, "x".into())), 10);
        assert_eq!(
            query.sql,
            "SELECT id FROM t WHERE org_path >= $1 AND org_path < $2 AND state = $3 \
             AND (created_at < $4 OR (created_at = $5 AND id < $6)) \
             ORDER BY created_at DESC, id DESC LIMIT $7"
        );
        assert_eq!(query.arguments.len(), 7);
    }
}
