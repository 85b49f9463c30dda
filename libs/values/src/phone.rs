//! Phone numbers: a person's mobile number, and a number the public dials.

use std::fmt;

use crate::mask_phone;

/// A mainland mobile number: 11 digits starting with 1. It is personal data, so its `Debug`
/// shows it masked, whatever logs it.
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

    pub fn into_inner(self) -> String {
        self.0
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A telephone number as dialled in China, published for the public to call (a hotline):
/// digits and dashes, 5 to 13 digits (12345, 021-…, a mobile number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Telephone(String);

impl Telephone {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let digits = text.chars().filter(char::is_ascii_digit).count();
        if text.chars().all(|c| c.is_ascii_digit() || c == '-') && (5..=13).contains(&digits) {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be a telephone number")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_eleven_digits_and_never_print_in_clear() {
        let phone = Phone::parse(" 13812345678 ").expect("phone");
        assert_eq!(phone.expose(), "13812345678");
        assert_eq!(format!("{phone:?}"), "138****5678");
        for bad in ["1381234567", "23812345678", "1381234567x", "138-1234-5678"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn telephone_numbers_take_dashes_and_short_hotlines() {
        for good in ["12345", "021-58781234", "13812345678"] {
            assert_eq!(
                Telephone::parse(good).map(Telephone::into_inner),
                Ok(good.into())
            );
        }
        for bad in ["1234", "021 5878 1234", "12345678901234", "热线"] {
            assert!(Telephone::parse(bad).is_err(), "{bad}");
        }
    }
}
