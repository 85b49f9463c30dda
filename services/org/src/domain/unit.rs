use std::fmt;

use super::kind::UnitKind;

/// A unit's id: a UUID in canonical lower-case form (UUIDv7 for the units this service creates).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(String);

impl UnitId {
    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id a district's root unit is made with: a name-based UUID (version 5, in the URL
    /// namespace, of `jiceng:district-root:<code>`), so that it is known before the district is
    /// installed — the identity provider can issue the district admins' tokens, scoped to it,
    /// from the start — and anyone can compute it again, e.g. Python's
    /// `uuid.uuid5(uuid.NAMESPACE_URL, "jiceng:district-root:310115")`.
    pub fn district_root(district_code: &str) -> Self {
        let name = format!("jiceng:district-root:{district_code}");
        Self(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string())
    }

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.is_empty() {
            return Err("is required");
        }
        uuid::Uuid::try_parse(text)
            .map(|id| Self(id.to_string()))
            .map_err(|_| "must be a unit id (a UUID)")
    }

    /// An id read back from the database, where only canonical ids are written: checked for
    /// shape without re-parsing, since reads of large subtrees decode thousands of ids.
    pub fn from_stored(text: String) -> Result<Self, String> {
        let canonical = text.len() == 36
            && text.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            });
        if canonical { Ok(Self(text)) } else { Err(text) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for UnitId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: 1 to 100 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitName(String);

impl UnitName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    /// A name read back from the database, where only parsed names are written.
    pub fn from_stored(text: String) -> Result<Self, String> {
        if text.is_empty() {
            Err(text)
        } else {
            Ok(Self(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional code unique in the district, such as an administrative division code:
/// 1 to 32 characters of A-Z, 0-9, '-', '_' and '.'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCode(String);

impl UnitCode {
    pub const MAX_CHARS: usize = 32;

    /// `None` for an empty text: the unit has no code.
    pub fn parse_optional(text: &str) -> Result<Option<Self>, String> {
        let code = text.trim();
        if code.is_empty() {
            return Ok(None);
        }
        if code.len() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            return Err("may contain only A-Z, 0-9, '-', '_' and '.'".into());
        }
        Ok(Some(Self(code.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name search: 1 to 100 characters, matched as a substring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameQuery(String);

impl NameQuery {
    pub fn parse(text: &str) -> Result<Self, String> {
        UnitName::parse(text).map(|name| Self(name.0))
    }

    /// A LIKE pattern matching names that contain the query, with LIKE's wildcards escaped
    /// (the store uses `ESCAPE '\'`).
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitStatus {
    Active,
    Dissolved,
}

impl UnitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::Active => "active",
            UnitStatus::Dissolved => "dissolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(UnitStatus::Active),
            "dissolved" => Some(UnitStatus::Dissolved),
            _ => None,
        }
    }
}

/// An organisation unit as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub id: UnitId,
    pub parent_id: Option<UnitId>,
    pub kind: UnitKind,
    pub name: UnitName,
    pub code: Option<UnitCode>,
    pub status: UnitStatus,
    /// The materialised path: `/<root id>/…/<own id>/`.
    pub path: String,
    pub depth: i64,
    /// Bumped by every change; the etag is derived from it.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Unit {
    pub fn is_active(&self) -> bool {
        self.status == UnitStatus::Active
    }

    /// The ids from the root down to this unit, read off the path.
    pub fn ancestor_ids(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// True when `other` is this unit or lies below it.
    pub fn contains(&self, other: &Unit) -> bool {
        other.path.starts_with(&self.path)
    }

    /// True when this unit is `scope` or lies below the unit with id `scope`. An empty scope
    /// holds nothing (the path's empty segments are no unit).
    pub fn is_within(&self, scope: &str) -> bool {
        !scope.is_empty() && self.path.split('/').any(|segment| segment == scope)
    }
}

/// The half-open range of paths of a subtree: every path that starts with `path`.
/// '0' is the byte after '/', so `[path, path-with-last-slash-as-'0')` is exactly the prefix set
/// under a byte-wise (C) collation.
pub fn subtree_range(path: &str) -> (String, String) {
    let mut upper = path.trim_end_matches('/').to_owned();
    upper.push('0');
    (path.to_owned(), upper)
}

/// Where the tree stands: its generation, and the generation its last move committed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeGenerations {
    pub generation: i64,
    pub paths_generation: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            UnitName::parse("  陆家嘴街道党工委 ")
                .expect("valid")
                .as_str(),
            "陆家嘴街道党工委"
        );
        assert!(UnitName::parse("   ").is_err());
        assert!(UnitName::parse(&"街".repeat(101)).is_err());
        assert!(UnitName::parse(&"街".repeat(100)).is_ok());
        assert!(UnitName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn codes_are_optional_and_restricted() {
        assert_eq!(UnitCode::parse_optional("").expect("empty"), None);
        assert!(UnitCode::parse_optional("310115").expect("valid").is_some());
        assert!(UnitCode::parse_optional("abc").is_err());
        assert!(UnitCode::parse_optional(&"9".repeat(33)).is_err());
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(UnitId::parse("").is_err());
        assert!(UnitId::parse("not-a-uuid").is_err());
        let id = UnitId::new_v7();
        assert_eq!(
            UnitId::parse(&id.as_str().to_uppercase()).expect("valid"),
            id
        );
    }

    #[test]
    fn stored_ids_must_be_canonical() {
        let id = UnitId::new_v7();
        assert_eq!(UnitId::from_stored(id.to_string()), Ok(id.clone()));
        assert!(UnitId::from_stored(id.as_str().to_uppercase()).is_err());
        assert!(UnitId::from_stored("x".repeat(36)).is_err());
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(
            NameQuery::parse("50%_a\\").expect("valid").like_pattern(),
            "%50\\%\\_a\\\\%"
        );
    }

    #[test]
    fn a_subtree_range_holds_exactly_the_descendants() {
        let (lo, hi) = subtree_range("/a/b/");
        for inside in ["/a/b/", "/a/b/c/", "/a/b/zz/y/"] {
            assert!(lo.as_str() <= inside && inside < hi.as_str(), "{inside}");
        }
        for outside in ["/a/", "/a/bc/", "/a/b0/", "/a/c/"] {
            assert!(
                !(lo.as_str() <= outside && outside < hi.as_str()),
                "{outside}"
            );
        }
    }
}
