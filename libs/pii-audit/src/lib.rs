//! Who looked at whose personal data, and why. Every reveal of personal data in clear (a
//! member's phone and ID-card numbers, a case reporter's contact, a wish's beneficiary) is
//! recorded in the revealing service's own database, in the same transaction as the read it
//! serves: no record, no reveal. Reveals are listed by person, by actor and by time — what
//! China's Personal Information Protection Law and GB/T 35273 expect a handler of personal data
//! to answer — and an actor's reveals are limited per hour, so that a stolen admin token cannot
//! page through a district's phone numbers.

use jiceng_auth::{AncestryResolver, Caller, Role, ScopeCache};
use jiceng_db::{Database, LockMode, Migration, Migrations, Tx, lock_key};
use jiceng_grpc::{FieldViolations, PageRequest, millis_of, timestamp};
use jiceng_proto::audit as pb;
use tonic::Status;

/// The reveal records' table, migrated into every database of a service that reveals.
pub static MIGRATIONS: Migrations = Migrations {
    component: "pii_reveals",
    steps: &[Migration::portable(
        1,
        "personal data reveals",
        include_str!("../migrations/0001_pii_reveals.sql"),
    )],
};

/// Reveals one actor may make in an hour.
pub const HOURLY_LIMIT: i64 = 100;
const HOUR_MS: i64 = 3_600_000;

/// A person by their platform id: a member id, or a reporter's token subject.
pub const PERSON: &str = "person";
/// The resident behind a micro-wish, by the wish's id.
pub const WISH_BENEFICIARY: &str = "wish_beneficiary";

/// Why personal data is revealed: 2 to 200 characters, not blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        let length = text.chars().count();
        if (2..=200).contains(&length) && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err("a reveal says why, in 2 to 200 characters")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One reveal about to be served.
#[derive(Clone, Debug)]
pub struct Reveal<'a> {
    pub actor: &'a str,
    /// [`PERSON`] or [`WISH_BENEFICIARY`].
    pub subject_kind: &'static str,
    pub subject_id: &'a str,
    /// The record read, e.g. `members/<id>`.
    pub record: String,
    pub fields: &'a [&'static str],
    pub reason: &'a Reason,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{actor} revealed personal data {limit} times in the past hour")]
    RateLimited { actor: String, limit: i64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<AuditError> for jiceng_db::StoreError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::RateLimited { limit, .. } => Self::RevealsExhausted { limit },
            AuditError::Db(err) => Self::Db(err),
        }
    }
}

impl From<AuditError> for Status {
    fn from(err: AuditError) -> Self {
        jiceng_db::StoreError::from(err).into()
    }
}

/// Records `reveal` at `now` in `tx`, the transaction that reads what it reveals; refuses an
/// actor past [`HOURLY_LIMIT`] in the past hour (counted under the actor's lock, so replicas
/// serving the same actor at once cannot both slip past it).
pub async fn record(
    db: &Database,
    tx: &mut Tx,
    reveal: &Reveal<'_>,
    now: i64,
) -> Result<(), AuditError> {
    db.lock(
        tx,
        lock_key(&format!("pii_reveals:{}", reveal.actor)),
        LockMode::Exclusive,
    )
    .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pii_reveals WHERE actor = $1 AND revealed_at > $2",
    )
    .bind(reveal.actor)
    .bind(now - HOUR_MS)
    .fetch_one(&mut **tx)
    .await?;
    if recent >= HOURLY_LIMIT {
        tracing::warn!(
            actor = reveal.actor,
            record = %reveal.record,
            limit = HOURLY_LIMIT,
            "personal data reveals past the hourly limit refused"
        );
        return Err(AuditError::RateLimited {
            actor: reveal.actor.to_owned(),
            limit: HOURLY_LIMIT,
        });
    }
    sqlx::query(
        "INSERT INTO pii_reveals (id, revealed_at, actor, subject_kind, subject_id, record, fields, reason, trace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now)
    .bind(reveal.actor)
    .bind(reveal.subject_kind)
    .bind(reveal.subject_id)
    .bind(&reveal.record)
    .bind(serde_json::to_string(reveal.fields).unwrap_or_else(|_| "[]".into()))
    .bind(reveal.reason.as_str())
    .bind(jiceng_telemetry::current_trace_id().unwrap_or_default())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A recorded reveal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevealRecord {
    pub id: String,
    pub revealed_at: i64,
    pub actor: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub record: String,
    pub fields: Vec<String>,
    pub reason: String,
    pub trace_id: String,
}

const COLUMNS: &str =
    "id, revealed_at, actor, subject_kind, subject_id, record, fields, reason, trace_id";

/// A row of `pii_reveals` as read: its fields are the columns of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct RevealRow {
    id: String,
    revealed_at: i64,
    actor: String,
    subject_kind: String,
    subject_id: String,
    record: String,
    /// A JSON array of field names.
    fields: String,
    reason: String,
    trace_id: String,
}

impl TryFrom<RevealRow> for RevealRecord {
    type Error = sqlx::Error;

    fn try_from(row: RevealRow) -> Result<Self, Self::Error> {
        Ok(RevealRecord {
            id: row.id,
            revealed_at: row.revealed_at,
            actor: row.actor,
            subject_kind: row.subject_kind,
            subject_id: row.subject_id,
            record: row.record,
            fields: serde_json::from_str(&row.fields)
                .map_err(|e| sqlx::Error::Decode(format!("reveal fields: {e}").into()))?,
            reason: row.reason,
            trace_id: row.trace_id,
        })
    }
}

/// Which reveals a list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevealFilter {
    pub subject: Option<(String, String)>,
    pub actor: Option<String>,
    /// `[from, to)`, in milliseconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

enum Value {
    Text(String),
    Int(i64),
}

/// Reveals matching `filter`, newest first, after the page position (revealed_at, id).
pub async fn list(
    db: &Database,
    filter: &RevealFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<RevealRecord>, sqlx::Error> {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    // The placeholder of a value added to the query.
    let mut bind = |value: Value| {
        values.push(value);
        format!("${}", values.len())
    };
    if let Some((kind, id)) = &filter.subject {
        clauses.push(format!(
            "subject_kind = {}",
            bind(Value::Text(kind.clone()))
        ));
        clauses.push(format!("subject_id = {}", bind(Value::Text(id.clone()))));
    }
    if let Some(actor) = &filter.actor {
        clauses.push(format!("actor = {}", bind(Value::Text(actor.clone()))));
    }
    if let Some(from) = filter.from {
        clauses.push(format!("revealed_at >= {}", bind(Value::Int(from))));
    }
    if let Some(to) = filter.to {
        clauses.push(format!("revealed_at < {}", bind(Value::Int(to))));
    }
    if let Some((at, id)) = after {
        let (at, id) = (bind(Value::Int(at)), bind(Value::Text(id)));
        clauses.push(format!(
            "(revealed_at < {at} OR (revealed_at = {at} AND id < {id}))"
        ));
    }
    let limit = bind(Value::Int(limit));
    let sql = format!(
        "SELECT {COLUMNS}
         FROM pii_reveals {} ORDER BY revealed_at DESC, id DESC LIMIT {limit}",
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        },
    );
    let mut query = sqlx::query_as::<_, RevealRow>(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(text),
            Value::Int(int) => query.bind(int),
        };
    }
    query
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(RevealRecord::try_from)
        .collect()
}

/// The reason a reveal request gives, required when it reveals.
pub fn reason_of(reveal: bool, reason: &str) -> Result<Option<Reason>, Status> {
    if !reveal {
        return Ok(None);
    }
    Reason::parse(reason)
        .map(Some)
        .map_err(|e| jiceng_grpc::status::invalid_field("reveal_reason", e))
}

/// `ListPersonalDataReveals` of a service's database: anyone's for an admin of the whole
/// district (as `scopes` tells), a caller's own otherwise.
pub async fn list_reveals<R: AncestryResolver>(
    db: &Database,
    scopes: &ScopeCache<R>,
    caller: &Caller,
    req: pb::ListPersonalDataRevealsRequest,
) -> Result<pb::ListPersonalDataRevealsResponse, Status> {
    let caller_subject = caller.subject.as_str();
    let mut violations = FieldViolations::new();
    let subject = match (req.subject_kind.as_str(), req.subject_id.is_empty()) {
        ("", true) => None,
        (kind @ (PERSON | WISH_BENEFICIARY), false) => {
            Some((kind.to_owned(), req.subject_id.clone()))
        }
        _ => {
            violations.add(
                "subject_kind",
                "names person or wish_beneficiary, with a subject_id",
            );
            None
        }
    };
    let from = violations
        .check("from_time", millis_of(req.from_time.as_ref()))
        .flatten();
    let to = violations
        .check("to_time", millis_of(req.to_time.as_ref()))
        .flatten();
    violations.into_result()?;
    let own = subject
        .as_ref()
        .is_some_and(|(kind, id)| kind == PERSON && id == caller_subject)
        && req.actor.is_empty();
    if !own
        && scopes
            .require_whole_district(caller, &[Role::DistrictAdmin])
            .await
            .is_err()
    {
        return Err(Status::permission_denied(
            "admins of the whole district list reveals; anyone else lists only reveals of their own data",
        ));
    }
    let page = PageRequest::parse(
        req.page_size,
        &req.page_token,
        format!(
            "reveals|{subject:?}|{}|{from:?}|{to:?}|{caller_subject}",
            req.actor
        ),
    )?;
    let after = page
        .after
        .as_deref()
        .map(|cursor| {
            cursor
                .split_once('/')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    jiceng_grpc::status::invalid_field(
                        "page_token",
                        "is not a token this list issued",
                    )
                })
        })
        .transpose()?;
    let filter = RevealFilter {
        subject,
        actor: (!req.actor.is_empty()).then_some(req.actor),
        from,
        to,
    };
    let mut reveals = list(db, &filter, after, page.fetch_limit())
        .await
        .map_err(jiceng_db::status_from_sqlx)?;
    let next_page_token = page.finish(&mut reveals, |r| format!("{}/{}", r.revealed_at, r.id));
    Ok(pb::ListPersonalDataRevealsResponse {
        reveals: reveals.iter().map(to_proto).collect(),
        next_page_token,
    })
}

fn to_proto(reveal: &RevealRecord) -> pb::PersonalDataReveal {
    pb::PersonalDataReveal {
        id: reveal.id.clone(),
        actor: reveal.actor.clone(),
        subject_kind: reveal.subject_kind.clone(),
        subject_id: reveal.subject_id.clone(),
        record: reveal.record.clone(),
        fields: reveal.fields.clone(),
        reason: reveal.reason.clone(),
        trace_id: reveal.trace_id.clone(),
        reveal_time: Some(timestamp(reveal.revealed_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reveal_says_why() {
        assert!(Reason::parse("回访核实").is_ok());
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse("x").is_err());
        assert!(Reason::parse(&"理".repeat(201)).is_err());
        assert!(Reason::parse("line\nbreak").is_err());
    }
}
