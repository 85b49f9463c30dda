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
        _ => internal(&err),
    }
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
