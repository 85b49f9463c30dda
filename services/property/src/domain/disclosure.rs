//! Disclosures: typed items a property company publishes about a compound, checked on
//! construction (amounts in fen that add up, periods that are real periods), and the log entry
//! each becomes — the exact bytes the transparency log hashes.

use jiceng_values::Telephone;
use serde::{Deserialize, Serialize};

/// What a disclosure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    FeeStandard,
    FeeCollection,
    PublicRevenue,
    MaintenanceFund,
    Document,
    Hotlines,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Self::FeeStandard,
        Self::FeeCollection,
        Self::PublicRevenue,
        Self::MaintenanceFund,
        Self::Document,
        Self::Hotlines,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeeStandard => "fee_standard",
            Self::FeeCollection => "fee_collection",
            Self::PublicRevenue => "public_revenue",
            Self::MaintenanceFund => "maintenance_fund",
            Self::Document => "document",
            Self::Hotlines => "hotlines",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The period a disclosure covers: a year (`2026`), a half (`2026-H1`), a quarter (`2026-Q3`),
/// a month (`2026-10`), or a day (`2026-10-08`, for what is disclosed on change).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Period(String);

impl Period {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "must be YYYY, YYYY-H1/H2, YYYY-Q1..Q4, YYYY-MM or YYYY-MM-DD";
        let text = text.trim();
        let year = text
            .get(..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
        let Some(year) = year.and_then(|y| y.parse::<u32>().ok()) else {
            return Err(INVALID);
        };
        if !(2000..=2100).contains(&year) {
            return Err("must be a year from 2000 to 2100");
        }
        let number = |part: &str, range: std::ops::RangeInclusive<u32>| {
            part.bytes().all(|b| b.is_ascii_digit())
                && part.parse::<u32>().is_ok_and(|n| range.contains(&n))
        };
        let valid = match text.get(4..) {
            Some("") => true,
            Some(rest) => match rest.strip_prefix('-') {
                Some(half) if half.len() == 2 && half.starts_with('H') => number(&half[1..], 1..=2),
                Some(quarter) if quarter.len() == 2 && quarter.starts_with('Q') => {
                    number(&quarter[1..], 1..=4)
                }
                Some(month) if month.len() == 2 => number(month, 1..=12),
                Some(day) if day.len() == 5 && day.as_bytes()[2] == b'-' => {
                    let (m, d) = (&day[..2], &day[3..]);
                    number(m, 1..=12)
                        && m.parse::<u32>()
                            .is_ok_and(|m| number(d, 1..=days_in_month(year, m)))
                }
                _ => false,
            },
            None => false,
        };
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(INVALID)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeItem {
    pub category: String,
    pub fen_per_unit_month: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueLine {
    pub source: String,
    pub income_fen: i64,
    pub expense_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundSpending {
    pub project: String,
    pub amount_fen: i64,
    pub approved_by: String,
    pub approval_url: String,
}

/// What a disclosure says, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    FeeStandard {
        items: Vec<FeeItem>,
    },
    FeeCollection {
        billed_fen: i64,
        collected_fen: i64,
        households_billed: i64,
        households_paid: i64,
    },
    PublicRevenue {
        lines: Vec<RevenueLine>,
        balance_fen: i64,
    },
    MaintenanceFund {
        opening_fen: i64,
        income_fen: i64,
        spending: Vec<FundSpending>,
        closing_fen: i64,
    },
    Document {
        title: String,
        number: String,
        valid_until: Option<i64>,
        url: String,
    },
    Hotlines {
        supervision: String,
        repair: String,
    },
}

/// The revenue sources a public-revenue line may name.
pub const REVENUE_SOURCES: [&str; 3] = ["parking", "advertising", "other"];

impl Content {
    pub fn kind(&self) -> Kind {
        match self {
            Self::FeeStandard { .. } => Kind::FeeStandard,
            Self::FeeCollection { .. } => Kind::FeeCollection,
            Self::PublicRevenue { .. } => Kind::PublicRevenue,
            Self::MaintenanceFund { .. } => Kind::MaintenanceFund,
            Self::Document { .. } => Kind::Document,
            Self::Hotlines { .. } => Kind::Hotlines,
        }
    }

    /// Why the content cannot be published, as (field, description) pairs: amounts that do
    /// not add up, negative amounts, missing items.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut negative = |field: String, amount: i64| {
            if amount < 0 {
                problems.push((field, "must not be negative".to_owned()));
            }
        };
        match self {
            Self::FeeStandard { items } => {
                for (n, item) in items.iter().enumerate() {
                    negative(
                        format!("items[{n}].fen_per_unit_month"),
                        item.fen_per_unit_month,
                    );
                }
                if items.is_empty() {
                    problems.push(("items".into(), "must list at least one fee".into()));
                }
                for (n, item) in items.iter().enumerate() {
                    if item.category.trim().is_empty() {
                        problems.push((format!("items[{n}].category"), "is required".into()));
                    }
                }
            }
            Self::FeeCollection {
                billed_fen,
                collected_fen,
                households_billed,
                households_paid,
            } => {
                negative("billed_fen".into(), *billed_fen);
                negative("collected_fen".into(), *collected_fen);
                negative("households_billed".into(), *households_billed);
                negative("households_paid".into(), *households_paid);
                if households_paid > households_billed {
                    problems.push((
                        "households_paid".into(),
                        "cannot exceed the households billed".into(),
                    ));
                }
            }
            Self::PublicRevenue { lines, balance_fen } => {
                for (n, line) in lines.iter().enumerate() {
                    negative(format!("lines[{n}].income_fen"), line.income_fen);
                    negative(format!("lines[{n}].expense_fen"), line.expense_fen);
                }
                for (n, line) in lines.iter().enumerate() {
                    if !REVENUE_SOURCES.contains(&line.source.as_str()) {
                        problems.push((
                            format!("lines[{n}].source"),
                            "must be parking, advertising or other".into(),
                        ));
                    }
                }
                let sum: i64 = lines.iter().map(|l| l.income_fen - l.expense_fen).sum();
                if sum != *balance_fen {
                    problems.push((
                        "balance_fen".into(),
                        format!("must be the incomes less the expenses, {sum}"),
                    ));
                }
            }
            Self::MaintenanceFund {
                opening_fen,
                income_fen,
                spending,
                closing_fen,
            } => {
                negative("income_fen".into(), *income_fen);
                for (n, item) in spending.iter().enumerate() {
                    negative(format!("spending[{n}].amount_fen"), item.amount_fen);
                }
                for (n, item) in spending.iter().enumerate() {
                    if item.project.trim().is_empty() || item.approved_by.trim().is_empty() {
                        problems.push((
                            format!("spending[{n}]"),
                            "names its project and who approved it".into(),
                        ));
                    }
                }
                let spent: i64 = spending.iter().map(|s| s.amount_fen).sum();
                let expected = opening_fen + income_fen - spent;
                if expected != *closing_fen {
                    problems.push((
                        "closing_fen".into(),
                        format!("must be the opening plus income less spending, {expected}"),
                    ));
                }
            }
            Self::Document { title, url, .. } => {
                if title.trim().is_empty() {
                    problems.push(("title".into(), "is required".into()));
                }
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push(("url".into(), "must be an http(s) URL".into()));
                }
            }
            Self::Hotlines {
                supervision,
                repair,
            } => {
                for (field, number) in [("supervision", supervision), ("repair", repair)] {
                    // Stored as given, so it must already be in the trimmed form.
                    match Telephone::parse(number) {
                        Ok(parsed) if parsed.as_str() == number => {}
                        Ok(_) | Err(_) => {
                            problems.push((field.into(), "must be a telephone number".into()));
                        }
                    }
                }
            }
        }
        problems
    }
}

/// A disclosure as published: what the log entry holds. Its JSON (fields in this order) is the
/// entry the log hashes, so the struct's shape is part of the log's format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub compound_id: String,
    pub company_id: String,
    pub period: Period,
    pub content: Content,
    pub supersedes_id: Option<String>,
    pub correction_reason: Option<String>,
    pub published_by: String,
    pub published_at: i64,
}

impl Entry {
    /// The bytes the log hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A published disclosure: its entry as the log holds it, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    pub entry: Entry,
    /// The exact bytes the log hashed.
    pub entry_bytes: Vec<u8>,
    pub leaf_index: u64,
    pub superseded_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_real_periods() {
        for ok in ["2026", "2026-H2", "2026-Q3", "2026-10", "2028-02-29"] {
            assert_eq!(
                Period::parse(ok).map(|p| p.as_str().to_owned()),
                Ok(ok.to_owned())
            );
        }
        for bad in [
            "26",
            "2026-H3",
            "2026-Q5",
            "2026-13",
            "2026-02-29",
            "1999",
            "2026-1",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_must_add_up() {
        let fund = Content::MaintenanceFund {
            opening_fen: 100_000,
            income_fen: 50_000,
            spending: vec![FundSpending {
                project: "3号楼屋面防水".into(),
                amount_fen: 30_000,
                approved_by: "业主大会".into(),
                approval_url: String::new(),
            }],
            closing_fen: 120_000,
        };
        assert!(fund.problems().is_empty());
        let wrong = Content::PublicRevenue {
            lines: vec![RevenueLine {
                source: "parking".into(),
                income_fen: 10_000,
                expense_fen: 2_000,
            }],
            balance_fen: 9_000,
        };
        assert_eq!(wrong.problems()[0].0, "balance_fen");
        assert!(
            Content::Hotlines {
                supervision: "021-58581234".into(),
                repair: "12345".into()
            }
            .problems()
            .is_empty()
        );
    }

    #[test]
    fn an_entry_reads_back_to_the_same_bytes() {
        let entry = Entry {
            id: "d1".into(),
            compound_id: "c1".into(),
            company_id: "p1".into(),
            period: Period::parse("2026-Q3").expect("period"),
            content: Content::FeeCollection {
                billed_fen: 100,
                collected_fen: 90,
                households_billed: 10,
                households_paid: 9,
            },
            supersedes_id: None,
            correction_reason: None,
            published_by: "publisher".into(),
            published_at: 1,
        };
        let bytes = entry.to_bytes();
        let back = Entry::from_bytes(&bytes).expect("entry");
        assert_eq!(back, entry);
        assert_eq!(back.to_bytes(), bytes);
    }
}
