//! Issue categories (like Open311 service definitions): the attributes a report of the category
//! carries, who handles it by default, and the time limits of each step per urgency.

use std::collections::BTreeMap;

use super::{
    calendar::ClockKind,
    case::{Step, Urgency},
};

/// A category code: 1 to 64 characters of a-z, 0-9, '_' and '.'.
pub fn category_code(text: &str) -> Result<String, &'static str> {
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

/// The type of an attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeKind {
    Text,
    Number,
    Boolean,
    /// One of the attribute's choices.
    Choice,
}

impl AttributeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Choice => "choice",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Text, Self::Number, Self::Boolean, Self::Choice]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// An extra field a report of the category carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub code: String,
    pub name: String,
    pub kind: AttributeKind,
    pub required: bool,
    pub choices: Vec<String>,
}

/// Time limits in minutes, counted by the category's clock; 0 means none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub accept: i64,
    pub dispatch: i64,
    pub handle: i64,
    pub verify: i64,
    pub overall: i64,
}

impl Limits {
    pub fn of(&self, step: Step) -> Option<i64> {
        let minutes = match step {
            Step::Accept => self.accept,
            Step::Dispatch => self.dispatch,
            Step::Handle => self.handle,
            Step::Verify => self.verify,
        };
        (minutes > 0).then_some(minutes)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub attributes: Vec<Attribute>,
    /// The org unit kind that handles it by default, e.g. `residential_committee`.
    pub default_handler_kind: String,
    pub clock: ClockKind,
    /// Per urgency: normal, urgent, critical.
    pub limits: [Limits; 3],
}

impl Category {
    pub fn limits(&self, urgency: Urgency) -> Limits {
        self.limits[match urgency {
            Urgency::Normal => 0,
            Urgency::Urgent => 1,
            Urgency::Critical => 2,
        }]
    }

    /// Checks the attribute values of a report: every required one given, each of its type, no
    /// unknown ones. Returns the violations by attribute code.
    pub fn check_values(&self, values: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut violations = Vec::new();
        for code in values.keys() {
            if !self.attributes.iter().any(|a| &a.code == code) {
                violations.push((code.clone(), "is not an attribute of the category".into()));
            }
        }
        for attribute in &self.attributes {
            let Some(value) = values.get(&attribute.code) else {
                if attribute.required {
                    violations.push((attribute.code.clone(), "is required".into()));
                }
                continue;
            };
            let valid = match attribute.kind {
                AttributeKind::Text => value.chars().count() <= 500,
                AttributeKind::Number => value.parse::<f64>().is_ok_and(f64::is_finite),
                AttributeKind::Boolean => value == "true" || value == "false",
                AttributeKind::Choice => attribute.choices.contains(value),
            };
            if !valid {
                violations.push((
                    attribute.code.clone(),
                    format!("must be a valid {}", attribute.kind.as_str()),
                ));
            }
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_attributes() {
        let category = Category {
            code: "city.garbage".into(),
            name: "垃圾堆放".into(),
            attributes: vec![
                Attribute {
                    code: "volume".into(),
                    name: "体量".into(),
                    kind: AttributeKind::Choice,
                    required: true,
                    choices: vec!["small".into(), "large".into()],
                },
                Attribute {
                    code: "bags".into(),
                    name: "袋数".into(),
                    kind: AttributeKind::Number,
                    required: false,
                    choices: Vec::new(),
                },
            ],
            default_handler_kind: "residential_committee".into(),
            clock: ClockKind::Working,
            limits: [Limits::default(); 3],
        };
        let ok = BTreeMap::from([("volume".to_owned(), "large".to_owned())]);
        assert!(category.check_values(&ok).is_empty());
        let bad = BTreeMap::from([
            ("bags".to_owned(), "many".to_owned()),
            ("colour".to_owned(), "red".to_owned()),
        ]);
        let codes: Vec<_> = category
            .check_values(&bad)
            .into_iter()
            .map(|(code, _)| code)
            .collect();
        assert_eq!(codes, ["colour", "volume", "bags"]);
    }
}
