//! Member values that validate on construction, and the rules of the development pipeline.

pub mod points;

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

/// A mainland mobile number: 11 digits starting with 1.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let digits = text.trim();
        if digits.len() == 11
            && digits.starts_with('1')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(Self(digits.to_owned()))
        } else {
            Err("must be an 11-digit mobile number")
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// A resident ID-card number (GB 11643): 17 digits and a check character.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCard(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECKS: &[u8; 11] = b"10X98765432";

impl IdCard {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let id = text.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err("must be 18 characters: 17 digits and a check character");
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        if ID_CHECKS[(sum % 11) as usize] != bytes[17] {
            return Err("has a wrong check character");
        }
        Ok(Self(id))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `3101**********123X`.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }
}

// Personal data never prints in clear, whatever logs it.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for IdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
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
    fn personal_numbers_validate_and_mask() {
        let phone = Phone::parse("13812345678").expect("phone");
        assert_eq!(phone.masked(), "138****5678");
        assert_eq!(format!("{phone:?}"), "138****5678");
        assert!(Phone::parse("2381234567").is_err());
        // The check character of 11010519491231002 is X.
        let id = IdCard::parse("11010519491231002x").expect("id");
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.masked(), "1101**********002X");
        assert!(
            IdCard::parse("110105194912310021").is_err(),
            "wrong check character"
        );
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
