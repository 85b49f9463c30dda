//! A client span per database statement, per the OpenTelemetry database conventions:
//! `db.system.name`, `db.operation.name` and `db.query.text`.
//!
//! sqlx reports every statement it ran as an event (target `sqlx::query`) when it finishes, with
//! the statement's text as written, placeholders and not values, and how long it took. This
//! layer turns each such event into a span that started that long ago, under the span the
//! statement ran in, so a trace shows which statements a request waited for. Statements
//! outside any sampled trace (the relays' and scanners' polling) make no span: they would
//! otherwise be traces of their own, several a second.

use std::{
    sync::atomic::{AtomicU8, Ordering},
    time::{Duration, SystemTime},
};

use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _},
};
use opentelemetry_sdk::trace::SdkTracer;
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{layer::Context, registry::LookupSpan};

/// The database behind this process's statements, as [`set_database_system`] last said.
static SYSTEM: AtomicU8 = AtomicU8::new(0);

/// The longest statement text a span carries; a longer one is cut at a character boundary.
const MAX_QUERY_TEXT: usize = 2_000;

/// Says which database the process's statements go to: `postgresql` or `sqlite`
/// (`db.system.name`). A jiceng process uses one kind of database for all its services.
pub fn set_database_system(postgres: bool) {
    SYSTEM.store(if postgres { 1 } else { 2 }, Ordering::Relaxed);
}

fn database_system() -> &'static str {
    match SYSTEM.load(Ordering::Relaxed) {
        1 => "postgresql",
        2 => "sqlite",
        _ => "other_sql",
    }
}

/// The fields of sqlx's statement event.
#[derive(Default)]
struct Statement {
    summary: String,
    text: String,
    elapsed_secs: f64,
    rows_returned: Option<u64>,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.text = value.trim().to_owned(),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl Statement {
    /// The statement's text: sqlx gives it whole only when it is longer than its summary.
    fn query_text(&self) -> &str {
        let text = if self.text.is_empty() {
            self.summary.as_str()
        } else {
            self.text.as_str()
        };
        if text.len() <= MAX_QUERY_TEXT {
            return text;
        }
        let mut end = MAX_QUERY_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }

    /// `SELECT`, `INSERT`, `BEGIN`…: the statement's first word.
    fn operation(&self) -> String {
        self.query_text()
            .split_whitespace()
            .next()
            .unwrap_or("SQL")
            .to_ascii_uppercase()
    }
}

/// The layer; [`crate::init`] installs it with a filter that lets only sqlx's statement events
/// through.
pub(crate) struct DbSpanLayer {
    tracer: SdkTracer,
}

impl DbSpanLayer {
    pub(crate) fn new(tracer: SdkTracer) -> Self {
        Self { tracer }
    }
}

impl<S> tracing_subscriber::Layer<S> for DbSpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let parent = tracing_opentelemetry_instrumentation_sdk::find_current_context();
        let within = parent.span().span_context().clone();
        if !within.is_valid() || !within.is_sampled() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let ended = SystemTime::now();
        let took = Duration::try_from_secs_f64(statement.elapsed_secs).unwrap_or_default();
        let operation = statement.operation();
        let mut attributes = vec![
            KeyValue::new("db.system.name", database_system()),
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("db.query.text", statement.query_text().to_owned()),
        ];
        if let Some(rows) = statement.rows_returned {
            attributes.push(KeyValue::new("db.response.returned_rows", rows as i64));
        }
        let mut span = self
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Client)
            .with_start_time(ended.checked_sub(took).unwrap_or(ended))
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(ended);
    }
}

#[cfg(test)]
mod tests {
    use super::Statement;

    #[test]
    fn the_operation_is_the_statements_first_word_and_long_text_is_cut() {
        let short = Statement {
            summary: "begin".into(),
            ..Statement::default()
        };
        assert_eq!(short.operation(), "BEGIN");
        assert_eq!(short.query_text(), "begin");
        let long = Statement {
            summary: "SELECT id FROM grid_cases …".into(),
            text: format!("SELECT id FROM grid_cases WHERE {}", "党".repeat(1_000)),
            ..Statement::default()
        };
        assert_eq!(long.operation(), "SELECT");
        assert!(long.query_text().len() <= super::MAX_QUERY_TEXT);
        assert!(
            long.query_text()
                .starts_with("SELECT id FROM grid_cases WHERE 党")
        );
    }
}
