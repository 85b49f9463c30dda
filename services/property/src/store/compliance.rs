//! Schedules, and the compliance report of an org subtree: for each compound, each kind its
//! nearest schedule makes due, each period of the span that was due by the report's time, the
//! first disclosure of it — on time, late, or missing — attributed to the company that managed
//! the compound when the period ended.

use std::collections::{HashMap, HashSet};

use jiceng_org_client::{OrgPath, paths};

use super::{PropertyStore, Result, StoreError, subtree_range};
use crate::domain::{
    compliance::{DueItem, Frequency, Month, Schedule, Standing, periods},
    disclosure::Kind,
};
use crate::events;

const DAY_MS: i64 = 86_400_000;

/// A report's entities, defined in [`crate::domain::compliance`]: re-exported at their old
/// paths.
pub use crate::domain::compliance::{CompanyRecord, ComplianceReport};

const SCHEDULE_COLUMNS: &str = "org_id, org_path, kind, frequency, due_days, display_days";

/// A row of [`SCHEDULE_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct ScheduleRow {
    org_id: String,
    org_path: String,
    kind: String,
    frequency: String,
    due_days: i64,
    display_days: i64,
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;

    fn try_from(row: ScheduleRow) -> Result<Self> {
        Ok(Schedule {
            org_id: row.org_id,
            org_path: row.org_path,
            kind: Kind::parse(&row.kind).ok_or_else(|| StoreError::corrupt("schedule kind"))?,
            frequency: Frequency::parse(&row.frequency)
                .ok_or_else(|| StoreError::corrupt("schedule frequency"))?,
            due_days: row.due_days,
            display_days: row.display_days,
        })
    }
}

impl PropertyStore {
    /// Sets (or replaces) the schedule of a kind at an org; `path_read_at` is the org tree
    /// generation its org path was read at (refused when a move applied here is newer).
    pub async fn set_schedule(&self, schedule: &Schedule, path_read_at: i64) -> Result<Schedule> {
        let mut tx = self.db.begin_write().await?;
        let path = OrgPath::read_at(schedule.org_path.as_str(), path_read_at);
        paths::admit(&self.db, &mut tx, &path).await?;
        sqlx::query(
            "INSERT INTO property_schedules (org_id, org_path, kind, frequency, due_days, display_days)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (org_id, kind) DO UPDATE SET org_path = $2, frequency = $4, due_days = $5,
                 display_days = $6",
        )
        .bind(&schedule.org_id)
        .bind(&schedule.org_path)
        .bind(schedule.kind.as_str())
        .bind(schedule.frequency.as_str())
        .bind(schedule.due_days)
        .bind(schedule.display_days)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(schedule.clone())
    }

    /// The schedules set at the orgs of `org_path` (itself and its ancestors), nearest first.
    pub async fn schedules_over(&self, org_path: &str) -> Result<Vec<Schedule>> {
        let ancestors: Vec<&str> = org_path.split('/').filter(|id| !id.is_empty()).collect();
        if ancestors.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ancestors.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM property_schedules
             WHERE org_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql));
        for id in &ancestors {
            query = query.bind(*id);
        }
        let mut schedules = query
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(Schedule::try_from)
            .collect::<Result<Vec<_>>>()?;
        schedules.sort_by(|a, b| {
            b.org_path
                .len()
                .cmp(&a.org_path.len())
                .then(a.kind.as_str().cmp(b.kind.as_str()))
        });
        Ok(schedules)
    }

    /// Sends, once per item, a reminder for each item of the last year that is due within
    /// `lead_ms` of `now` and not disclosed, and a notice for each that is past due and not
    /// disclosed. Returns how many it sent. Safe with several replicas: the notice row and its
    /// event are written together, once.
    #[tracing::instrument(name = "property.store.announce_due", skip(self))]
    pub async fn announce_due(&self, now: i64, lead_ms: i64) -> Result<usize> {
        let horizon = now + lead_ms;
        let last = Month::containing(horizon);
        let report = self.compliance("/", last.back(12), last, horizon).await?;
        // What went out before: an hourly scan sends only what is new, without a transaction
        // for every item still missing.
        let mut periods: Vec<&str> = report
            .exceptions
            .iter()
            .map(|item| item.period.as_str())
            .collect();
        periods.sort_unstable();
        periods.dedup();
        let mut announced: HashSet<(String, String, String, String)> = HashSet::new();
        if !periods.is_empty() {
            let placeholders: Vec<String> = (1..=periods.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT compound_id, kind, period, notice FROM property_notices WHERE period IN ({})",
                placeholders.join(", ")
            );
            let mut query =
                sqlx::query_as::<_, (String, String, String, String)>(sqlx::AssertSqlSafe(sql));
            for period in &periods {
                query = query.bind(*period);
            }
            announced.extend(query.fetch_all(self.db.pool()).await?);
        }
        let mut sent = 0;
        let mut compounds: HashMap<String, (String, String)> = HashMap::new();
        let mut publishers: HashMap<String, Vec<String>> = HashMap::new();
        for item in report
            .exceptions
            .iter()
            .filter(|item| item.standing == Standing::Missing)
        {
            let overdue = item.due_at <= now;
            let notice = if overdue { "overdue" } else { "due" };
            let key = (
                item.compound_id.clone(),
                item.kind.as_str().to_owned(),
                item.period.clone(),
                notice.to_owned(),
            );
            if announced.contains(&key) {
                continue;
            }
            let mut tx = self.db.begin_write().await?;
            let first = sqlx::query(
                "INSERT INTO property_notices (compound_id, kind, period, notice, sent_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (compound_id, kind, period, notice) DO NOTHING",
            )
            .bind(&item.compound_id)
            .bind(item.kind.as_str())
            .bind(&item.period)
            .bind(notice)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !first {
                continue;
            }
            // The item's company's publishers: after a hand-over, one compound's items belong
            // to different companies.
            if !compounds.contains_key(&item.compound_id) {
                let compound = super::fetch_compound(&mut tx, &item.compound_id, now).await?;
                compounds.insert(item.compound_id.clone(), (compound.name, compound.org_id));
            }
            if !publishers.contains_key(&item.company_id) {
                let company = super::fetch_company(&mut tx, &item.company_id).await?;
                publishers.insert(item.company_id.clone(), company.publishers);
            }
            let (name, committee) = &compounds[&item.compound_id];
            let publishers = &publishers[&item.company_id];
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                events::disclosure_due(item, name, committee, publishers, overdue),
            )
            .await?;
            tx.commit().await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// The compliance of the compounds below `org_path` for the periods ending from `first` to
    /// `last`, as of `as_of`: periods not yet due then are left out.
    #[tracing::instrument(name = "property.store.compliance", skip(self))]
    pub async fn compliance(
        &self,
        org_path: &str,
        first: Month,
        last: Month,
        as_of: i64,
    ) -> Result<ComplianceReport> {
        let (lo, hi) = subtree_range(org_path);
        // Schedules above the subtree apply to all of it; those inside it to their part.
        let mut schedules = self.schedules_over(org_path).await?;
        schedules.extend(
            sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(format!(
                "SELECT {SCHEDULE_COLUMNS} FROM property_schedules
                 WHERE org_path > $1 AND org_path < $2"
            )))
            .bind(&lo)
            .bind(&hi)
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(Schedule::try_from)
            .collect::<Result<Vec<_>>>()?,
        );
        schedules.sort_by_key(|s| std::cmp::Reverse(s.org_path.len()));
        let compounds: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, org_path FROM property_compounds WHERE org_path >= $1 AND org_path < $2",
        )
        .bind(&lo)
        .bind(&hi)
        .fetch_all(self.db.pool())
        .await?;
        // The first publication of each (compound, kind, period).
        let mut published: HashMap<(String, String, String), i64> = HashMap::new();
        let firsts: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT compound_id, kind, period, MIN(published_at) FROM property_disclosures
             WHERE org_path >= $1 AND org_path < $2 GROUP BY compound_id, kind, period",
        )
        .bind(&lo)
        .bind(&hi)
        .fetch_all(self.db.pool())
        .await?;
        for (compound_id, kind, period, first_at) in firsts {
            published.insert((compound_id, kind, period), first_at);
        }
        // Who managed each compound when: (compound) → terms by start.
        let mut terms: HashMap<String, Vec<(i64, Option<i64>, String)>> = HashMap::new();
        let rows: Vec<(String, i64, Option<i64>, String)> = sqlx::query_as(
            "SELECT t.compound_id, t.start_at, t.end_at, t.company_id FROM property_terms t
             JOIN property_compounds c ON c.id = t.compound_id
             WHERE c.org_path >= $1 AND c.org_path < $2",
        )
        .bind(&lo)
        .bind(&hi)
        .fetch_all(self.db.pool())
        .await?;
        for (compound_id, start_at, end_at, company_id) in rows {
            terms
                .entry(compound_id)
                .or_default()
                .push((start_at, end_at, company_id));
        }
        let mut report = ComplianceReport::default();
        for (compound_id, compound_path) in &compounds {
            for kind in Kind::ALL {
                // The nearest schedule of the kind over this compound.
                let Some(schedule) = schedules
                    .iter()
                    .find(|s| s.kind == kind && compound_path.starts_with(&s.org_path))
                else {
                    continue;
                };
                for due in periods(schedule.frequency, first, last) {
                    let due_at = due.ends_at + schedule.due_days * DAY_MS;
                    if due_at > as_of {
                        continue;
                    }
                    // The company managing it when the period ended; a period that ended
                    // before its first term began (before the district's records of it) or
                    // after its terms (not yet begun) was nobody's to disclose.
                    let Some(company_id) = terms
                        .get(compound_id)
                        .and_then(|ts| {
                            ts.iter().find(|(start, end, _)| {
                                *start < due.ends_at && end.is_none_or(|end| end >= due.ends_at)
                            })
                        })
                        .map(|(_, _, company)| company.clone())
                    else {
                        continue;
                    };
                    let first_published = published
                        .get(&(
                            compound_id.clone(),
                            kind.as_str().to_owned(),
                            due.period.clone(),
                        ))
                        .copied();
                    report.tally(DueItem {
                        compound_id: compound_id.clone(),
                        company_id,
                        kind,
                        period: due.period,
                        due_at,
                        standing: Standing::of(first_published, due_at),
                    });
                }
            }
        }
        report.sort_exceptions();
        Ok(report)
    }
}
