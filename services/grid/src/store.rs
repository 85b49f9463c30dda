//! The grid service's SQL, and nothing else: grids, staff, categories, the calendar, and (in
//! `store/cases/`) cases with their history, change requests and escalations.

pub mod cases;
pub mod projects;
pub mod wishes;

use std::collections::BTreeMap;

use jiceng_db::{Database, Tx};
use jiceng_org_client::{
    OrgPath, PathHolder,
    paths::{self},
};
use serde_json::{Value, json};
use sqlx::{Row as _, any::AnyRow};

use crate::domain::{
    Layer, Point, StaffRole,
    calendar::{ClockKind, WorkCalendar},
    category::{Attribute, AttributeKind, Category, Limits},
};

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

fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_owned(),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(crate) use jiceng_org_client::paths::subtree_range;

/// A WHERE clause made of only the filters a list has, each an index condition (rather than
/// `$1 = '' OR …`, which no planner can use), with its values in placeholder order.
#[derive(Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    values: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl Conditions {
    /// The placeholder of a text value.
    pub(crate) fn text(&mut self, value: impl Into<String>) -> String {
        self.values.push(Param::Text(value.into()));
        format!("${}", self.values.len())
    }

    /// The placeholder of an integer value.
    pub(crate) fn int(&mut self, value: i64) -> String {
        self.values.push(Param::Int(value));
        format!("${}", self.values.len())
    }

    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// Rows in the subtree at `path`.
    pub(crate) fn subtree(&mut self, path: &str) {
        let (lo, hi) = subtree_range(path);
        let (lo, hi) = (self.text(lo), self.text(hi));
        self.push(format!("org_path >= {lo} AND org_path < {hi}"));
    }

    /// Rows after a page position in `created_at DESC, id DESC` order.
    pub(crate) fn after(&mut self, after: Option<(i64, String)>) {
        if let Some((time, id)) = after {
            let (time, id) = (self.int(time), self.text(id));
            self.push(format!(
                "(created_at < {time} OR (created_at = {time} AND id < {id}))"
            ));
        }
    }

    /// `WHERE …`, or nothing without conditions.
    pub(crate) fn clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub(crate) async fn fetch(self, db: &Database, sql: String) -> Result<Vec<AnyRow>> {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = self
            .values
            .into_iter()
            .fold(query, |query, value| match value {
                Param::Text(text) => query.bind(text),
                Param::Int(int) => query.bind(int),
            });
        Ok(query.fetch_all(db.pool()).await?)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub id: String,
    pub code: String,
    pub name: String,
    pub layer: Layer,
    pub org_id: String,
    pub org_path: String,
    pub polygon: Vec<Point>,
    pub created_at: i64,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub grid_id: String,
    pub subject: String,
    pub name: String,
    pub role: StaffRole,
    pub since: i64,
}

#[derive(Clone, Debug)]
pub struct GridStore {
    db: Database,
    event_source: String,
}

const GRID_COLUMNS: &str = "id, code, name, layer, org_id, org_path, polygon, created_at";

fn grid_from_row(row: &AnyRow) -> Result<Grid> {
    let layer: String = row.try_get(3)?;
    let polygon: Option<String> = row.try_get(6)?;
    let polygon = match polygon {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<(f64, f64)>>(&text)
            .map_err(|_| corrupt("grid polygon"))?
            .into_iter()
            .map(|(latitude, longitude)| Point {
                latitude,
                longitude,
            })
            .collect(),
    };
    Ok(Grid {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        name: row.try_get(2)?,
        layer: Layer::parse(&layer).ok_or_else(|| corrupt("grid layer"))?,
        org_id: row.try_get(4)?,
        org_path: row.try_get(5)?,
        polygon,
        created_at: row.try_get(7)?,
    })
}

fn staff_from_row(row: &AnyRow) -> Result<Staff> {
    let role: String = row.try_get(3)?;
    Ok(Staff {
        grid_id: row.try_get(0)?,
        subject: row.try_get(1)?,
        name: row.try_get(2)?,
        role: StaffRole::parse(&role).ok_or_else(|| corrupt("staff role"))?,
        since: row.try_get(4)?,
    })
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

fn category_from_row(row: &AnyRow) -> Result<Category> {
    let attributes: String = row.try_get(2)?;
    let clock: String = row.try_get(4)?;
    let limits: String = row.try_get(5)?;
    let bad = || corrupt("category");
    let attributes: Value = serde_json::from_str(&attributes).map_err(|_| bad())?;
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
    let limits: Value = serde_json::from_str(&limits).map_err(|_| bad())?;
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
        code: row.try_get(0)?,
        name: row.try_get(1)?,
        attributes,
        default_handler_kind: row.try_get(3)?,
        clock: ClockKind::parse(&clock).ok_or_else(bad)?,
        limits,
    })
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

    /// Creates a grid; its code is unique in the district (ALREADY_EXISTS otherwise).
    pub async fn create_grid(&self, new: &NewGrid) -> Result<Grid> {
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
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRID_COLUMNS} FROM grid_grids WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| not_found("grid", id))?;
        grid_from_row(&row)
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
        sqlx::query(sqlx::AssertSqlSafe(format!(
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
        .iter()
        .map(grid_from_row)
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
        let row = sqlx::query(
            "SELECT grid_id, subject, name, role, since FROM grid_staff WHERE grid_id = $1 AND subject = $2",
        )
        .bind(grid_id)
        .bind(subject)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        staff_from_row(&row)
    }

    pub async fn remove_staff(&self, grid_id: &str, subject: &str) -> Result<()> {
        let removed = sqlx::query("DELETE FROM grid_staff WHERE grid_id = $1 AND subject = $2")
            .bind(grid_id)
            .bind(subject)
            .execute(self.db.pool())
            .await?;
        if removed.rows_affected() == 0 {
            return Err(not_found("grid staff", subject));
        }
        Ok(())
    }

    pub async fn staff(&self, grid_id: &str) -> Result<Vec<Staff>> {
        sqlx::query(
            "SELECT grid_id, subject, name, role, since FROM grid_staff WHERE grid_id = $1 ORDER BY since, subject",
        )
        .bind(grid_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(staff_from_row)
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
        sqlx::query(
            "SELECT code, name, attributes, default_handler_kind, clock, limits FROM grid_categories ORDER BY code",
        )
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(category_from_row)
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
        sqlx::query("SELECT day, working, note FROM grid_calendar WHERE day >= $1 AND day <= $2 ORDER BY day")
            .bind(from)
            .bind(to)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|row| {
                let working: i64 = row.try_get(1)?;
                Ok((row.try_get(0)?, working != 0, row.try_get(2)?))
            })
            .collect()
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

/// Takes `request_id` of `caller` for the new `kind` row `id`; when the caller sent it before,
/// returns the id of the row it made then (a retry gets the first result, not a second row).
pub(crate) async fn first_request(
    tx: &mut Tx,
    kind: &str,
    caller: &str,
    request_id: Option<&str>,
    id: &str,
) -> Result<Option<String>> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    let key = format!("{kind}/{request_id}");
    let taken = sqlx::query(
        "INSERT INTO grid_list_request_ids (caller, request_id, item_id) VALUES ($1, $2, $3)
         ON CONFLICT (caller, request_id) DO NOTHING",
    )
    .bind(caller)
    .bind(&key)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(None);
    }
    let first: String = sqlx::query(
        "SELECT item_id FROM grid_list_request_ids WHERE caller = $1 AND request_id = $2",
    )
    .bind(caller)
    .bind(&key)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    Ok(Some(first))
}

/// A category, read in the caller's transaction (a case's writes read it on their own
/// connection rather than take a second one while they hold the write lock).
pub(crate) async fn load_category(tx: &mut Tx, code: &str) -> Result<Category> {
    let row = sqlx::query(
        "SELECT code, name, attributes, default_handler_kind, clock, limits FROM grid_categories WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found("category", code))?;
    category_from_row(&row)
}

/// The working calendar, read in the caller's transaction.
pub(crate) async fn load_calendar(tx: &mut Tx) -> Result<WorkCalendar> {
    let days: BTreeMap<String, bool> = sqlx::query("SELECT day, working FROM grid_calendar")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| {
            let working: i64 = row.try_get(1)?;
            Ok((row.try_get(0)?, working != 0))
        })
        .collect::<Result<_>>()?;
    Ok(WorkCalendar::new(days))
}
