//! Leaderboards by org subtree. Every balance row carries its member's org path, so a subtree
//! is one range of paths and a leaderboard reads the balances' indexes alone; members are
//! joined only for the names of the rows returned.

use std::collections::HashMap;

use jiceng_db::{Tx, placeholders};
use jiceng_org_client::{
    OrgPath,
    paths::{self, subtree_range},
};

use super::{MemberStore, Result};
use crate::domain::points::Standing;

/// The first step of a leaderboard reads at least this many of the year's highest balances,
/// and twenty per place asked for: a subtree holding a few percent of the district's balances
/// finds its leaders among them.
pub const LEADERBOARD_WALK_MIN: i64 = 500;
const WALK_ROWS_PER_PLACE: i64 = 20;

impl MemberStore {
    /// The `top` members of the subtree at `org_path` by their balance of `year`, highest first
    /// and, among equal balances, by member id descending; ties share a rank.
    ///
    /// Two reads, each through an index and neither left to the planner's estimates (which for
    /// a bound range of paths, and for a table bloated by balance updates, can be far off):
    /// first the year's highest balances, district-wide, keeping the subtree's; a large subtree
    /// finds its leaders there. Only if it does not is the subtree's own range of paths read
    /// and sorted, which costs what the subtree holds.
    pub async fn leaderboard(&self, org_path: &str, year: i64, top: i64) -> Result<Vec<Standing>> {
        let (lo, hi) = subtree_range(org_path);
        let walk = LEADERBOARD_WALK_MIN.max(top.saturating_mul(WALK_ROWS_PER_PLACE));
        let among_highest = sqlx::query_as::<_, (String, i64)>(
            "SELECT member_id, balance FROM (
                 SELECT member_id, balance, org_path FROM member_balances WHERE year = $1
                 ORDER BY balance DESC, member_id DESC LIMIT $2
             ) highest WHERE org_path >= $3 AND org_path < $4
             ORDER BY balance DESC, member_id DESC LIMIT $5",
        )
        .bind(year)
        .bind(walk)
        .bind(&lo)
        .bind(&hi)
        .bind(top);
        let mut leaders = among_highest.fetch_all(self.db.pool()).await?;
        // Fewer than asked for says nothing of the subtree's balances below the highest.
        if (leaders.len() as i64) < top {
            // `+balance` keeps the ranking index from serving the ORDER BY, which would tempt
            // a planner without a histogram of paths (SQLite) to walk every balance again.
            let subtree = sqlx::query_as::<_, (String, i64)>(
                "SELECT member_id, balance FROM member_balances
                 WHERE year = $1 AND org_path >= $2 AND org_path < $3
                 ORDER BY +balance DESC, member_id DESC LIMIT $4",
            )
            .bind(year)
            .bind(&lo)
            .bind(&hi)
            .bind(top);
            leaders = subtree.fetch_all(self.db.pool()).await?;
        }
        let names = self
            .names(leaders.iter().map(|(id, _)| id.as_str()))
            .await?;
        let mut standings: Vec<Standing> = Vec::with_capacity(leaders.len());
        for (position, (member_id, balance)) in leaders.into_iter().enumerate() {
            let rank = match standings.last() {
                Some(previous) if previous.balance == balance => previous.rank,
                _ => position as i64 + 1,
            };
            standings.push(Standing {
                rank,
                name: names.get(&member_id).cloned().unwrap_or_default(),
                member_id,
                balance,
            });
        }
        Ok(standings)
    }

    /// The names of `members`, by id.
    async fn names<'a>(
        &self,
        members: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>> {
        let members: Vec<&str> = members.collect();
        if members.is_empty() {
            return Ok(HashMap::new());
        }
        let query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT id, name FROM member_members WHERE id IN ({})",
            placeholders(1, members.len())
        )));
        Ok(members
            .iter()
            .fold(query, |query, id| query.bind(*id))
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .collect())
    }

    /// A member's standing in the subtree at `org_path`, when they belong to it.
    pub async fn standing(
        &self,
        org_path: &str,
        year: i64,
        member_id: &str,
    ) -> Result<Option<Standing>> {
        let (lo, hi) = subtree_range(org_path);
        let member = sqlx::query_as::<_, (String, i64)>(
            "SELECT m.name, COALESCE(b.balance, 0) FROM member_members m
             LEFT JOIN member_balances b ON b.member_id = m.id AND b.year = $1
             WHERE m.id = $2 AND m.org_path >= $3 AND m.org_path < $4",
        )
        .bind(year)
        .bind(member_id)
        .bind(&lo)
        .bind(&hi)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((name, balance)) = member else {
            return Ok(None);
        };
        let ahead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM member_balances
             WHERE year = $1 AND balance > $2 AND org_path >= $3 AND org_path < $4",
        )
        .bind(year)
        .bind(balance)
        .bind(&lo)
        .bind(&hi)
        .fetch_one(self.db.pool())
        .await?;
        Ok(Some(Standing {
            rank: ahead + 1,
            member_id: member_id.to_owned(),
            name,
            balance,
        }))
    }

    /// Re-paths the members below a moved unit, and their balance rows, to the unit's path
    /// now (see [`paths::repath`]); returns how many rows of either took a new path.
    pub async fn repath_members(&self, unit_id: &str, unit_path: &OrgPath) -> Result<u64> {
        Ok(paths::repath(&self.db, super::ORG_PATH_HOLDERS, unit_id, unit_path).await?)
    }
}

/// Gives all of a member's balance rows their (new) org path.
pub(super) async fn move_balances(tx: &mut Tx, member_id: &str, org_path: &str) -> Result<()> {
    sqlx::query("UPDATE member_balances SET org_path = $1 WHERE member_id = $2")
        .bind(org_path)
        .bind(member_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
