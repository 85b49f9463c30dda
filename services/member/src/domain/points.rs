//! Points rules, ledger entries and leaderboard standings, and the periods caps are counted in.

/// A rule code: 1 to 64 characters of a-z, 0-9, '_' and '.'.
pub fn rule_code(text: &str) -> Result<String, &'static str> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.".contains(&b));
    if valid {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 64 characters of a-z, 0-9, '_' and '.'")
    }
}

/// An entry id chosen by the client: 1 to 64 printable ASCII characters.
pub fn entry_id(text: &str) -> Result<String, &'static str> {
    if !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 64 printable ASCII characters, chosen by the client")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointsRule {
    pub code: String,
    pub version: i64,
    pub name: String,
    pub points: i64,
    pub evidence_required: bool,
    pub approval_required: bool,
    pub daily_cap: Option<i64>,
    pub monthly_cap: Option<i64>,
    pub yearly_cap: Option<i64>,
    pub valid_from: i64,
    pub valid_to: Option<i64>,
}

impl PointsRule {
    /// A rule in force from the start, awarded at once without evidence, capped at most per
    /// day: what a district's everyday rules are, and what synthetic districts define.
    pub fn everyday(code: &str, name: &str, points: i64, daily_cap: Option<i64>) -> Self {
        Self {
            code: code.into(),
            version: 0,
            name: name.into(),
            points,
            evidence_required: false,
            approval_required: false,
            daily_cap,
            monthly_cap: None,
            yearly_cap: None,
            valid_from: 0,
            valid_to: None,
        }
    }

    pub fn is_valid_at(&self, at: i64) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|to| at < to)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Award,
    Redemption,
    Reversal,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Award => "award",
            Self::Redemption => "redemption",
            Self::Reversal => "reversal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Award, Self::Redemption, Self::Reversal]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    Pending,
    Approved,
    Rejected,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: String,
    pub member_id: String,
    pub kind: EntryKind,
    pub amount: i64,
    pub rule_code: Option<String>,
    pub rule_version: Option<i64>,
    pub reason: String,
    pub evidence: String,
    pub source_event_id: String,
    pub state: EntryState,
    pub reverses: Option<String>,
    pub year: i64,
    pub actor: String,
    pub created_at: i64,
}

/// One row of a leaderboard; members with equal balances share a rank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub rank: i64,
    pub member_id: String,
    pub name: String,
    pub balance: i64,
}

/// The Beijing-time year, month (`YYYY-MM`) and day (`YYYY-MM-DD`) of an instant: the periods
/// caps and balances are counted in.
pub fn periods(at_ms: i64) -> (i64, String, String) {
    let days = (at_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (year, month, day) = jiceng_telemetry::civil_from_days(days);
    (
        year,
        format!("{year:04}-{month:02}"),
        format!("{year:04}-{month:02}-{day:02}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_beijing_time() {
        // 2026-12-31 17:00 UTC is already 2027-01-01 in Beijing.
        assert_eq!(
            periods(1_798_736_400_000),
            (2027, "2027-01".to_owned(), "2027-01-01".to_owned())
        );
        // 2026-11-29 16:30 UTC is already 2026-11-30 in Beijing.
        assert_eq!(periods(1_795_969_800_000).2, "2026-11-30");
        assert_eq!(periods(0).2, "1970-01-01");
    }

    #[test]
    fn codes_and_ids_are_restricted() {
        assert!(rule_code("org_life.attend").is_ok());
        assert!(rule_code("Org").is_err());
        assert!(entry_id("award-2026-001").is_ok());
        assert!(entry_id("").is_err());
        assert!(entry_id("with space").is_err());
    }
}
