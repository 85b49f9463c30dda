//! The resident ID-card number (居民身份证号码, GB 11643).

use std::fmt;

/// A resident ID-card number: 17 digits and a check character (a digit or X). It is personal
/// data, so its `Debug` shows it masked, whatever logs it.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCard(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECKS: &[u8; 11] = b"10X98765432";

impl IdCard {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let id = text.trim().to_ascii_uppercase();
        let bytes = id.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err("must be 18 characters: 17 digits and a check character");
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        if CHECKS[(sum % 11) as usize] != bytes[17] {
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

impl fmt::Debug for IdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_card_numbers_carry_a_check_character_and_print_masked() {
        // The check character of 11010519491231002 is X.
        let id = IdCard::parse("11010519491231002x").expect("id");
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "1101**********002X");
        assert!(
            IdCard::parse("110105194912310021").is_err(),
            "wrong check character"
        );
        assert!(IdCard::parse("1101051949123100").is_err(), "too short");
    }
}
