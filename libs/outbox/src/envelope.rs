use std::collections::HashMap;

use jiceng_db::{Tx, now_millis};
use jiceng_proto::cloudevents::{
    CloudEvent,
    cloud_event::{CloudEventAttributeValue, Data, cloud_event_attribute_value::Attr},
};
use opentelemetry::Context;
use prost::Message as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// An event about to be written: its CloudEvents type, subject and protobuf payload.
#[derive(Clone, Debug)]
pub struct EventDraft {
    /// Reverse-DNS type, e.g. `jiceng.org.v1.unit.moved`.
    pub event_type: String,
    /// What the event is about, e.g. the unit id.
    pub subject: String,
    pub data: prost_types::Any,
}

impl EventDraft {
    /// An event of `event_type` about `subject` whose data is the protobuf `message`. One of the
    /// platform's event types carries the message its catalogue names
    /// ([`jiceng_proto::event_types::CATALOGUE`]): every scenario that sets one off checks it.
    pub fn of<M: prost::Name>(event_type: &str, subject: &str, message: &M) -> Self {
        if let Some(known) = jiceng_proto::event_types::lookup(event_type) {
            debug_assert_eq!(
                known.data,
                M::full_name(),
                "{event_type} carries {} by the catalogue",
                known.data
            );
        }
        Self {
            event_type: event_type.to_owned(),
            subject: subject.to_owned(),
            data: prost_types::Any {
                type_url: M::type_url(),
                value: message.encode_to_vec(),
            },
        }
    }
}

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Writes `draft` to the outbox inside the caller's transaction and returns the event id. The
/// envelope carries the current trace context (the CloudEvents distributed-tracing extension)
/// so that delivery continues the producer's trace.
pub async fn enqueue(tx: &mut Tx, source: &str, draft: EventDraft) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_millis();
    let mut attributes = HashMap::new();
    let text = |value: String| CloudEventAttributeValue {
        attr: Some(Attr::CeString(value)),
    };
    attributes.insert("subject".to_owned(), text(draft.subject.clone()));
    attributes.insert(
        "datacontenttype".to_owned(),
        text("application/protobuf".to_owned()),
    );
    attributes.insert(
        "time".to_owned(),
        CloudEventAttributeValue {
            attr: Some(Attr::CeTimestamp(prost_types::Timestamp {
                seconds: now.div_euclid(1000),
                nanos: (now.rem_euclid(1000) * 1_000_000) as i32,
            })),
        },
    );
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&tracing::Span::current().context(), &mut carrier);
    });
    for key in [TRACEPARENT, TRACESTATE] {
        if let Some(value) = carrier.remove(key) {
            attributes.insert(key.to_owned(), text(value));
        }
    }
    let event = CloudEvent {
        id: id.clone(),
        source: source.to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: draft.event_type.clone(),
        attributes,
        data: Some(Data::ProtoData(draft.data)),
    };
    // `seq` is given by the database: a sequence, or the row's place on SQLite.
    sqlx::query(
        "INSERT INTO outbox_events (event_id, event_type, payload, created_at, subject)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&draft.event_type)
    .bind(event.encode_to_vec())
    .bind(now)
    .bind(&draft.subject)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The trace context an event was produced in, to parent the work of delivering or consuming it.
pub fn trace_context_of(event: &CloudEvent) -> Context {
    let carrier: HashMap<String, String> = [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|key| match event.attributes.get(key)?.attr.as_ref()? {
            Attr::CeString(value) => Some((key.to_owned(), value.clone())),
            _ => None,
        })
        .collect();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier))
}
