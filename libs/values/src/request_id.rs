//! The idempotency key a caller sends with a mutation.

/// A request id: 1 to 128 printable ASCII characters, no spaces (a UUID is the usual choice).
/// Kept per caller; what a retry gets back is `jiceng_db::RequestIds`' to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The most characters a request id may have.
    pub const MAX_CHARS: usize = 128;

    /// `None` when the caller sent none (an empty field).
    pub fn parse_optional(text: &str) -> Result<Option<Self>, &'static str> {
        if text.is_empty() {
            return Ok(None);
        }
        if text.len() > Self::MAX_CHARS || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be 1 to 128 printable ASCII characters without spaces");
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_printable_ascii() {
        assert_eq!(RequestId::parse_optional(""), Ok(None));
        let uuid = "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            RequestId::parse_optional(uuid).map(|id| id.map(|id| id.as_str().to_owned())),
            Ok(Some(uuid.to_owned()))
        );
        assert!(RequestId::parse_optional(&"x".repeat(128)).is_ok());
        for bad in ["x".repeat(129), "a b".into(), "请求".into(), "a\tb".into()] {
            assert!(RequestId::parse_optional(&bad).is_err(), "{bad}");
        }
    }
}
