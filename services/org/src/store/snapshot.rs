//! The whole tree in memory, for subtree reads.
//!
//! Reading a district's 15,000 units row by row costs ~90 ms on PostgreSQL and ~130 ms on
//! SQLite, most of it turning each row into a `Unit` (sqlx's `Any` rows, allocations); the tree
//! changes a few times a day. So the store keeps the tree read in one statement, tagged with
//! the generation that `org_tree_generation` had in that statement, and serves a subtree from
//! it while the stored generation is still the same: one tiny query instead of the rows.
//! Every change to `org_units` bumps the generation in its own transaction (a trigger), so a
//! change made by another replica is seen at the next read. A stale copy is never served:
//! the read goes to the database, and one load of the new tree starts in the background, at
//! most one per [`RELOAD_SPACING`], so that a tree being edited costs no more than before.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use super::tree::SubtreeFilter;
use crate::domain::{Unit, subtree_range};

/// The least time between the starts of two loads of the tree.
const RELOAD_SPACING: Duration = Duration::from_secs(1);

/// Every unit, dissolved ones too, in path order, as of `generation`.
#[derive(Debug)]
pub(super) struct TreeSnapshot {
    pub(super) generation: i64,
    pub(super) units: Vec<Unit>,
}

impl TreeSnapshot {
    /// What `path >= lo AND path < hi AND path > after … ORDER BY path LIMIT limit` over the
    /// filtered units would return.
    pub(super) fn subtree(
        &self,
        root: &Unit,
        filter: &SubtreeFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Vec<Unit> {
        let (lo, hi) = subtree_range(&root.path);
        let mut start = self.units.partition_point(|u| u.path < lo);
        if let Some(after) = after {
            start = start.max(self.units.partition_point(|u| u.path.as_str() <= after));
        }
        self.units[start..]
            .iter()
            .take_while(|u| u.path < hi)
            .filter(|u| filter.admits(root, u))
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect()
    }
}

/// The store's current snapshot and the state of its loading.
#[derive(Debug, Default)]
pub(super) struct TreeSnapshots {
    current: RwLock<Option<Arc<TreeSnapshot>>>,
    loads: Mutex<Loads>,
}

#[derive(Debug, Default)]
struct Loads {
    running: bool,
    last_start: Option<Instant>,
}

impl TreeSnapshots {
    /// The snapshot, if it is of `generation`.
    pub(super) fn at(&self, generation: i64) -> Option<Arc<TreeSnapshot>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|snapshot| snapshot.generation == generation)
            .cloned()
    }

    /// True when the caller should load the tree now: nobody else is loading it, and the
    /// last load started at least [`RELOAD_SPACING`] ago. The caller must call
    /// [`TreeSnapshots::finish_load`] afterwards, whatever the outcome.
    pub(super) fn begin_load(&self) -> bool {
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        if loads.running
            || loads
                .last_start
                .is_some_and(|at| at.elapsed() < RELOAD_SPACING)
        {
            return false;
        }
        *loads = Loads {
            running: true,
            last_start: Some(Instant::now()),
        };
        true
    }

    /// Ends a load; keeps `loaded` unless a newer generation is already kept.
    pub(super) fn finish_load(&self, loaded: Option<TreeSnapshot>) {
        if let Some(loaded) = loaded {
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            if current
                .as_ref()
                .is_none_or(|kept| kept.generation < loaded.generation)
            {
                *current = Some(Arc::new(loaded));
            }
        }
        self.loads.lock().unwrap_or_else(|e| e.into_inner()).running = false;
    }
}
