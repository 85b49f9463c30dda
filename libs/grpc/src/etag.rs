//! Etags: a resource's version as the API shows it (`v7`), sent back to make a change conditional
//! on nothing having changed since the read (AIP-154). Every service writes and reads them here,
//! so that a malformed etag is the same INVALID_ARGUMENT everywhere and a stale one is left to the
//! store, which compares versions and answers ABORTED.

use tonic::Status;

use crate::status::invalid_field;

/// Why an etag was refused, as a field violation says it.
const NOT_AN_ETAG: &str = "is not an etag this service issued";

/// The etag of a resource at `version`.
pub fn etag_of(version: i64) -> String {
    format!("v{version}")
}

/// The version an etag names; `None` when it is empty (no condition), [`NOT_AN_ETAG`] when it
/// is not an etag this platform issued. For a request that gathers its field violations.
pub fn version_of(etag: &str) -> Result<Option<i64>, &'static str> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.strip_prefix('v')
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or(NOT_AN_ETAG)
}

/// [`version_of`] the etag in request field `field`, INVALID_ARGUMENT naming it when malformed.
pub fn version_in(field: &str, etag: &str) -> Result<Option<i64>, Status> {
    version_of(etag).map_err(|reason| invalid_field(field, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_names_its_version_and_nothing_else_passes() {
        assert_eq!(etag_of(7), "v7");
        assert_eq!(version_in("etag", "v7").expect("an etag"), Some(7));
        assert_eq!(version_in("etag", "").expect("no condition"), None);
        for bad in ["7", "v", "v-1", "vx", "W/\"v7\"", " v7"] {
            let refused = version_in("etag", bad).expect_err(bad);
            assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }
}
