use sqlx::error::ErrorKind;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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
    #[error("migration {component}/{version} cannot run outside a transaction: {reason}")]
    MigrationOutsideTransaction {
        component: &'static str,
        version: i64,
        reason: String,
    },
    #[error(
        "migration {component}/{version} was changed after it was applied; write a new migration instead"
    )]
    MigrationChanged {
        component: &'static str,
        version: i64,
    },
}

/// What a store answers when it cannot do what it was asked, the same in every service;
/// `Status::from` gives each case the code, message and details a caller should see, so a
/// handler passes a store's error on with `?`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// NOT_FOUND.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// FAILED_PRECONDITION: the request is well formed but what is stored forbids it. `kind` is
    /// a short upper-case tag (e.g. "CYCLE"), `subject` what it is about (e.g. "units/<id>").
    #[error("{description}")]
    Precondition {
        kind: &'static str,
        subject: String,
        description: String,
    },
    /// ALREADY_EXISTS: another record already holds what this one claims.
    #[error("{0}")]
    Conflict(String),
    /// ABORTED: the `what` changed since the caller read it (its etag), or while this change was
    /// being made; the caller reads it again and decides.
    #[error("the {what} changed since it was read; read it again and retry")]
    Stale { what: &'static str },
    /// INVALID_ARGUMENT on `request_id`: the caller used the key for another operation.
    #[error("request_id was already used for another operation")]
    RequestIdReused,
    /// RESOURCE_EXHAUSTED: the caller revealed personal data as often as an hour allows.
    #[error("personal data may be revealed {limit} times an hour; try again later")]
    RevealsExhausted { limit: i64 },
    /// UNAVAILABLE: the org path a write was given predates a move this database has applied,
    /// and the retry with the current path met another move.
    #[error("the org path {0} predates a move of the org tree")]
    OrgPathMoved(String),
    /// UNAVAILABLE: the store cannot act yet for a reason that passes (what it must first
    /// confirm with another service has not been confirmed); the caller retries later.
    #[error("{0}")]
    Unavailable(String),
    /// INTERNAL: a stored value the service cannot read; logged, never sent.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// FAILED_PRECONDITION of `kind` about `subject`.
    pub fn precondition(
        kind: &'static str,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::Precondition {
            kind,
            subject: subject.into(),
            description: description.into(),
        }
    }

    /// NOT_FOUND: no `what` has the id `id`.
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }

    /// INTERNAL: a stored `what` the service cannot read.
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt(what.into())
    }

    /// A store's `map_err` for a write that may break one uniqueness rule: its violation is the
    /// conflict `message` names, any other error stays what it is.
    pub fn conflict_on_unique(message: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |err| match &err {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                Self::Conflict(message.to_owned())
            }
            _ => Self::Db(err),
        }
    }
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => Status::not_found(err.to_string()),
            StoreError::Conflict(message) => Status::already_exists(message),
            StoreError::Precondition {
                kind,
                subject,
                description,
            } => failed_precondition(kind, &subject, description),
            StoreError::Stale { .. } => Status::aborted(err.to_string()),
            StoreError::RequestIdReused => Status::with_error_details(
                Code::InvalidArgument,
                format!("request_id: {err}"),
                ErrorDetails::with_bad_request_violation(
                    "request_id",
                    "was already used for another operation",
                ),
            ),
            StoreError::RevealsExhausted { .. } => Status::resource_exhausted(err.to_string()),
            StoreError::OrgPathMoved(path) => {
                tracing::warn!(path, "an org path changed twice while a write used it");
                Status::unavailable("the org tree changed during the write; retry")
            }
            StoreError::Unavailable(message) => Status::unavailable(message),
            StoreError::Corrupt(what) => {
                tracing::error!(what, "stored data is malformed");
                Status::internal("stored data is malformed")
            }
            StoreError::Db(err) => status_from_sqlx(err),
        }
    }
}

/// FAILED_PRECONDITION: the request is well formed but the stored state forbids it, with a
/// `google.rpc.PreconditionFailure` naming `kind` (a short upper-case tag, e.g. "CYCLE") and
/// `subject` (what it is about, e.g. "units/<id>").
pub fn failed_precondition(kind: &str, subject: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    Status::with_error_details(
        Code::FailedPrecondition,
        description.clone(),
        ErrorDetails::with_precondition_failure_violation(kind, subject, description),
    )
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
