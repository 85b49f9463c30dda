//! List paging (AIP-158): a bounded page size and opaque page tokens bound to the query that
//! issued them, so a token cannot be replayed against another query or forged into a cursor.
//!
//! `page_size` is an `optional` field: unset means the default, while an explicit 0, a negative
//! or an oversized value is refused rather than silently changed.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::status::invalid_field;

/// Used when a request leaves `page_size` unset.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Validates `page_size`: unset means the default; it must be 1 to [`MAX_PAGE_SIZE`].
pub fn page_size(requested: Option<i32>) -> Result<u32, Status> {
    let Some(requested) = requested else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match u32::try_from(requested) {
        Ok(size @ 1..=MAX_PAGE_SIZE) => Ok(size),
        Ok(0) => Err(invalid_field(
            "page_size",
            "must be at least 1; leave it unset for the default",
        )),
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
    pub fn parse(page_size: Option<i32>, page_token: &str, query: String) -> Result<Self, Status> {
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

    /// Like [`PageRequest::parse`], for a list that did not page before: unset, `page_size` is
    /// [`MAX_PAGE_SIZE`], so that a caller from before paging still reads a short list whole.
    pub fn parse_whole_by_default(
        page_size: Option<i32>,
        page_token: &str,
        query: String,
    ) -> Result<Self, Status> {
        let mut page = Self::parse(page_size, page_token, query)?;
        if page_size.is_none() {
            page.size = MAX_PAGE_SIZE;
        }
        Ok(page)
    }

    /// Cuts a page out of a list read whole, in its own order (a list bounded by what it lists:
    /// a unit's positions, the district's categories): the page starts after the item whose
    /// `key` the token names, or, when that item has gone since, at the item that followed it,
    /// now in its place. Returns the page and the token of the next ("" at the end).
    pub fn page_of<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
        let start = match self
            .after
            .as_deref()
            .and_then(|after| after.split_once('|'))
        {
            None => 0,
            Some((index, after)) => items
                .iter()
                .position(|item| key(item) == after)
                .map(|found| found + 1)
                .or_else(|| index.parse::<usize>().ok())
                .unwrap_or(0),
        };
        let mut page: Vec<(usize, T)> = items
            .into_iter()
            .enumerate()
            .skip(start)
            .take(self.size as usize + 1)
            .collect();
        let token = self.finish(&mut page, |(index, item)| format!("{index}|{}", key(item)));
        (page.into_iter().map(|(_, item)| item).collect(), token)
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

/// The page position of a list in `created_at DESC, id DESC` order, as its token carries it.
pub fn time_cursor_of(created_at: i64, id: &str) -> String {
    format!("{created_at}|{id}")
}

/// Reads back what [`time_cursor_of`] wrote.
pub fn time_cursor(cursor: &str) -> Result<(i64, String), Status> {
    cursor
        .split_once('|')
        .and_then(|(time, id)| Some((time.parse().ok()?, id.to_owned())))
        .ok_or_else(|| invalid_field("page_token", "is not a token this list issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_defaulted_when_unset_and_bounded_when_set() {
        assert_eq!(page_size(None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(7)).ok(), Some(7));
        assert_eq!(page_size(Some(1000)).ok(), Some(MAX_PAGE_SIZE));
        for bad in [0, -1, 1001] {
            let refused = page_size(Some(bad)).map_err(|s| s.code());
            assert_eq!(refused, Err(tonic::Code::InvalidArgument), "{bad}");
        }
    }

    #[test]
    fn a_token_round_trips_for_its_own_query_only() {
        let first = PageRequest::parse(Some(2), "", "q1".into()).expect("first page");
        let mut rows = vec!["a", "b", "c"];
        let token = first.finish(&mut rows, |r| r.to_string());
        assert_eq!(rows, ["a", "b"]);
        let next = PageRequest::parse(Some(2), &token, "q1".into()).expect("second page");
        assert_eq!(next.after.as_deref(), Some("b"));
        let other = PageRequest::parse(Some(2), &token, "q2".into()).map_err(|s| s.code());
        assert_eq!(other, Err(tonic::Code::InvalidArgument));
        let forged =
            PageRequest::parse(Some(2), "bm90LWEtdG9rZW4", "q1".into()).map_err(|s| s.code());
        assert_eq!(forged, Err(tonic::Code::InvalidArgument));
    }

    #[test]
    fn a_list_read_whole_pages_by_key_and_survives_a_removal() {
        let first = PageRequest::parse(Some(2), "", "q".into()).expect("first page");
        let (page, token) = first.page_of(vec!["a", "b", "c", "d", "e"], |s| s.to_string());
        assert_eq!(page, ["a", "b"]);
        let second = PageRequest::parse(Some(2), &token, "q".into()).expect("second");
        // "a" went meanwhile: the page still starts after "b".
        let (page, token) = second.page_of(vec!["b", "c", "d", "e"], |s| s.to_string());
        assert_eq!(page, ["c", "d"]);
        let third = PageRequest::parse(Some(2), &token, "q".into()).expect("third");
        // "d" itself went: the page starts where it stood.
        let (page, token) = third.page_of(vec!["b", "c", "e"], |s| s.to_string());
        assert_eq!((page, token), (vec!["e"], String::new()));
    }

    #[test]
    fn a_list_that_did_not_page_is_whole_unless_asked() {
        let whole = PageRequest::parse_whole_by_default(None, "", "q".into()).expect("page");
        assert_eq!(whole.size, MAX_PAGE_SIZE);
        let asked = PageRequest::parse_whole_by_default(Some(3), "", "q".into()).expect("page");
        assert_eq!(asked.size, 3);
    }

    #[test]
    fn the_last_page_has_no_token() {
        let page = PageRequest::parse(Some(3), "", "q".into()).expect("page");
        let mut rows = vec![1, 2, 3];
        assert_eq!(page.finish(&mut rows, |r| r.to_string()), "");
        assert_eq!(rows.len(), 3);
    }
}
