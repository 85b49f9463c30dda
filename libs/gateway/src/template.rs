//! The path templates of `google.api.http` rules, in the subset the contracts use:
//! literal segments, variables that bind one segment to a (possibly nested) field, `{f=*}`
//! the same, `{f=**}` the rest of the path, and a trailing custom verb (`/v1/units/{id}:move`).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// Binds one path segment to the field at this path (`staff.grid_id`).
    Variable(Vec<String>),
    /// Binds the rest of the path, slashes included.
    Rest(Vec<String>),
}

/// A parsed path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    verb: Option<String>,
    text: String,
}

/// The field path a template variable binds, with the value the request's path gave it.
pub type Binding = (Vec<String>, String);

impl PathTemplate {
    /// Parses a rule's template; an error names what is not supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("`{text}` does not start with `/`"))?;
        // A verb follows the last `:` outside braces.
        let (path, verb) = match rest.rfind(':') {
            Some(at) if !rest[at..].contains('}') => (&rest[..at], Some(rest[at + 1..].to_owned())),
            _ => (rest, None),
        };
        if verb.as_deref().is_some_and(str::is_empty) {
            return Err(format!("`{text}` has an empty verb"));
        }
        let mut segments = Vec::new();
        for part in path.split('/') {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => {
                    let (field, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
                    let field_path: Vec<String> = field.split('.').map(str::to_owned).collect();
                    if field_path.iter().any(String::is_empty) {
                        return Err(format!("`{text}` binds an empty field name"));
                    }
                    match pattern {
                        "*" => Segment::Variable(field_path),
                        "**" => Segment::Rest(field_path),
                        other => {
                            return Err(format!("`{text}`: pattern `{other}` is not supported"));
                        }
                    }
                }
                None if part.is_empty() || part.contains(['{', '}']) => {
                    return Err(format!("`{text}` has a malformed segment `{part}`"));
                }
                None => Segment::Literal(part.to_owned()),
            };
            segments.push(segment);
        }
        if segments[..segments.len() - 1]
            .iter()
            .any(|s| matches!(s, Segment::Rest(_)))
        {
            return Err(format!("`{text}`: `**` must be the last segment"));
        }
        Ok(Self {
            segments,
            verb,
            text: text.to_owned(),
        })
    }

    /// The bindings of `path` when it matches, its variables percent-decoded; `None` otherwise.
    pub fn matches(&self, path: &str) -> Option<Vec<Binding>> {
        let path = path.strip_prefix('/')?;
        let path = match &self.verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let parts: Vec<&str> = path.split('/').collect();
        let mut bindings = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(index) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Variable(field) => {
                    let value = decode(parts.get(index)?)?;
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    bindings.push((field.clone(), value));
                }
                Segment::Rest(field) => {
                    let rest = parts.get(index..)?;
                    let value = rest.iter().map(|p| decode(p)).collect::<Option<Vec<_>>>()?;
                    if value.iter().any(String::is_empty) {
                        return None;
                    }
                    bindings.push((field.clone(), value.join("/")));
                    return Some(bindings);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(bindings)
    }

    /// Whether this template has a custom verb: such routes are tried first, so that
    /// `/v1/units/{id}:move` is never read as a unit named `u1:move`.
    pub fn has_verb(&self) -> bool {
        self.verb.is_some()
    }

    /// How many literal segments it has: the more, the more specific.
    pub fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// The field paths its variables bind, in order.
    pub fn variables(&self) -> impl Iterator<Item = &[String]> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(f) | Segment::Rest(f) => Some(f.as_slice()),
            Segment::Literal(_) => None,
        })
    }

    /// The first path segment after the version (`units` in `/v1/units/{id}:move`), with the
    /// verb when it follows that segment directly (`units:search`): what an ingress routes on.
    pub fn collection(&self) -> String {
        let mut collection = self
            .segments
            .iter()
            .take(2)
            .map(|s| match s {
                Segment::Literal(l) => l.clone(),
                Segment::Variable(_) | Segment::Rest(_) => "*".to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        if let (Some(verb), 2) = (&self.verb, self.segments.len()) {
            collection = format!("{collection}:{verb}");
        }
        format!("/{collection}")
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template)
            .expect("a valid template")
            .matches(path)
            .map(|b| b.into_iter().map(|(f, v)| (f.join("."), v)).collect())
    }

    #[test]
    fn variables_bind_one_segment_each_and_are_percent_decoded() {
        assert_eq!(
            bind("/v1/units/{id}", "/v1/units/u%2F1"),
            None,
            "a decoded slash is not one segment"
        );
        assert_eq!(
            bind(
                "/v1/grids/{grid_id}/staff/{subject}",
                "/v1/grids/g1/staff/user%3A7"
            ),
            Some(vec![
                ("grid_id".into(), "g1".into()),
                ("subject".into(), "user:7".into())
            ])
        );
        assert_eq!(
            bind("/v1/grids/{staff.grid_id}/staff", "/v1/grids/g1/staff"),
            Some(vec![("staff.grid_id".into(), "g1".into())])
        );
        assert_eq!(bind("/v1/units/{id}", "/v1/units/"), None);
        assert_eq!(bind("/v1/units/{id}", "/v1/units/a/b"), None);
        assert_eq!(bind("/v1/units/{id}", "/v1/unit/a"), None);
    }

    #[test]
    fn a_custom_verb_must_be_present_and_is_not_part_of_the_variable() {
        assert_eq!(
            bind("/v1/units/{id}:move", "/v1/units/u1:move"),
            Some(vec![("id".into(), "u1".into())])
        );
        assert_eq!(bind("/v1/units/{id}:move", "/v1/units/u1"), None);
        assert_eq!(bind("/v1/units/{id}:move", "/v1/units/u1:dissolve"), None);
        assert_eq!(bind("/v1/units:search", "/v1/units:search"), Some(vec![]));
        assert_eq!(bind("/v1/units:search", "/v1/units"), None);
    }

    #[test]
    fn rest_binds_the_remaining_segments() {
        assert_eq!(
            bind("/v1/files/{path=**}", "/v1/files/a/b/c"),
            Some(vec![("path".into(), "a/b/c".into())])
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "v1/units",
            "/v1//units",
            "/v1/{a=b/*}",
            "/v1/{x=**}/y",
            "/v1/units:",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_collection_is_what_an_ingress_routes_on() {
        let collection = |t: &str| PathTemplate::parse(t).expect("valid").collection();
        assert_eq!(collection("/v1/units/{id}:move"), "/v1/units");
        assert_eq!(collection("/v1/units:search"), "/v1/units:search");
        assert_eq!(collection("/v1/units"), "/v1/units");
    }
}
