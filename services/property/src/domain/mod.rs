//! The property service's values, checked on construction: companies' credentials and staff,
//! compounds, (in `disclosure.rs`) what a company discloses, and (in `compliance.rs`) when it is
//! due.

pub mod compliance;
pub mod disclosure;
pub mod linkage;

use serde::{Deserialize, Serialize};

pub use jiceng_identifiers::CreditCode;

/// Trimmed text of 1 to `max` characters without control characters.
pub fn label(text: &str, max: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        Err("is required".into())
    } else if trimmed.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if trimmed.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(trimmed.to_owned())
    }
}

/// Free text of at most `max` characters; may be empty; line breaks allowed.
pub fn prose(text: &str, max: usize) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Err("must not contain control characters".into())
    } else {
        Ok(trimmed.to_owned())
    }
}

/// A telephone number as dialled in China: digits and dashes, 5 to 13 digits (12345, 021-…,
/// a mobile number).
pub fn telephone(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if text.chars().all(|c| c.is_ascii_digit() || c == '-') && (5..=13).contains(&digits) {
        Ok(text.to_owned())
    } else {
        Err("must be a telephone number")
    }
}

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
