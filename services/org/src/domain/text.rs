//! Validation of the free-form values that the org service's records carry, by the rules of
//! [`jiceng_values::Text`] with the org service's limits.

use jiceng_values::Text;

/// A display name: 1 to 100 characters on one line.
pub fn name(text: &str) -> Result<String, String> {
    Text::label(100).check(text)
}

/// Optional longer prose (descriptions, minutes, notes): up to 10,000 characters.
pub fn prose(text: &str) -> Result<String, String> {
    Text::prose(10_000).check(text)
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
            name: Text::label(50).check(name_text)?,
            unit_name: Text::optional_label(100).check(unit_name)?,
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
