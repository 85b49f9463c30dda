use sqlx::error::ErrorKind;
use tonic::Status;

/// Failures of connecting to or preparing a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "database url must start with postgres://, postgresql:// or sqlite: (a file, not :memory:)"
    )]
    UnsupportedUrl,
    #[error("cannot create the database folder: {0}")]
    CreateFolder(#[source] std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot refresh the planner's statistics: {0}")]
    Statistics(#[source] sqlx::Error),
    #[error("migration {component}/{version} failed: {source}")]
    Migrate {
        component: &'static str,
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "migration {component}/{version} was changed after it was applied; write a new migration instead"
    )]
    MigrationChanged {
        component: &'static str,
        version: i64,
    },
}

/// Maps a database error to the gRPC status a caller should see. Constraint violations keep
/// their meaning; outages are UNAVAILABLE so clients retry; anything else is INTERNAL with the
/// details logged, never sent.
pub fn status_from_sqlx(err: sqlx::Error) -> Status {
    match &err {
        sqlx::Error::RowNotFound => Status::not_found("not found"),
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => Status::already_exists("already exists"),
            ErrorKind::ForeignKeyViolation => {
                Status::failed_precondition("a referenced record does not exist")
            }
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                Status::invalid_argument("a value breaks a rule of the stored data")
            }
            _ if is_bad_value(db.code().as_deref()) => {
                tracing::warn!(error = %err, "the database refused a value");
                Status::invalid_argument("a value the database cannot store or compare")
            }
            _ if is_transient(db.code().as_deref()) => {
                tracing::warn!(error = %err, "transient database error");
                Status::unavailable("database busy, try again")
            }
            _ => internal(&err),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            tracing::warn!(error = %err, "database unavailable");
            Status::unavailable("database unavailable")
        }
        // A connection cut while it asks for TLS (no answer, or a garbled one, to its
        // SSLRequest) or during the handshake: the database is as unreachable as when the cut
        // comes later as an I/O error.
        sqlx::Error::Tls(_) => {
            tracing::warn!(error = %err, "database unavailable");
            Status::unavailable("database unavailable")
        }
        sqlx::Error::Protocol(message) if message.contains("SSLRequest") => {
            tracing::warn!(error = %err, "database unavailable");
            Status::unavailable("database unavailable")
        }
        _ => internal(&err),
    }
}

/// PostgreSQL's data exceptions (class 22: a NUL byte in text, a number out of range, text
/// that is not a valid value of its column's type) and its program limits (54000: a key too
/// large for an index). They come from the caller's values, which SQLite stores or compares
/// without complaint, so the caller hears INVALID_ARGUMENT on either backend, never INTERNAL.
fn is_bad_value(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.len() == 5 && (code.starts_with("22") || code == "54000"))
}

/// SQLSTATEs and SQLite codes worth a retry: serialization failures, deadlocks, lock timeouts,
/// connection loss and shutdown (PostgreSQL), busy and locked (SQLite).
fn is_transient(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006"
        ) | Some("5" | "6" | "517" | "262")
    )
}

fn internal(err: &sqlx::Error) -> Status {
    tracing::error!(error = %err, "database error");
    Status::internal("internal database error")
}

#[cfg(test)]
mod tests {
    use super::{is_bad_value, is_transient};

    #[test]
    fn data_exceptions_are_the_callers_and_not_worth_a_retry() {
        for code in ["22021", "22P02", "22003", "22001", "54000"] {
            assert!(is_bad_value(Some(code)), "{code}");
            assert!(!is_transient(Some(code)), "{code}");
        }
        // SQLite's codes are short numbers; none of them is a data exception.
        for code in [None, Some("23505"), Some("40001"), Some("5"), Some("22")] {
            assert!(!is_bad_value(code), "{code:?}");
        }
    }
}
