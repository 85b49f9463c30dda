//! Leaderboards by org subtree: members are found by the range of their org paths, balances by
//! year, both through indexes.

use sqlx::Row as _;

use super::{MemberStore, Result};

/// One row of a leaderboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub rank: i64,
    pub member_id: String,
    pub name: String,
    pub balance: i64,
}

/// The half-open range of paths below (and including) `path`: `[path, path-with-'0')`.
fn subtree_range(path: &str) -> (String, String) {
    let mut upper = path.trim_end_matches('/').to_owned();
    upper.push('0');
    (path.to_owned(), upper)
}

impl MemberStore {
    /// The `top` members of the subtree at `org_path` by their balance of `year`; ties share a
    /// rank.
    pub async fn leaderboard(&self, org_path: &str, year: i64, top: i64) -> Result<Vec<Standing>> {
        let (lo, hi) = subtree_range(org_path);
        let rows = sqlx::query(
            "SELECT m.id, m.name, b.balance FROM member_balances b JOIN member_members m ON m.id = b.member_id
             WHERE b.year = $1 AND m.org_path >= $2 AND m.org_path < $3
             ORDER BY b.balance DESC, m.id LIMIT $4",
        )
        .bind(year)
        .bind(&lo)
        .bind(&hi)
        .bind(top)
        .fetch_all(self.db.pool())
        .await?;
        let mut standings: Vec<Standing> = Vec::with_capacity(rows.len());
        for (position, row) in rows.iter().enumerate() {
            let balance: i64 = row.try_get(2)?;
            let rank = match standings.last() {
                Some(previous) if previous.balance == balance => previous.rank,
                _ => position as i64 + 1,
            };
            standings.push(Standing {
                rank,
                member_id: row.try_get(0)?,
                name: row.try_get(1)?,
                balance,
            });
        }
        Ok(standings)
    }

    /// A member's standing in the subtree at `org_path`, when they belong to it.
    pub async fn standing(
        &self,
        org_path: &str,
        year: i64,
        member_id: &str,
    ) -> Result<Option<Standing>> {
        let (lo, hi) = subtree_range(org_path);
        let member = sqlx::query(
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
        let Some(member) = member else {
            return Ok(None);
        };
        let balance: i64 = member.try_get(1)?;
        let ahead: i64 = sqlx::query(
            "SELECT COUNT(*) FROM member_balances b JOIN member_members m ON m.id = b.member_id
             WHERE b.year = $1 AND b.balance > $2 AND m.org_path >= $3 AND m.org_path < $4",
        )
        .bind(year)
        .bind(balance)
        .bind(&lo)
        .bind(&hi)
        .fetch_one(self.db.pool())
        .await?
        .try_get(0)?;
        Ok(Some(Standing {
            rank: ahead + 1,
            member_id: member_id.to_owned(),
            name: member.try_get(0)?,
            balance,
        }))
    }

    /// Re-paths the members below a moved unit: `new_unit_path` is the unit's new path.
    pub async fn repath_members(&self, unit_id: &str, new_unit_path: &str) -> Result<u64> {
        let marker = format!("/{unit_id}/");
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query("SELECT id, org_path FROM member_members WHERE org_path LIKE $1")
            .bind(format!("%{marker}%"))
            .fetch_all(&mut *tx)
            .await?;
        let mut moved = 0;
        for row in rows {
            let (id, path): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let Some(at) = path.find(&marker) else {
                continue;
            };
            let repathed = format!("{new_unit_path}{}", &path[at + marker.len()..]);
            sqlx::query("UPDATE member_members SET org_path = $1 WHERE id = $2")
                .bind(repathed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            moved += 1;
        }
        tx.commit().await?;
        Ok(moved)
    }
}
