//! The property service's values, checked on construction: companies' credentials and staff,
//! compounds, (in `disclosure.rs`) what a company discloses, and (in `compliance.rs`) when it is
//! due.

pub mod compliance;
pub mod disclosure;
pub mod linkage;

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
