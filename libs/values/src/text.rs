//! Free-form text fields: names and labels on one line, prose over several.

/// The rule a text field follows: how long it may be, whether it may be empty, and whether it
/// may run over several lines. Control characters other than line breaks and tabs are refused
/// everywhere: they hide text from those who read it and break the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    max_chars: usize,
    required: bool,
    multiline: bool,
}

impl Text {
    /// A name or short label: 1 to `max_chars` characters on one line.
    pub const fn label(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: true,
            multiline: false,
        }
    }

    /// A label that may be left empty.
    pub const fn optional_label(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: false,
            multiline: false,
        }
    }

    /// Prose (descriptions, minutes, notes): up to `max_chars` characters, line breaks allowed,
    /// may be empty.
    pub const fn prose(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: false,
            multiline: true,
        }
    }

    /// Prose that must not be empty.
    pub const fn required_prose(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: true,
            multiline: true,
        }
    }

    /// `text` trimmed, when it follows the rule; otherwise what is wrong with it.
    pub fn check(self, text: &str) -> Result<String, String> {
        let text = text.trim();
        if self.required && text.is_empty() {
            return Err("is required".into());
        }
        if text.chars().count() > self.max_chars {
            return Err(format!("must be at most {} characters", self.max_chars));
        }
        let line_break = |c: char| matches!(c, '\n' | '\r' | '\t');
        if text
            .chars()
            .any(|c| c.is_control() && !(self.multiline && line_break(c)))
        {
            return Err(if self.multiline {
                "must not contain control characters other than line breaks and tabs".into()
            } else {
                "must be one line without control characters".into()
            });
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_counted_in_characters_and_single_line_unless_prose() {
        assert_eq!(
            Text::label(100).check("  陆家嘴  ").as_deref(),
            Ok("陆家嘴")
        );
        assert_eq!(Text::label(3).check("陆家嘴").as_deref(), Ok("陆家嘴"));
        assert_eq!(
            Text::label(2).check("陆家嘴"),
            Err("must be at most 2 characters".into())
        );
        assert_eq!(Text::label(10).check("  "), Err("is required".into()));
        assert_eq!(Text::optional_label(10).check("  ").as_deref(), Ok(""));
        assert!(Text::label(10).check("a\nb").is_err());
        assert!(Text::optional_label(10).check("a\tb").is_err());
        assert_eq!(
            Text::prose(100).check("第一项\r\n第二项\t完").as_deref(),
            Ok("第一项\r\n第二项\t完")
        );
        assert!(Text::prose(100).check("a\u{7}b").is_err());
        assert!(Text::prose(10_000).check(&"字".repeat(10_001)).is_err());
        assert_eq!(
            Text::required_prose(10).check(""),
            Err("is required".into())
        );
    }
}
