//! The unified social credit code (统一社会信用代码, GB 32100-2015) that registered
//! organisations carry: org's alliances and property's companies check it.

/// A unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from the code's
/// alphabet, the last a check character over the first seventeen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditCode(String);

/// The code's alphabet: digits and the capitals without I, O, S, V and Z; a character's value is
/// its position.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The values of `text`'s characters in the alphabet; None when one is not in it.
fn values(text: &str) -> Option<Vec<u32>> {
    text.bytes()
        .map(|b| ALPHABET.iter().position(|a| *a == b).map(|p| p as u32))
        .collect()
}

/// The value of the check character over the first seventeen values.
fn check_value(values: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31
}

impl CreditCode {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let code = text.trim().to_ascii_uppercase();
        let Some(values) = values(&code).filter(|v| v.len() == 18) else {
            return Err("must be 18 characters of 0-9 and A-Y without I, O, S, V");
        };
        if check_value(&values[..17]) != values[17] {
            return Err("has a wrong check character");
        }
        Ok(Self(code))
    }

    /// The code that `body` (its first seventeen characters) begins, completed with its check
    /// character: for registering organisations in tests and synthetic districts.
    pub fn complete(body: &str) -> Result<Self, &'static str> {
        let body = body.trim().to_ascii_uppercase();
        let Some(values) = values(&body).filter(|v| v.len() == 17) else {
            return Err("a code's body is 17 characters of 0-9 and A-Y without I, O, S, V");
        };
        let check = char::from(ALPHABET[check_value(&values) as usize]);
        Ok(Self(format!("{body}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_codes_carry_a_check_character() {
        // Codes as published on business licences.
        for code in ["91350100M000100Y43", "9144030071526726XG"] {
            assert_eq!(
                CreditCode::parse(code).map(|c| c.as_str().to_owned()),
                Ok(code.to_owned())
            );
        }
        assert!(
            CreditCode::parse("91350100m000100y43").is_ok(),
            "case does not matter"
        );
        assert!(
            CreditCode::parse("91350100M000100Y44").is_err(),
            "wrong check character"
        );
        assert!(CreditCode::parse("91350100M000100Y4").is_err(), "too short");
        assert!(
            CreditCode::parse("91350100M000100IO").is_err(),
            "I and O are not in the alphabet"
        );
    }

    #[test]
    fn a_body_is_completed_with_its_check_character() {
        let code = CreditCode::complete("91350100M000100Y4").expect("a body");
        assert_eq!(code.as_str(), "91350100M000100Y43");
        assert!(
            CreditCode::complete("91350100M000100").is_err(),
            "too short"
        );
        assert!(CreditCode::complete("91350100M000100IO").is_err());
    }
}
