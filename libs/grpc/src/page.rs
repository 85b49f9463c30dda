//! List paging (AIP-158): a capped page size and opaque page tokens bound to the query that
//! issued them, so a token cannot be replayed against another query or forged into a cursor.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::status::invalid_field;

/// Used when a request leaves `page_size` at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Validates `page_size`: 0 means the default, negative or above [`MAX_PAGE_SIZE`] is refused.
pub fn page_size(requested: i32) -> Result<u32, Status> {
    match u32::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) if size <= MAX_PAGE_SIZE => Ok(size),
        Ok(_) => Err(invalid_field(
            "page_size",
            format!("must be at most {MAX_PAGE_SIZE}"),
        )),
        Err(_) => Err(invalid_field("page_size", "must not be negative")),
    }
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// Format version.
    v: u8,
    /// The sort key of the last item of the previous page.
    after: String,
    /// Fingerprint of the query the token belongs to.
    q: String,
}

const TOKEN_VERSION: u8 = 1;

/// One page of a list request: its size and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    /// The sort key after which the page starts; `None` for the first page.
    pub after: Option<String>,
    query: String,
}

impl PageRequest {
    /// Reads `page_size` and `page_token`. `query` must describe every filter of the request
    /// (e.g. `"subtree|<root>|<depth>|<kinds>"`): a token is valid only for the same query.
    pub fn parse(page_size: i32, page_token: &str, query: String) -> Result<Self, Status> {
        let size = self::page_size(page_size)?;
        let after = if page_token.is_empty() {
            None
        } else {
            let forged = || invalid_field("page_token", "is not a token this list issued");
            let bytes = URL_SAFE_NO_PAD.decode(page_token).map_err(|_| forged())?;
            let token: Token = serde_json::from_slice(&bytes).map_err(|_| forged())?;
            if token.v != TOKEN_VERSION || token.q != fingerprint(&query) || token.after.is_empty()
            {
                return Err(forged());
            }
            Some(token.after)
        };
        Ok(Self { size, after, query })
    }

    /// The number of rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Cuts the fetched rows to the page and returns the token of the next page ("" at the end).
    pub fn finish<T>(&self, rows: &mut Vec<T>, sort_key: impl Fn(&T) -> String) -> String {
        if rows.len() <= self.size as usize {
            return String::new();
        }
        rows.truncate(self.size as usize);
        let Some(last) = rows.last() else {
            return String::new();
        };
        let token = Token {
            v: TOKEN_VERSION,
            after: sort_key(last),
            q: fingerprint(&self.query),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
    }
}

/// FNV-1a of the query description: short, and changes whenever a filter does.
fn fingerprint(query: &str) -> String {
    let hash = query.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_defaulted_and_capped() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7).ok(), Some(7));
        assert_eq!(
            page_size(-1).map_err(|s| s.code()),
            Err(tonic::Code::InvalidArgument)
        );
        assert_eq!(
            page_size(1001).map_err(|s| s.code()),
            Err(tonic::Code::InvalidArgument)
        );
    }

    #[test]
    fn a_token_round_trips_for_its_own_query_only() {
        let first = PageRequest::parse(2, "", "q1".into()).expect("first page");
        let mut rows = vec!["a", "b", "c"];
        let token = first.finish(&mut rows, |r| r.to_string());
        assert_eq!(rows, ["a", "b"]);
        let next = PageRequest::parse(2, &token, "q1".into()).expect("second page");
        assert_eq!(next.after.as_deref(), Some("b"));
        let other = PageRequest::parse(2, &token, "q2".into()).map_err(|s| s.code());
        assert_eq!(other, Err(tonic::Code::InvalidArgument));
        let forged = PageRequest::parse(2, "bm90LWEtdG9rZW4", "q1".into()).map_err(|s| s.code());
        assert_eq!(forged, Err(tonic::Code::InvalidArgument));
    }

    #[test]
    fn the_last_page_has_no_token() {
        let page = PageRequest::parse(3, "", "q".into()).expect("page");
        let mut rows = vec![1, 2, 3];
        assert_eq!(page.finish(&mut rows, |r| r.to_string()), "");
        assert_eq!(rows.len(), 3);
    }
}
