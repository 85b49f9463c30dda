//! Personal values as those who may not see them in clear are shown them.

/// A person's name: the first character, then `*` for the rest but the last (`王*明`, `李*`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [only] => format!("{only}*"),
        [first, _] => format!("{first}*"),
        [first, middle @ .., last] => {
            format!("{first}{}{last}", "*".repeat(middle.len()))
        }
    }
}

/// A phone number: the first three and last four digits (`138****5678`); a number of seven
/// digits or fewer is hidden whole.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let (head, rest) = chars.split_at(3);
    let (middle, tail) = rest.split_at(rest.len() - 4);
    format!(
        "{}{}{}",
        head.iter().collect::<String>(),
        "*".repeat(middle.len()),
        tail.iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phones_are_masked() {
        assert_eq!(mask_name("王小明"), "王*明");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_name("欧阳晓晓"), "欧**晓");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("021-12345678"), "021*****5678");
        assert_eq!(mask_phone("12345"), "*****");
    }
}
