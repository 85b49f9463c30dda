//! The property service's values, checked on construction: companies' credentials and staff,
//! compounds and who manages them when, (in `disclosure.rs`) what a company discloses, (in
//! `log.rs`) the transparency log's signed heads and proofs, (in `compliance.rs`) when it is due,
//! and (in `linkage.rs`) three-party meetings and assessments.

pub mod compliance;
pub mod disclosure;
pub mod linkage;
pub mod log;

use serde::{Deserialize, Serialize};

pub use jiceng_values::{CreditCode, Telephone, Text};

/// An http(s) link.
pub fn url(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if (text.starts_with("https://") || text.starts_with("http://"))
        && text.len() <= 2_000
        && !text.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        Ok(text.to_owned())
    } else {
        Err("must be an http(s) URL")
    }
}

/// A business licence or a qualification certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub kind: String,
    pub number: String,
    pub valid_until: Option<i64>,
    pub document_url: String,
}

/// One of a company's staff: their phone sealed, shown masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub role: String,
    pub name: String,
    pub phone_sealed: Option<String>,
    pub phone_masked: String,
}

/// What a company publishes about itself besides its disclosures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyDetails {
    pub certificates: Vec<Certificate>,
    pub staff: Vec<StaffMember>,
    pub supervision_hotline: String,
    pub repair_hotline: String,
    pub service_procedures: String,
    pub discipline_rules: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub credit_code: String,
    pub org_id: String,
    pub org_path: String,
    pub details: CompanyDetails,
    pub publishers: Vec<String>,
    pub created_at: i64,
}

/// A company's term managing a compound; the running one has no end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub company_id: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
}

impl Term {
    /// A term of `company_id` from `start_at` that runs still.
    pub fn running(company_id: &str, start_at: i64) -> Self {
        Self {
            company_id: company_id.to_owned(),
            start_at,
            end_at: None,
        }
    }

    /// Whether the term runs at `at`: from its start, up to (not including) its end.
    pub fn covers(&self, at: i64) -> bool {
        self.start_at <= at && self.end_at.is_none_or(|end| at < end)
    }
}

/// The company managing a compound at `at`, by its terms: none before the first began. A term
/// agreed for a future date takes effect then, not when it is recorded.
pub fn managing_at(terms: &[Term], at: i64) -> Option<&str> {
    terms
        .iter()
        .find(|term| term.covers(at))
        .map(|term| term.company_id.as_str())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compound {
    pub id: String,
    pub name: String,
    pub address: String,
    pub org_id: String,
    pub org_path: String,
    pub company_id: String,
    pub owners_committee: String,
    pub owners_chair: String,
    pub terms: Vec<Term>,
    pub created_at: i64,
}
