//! The property service's SQL, and nothing else: companies, compounds and their management terms
//! (here), disclosures and the transparency log (`log.rs`).

pub mod compliance;
pub mod linkage;
pub mod log;

use std::collections::HashMap;

use jiceng_db::{Database, RequestIds, Tx};
use jiceng_merkle::LogSigner;
use jiceng_org_client::{
    OrgPath, PathHolder,
    paths::{self},
};
use sqlx::any::AnyRow;

use crate::domain::CompanyDetails;

pub use jiceng_db::StoreError;

/// The entities this store persists, defined in [`crate::domain`]: re-exported at their old
/// paths.
pub use crate::domain::{Company, Compound, Term, managing_at};

impl PropertyStore {
    /// Gives the companies, compounds, schedules, assessments and disclosures below a moved
    /// unit the unit's path now (see [`paths::repath`]).
    pub async fn repath(&self, unit_id: &str, unit_path: &OrgPath) -> Result<u64> {
        Ok(paths::repath(&self.db, ORG_PATH_HOLDERS, unit_id, unit_path).await?)
    }
}

/// The property service's rows that hold org paths: companies, compounds, schedules and
/// assessments (their org's) and disclosures (their compound's).
pub const ORG_PATH_HOLDERS: &[PathHolder] = &[
    PathHolder::ByOrg {
        table: "property_companies",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "property_compounds",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "property_schedules",
        org_column: "org_id",
    },
    PathHolder::ByOrg {
        table: "property_assessments",
        org_column: "org_id",
    },
    PathHolder::ByParent {
        table: "property_disclosures",
        key_column: "compound_id",
        parent_table: "property_compounds",
    },
];

pub type Result<T> = std::result::Result<T, StoreError>;

/// FAILED_PRECONDITION about the property service's records.
fn precondition(kind: &'static str, description: impl Into<String>) -> StoreError {
    StoreError::precondition(kind, "property", description)
}

use jiceng_org_client::paths::subtree_range;

#[derive(Clone, Debug)]
pub struct NewCompany {
    pub name: String,
    pub credit_code: String,
    pub org_id: String,
    pub org_path: OrgPath,
    pub details: CompanyDetails,
    pub publishers: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct NewCompound {
    pub name: String,
    pub address: String,
    pub org_id: String,
    pub org_path: OrgPath,
    /// Who managed it, oldest first, contiguous, the last running: one term from the
    /// registration when no history is brought in.
    pub terms: Vec<Term>,
    pub owners_committee: String,
    pub owners_chair: String,
}

/// Which rows a list shows, newest first.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The org path of a subtree.
    pub subtree: Option<String>,
    pub company_id: Option<String>,
    /// Compounds this company manages at the given time (by their terms).
    pub managed_by: Option<(String, i64)>,
    pub compound_id: Option<String>,
    /// A disclosure kind's stored name.
    pub kind: Option<&'static str>,
    /// After this page position (created or published at, id).
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

#[derive(Clone, Debug)]
pub struct PropertyStore {
    db: Database,
    /// Signs the log's tree heads.
    signer: LogSigner,
    /// The district whose log this is.
    log_id: String,
    /// The CloudEvents source of this service's events.
    event_source: String,
    /// The log's standing against its witness, shared by the store's clones.
    witnessing: std::sync::Arc<log::LogWitnessing>,
}

const COMPANY_COLUMNS: &str =
    "id, name, credit_code, org_id, org_path, details, publishers, created_at";

/// A row of [`COMPANY_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct CompanyRow {
    id: String,
    name: String,
    credit_code: String,
    org_id: String,
    org_path: String,
    details: String,
    publishers: String,
    created_at: i64,
}

impl TryFrom<CompanyRow> for Company {
    type Error = StoreError;

    fn try_from(row: CompanyRow) -> Result<Self> {
        Ok(Company {
            id: row.id,
            name: row.name,
            credit_code: row.credit_code,
            org_id: row.org_id,
            org_path: row.org_path,
            details: serde_json::from_str(&row.details)
                .map_err(|_| StoreError::corrupt("company details"))?,
            publishers: serde_json::from_str(&row.publishers)
                .map_err(|_| StoreError::corrupt("publishers"))?,
            created_at: row.created_at,
        })
    }
}

const COMPOUND_COLUMNS: &str = "id, name, address, org_id, org_path, company_id, owners_committee, owners_chair, \
    created_at";

/// A row of [`COMPOUND_COLUMNS`]: its fields are the constant's columns.
#[derive(sqlx::FromRow)]
struct CompoundRow {
    id: String,
    name: String,
    address: String,
    org_id: String,
    org_path: String,
    company_id: String,
    owners_committee: String,
    owners_chair: String,
    created_at: i64,
}

/// The compound without its terms.
impl From<CompoundRow> for Compound {
    fn from(row: CompoundRow) -> Self {
        Compound {
            id: row.id,
            name: row.name,
            address: row.address,
            org_id: row.org_id,
            org_path: row.org_path,
            company_id: row.company_id,
            owners_committee: row.owners_committee,
            owners_chair: row.owners_chair,
            terms: Vec::new(),
            created_at: row.created_at,
        }
    }
}

/// Where the property service keeps its callers' request ids.
pub(crate) const REQUEST_IDS: RequestIds = RequestIds::new("property_requests");

async fn fetch_company(tx: &mut Tx, id: &str) -> Result<Company> {
    sqlx::query_as::<_, CompanyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPANY_COLUMNS} FROM property_companies WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("company", id))?
    .try_into()
}

/// The compound `id` with its terms, and the company managing it at `now`.
async fn fetch_compound(tx: &mut Tx, id: &str, now: i64) -> Result<Compound> {
    let mut compound: Compound = sqlx::query_as::<_, CompoundRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPOUND_COLUMNS} FROM property_compounds WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("compound", id))?
    .into();
    compound.terms = terms_of(tx, &[id]).await?.remove(id).unwrap_or_default();
    compound.company_id = managing_at(&compound.terms, now)
        .unwrap_or_default()
        .to_owned();
    Ok(compound)
}

/// The terms of `compound_ids`, oldest first, by compound.
async fn terms_of(tx: &mut Tx, compound_ids: &[&str]) -> Result<HashMap<String, Vec<Term>>> {
    let mut terms: HashMap<String, Vec<Term>> = HashMap::new();
    if compound_ids.is_empty() {
        return Ok(terms);
    }
    let sql = format!(
        "SELECT compound_id, company_id, start_at, end_at FROM property_terms
         WHERE compound_id IN ({}) ORDER BY start_at",
        jiceng_db::placeholders(1, compound_ids.len())
    );
    let mut query =
        sqlx::query_as::<_, (String, String, i64, Option<i64>)>(sqlx::AssertSqlSafe(sql));
    for id in compound_ids {
        query = query.bind(*id);
    }
    for (compound_id, company_id, start_at, end_at) in query.fetch_all(&mut **tx).await? {
        terms.entry(compound_id).or_default().push(Term {
            company_id,
            start_at,
            end_at,
        });
    }
    Ok(terms)
}

/// `SELECT {columns} FROM {table}` narrowed by `listing`, newest first by `time_column`, each
/// row read as a `R` (whose fields are `columns`).
async fn list_rows<R>(
    db: &Database,
    columns: &str,
    table: &str,
    time_column: &str,
    listing: &Listing,
) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
{
    let mut clauses = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let placeholder = |value: String, texts: &mut Vec<String>| {
        texts.push(value);
        format!("${}", texts.len())
    };
    if let Some(path) = &listing.subtree {
        let (lo, hi) = subtree_range(path);
        let (lo, hi) = (placeholder(lo, &mut texts), placeholder(hi, &mut texts));
        clauses.push(format!("org_path >= {lo} AND org_path < {hi}"));
    }
    for (column, value) in [
        ("company_id", listing.company_id.clone()),
        ("compound_id", listing.compound_id.clone()),
        ("kind", listing.kind.map(str::to_owned)),
    ] {
        if let Some(value) = value {
            let at = placeholder(value, &mut texts);
            clauses.push(format!("{column} = {at}"));
        }
    }
    if let Some((company, at)) = &listing.managed_by {
        let company = placeholder(company.clone(), &mut texts);
        // `at` is the service's own clock reading, an integer: written into the statement,
        // since every bound parameter here is text.
        clauses.push(format!(
            "id IN (SELECT compound_id FROM property_terms WHERE company_id = {company}
                    AND start_at <= {at} AND (end_at IS NULL OR end_at > {at}))"
        ));
    }
    let mut after_time = None;
    if let Some((time, id)) = &listing.after {
        let id = placeholder(id.clone(), &mut texts);
        let time_at = format!("${}", texts.len() + 1);
        clauses.push(format!(
            "({time_column} < {time_at} OR ({time_column} = {time_at} AND id < {id}))"
        ));
        after_time = Some(*time);
    }
    let limit_at = texts.len() + usize::from(after_time.is_some()) + 1;
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {columns} FROM {table} {clause} ORDER BY {time_column} DESC, id DESC LIMIT ${limit_at}"
    );
    let mut query = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(sql));
    for text in texts {
        query = query.bind(text);
    }
    if let Some(time) = after_time {
        query = query.bind(time);
    }
    Ok(query.bind(listing.limit).fetch_all(db.pool()).await?)
}

impl PropertyStore {
    /// The store of the district `log_id` (its GB/T 2260 code), signing with `signer`.
    pub fn new(db: Database, signer: LogSigner, log_id: String) -> Self {
        Self {
            db,
            signer,
            event_source: format!("//jiceng/{log_id}/property"),
            log_id,
            witnessing: std::sync::Arc::default(),
        }
    }

    /// The time the store acts at (its database's clock).
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// Registers a company; its credit code is taken once. A retried `request_id` returns the
    /// first company.
    pub async fn create_company(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewCompany,
        now: i64,
    ) -> Result<Company> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "CreateCompany", &id, now)
            .await?
        {
            let company = fetch_company(&mut tx, &first).await?;
            tx.commit().await?;
            return Ok(company);
        }
        let inserted = sqlx::query(
            "INSERT INTO property_companies (id, name, credit_code, org_id, org_path, details, publishers, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (credit_code) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.credit_code)
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(serde_json::to_string(&new.details).unwrap_or_default())
        .bind(serde_json::to_string(&new.publishers).unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a company with credit code {} is registered",
                new.credit_code
            )));
        }
        let company = fetch_company(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(company)
    }

    pub async fn company(&self, id: &str) -> Result<Company> {
        let mut tx = self.db.begin().await?;
        let company = fetch_company(&mut tx, id).await?;
        tx.commit().await?;
        Ok(company)
    }

    pub async fn list_companies(&self, listing: &Listing) -> Result<Vec<Company>> {
        list_rows::<CompanyRow>(
            &self.db,
            COMPANY_COLUMNS,
            "property_companies",
            "created_at",
            listing,
        )
        .await?
        .into_iter()
        .map(Company::try_from)
        .collect()
    }

    /// Registers a compound with the terms of the companies that managed it (the last one
    /// running).
    pub async fn create_compound(
        &self,
        actor: &str,
        request_id: Option<&str>,
        new: &NewCompound,
        now: i64,
    ) -> Result<Compound> {
        let mut tx = self.db.begin_write().await?;
        paths::admit(&self.db, &mut tx, &new.org_path).await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = REQUEST_IDS
            .claim_create(&mut tx, actor, request_id, "CreateCompound", &id, now)
            .await?
        {
            let compound = fetch_compound(&mut tx, &first, now).await?;
            tx.commit().await?;
            return Ok(compound);
        }
        let current = new
            .terms
            .last()
            .ok_or_else(|| precondition("TERM", "a compound is managed by some company"))?;
        for term in &new.terms {
            fetch_company(&mut tx, &term.company_id).await?;
        }
        // The latest term's company; who manages the compound at a time comes from its terms.
        sqlx::query(
            "INSERT INTO property_compounds (id, name, address, org_id, org_path, company_id, owners_committee,
                 owners_chair, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.address)
        .bind(&new.org_id)
        .bind(new.org_path.as_str())
        .bind(&current.company_id)
        .bind(&new.owners_committee)
        .bind(&new.owners_chair)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for term in &new.terms {
            sqlx::query(
                "INSERT INTO property_terms (compound_id, company_id, start_at, end_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(&term.company_id)
            .bind(term.start_at)
            .bind(term.end_at)
            .execute(&mut *tx)
            .await?;
        }
        let compound = fetch_compound(&mut tx, &id, now).await?;
        tx.commit().await?;
        Ok(compound)
    }

    pub async fn compound(&self, id: &str) -> Result<Compound> {
        let mut tx = self.db.begin().await?;
        let compound = fetch_compound(&mut tx, id, self.db.now()).await?;
        tx.commit().await?;
        Ok(compound)
    }

    /// Compounds of a subtree, or that a company manages now, newest first, each with the
    /// company managing it now (without their terms).
    pub async fn list_compounds(&self, listing: &Listing) -> Result<Vec<Compound>> {
        let now = self.db.now();
        let listing = Listing {
            managed_by: listing.company_id.clone().map(|company| (company, now)),
            company_id: None,
            ..listing.clone()
        };
        let mut compounds: Vec<Compound> = list_rows::<CompoundRow>(
            &self.db,
            COMPOUND_COLUMNS,
            "property_compounds",
            "created_at",
            &listing,
        )
        .await?
        .into_iter()
        .map(Compound::from)
        .collect();
        let mut tx = self.db.begin().await?;
        let ids: Vec<&str> = compounds.iter().map(|c| c.id.as_str()).collect();
        let terms = terms_of(&mut tx, &ids).await?;
        tx.commit().await?;
        for compound in &mut compounds {
            compound.company_id = terms
                .get(&compound.id)
                .and_then(|terms| managing_at(terms, now))
                .unwrap_or_default()
                .to_owned();
        }
        Ok(compounds)
    }

    /// Hands a compound to `company_id` from `start_at`: the running term ends then. The new
    /// term starts after the running one did, and with another company.
    pub async fn change_company(
        &self,
        compound_id: &str,
        company_id: &str,
        start_at: i64,
    ) -> Result<Compound> {
        let mut tx = self.db.begin_write().await?;
        // The compound's row lock first: two hand-overs of one compound take turns, the second
        // reading the terms the first wrote, so terms never overlap.
        sqlx::query("UPDATE property_compounds SET company_id = company_id WHERE id = $1")
            .bind(compound_id)
            .execute(&mut *tx)
            .await?;
        let compound = fetch_compound(&mut tx, compound_id, self.db.now()).await?;
        fetch_company(&mut tx, company_id).await?;
        let running = compound.terms.iter().find(|t| t.end_at.is_none());
        if let Some(running) = running {
            if running.company_id == company_id {
                return Err(precondition(
                    "COMPANY",
                    "the compound is managed by that company already",
                ));
            }
            if start_at <= running.start_at {
                return Err(precondition(
                    "TERM",
                    "a new term starts after the running one did",
                ));
            }
        }
        sqlx::query(
            "UPDATE property_terms SET end_at = $1 WHERE compound_id = $2 AND end_at IS NULL",
        )
        .bind(start_at)
        .bind(compound_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO property_terms (compound_id, company_id, start_at, end_at) VALUES ($1, $2, $3, NULL)",
        )
        .bind(compound_id)
        .bind(company_id)
        .bind(start_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE property_compounds SET company_id = $1 WHERE id = $2")
            .bind(company_id)
            .bind(compound_id)
            .execute(&mut *tx)
            .await?;
        let compound = fetch_compound(&mut tx, compound_id, self.db.now()).await?;
        tx.commit().await?;
        Ok(compound)
    }
}
