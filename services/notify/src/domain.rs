//! Notification values that validate on construction: category and topic names, priorities,
//! and templates whose variables are checked when the category is registered; and the webhooks
//! notifications are delivered to, with the record of their deliveries.

use std::collections::BTreeMap;

/// A category or topic name: 1 to 64 characters of a-z, 0-9, '_', '.' and '-'.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be 1 to 64 characters of a-z, 0-9, '_', '.' and '-'")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A named audience people follow, owned by the org unit whose admins publish to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub name: Name,
    /// Empty for the whole district: only its admins and the platform's services publish.
    pub owner_org_id: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Low, Self::Normal, Self::High, Self::Urgent]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// A piece of a template: literal text or a `{{variable}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Variable(String),
}

/// A text with `{{variable}}` placeholders, parsed once so that rendering cannot fail on syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "unclosed '{{{{' at byte {}",
                    source.len() - rest.len() + open
                )
            })?;
            let name = after[..close].trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "{:?} is not a variable name (letters, digits, '_')",
                    &after[..close]
                ));
            }
            pieces.push(Piece::Variable(name.to_owned()));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err("'}}' without a matching '{{'".into());
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The variables the template uses.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Variable(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Fills the placeholders; a missing value names the variable.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Variable(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| format!("variable {name:?} has no value"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// A registered category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub name: Name,
    pub title: Template,
    pub body: Template,
    pub variables: Vec<String>,
    pub critical: bool,
    /// Milliseconds low-priority notifications wait to be folded into a digest; 0 for none.
    pub digest_window_ms: i64,
}

/// The longest digest window: a day.
pub const MAX_DIGEST_WINDOW_MS: i64 = 86_400_000;

impl Category {
    /// A category whose templates use only the variables it declares.
    pub fn new(
        name: Name,
        title: Template,
        body: Template,
        mut variables: Vec<String>,
        critical: bool,
    ) -> Result<Self, String> {
        variables.sort();
        variables.dedup();
        if let Some(unknown) = title
            .variables()
            .chain(body.variables())
            .find(|v| !variables.iter().any(|d| d == v))
        {
            return Err(format!(
                "the templates use {unknown:?}, which is not among the declared variables"
            ));
        }
        Ok(Self {
            name,
            title,
            body,
            variables,
            critical,
            digest_window_ms: 0,
        })
    }

    /// Folds low-priority notifications into a digest every `window_ms` (0 turns it off).
    pub fn with_digest(mut self, window_ms: i64) -> Result<Self, String> {
        if !(0..=MAX_DIGEST_WINDOW_MS).contains(&window_ms) {
            return Err("the digest window must be 0 to 86,400 seconds".into());
        }
        self.digest_window_ms = window_ms;
        Ok(self)
    }

    /// True when a notification of `priority` waits for the digest instead of arriving alone.
    pub fn digests(&self, priority: Priority) -> bool {
        self.digest_window_ms > 0 && priority == Priority::Low
    }

    /// Title and body of a notification: the templates rendered, or the given texts when the
    /// category has no templates. Every declared variable must have a value.
    pub fn render(
        &self,
        title: &str,
        body: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<(String, String), String> {
        if let Some(missing) = self.variables.iter().find(|v| !values.contains_key(*v)) {
            return Err(format!("variable {missing:?} has no value"));
        }
        let title = if self.title.is_empty() {
            title.to_owned()
        } else {
            self.title.render(values)?
        };
        let body = if self.body.is_empty() {
            body.to_owned()
        } else {
            self.body.render(values)?
        };
        if title.trim().is_empty() {
            return Err("the notification has no title".into());
        }
        Ok((title, body))
    }
}

/// A notification about to be published, its texts rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    /// Who published: a token subject, or an event source.
    pub publisher: String,
    pub idempotency_key: String,
    pub category: Name,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub link: String,
    pub data: BTreeMap<String, String>,
    pub source_event_id: Option<String>,
    pub trace_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub category: Name,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub link: String,
    pub data: BTreeMap<String, String>,
    pub delivered_count: i64,
    pub source_event_id: Option<String>,
    pub trace_id: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxItem {
    pub seq: i64,
    pub notification: Notification,
    pub read: bool,
    pub archived: bool,
    pub delivered_at: i64,
}

/// A registered webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub recipient: String,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
}

/// One try at a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub at: i64,
    /// 0 when no response came.
    pub http_status: i64,
    pub latency_ms: i64,
    pub error: String,
}

/// A delivery with its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub webhook_id: String,
    pub url: String,
    /// "pending", "delivered" or "failed".
    pub state: String,
    pub attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn templates_render_their_variables() {
        let template = Template::parse("{{unit}}：请于{{ due }}前完成").expect("valid");
        assert_eq!(template.variables().collect::<Vec<_>>(), ["unit", "due"]);
        let text = template
            .render(&values(&[("unit", "梅园一村"), ("due", "12月1日")]))
            .expect("rendered");
        assert_eq!(text, "梅园一村：请于12月1日前完成");
        assert!(template.render(&values(&[("unit", "x")])).is_err());
    }

    #[test]
    fn broken_templates_are_refused() {
        assert!(Template::parse("{{unit").is_err());
        assert!(Template::parse("unit}}").is_err());
        assert!(Template::parse("{{}}").is_err());
        assert!(Template::parse("{{a b}}").is_err());
    }

    #[test]
    fn a_category_declares_every_variable_its_templates_use() {
        let name = Name::parse("decision.overdue").expect("name");
        let title = Template::parse("逾期：{{text}}").expect("title");
        let body = Template::parse("{{owner}}").expect("body");
        assert!(
            Category::new(
                name.clone(),
                title.clone(),
                body.clone(),
                vec!["text".into()],
                true
            )
            .is_err()
        );
        let category = Category::new(name, title, body, vec!["text".into(), "owner".into()], true)
            .expect("valid");
        let missing = category.render("", "", &values(&[("text", "清理堆物")]));
        assert!(missing.is_err());
        let (title, body) = category
            .render(
                "",
                "",
                &values(&[("text", "清理堆物"), ("owner", "梅园一村")]),
            )
            .expect("ok");
        assert_eq!(
            (title.as_str(), body.as_str()),
            ("逾期：清理堆物", "梅园一村")
        );
    }

    #[test]
    fn names_are_restricted() {
        assert!(Name::parse("org.meeting.scheduled").is_ok());
        assert!(Name::parse("Org").is_err());
        assert!(Name::parse("").is_err());
        assert!(Name::parse(&"a".repeat(65)).is_err());
    }
}
