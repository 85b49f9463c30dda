//! Members and the values that validate on construction, the rules of the development
//! pipeline, and (in submodules) what hangs off a member: transfers, community registrations
//! and commitments, activities, and points.

pub mod activities;
pub mod community;
pub mod points;
pub mod transfers;

pub use jiceng_values::{IdCard, Phone};

use std::fmt;

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let invalid = "must be a date as YYYY-MM-DD";
        let mut parts = text.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid);
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(invalid);
        }
        let (year, month, day): (u16, u8, u8) = (
            y.parse().map_err(|_| invalid)?,
            m.parse().map_err(|_| invalid)?,
            d.parse().map_err(|_| invalid)?,
        );
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(invalid),
        };
        if !(1900..=2200).contains(&year) || day == 0 || day > days {
            return Err(invalid);
        }
        Ok(Self { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Female, Self::Male]
            .into_iter()
            .find(|g| g.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberStatus {
    Applicant,
    Activist,
    DevelopmentTarget,
    Probationary,
    Full,
    TransferredOut,
    Deceased,
    Removed,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 8] = [
        Self::Applicant,
        Self::Activist,
        Self::DevelopmentTarget,
        Self::Probationary,
        Self::Full,
        Self::TransferredOut,
        Self::Deceased,
        Self::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Activist => "activist",
            Self::DevelopmentTarget => "development_target",
            Self::Probationary => "probationary",
            Self::Full => "full",
            Self::TransferredOut => "transferred_out",
            Self::Deceased => "deceased",
            Self::Removed => "removed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// States a record ends in.
    pub fn is_final(self) -> bool {
        matches!(self, Self::TransferredOut | Self::Deceased | Self::Removed)
    }

    /// Why `self → to` is not allowed, if it is not: the pipeline moves one stage at a time, and
    /// a death or removal may be recorded at any stage; nothing leaves a final state.
    pub fn refuses(self, to: MemberStatus) -> Option<String> {
        use MemberStatus::*;
        let allowed = match (self, to) {
            (from, _) if from.is_final() => false,
            (Applicant, Activist)
            | (Activist, DevelopmentTarget)
            | (DevelopmentTarget, Probationary)
            | (Probationary, Full) => true,
            (_, Deceased | Removed) => true,
            _ => false,
        };
        (!allowed).then(|| {
            format!(
                "a member cannot go from {} to {}",
                self.as_str(),
                to.as_str()
            )
        })
    }
}

/// A party member: personal numbers sealed, with their masks; the service opens them only to
/// reveal them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub gender: Option<Gender>,
    pub birth_date: Option<String>,
    pub phone_sealed: Option<String>,
    pub phone_masked: Option<String>,
    pub id_card_sealed: Option<String>,
    pub id_card_masked: Option<String>,
    pub join_date: Option<String>,
    pub status: MemberStatus,
    pub org_id: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One step of a member's status history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// `None` for the status a member was registered with.
    pub from: Option<MemberStatus>,
    pub to: MemberStatus,
    pub effective_date: String,
    pub approving_org_id: String,
    pub note: String,
    pub actor: String,
    pub recorded_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_calendar_dates() {
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.to_string()).as_deref(),
            Ok("2024-02-29")
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-04-31",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pipeline_moves_one_stage_at_a_time() {
        use MemberStatus::*;
        assert_eq!(Applicant.refuses(Activist), None);
        assert!(
            Applicant.refuses(DevelopmentTarget).is_some(),
            "no skipping"
        );
        assert!(Full.refuses(Probationary).is_some(), "no going back");
        assert_eq!(Probationary.refuses(Removed), None);
        assert!(Deceased.refuses(Full).is_some());
    }
}
