//! The event catalogue, `docs/api/EVENTS.md`, written from the code: the event types and their
//! data messages (`event_types::CATALOGUE`), each message's comments as the descriptor set the
//! services serve carries them, and who consumes each type (the chart's `topology.json`, itself
//! checked against the code). The committed page must be what the code says;
//! `JICENG_WRITE_DOCS=1` rewrites it.

use std::{collections::HashMap, fmt::Write as _};

use jiceng_proto::event_types::CATALOGUE;
use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet, field_descriptor_proto};

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/EVENTS.md");
const TOPOLOGY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../charts/jiceng/topology.json"
);

/// Field numbers that make up a `SourceCodeInfo` location path.
const FILE_MESSAGES: i32 = 4;
const MESSAGE_FIELDS: i32 = 2;

/// A top-level message with its comment and its fields' (name, type, comment).
struct Documented {
    comment: String,
    fields: Vec<(String, String, String)>,
}

fn comment_of(comments: &HashMap<Vec<i32>, String>, path: &[i32]) -> String {
    comments
        .get(path)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn type_of(field: &prost_types::FieldDescriptorProto) -> String {
    use field_descriptor_proto::{Label, Type};
    let base = match field.r#type() {
        Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
        other => other
            .as_str_name()
            .trim_start_matches("TYPE_")
            .to_lowercase(),
    };
    if field.label() == Label::Repeated {
        format!("repeated {base}")
    } else {
        base
    }
}

/// Every top-level message of the contracts by full name, documented.
fn messages() -> HashMap<String, Documented> {
    let set = FileDescriptorSet::decode(jiceng_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut out = HashMap::new();
    for file in &set.file {
        let comments: HashMap<Vec<i32>, String> = file
            .source_code_info
            .iter()
            .flat_map(|info| &info.location)
            .map(|l| (l.path.clone(), l.leading_comments().to_owned()))
            .collect();
        for (i, message) in file.message_type.iter().enumerate() {
            let path = vec![FILE_MESSAGES, i32::try_from(i).expect("index")];
            out.insert(
                format!("{}.{}", file.package(), message.name()),
                document(message, &path, &comments),
            );
        }
    }
    out
}

fn document(
    message: &DescriptorProto,
    path: &[i32],
    comments: &HashMap<Vec<i32>, String>,
) -> Documented {
    let fields = message
        .field
        .iter()
        .enumerate()
        .map(|(j, field)| {
            let mut field_path = path.to_vec();
            field_path.extend([MESSAGE_FIELDS, i32::try_from(j).expect("index")]);
            (
                field.name().to_owned(),
                type_of(field),
                comment_of(comments, &field_path),
            )
        })
        .collect();
    Documented {
        comment: comment_of(comments, path),
        fields,
    }
}

/// The services that consume `event_type`, by the chart's topology.
fn consumers(topology: &serde_json::Value, event_type: &str) -> Vec<String> {
    let mut names: Vec<String> = topology
        .as_object()
        .expect("topology")
        .iter()
        .filter(|(_, service)| {
            service["consumes"]
                .as_object()
                .into_iter()
                .flat_map(|by_producer| by_producer.values())
                .filter_map(serde_json::Value::as_array)
                .flatten()
                .any(|consumed| consumed.as_str() == Some(event_type))
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

fn page() -> String {
    let messages = messages();
    let topology: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(TOPOLOGY).expect("topology.json"))
            .expect("topology.json is JSON");
    let mut out = String::from(
        "# Events\n\n\
         Written from the code by `libs/proto/tests/event_catalogue.rs` (`JICENG_WRITE_DOCS=1 \
         cargo test -p jiceng-proto --test event_catalogue` rewrites it; the test fails while \
         this page differs from the code).\n\n\
         Every event is a CloudEvent in the CNCF protobuf format (`io.cloudevents.v1.CloudEvent`): \
         `id` a UUIDv7, `source` `//jiceng/<district code>/<service>`, `type` one of those \
         below, `subject` the id of what it is about, and `proto_data` an `Any` holding the \
         message named. The `traceparent` attribute carries the trace of the request that set \
         it off. An event is written in the transaction of the change it reports, so one is \
         sent exactly when the change commits. It is delivered at least once, and a subject's \
         events in the order they were written, to each consumer's \
         `jiceng.events.v1.EventSinkService/Deliver`: a consumer deduplicates by `id`.\n\n\
         | type | from | data | consumed by | sent when |\n|---|---|---|---|---|\n",
    );
    for event in CATALOGUE {
        let producer = event.name.split('.').nth(1).unwrap_or_default();
        let consumed = consumers(&topology, event.name);
        writeln!(
            out,
            "| `{}` | {producer} | [`{}`](#{}) | {} | {} |",
            event.name,
            event.data,
            event.data.replace('.', "").to_lowercase(),
            if consumed.is_empty() {
                "—".to_owned()
            } else {
                consumed.join(", ")
            },
            event.when
        )
        .expect("write");
    }
    let mut data: Vec<&str> = CATALOGUE.iter().map(|event| event.data).collect();
    data.sort_unstable();
    data.dedup();
    out.push_str("\n## Data messages\n");
    for name in data {
        let message = messages
            .get(name)
            .unwrap_or_else(|| panic!("{name}, an event's data, is not a top-level message"));
        write!(out, "\n### {name}\n\n").expect("write");
        if !message.comment.is_empty() {
            write!(out, "{}\n\n", message.comment).expect("write");
        }
        let carried_by: Vec<&str> = CATALOGUE
            .iter()
            .filter(|event| event.data == name)
            .map(|event| event.name)
            .collect();
        write!(out, "Carried by `{}`.\n\n", carried_by.join("`, `")).expect("write");
        out.push_str("| field | type | meaning |\n|---|---|---|\n");
        for (field, ty, comment) in &message.fields {
            writeln!(
                out,
                "| `{field}` | `{ty}` | {} |",
                comment.replace('|', "\\|")
            )
            .expect("write");
        }
    }
    out
}

#[test]
fn the_event_catalogue_is_what_the_code_says() {
    let page = page();
    if std::env::var_os("JICENG_WRITE_DOCS").is_some() {
        std::fs::write(PAGE, &page).expect("write docs/api/EVENTS.md");
        return;
    }
    let committed = std::fs::read_to_string(PAGE).unwrap_or_default();
    assert!(
        committed == page,
        "docs/api/EVENTS.md differs from the code's event types; \
         JICENG_WRITE_DOCS=1 cargo test -p jiceng-proto --test event_catalogue rewrites it"
    );
}

#[test]
fn every_consumed_type_is_in_the_catalogue() {
    let topology: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(TOPOLOGY).expect("topology.json"))
            .expect("topology.json is JSON");
    for (service, spec) in topology.as_object().expect("topology") {
        for consumed in spec["consumes"]
            .as_object()
            .into_iter()
            .flat_map(|by_producer| by_producer.values())
            .filter_map(serde_json::Value::as_array)
            .flatten()
            .filter_map(serde_json::Value::as_str)
        {
            assert!(
                jiceng_proto::event_types::lookup(consumed).is_some(),
                "{service} consumes {consumed}, which no service sends"
            );
        }
    }
}
