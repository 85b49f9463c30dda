//! Every SQL statement written in the stores is checked against the migrated schemas of both
//! databases before any scenario happens to run it: a renamed column or a dropped table fails
//! here, naming the file and line, rather than in production on the one path no test took.
//!
//! The statements are read from the sources: each string literal handed to `sqlx::query`,
//! `query_as`, `query_scalar` or `raw_sql`, and each `format!` whose only placeholders are
//! constants of the same crate (the column lists) once they are filled in. Statements built from
//! run-time values (filters, batches) are counted and left to the scenarios. PostgreSQL prepares
//! each one (parse and analysis, types included); SQLite compiles it.

use std::{collections::HashMap, path::Path};

use jiceng_app::{ServiceName, Storage, connect_and_migrate};
use jiceng_testkit::{TestDatabase, on_both_backends};
use sqlx::{Connection as _, Executor as _};

/// Where statements are written: every service, and the libraries that own tables.
const SOURCE_ROOTS: &[&str] = &[
    "services/org/src",
    "services/member/src",
    "services/grid/src",
    "services/property/src",
    "services/notify/src",
    "libs/db/src",
    "libs/outbox/src",
    "libs/org-client/src",
    "libs/pii-audit/src",
];

/// Statements of one dialect only, chosen at run time by `Dialect`: checked on theirs alone.
/// (file name, start of the statement, the dialect it is written for)
const ONE_DIALECT: &[(&str, &str, &str)] = &[
    ("migrate.rs", "SELECT pg_advisory_xact_lock", "postgres"),
    ("migrate.rs", "SELECT pg_try_advisory_xact_lock", "postgres"),
    ("lib.rs", "PRAGMA", "sqlite"),
];

#[derive(Debug)]
struct Statement {
    /// `path:line` of the call.
    place: String,
    sql: String,
}

/// A Rust string literal starting at `text[0]` (`"…"` or `r#"…"#`): its value and length.
fn string_literal(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    if bytes.first() == Some(&b'r') {
        let hashes = text[1..].bytes().take_while(|b| *b == b'#').count();
        if bytes.get(1 + hashes) != Some(&b'"') {
            return None;
        }
        let body = 2 + hashes;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = text[body..].find(&close)?;
        return Some((text[body..body + end].to_owned(), body + end + close.len()));
    }
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, at + 1)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                '\'' => value.push('\''),
                '0' => value.push('\0'),
                // A line continuation: the break and the next line's indentation vanish.
                '\n' => {
                    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                }
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

/// The `&str` constants a file defines with a literal: column lists and the like.
fn constants(source: &str) -> HashMap<String, String> {
    let mut found = HashMap::new();
    for (at, _) in source.match_indices("const ") {
        let rest = &source[at + 6..];
        let Some(colon) = rest.find(':') else {
            continue;
        };
        let name = rest[..colon].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue;
        }
        let after = rest[colon + 1..].trim_start();
        let Some(after) = after.strip_prefix("&str") else {
            continue;
        };
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        if let Some((text, _)) = string_literal(value.trim_start()) {
            found.insert(name.to_owned(), text);
        }
    }
    found
}

/// A `format!` string with its `{NAME}` placeholders filled from `constants`; None when one
/// is not a known constant (a run-time value).
fn fill(template: &str, constants: &HashMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('{') {
            let close = after.find('}')?;
            out.push_str(constants.get(&after[..close])?);
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The statements of one source file, and how many it builds from run-time values.
fn statements_in(
    path: &Path,
    crate_constants: &HashMap<String, String>,
) -> (Vec<Statement>, usize) {
    let source = std::fs::read_to_string(path).expect("source");
    let mut constants = crate_constants.clone();
    constants.extend(self::constants(&source));
    let (mut found, mut dynamic) = (Vec::new(), 0);
    let calls = [
        "query(",
        "query_as(",
        "query_scalar(",
        "raw_sql(",
        "query_as::<",
    ];
    for call in calls {
        for (at, _) in source.match_indices(call) {
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut rest = &source[at + call.len()..];
            if call.ends_with("::<") {
                // Past the turbofish to the call's parenthesis.
                let Some(open) = rest.find(">(") else {
                    continue;
                };
                rest = &rest[open + 2..];
            }
            let rest = rest.trim_start();
            let line = source[..at].lines().count();
            let place = format!("{}:{line}", path.display());
            let rest = rest
                .strip_prefix("sqlx::AssertSqlSafe(")
                .unwrap_or(rest)
                .trim_start();
            if let Some(args) = rest.strip_prefix("format!(") {
                let Some((template, used)) = string_literal(args.trim_start()) else {
                    dynamic += 1;
                    continue;
                };
                let after = args.trim_start()[used..].trim_start();
                match fill(&template, &constants) {
                    Some(sql) if after.starts_with(')') => found.push(Statement { place, sql }),
                    _ => dynamic += 1,
                }
            } else if let Some((sql, _)) = string_literal(rest) {
                found.push(Statement { place, sql });
            } else {
                dynamic += 1;
            }
        }
    }
    (found, dynamic)
}

/// Every statement of the sources, with the count of those built at run time.
fn all_statements() -> (Vec<Statement>, usize) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (mut all, mut dynamic) = (Vec::new(), 0);
    for root in SOURCE_ROOTS {
        let mut files = Vec::new();
        let mut pending = vec![workspace.join(root)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("source folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        // A crate's constants are visible to its files (a store's column list to its queries).
        let mut crate_constants = HashMap::new();
        for file in &files {
            crate_constants.extend(constants(&std::fs::read_to_string(file).expect("source")));
        }
        for file in files {
            let (found, built) = statements_in(&file, &crate_constants);
            all.extend(found);
            dynamic += built;
        }
    }
    (all, dynamic)
}

/// The dialect a statement is written for alone, if it is one of [`ONE_DIALECT`].
fn only_dialect(statement: &Statement) -> Option<&'static str> {
    ONE_DIALECT
        .iter()
        .find(|(file, start, _)| {
            statement.place.contains(file) && statement.sql.trim_start().starts_with(start)
        })
        .map(|(_, _, dialect)| *dialect)
}

/// Migrates one database to every service's schema (the table names do not overlap).
async fn migrate_every_service(db: &TestDatabase) {
    for service in ServiceName::ALL {
        connect_and_migrate(service, &Storage::Url(db.url.clone()), None)
            .await
            .expect("migrations")
            .close()
            .await;
    }
}

/// Prepares (PostgreSQL) or compiles (SQLite) each statement written for the database's
/// dialect; returns how many it checked and the failures, each naming its place.
async fn prepare_all(db: &TestDatabase, statements: &[Statement]) -> (usize, Vec<String>) {
    async fn prepare_on<C: sqlx::Connection>(conn: &mut C, statements: &[&Statement]) -> Vec<String>
    where
        for<'c> &'c mut C: sqlx::Executor<'c>,
    {
        let mut failures = Vec::new();
        for statement in statements {
            if let Err(err) = conn
                .prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
                    statement.sql.clone(),
                )))
                .await
            {
                failures.push(format!("{}: {err}\n    {}", statement.place, statement.sql));
            }
        }
        failures
    }
    let dialect = dialect_of(db);
    let mine: Vec<&Statement> = statements
        .iter()
        .filter(|statement| only_dialect(statement).is_none_or(|d| d == dialect))
        .collect();
    let failures = if dialect == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let failures = prepare_on(&mut conn, &mine).await;
        conn.close().await.expect("close");
        failures
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url)
            .await
            .expect("connect");
        let failures = prepare_on(&mut conn, &mine).await;
        conn.close().await.expect("close");
        failures
    };
    (mine.len(), failures)
}

fn dialect_of(db: &TestDatabase) -> &'static str {
    if db.url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

async fn every_static_statement_fits_the_migrated_schema(db: TestDatabase) {
    migrate_every_service(&db).await;
    let (statements, dynamic) = all_statements();
    assert!(
        statements.len() > 150,
        "only {} statements found: has the way stores call sqlx changed?",
        statements.len()
    );
    let dialect = dialect_of(&db);
    let (checked, failures) = prepare_all(&db, &statements).await;
    println!(
        "{dialect}: {checked} statements prepared, {dynamic} built at run time left to the scenarios"
    );
    assert!(
        failures.is_empty(),
        "{} statements do not fit the {dialect} schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The statements of the last release, written by the release (see
/// `write_the_release_statement_catalogue`): docs/operations/UPGRADES.md.
const CATALOGUE: &str = "catalogue/release-statements.json";

fn catalogue_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CATALOGUE)
}

/// During a rolling upgrade the last release's pods run against the new schema, and after a
/// `helm rollback` they run against it for good: every statement of the last release must still
/// prepare against the schema the migrations make now. A migration that drops or renames what
/// the last release reads or writes fails here; it belongs in a later release, once no pod of
/// this one runs (expand, migrate, contract).
async fn the_last_releases_statements_fit_the_migrated_schema(db: TestDatabase) {
    let text =
        std::fs::read_to_string(catalogue_path()).expect("the release's statement catalogue");
    let catalogue: serde_json::Value = serde_json::from_str(&text).expect("catalogue JSON");
    let release = catalogue["release"].as_str().expect("release").to_owned();
    let statements: Vec<Statement> = catalogue["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|entry| Statement {
            place: format!(
                "release {release}, {}",
                entry["place"].as_str().unwrap_or("?")
            ),
            sql: entry["sql"].as_str().expect("sql").to_owned(),
        })
        .collect();
    assert!(
        statements.len() > 150,
        "{} statements in {CATALOGUE}",
        statements.len()
    );
    migrate_every_service(&db).await;
    let dialect = dialect_of(&db);
    let (checked, failures) = prepare_all(&db, &statements).await;
    println!("{dialect}: {checked} statements of release {release} prepared");
    assert!(
        failures.is_empty(),
        "{} statements of release {release} no longer fit the {dialect} schema: a migration took \
         away what the running release uses (docs/operations/UPGRADES.md):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

on_both_backends!(
    every_static_statement_fits_the_migrated_schema,
    the_last_releases_statements_fit_the_migrated_schema,
);

/// Writes the statements of the sources as the release's catalogue: a release runs it
/// (`cargo test -p jiceng-integration-tests --test api -- --ignored
/// write_the_release_statement_catalogue`) and commits the file with the release.
#[test]
#[ignore = "a release step, not a check"]
fn write_the_release_statement_catalogue() {
    let (statements, _) = all_statements();
    let mut seen = std::collections::BTreeSet::new();
    let entries: Vec<serde_json::Value> = statements
        .iter()
        .filter(|statement| seen.insert(statement.sql.clone()))
        .map(|statement| {
            // From the workspace and without the line: the catalogue names the file a
            // statement was in, wherever the release was built.
            let file = statement
                .place
                .rsplit_once(':')
                .map_or(statement.place.as_str(), |(file, _)| file);
            let place = file
                .split_once("/../")
                .map_or(file, |(_, from_workspace)| from_workspace);
            serde_json::json!({ "place": place, "sql": statement.sql })
        })
        .collect();
    let catalogue = serde_json::json!({
        "release": env!("CARGO_PKG_VERSION"),
        "statements": entries,
    });
    let path = catalogue_path();
    std::fs::create_dir_all(path.parent().expect("folder")).expect("catalogue folder");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&catalogue).expect("JSON") + "\n",
    )
    .expect("write the catalogue");
}
