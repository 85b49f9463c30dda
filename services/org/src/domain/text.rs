//! Validation of the free-form values that the org service's records carry.

/// Trimmed text of at most `max` characters without control characters (line breaks allowed
/// when `multiline`); empty is refused when `required`.
pub fn bounded(text: &str, max: usize, required: bool, multiline: bool) -> Result<String, String> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let forbidden = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\t'));
    if text.chars().any(forbidden) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

/// A display name: 1 to 100 characters.
pub fn name(text: &str) -> Result<String, String> {
    bounded(text, 100, true, false)
}

/// Optional longer prose (descriptions, minutes, notes): up to 10,000 characters.
pub fn prose(text: &str) -> Result<String, String> {
    bounded(text, 10_000, false, true)
}

/// An id issued by another jiceng service (members, grid cases): a UUID, kept canonical.
pub fn foreign_id(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("is required".into());
    }
    uuid::Uuid::try_parse(text)
        .map(|id| id.to_string())
        .map_err(|_| "must be an id (a UUID)".into())
}

/// A person outside the platform: a name and the unit they work for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    pub name: String,
    pub unit_name: String,
}

impl Person {
    pub fn parse(name_text: &str, unit_name: &str) -> Result<Self, String> {
        Ok(Self {
            name: bounded(name_text, 50, true, false)?,
            unit_name: bounded(unit_name, 100, false, false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_single_line_unless_prose() {
        assert_eq!(name("  陆家嘴  ").as_deref(), Ok("陆家嘴"));
        assert!(name("").is_err());
        assert!(name("a\nb").is_err());
        assert_eq!(prose("第一项\n第二项").as_deref(), Ok("第一项\n第二项"));
        assert!(prose(&"字".repeat(10_001)).is_err());
        assert!(foreign_id("member-1").is_err());
        assert!(Person::parse("", "某单位").is_err());
    }
}
