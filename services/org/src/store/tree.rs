//! The organisation tree.
//!
//! Structural writes (create, move, dissolve) take the tree lock so that a move never races a
//! create or dissolution below it: creates share the lock, moves and dissolutions hold it alone.

use std::time::Duration;

use jiceng_db::{LockMode, Target, Tx};
use serde_json::json;

use super::snapshot::TreeSnapshot;
use super::{
    Mutation, OrgStore, Result, StoreError, UNIT_COLUMNS, UnitRow, audit, claim_request,
    fetch_unit, precondition, record_affected,
};
use crate::domain::{
    KindSchema, NameQuery, TreeGenerations, Unit, UnitCode, UnitId, UnitKind, UnitName,
    subtree_range,
};
use crate::events;

/// A precondition failure about a unit, named `units/<id>`.
fn unit_precondition(
    kind: &'static str,
    unit: &UnitId,
    description: impl Into<String>,
) -> StoreError {
    precondition(kind, format_args!("units/{unit}"), description)
}

/// A row of [`UNIT_COLUMNS`] followed by `generation`: its fields are those columns.
#[derive(sqlx::FromRow)]
struct UnitAtGenerationRow {
    #[sqlx(flatten)]
    unit: UnitRow,
    generation: i64,
}

/// The key of the tree lock (see [`jiceng_db::Database::lock`]).
const TREE_LOCK: i64 = 0x6f72_675f_7472_6565;

/// The fields of an update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UnitChanges {
    pub name: Option<UnitName>,
    pub code: Option<Option<UnitCode>>,
}

/// A filter over a subtree.
#[derive(Clone, Debug, Default)]
pub struct SubtreeFilter {
    /// Levels below the subtree root to include; `None` for all.
    pub max_depth: Option<i64>,
    /// Only these kinds; all when empty.
    pub kinds: Vec<UnitKind>,
    pub include_dissolved: bool,
}

impl SubtreeFilter {
    /// Whether `unit`, in the subtree of `root`, passes: what the SQL of a subtree read checks.
    pub(super) fn admits(&self, root: &Unit, unit: &Unit) -> bool {
        (self.include_dissolved || unit.is_active())
            && self
                .max_depth
                .is_none_or(|max| unit.depth <= root.depth + max)
            && (self.kinds.is_empty() || self.kinds.contains(&unit.kind))
    }
}

impl OrgStore {
    /// The district root, created as `id` when the tree is empty. Starting twice, or two
    /// replicas starting together, yields one root; a root made before keeps its id.
    pub async fn ensure_root(
        &self,
        id: &UnitId,
        kind: UnitKind,
        name: &UnitName,
        code: Option<&UnitCode>,
    ) -> Result<Unit> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, TREE_LOCK, LockMode::Exclusive)
            .await?;
        if let Some(root) = fetch_root(&mut tx).await? {
            tx.commit().await?;
            return Ok(root);
        }
        let now = self.db.now();
        let path = format!("/{id}/");
        insert_unit(&mut tx, id, None, kind, name, code, &path, 0, now).await?;
        let root = fetch_unit(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        tracing::info!(root = %root.id, name = root.name.as_str(), "district root created");
        Ok(root)
    }

    pub async fn root(&self) -> Result<Option<Unit>> {
        let mut tx = self.db.begin().await?;
        let root = fetch_root(&mut tx).await?;
        tx.commit().await?;
        Ok(root)
    }

    #[tracing::instrument(name = "org.store.get", skip_all, fields(unit.id = %id))]
    pub async fn get(&self, id: &UnitId) -> Result<Unit> {
        let row = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {UNIT_COLUMNS} FROM org_units WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(Unit::try_from)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("unit", id.to_string()))
    }

    /// A unit and the tree's generation it was read at, in one statement so that both are of
    /// one moment: what other services cache ancestry by.
    pub async fn get_with_generation(&self, id: &UnitId) -> Result<(Unit, i64)> {
        let row = sqlx::query_as::<_, UnitAtGenerationRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {UNIT_COLUMNS},
                 (SELECT generation FROM org_tree_generation WHERE id = 1) AS generation
             FROM org_units WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("unit", id.to_string()))?;
        Ok((Unit::try_from(row.unit)?, row.generation))
    }

    /// The tree's generation now and the generation its last move committed at.
    pub async fn generations(&self) -> Result<TreeGenerations> {
        let (generation, paths_generation) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT generation, paths_generation FROM org_tree_generation WHERE id = 1",
        )
        .fetch_one(self.db.pool())
        .await?;
        Ok(TreeGenerations {
            generation,
            paths_generation,
        })
    }

    /// The current kind schema: defaults plus the district's extensions.
    pub async fn kind_schema(&self) -> Result<KindSchema> {
        let mut tx = self.db.begin().await?;
        let schema = load_schema(&mut tx).await?;
        tx.commit().await?;
        Ok(schema)
    }

    #[tracing::instrument(name = "org.store.create", skip_all, fields(parent.id = %parent_id))]
    pub async fn create(
        &self,
        mutation: &Mutation,
        parent_id: &UnitId,
        kind: UnitKind,
        name: &UnitName,
        code: Option<&UnitCode>,
    ) -> Result<Unit> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        self.db.lock(&mut tx, TREE_LOCK, LockMode::Shared).await?;
        let id = UnitId::new_v7();
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "CreateUnit",
            Target::New(id.as_str()),
        )
        .await?
        {
            return self.replay(tx, replay).await.map(|(unit, _)| unit);
        }
        let parent = fetch_unit(&mut tx, parent_id.as_str())
            .await
            .map_err(|err| match err {
                StoreError::NotFound { .. } => {
                    StoreError::not_found("parent unit", parent_id.to_string())
                }
                other => other,
            })?;
        if !parent.is_active() {
            return Err(unit_precondition(
                "DISSOLVED",
                &parent.id,
                "the parent unit is dissolved",
            ));
        }
        let schema = load_schema(&mut tx).await?;
        if !schema.allows(parent.kind, kind) {
            return Err(unit_precondition(
                "KIND_RULE",
                &parent.id,
                format!(
                    "a {} may not sit under a {}",
                    kind.as_str(),
                    parent.kind.as_str()
                ),
            ));
        }
        let path = format!("{}{id}/", parent.path);
        insert_unit(
            &mut tx,
            &id,
            Some(&parent.id),
            kind,
            name,
            code,
            &path,
            parent.depth + 1,
            now,
        )
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "CreateUnit",
            &id,
            json!({
                "parent_id": parent.id.as_str(), "kind": kind.as_str(), "name": name.as_str(),
                "code": code.map(UnitCode::as_str),
            }),
        )
        .await?;
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        Ok(unit)
    }

    #[tracing::instrument(name = "org.store.update", skip_all, fields(unit.id = %id))]
    pub async fn update(
        &self,
        mutation: &Mutation,
        id: &UnitId,
        expected_version: Option<i64>,
        changes: &UnitChanges,
    ) -> Result<Unit> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "UpdateUnit",
            Target::Existing(id.as_str()),
        )
        .await?
        {
            return self.replay(tx, replay).await.map(|(unit, _)| unit);
        }
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        check_version(&unit, expected_version)?;
        if !unit.is_active() {
            return Err(unit_precondition(
                "DISSOLVED",
                &unit.id,
                "a dissolved unit cannot be changed",
            ));
        }
        let name = changes.name.as_ref().unwrap_or(&unit.name);
        let code = changes.code.as_ref().unwrap_or(&unit.code);
        let updated = sqlx::query(
            "UPDATE org_units SET name = $1, code = $2, version = version + 1, updated_at = $3
             WHERE id = $4 AND version = $5",
        )
        .bind(name.as_str())
        .bind(code.as_ref().map(|c| c.as_str().to_owned()))
        .bind(now)
        .bind(id.as_str())
        .bind(unit.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::conflict_on_unique(CODE_TAKEN))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale { what: "unit" });
        }
        audit(&mut tx, now, mutation, "UpdateUnit", id, json!({
            "name": { "from": unit.name.as_str(), "to": name.as_str() },
            "code": { "from": unit.code.as_ref().map(UnitCode::as_str), "to": code.as_ref().map(UnitCode::as_str) },
        }))
        .await?;
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        Ok(unit)
    }

    /// Moves a unit with its subtree under `new_parent_id`: one statement re-paths every
    /// descendant, and an event tells scope caches the subtree moved.
    #[tracing::instrument(name = "org.store.move", skip_all, fields(unit.id = %id, new_parent.id = %new_parent_id))]
    pub async fn move_unit(
        &self,
        mutation: &Mutation,
        id: &UnitId,
        new_parent_id: &UnitId,
        expected_version: Option<i64>,
    ) -> Result<Unit> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, TREE_LOCK, LockMode::Exclusive)
            .await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "MoveUnit",
            Target::Existing(id.as_str()),
        )
        .await?
        {
            return self.replay(tx, replay).await.map(|(unit, _)| unit);
        }
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        check_version(&unit, expected_version)?;
        let new_parent =
            fetch_unit(&mut tx, new_parent_id.as_str())
                .await
                .map_err(|err| match err {
                    StoreError::NotFound { .. } => {
                        StoreError::not_found("new parent unit", new_parent_id.to_string())
                    }
                    other => other,
                })?;
        let Some(old_parent_id) = unit.parent_id.clone() else {
            return Err(unit_precondition(
                "ROOT",
                &unit.id,
                "the district root cannot be moved",
            ));
        };
        if !unit.is_active() || !new_parent.is_active() {
            return Err(unit_precondition(
                "DISSOLVED",
                &unit.id,
                "dissolved units cannot be moved or receive units",
            ));
        }
        if unit.contains(&new_parent) {
            return Err(unit_precondition(
                "CYCLE",
                &unit.id,
                "a unit cannot be moved into its own subtree",
            ));
        }
        if old_parent_id == new_parent.id {
            tx.commit().await?;
            return Ok(unit);
        }
        let schema = load_schema(&mut tx).await?;
        if !schema.allows(new_parent.kind, unit.kind) {
            return Err(unit_precondition(
                "KIND_RULE",
                &new_parent.id,
                format!(
                    "a {} may not sit under a {}",
                    unit.kind.as_str(),
                    new_parent.kind.as_str()
                ),
            ));
        }
        let new_path = format!("{}{}/", new_parent.path, unit.id);
        let (lo, hi) = subtree_range(&unit.path);
        let moved = sqlx::query(
            "UPDATE org_units
             SET path = $1 || substr(path, CAST($2 AS INTEGER)), depth = depth + $3,
                 version = version + 1, updated_at = $4
             WHERE path >= $5 AND path < $6",
        )
        .bind(new_path.as_str())
        .bind(unit.path.len() as i64 + 1)
        .bind(new_parent.depth + 1 - unit.depth)
        .bind(now)
        .bind(lo)
        .bind(hi)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE org_units SET parent_id = $1 WHERE id = $2")
            .bind(new_parent.id.as_str())
            .bind(unit.id.as_str())
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "MoveUnit",
            &unit.id,
            json!({
                "from_parent_id": old_parent_id.as_str(), "to_parent_id": new_parent.id.as_str(),
                "units_moved": moved.rows_affected(),
            }),
        )
        .await?;
        // Under the exclusive tree lock no other change interleaves: the generation read here is
        // the one this move commits at.
        let generation: i64 = sqlx::query_scalar(
            "UPDATE org_tree_generation SET paths_generation = generation WHERE id = 1
             RETURNING generation",
        )
        .fetch_one(&mut *tx)
        .await?;
        let event = events::unit_moved(&unit, &old_parent_id, &new_parent.id, generation);
        jiceng_outbox::enqueue(&mut tx, &self.event_source, event).await?;
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        Ok(unit)
    }

    /// Dissolves a unit (and with `cascade` its active subtree); returns it and how many units
    /// were dissolved.
    #[tracing::instrument(name = "org.store.dissolve", skip_all, fields(unit.id = %id, cascade))]
    pub async fn dissolve(
        &self,
        mutation: &Mutation,
        id: &UnitId,
        cascade: bool,
        expected_version: Option<i64>,
    ) -> Result<(Unit, i64)> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(&mut tx, TREE_LOCK, LockMode::Exclusive)
            .await?;
        if let Some(replay) = claim_request(
            &mut tx,
            now,
            mutation,
            "DissolveUnit",
            Target::Existing(id.as_str()),
        )
        .await?
        {
            return self.replay(tx, replay).await;
        }
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        check_version(&unit, expected_version)?;
        if unit.parent_id.is_none() {
            return Err(unit_precondition(
                "ROOT",
                &unit.id,
                "the district root cannot be dissolved",
            ));
        }
        if !unit.is_active() {
            return Err(unit_precondition(
                "DISSOLVED",
                &unit.id,
                "the unit is already dissolved",
            ));
        }
        let (lo, hi) = subtree_range(&unit.path);
        let active_below: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM org_units WHERE path > $1 AND path < $2 AND status = 'active'",
        )
        .bind(lo.as_str())
        .bind(hi.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if active_below > 0 && !cascade {
            return Err(unit_precondition(
                "ACTIVE_CHILDREN",
                &unit.id,
                format!(
                    "the unit has {active_below} active units below it; dissolve them first or cascade"
                ),
            ));
        }
        let dissolved = sqlx::query(
            "UPDATE org_units SET status = 'dissolved', version = version + 1, updated_at = $1
             WHERE path >= $2 AND path < $3 AND status = 'active'",
        )
        .bind(now)
        .bind(lo)
        .bind(hi)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        record_affected(&mut tx, mutation, id.as_str(), dissolved).await?;
        audit(
            &mut tx,
            now,
            mutation,
            "DissolveUnit",
            &unit.id,
            json!({ "cascade": cascade, "units_dissolved": dissolved }),
        )
        .await?;
        let unit = fetch_unit(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        Ok((unit, dissolved))
    }

    /// Direct children ordered by (name, id), after the cursor `(name, id)` when given.
    #[tracing::instrument(name = "org.store.children", skip_all, fields(parent.id = %parent.id))]
    pub async fn children(
        &self,
        parent: &Unit,
        include_dissolved: bool,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Unit>> {
        let status = if include_dissolved {
            ""
        } else {
            "AND status = 'active'"
        };
        let sql = format!(
            "SELECT {UNIT_COLUMNS} FROM org_units
             WHERE parent_id = $1 {status} AND (name > $2 OR (name = $2 AND id > $3))
             ORDER BY name, id LIMIT $4"
        );
        let (after_name, after_id) = after.unwrap_or(("", ""));
        let rows = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(sql))
            .bind(parent.id.as_str())
            .bind(after_name)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(Unit::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// A subtree in pre-order (path order), the root first, after the path `after` when given.
    #[tracing::instrument(name = "org.store.subtree", skip_all, fields(root.id = %root.id))]
    pub async fn subtree(
        &self,
        root: &Unit,
        filter: &SubtreeFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Unit>> {
        let generation = self.tree_generation().await?;
        if let Some(snapshot) = self.snapshots.at(generation) {
            return Ok(snapshot.subtree(root, filter, after, limit));
        }
        if self.snapshots.begin_load() {
            let store = self.clone();
            tokio::spawn(async move {
                if let Err(err) = store.load_tree_snapshot_now().await {
                    tracing::warn!(error = %err, "cannot load the tree into memory");
                }
            });
        }
        self.range_query(root, filter, None, after, limit).await
    }

    /// Loads the whole tree into memory now, rather than after the first subtree read that
    /// finds the copy stale (see the `snapshot` module).
    pub async fn load_tree_snapshot(&self) -> Result<()> {
        while !self.snapshots.begin_load() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.load_tree_snapshot_now().await
    }

    /// Reads the tree and keeps it; ends the load [`OrgStore::subtree`] or
    /// [`OrgStore::load_tree_snapshot`] began, whatever the outcome.
    async fn load_tree_snapshot_now(&self) -> Result<()> {
        let (read, outcome) = match self.whole_tree().await {
            Ok(read) => (read, Ok(())),
            Err(err) => (None, Err(err)),
        };
        self.snapshots.finish_load(read);
        outcome
    }

    /// Every unit and the generation, in one statement so that both are of one moment; `None`
    /// for a tree without units.
    async fn whole_tree(&self) -> Result<Option<TreeSnapshot>> {
        let rows = sqlx::query_as::<_, UnitAtGenerationRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {UNIT_COLUMNS},
                 (SELECT generation FROM org_tree_generation WHERE id = 1) AS generation
             FROM org_units ORDER BY path"
        )))
        .fetch_all(self.db.pool())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(TreeSnapshot {
            generation: first.generation,
            units: rows
                .into_iter()
                .map(|row| Unit::try_from(row.unit))
                .collect::<std::result::Result<_, _>>()?,
        }))
    }

    /// The tree's generation, which every change to a unit bumps.
    async fn tree_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT generation FROM org_tree_generation WHERE id = 1")
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    /// Units of the subtree of `scope` whose name contains `query`, in path order.
    #[tracing::instrument(name = "org.store.search", skip_all, fields(scope.id = %scope.id))]
    pub async fn search(
        &self,
        scope: &Unit,
        query: &NameQuery,
        filter: &SubtreeFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Unit>> {
        self.range_query(scope, filter, Some(query), after, limit)
            .await
    }

    async fn range_query(
        &self,
        root: &Unit,
        filter: &SubtreeFilter,
        name: Option<&NameQuery>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Unit>> {
        let (lo, hi) = subtree_range(&root.path);
        let mut sql = format!(
            "SELECT {UNIT_COLUMNS} FROM org_units WHERE path >= $1 AND path < $2 AND path > $3"
        );
        let mut next = 4;
        let mut placeholder = || {
            next += 1;
            format!("${}", next - 1)
        };
        if !filter.include_dissolved {
            sql.push_str(" AND status = 'active'");
        }
        if filter.max_depth.is_some() {
            sql.push_str(&format!(" AND depth <= {}", placeholder()));
        }
        if !filter.kinds.is_empty() {
            let list: Vec<String> = filter.kinds.iter().map(|_| placeholder()).collect();
            sql.push_str(&format!(" AND kind IN ({})", list.join(", ")));
        }
        if name.is_some() {
            sql.push_str(&format!(" AND name LIKE {} ESCAPE '\\'", placeholder()));
        }
        sql.push_str(&format!(" ORDER BY path LIMIT {}", placeholder()));
        let mut query = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(sql))
            .bind(lo)
            .bind(hi)
            .bind(after.unwrap_or(""));
        if let Some(max_depth) = filter.max_depth {
            query = query.bind(root.depth + max_depth);
        }
        for kind in &filter.kinds {
            query = query.bind(kind.as_str());
        }
        if let Some(name) = name {
            query = query.bind(name.like_pattern());
        }
        let rows = query.bind(limit).fetch_all(self.db.pool()).await?;
        Ok(rows
            .into_iter()
            .map(Unit::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The units from the root down to `unit`, read by the ids on its path.
    #[tracing::instrument(name = "org.store.ancestry", skip_all, fields(unit.id = %unit.id))]
    pub async fn ancestry(&self, unit: &Unit) -> Result<Vec<Unit>> {
        let ids = unit.ancestor_ids();
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {UNIT_COLUMNS} FROM org_units WHERE id IN ({}) ORDER BY depth",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        Ok(rows
            .into_iter()
            .map(Unit::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Lets `child` sit under `parent` in this district.
    pub async fn add_kind_rule(
        &self,
        mutation: &Mutation,
        parent: UnitKind,
        child: UnitKind,
    ) -> Result<()> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        // The pair is the target: the same key for another pair is refused.
        let pair = format!("{}>{}", parent.as_str(), child.as_str());
        if claim_request(
            &mut tx,
            now,
            mutation,
            "AddKindRule",
            Target::Existing(&pair),
        )
        .await?
        .is_some()
        {
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO org_kind_rules (parent_kind, child_kind, created_by, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (parent_kind, child_kind) DO NOTHING",
        )
        .bind(parent.as_str())
        .bind(child.as_str())
        .bind(mutation.actor.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let target = format!("kind:{}", parent.as_str());
        audit(
            &mut tx,
            now,
            mutation,
            "AddKindRule",
            &target,
            json!({ "parent_kind": parent.as_str(), "child_kind": child.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A change made on a version read earlier applies only while the unit is still at it.
fn check_version(unit: &Unit, expected_version: Option<i64>) -> Result<()> {
    match expected_version {
        Some(version) if version != unit.version => Err(StoreError::Stale { what: "unit" }),
        _ => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_unit(
    tx: &mut Tx,
    id: &UnitId,
    parent_id: Option<&UnitId>,
    kind: UnitKind,
    name: &UnitName,
    code: Option<&UnitCode>,
    path: &str,
    depth: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_units (id, parent_id, kind, name, code, status, path, depth, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, 1, $8, $8)",
    )
    .bind(id.as_str())
    .bind(parent_id.map(|p| p.as_str().to_owned()))
    .bind(kind.as_str())
    .bind(name.as_str())
    .bind(code.map(|c| c.as_str().to_owned()))
    .bind(path)
    .bind(depth)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::conflict_on_unique(CODE_TAKEN))?;
    Ok(())
}

/// What a unit's code colliding with another unit's is (codes are unique in the district).
const CODE_TAKEN: &str = "a unit with this code already exists";

async fn fetch_root(tx: &mut Tx) -> Result<Option<Unit>> {
    let row = sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units WHERE parent_id IS NULL ORDER BY created_at LIMIT 1"
    )))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Unit::try_from).transpose()?)
}

async fn load_schema(tx: &mut Tx) -> Result<KindSchema> {
    let rows =
        sqlx::query_as::<_, (String, String)>("SELECT parent_kind, child_kind FROM org_kind_rules")
            .fetch_all(&mut **tx)
            .await?;
    let mut extensions = Vec::with_capacity(rows.len());
    for (parent, child) in rows {
        let parent = UnitKind::parse(&parent);
        let child = UnitKind::parse(&child);
        if let (Some(parent), Some(child)) = (parent, child) {
            extensions.push((parent, child));
        }
    }
    Ok(KindSchema::with_extensions(extensions))
}
