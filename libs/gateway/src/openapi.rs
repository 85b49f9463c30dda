//! The OpenAPI 3 document of the HTTP routes, written from the same descriptor set the gateway
//! routes by: every route an operation (its RPC's comment as the description), every message a
//! schema under its full proto name, errors as `google.rpc.Status`.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::routes::{BodyRule, HttpRoute, HttpRoutes};

/// The document for `routes`, with `version` as the API's version.
pub fn document(routes: &HttpRoutes, version: &str) -> Value {
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags = BTreeSet::new();
    for route in routes.iter() {
        let service = route.rpc.parent_service();
        tags.insert((
            service.full_name().to_owned(),
            comments(
                service.parent_file().file_descriptor_proto(),
                service.path(),
            ),
        ));
        let operation = operation(route, &mut schemas);
        paths
            .entry(route.template.to_string())
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    schemas.add(
        routes
            .pool()
            .get_message_by_name("google.rpc.Status")
            .as_ref(),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "jiceng",
            "description": "The HTTP/JSON routes of jiceng's gRPC services, as their protos' \
                google.api.http annotations give them. Bodies and answers are the request and \
                response messages in the proto3 JSON mapping; an error is the call's \
                google.rpc.Status under the HTTP status its code maps to.",
            "version": version,
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "servers": [{
            "url": "/",
            "description": "The platform's own port, which answers gRPC, HTTP/JSON and gRPC-Web.",
        }],
        "tags": tags
            .into_iter()
            .map(|(name, description)| json!({"name": name, "description": description}))
            .collect::<Vec<_>>(),
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": schemas.done,
        },
    })
}

fn operation(route: &HttpRoute, schemas: &mut Schemas) -> Value {
    let rpc = &route.rpc;
    let mut parameters = Vec::new();
    let mut bound = BTreeSet::new();
    for variable in route.template.variables() {
        let name = variable.join(".");
        bound.insert(variable[0].clone());
        let field = field_at(&route.input, variable);
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "schema": field.map_or(json!({"type": "string"}), |f| schemas.of_field(&f)),
        }));
    }
    if matches!(route.body, BodyRule::None) {
        for field in route.input.fields() {
            if bound.contains(field.name()) || !is_query_parameter(&field) {
                continue;
            }
            let mut parameter = json!({
                "name": field.json_name(),
                "in": "query",
                "schema": schemas.of_field(&field),
            });
            if let Some(description) =
                comments(field.parent_file().file_descriptor_proto(), field.path())
            {
                parameter["description"] = description.into();
            }
            if field.is_list() {
                parameter["explode"] = true.into();
            }
            parameters.push(parameter);
        }
    }
    let mut operation = json!({
        "operationId": format!("{}_{}", rpc.parent_service().name(), rpc.name()),
        "tags": [rpc.parent_service().full_name()],
        "summary": format!("{} ({})", rpc.name(), rpc.full_name()),
        "parameters": parameters,
        "responses": {
            "200": response(route, schemas),
            "default": {
                "description": "The call's google.rpc.Status, under the HTTP status its code maps to.",
                "content": {"application/json": {"schema": reference("google.rpc.Status")}},
            },
        },
    });
    if let Some(description) = comments(rpc.parent_file().file_descriptor_proto(), rpc.path()) {
        operation["description"] = description.into();
    }
    let body = match &route.body {
        BodyRule::None => None,
        BodyRule::Whole => Some(route.input.clone()),
        BodyRule::Field(field) => match field.kind() {
            Kind::Message(message) => Some(message),
            _ => None,
        },
    };
    if let Some(message) = body {
        schemas.add(Some(&message));
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": reference(message.full_name())}},
        });
    }
    operation
}

fn response(route: &HttpRoute, schemas: &mut Schemas) -> Value {
    schemas.add(Some(&route.output));
    let message = reference(route.output.full_name());
    if route.server_streaming {
        return json!({
            "description": "A stream: one JSON line per message, `{\"result\": …}`, and a last \
                line `{\"error\": <google.rpc.Status>}` if it fails; server-sent events when the \
                request accepts text/event-stream.",
            "content": {
                "application/x-ndjson": {"schema": {
                    "type": "object",
                    "properties": {"result": message, "error": reference("google.rpc.Status")},
                }},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        });
    }
    json!({
        "description": "The response message.",
        "content": {"application/json": {"schema": message}},
    })
}

/// A field that a query string can carry: a scalar, an enum, a repeated one of those, or a
/// well-known type written as a string.
fn is_query_parameter(field: &FieldDescriptor) -> bool {
    if field.is_map() {
        return false;
    }
    match field.kind() {
        Kind::Message(message) => well_known(&message).is_some(),
        _ => true,
    }
}

fn field_at(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
    let (name, rest) = path.split_first()?;
    let field = message.get_field_by_name(name)?;
    match (rest.is_empty(), field.kind()) {
        (true, _) => Some(field),
        (false, Kind::Message(inner)) => field_at(&inner, rest),
        (false, _) => None,
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The schema of a well-known type that JSON writes as a scalar.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "description": "Seconds with an `s` suffix: `1.5s`."})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Field paths, comma-separated."})
        }
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({"type": "integer", "format": "int32"})
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({"type": "number"})
        }
        "google.protobuf.BytesValue" => json!({"type": "string", "format": "byte"}),
        _ => return None,
    })
}

/// The message schemas written so far.
#[derive(Default)]
struct Schemas {
    done: BTreeMap<String, Value>,
}

impl Schemas {
    fn add(&mut self, message: Option<&MessageDescriptor>) {
        let Some(message) = message else { return };
        if self.done.contains_key(message.full_name()) || well_known(message).is_some() {
            return;
        }
        // Taken before its fields, so that a message that holds itself ends.
        self.done
            .insert(message.full_name().to_owned(), Value::Null);
        let schema = if message.full_name() == "google.protobuf.Any" {
            json!({
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": true,
                "description": "A message of the type `@type` names, its fields beside it.",
            })
        } else {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in message.fields() {
                if crate::field_behavior::is_required(&field) {
                    required.push(Value::from(field.json_name()));
                }
                let mut schema = self.of_field(&field);
                if crate::field_behavior::is_output_only(&field) {
                    schema = match schema.get("$ref") {
                        // A reference takes no siblings in OpenAPI 3.0.
                        Some(_) => json!({"allOf": [schema], "readOnly": true}),
                        None => {
                            schema["readOnly"] = true.into();
                            schema
                        }
                    };
                }
                if let Some(description) =
                    comments(field.parent_file().file_descriptor_proto(), field.path())
                    && !schema.as_object().is_some_and(|s| s.contains_key("$ref"))
                {
                    schema["description"] = description.into();
                }
                properties.insert(field.json_name().to_owned(), schema);
            }
            let mut schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                schema["required"] = required.into();
            }
            if let Some(description) = comments(
                message.parent_file().file_descriptor_proto(),
                message.path(),
            ) {
                schema["description"] = description.into();
            }
            schema
        };
        self.done.insert(message.full_name().to_owned(), schema);
    }

    fn of_field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let value = entry.map_entry_value_field();
            return json!({"type": "object", "additionalProperties": self.of_kind(&value.kind())});
        }
        let one = self.of_kind(&field.kind());
        if field.is_list() {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }

    fn of_kind(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "int64"})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Enum(descriptor) => enum_schema(descriptor),
            Kind::Message(message) => match well_known(message) {
                Some(schema) => schema,
                None => {
                    self.add(Some(message));
                    reference(message.full_name())
                }
            },
        }
    }
}

fn enum_schema(descriptor: &EnumDescriptor) -> Value {
    json!({
        "type": "string",
        "enum": descriptor.values().map(|v| v.name().to_owned()).collect::<Vec<_>>(),
    })
}

/// The comment written above the element at `path` in its proto file, if any.
fn comments(file: &prost_types::FileDescriptorProto, path: &[i32]) -> Option<String> {
    let location = file
        .source_code_info
        .as_ref()?
        .location
        .iter()
        .find(|location| location.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let text = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the committed document lives, from this crate.
    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.json");

    fn generated() -> String {
        let routes = HttpRoutes::all().expect("the rules");
        let mut text =
            serde_json::to_string_pretty(&document(&routes, crate::API_VERSION)).expect("JSON");
        text.push('\n');
        text
    }

    #[test]
    fn the_committed_document_is_the_one_the_protos_give() {
        let generated = generated();
        if std::env::var_os("JICENG_WRITE_DOCS").is_some() {
            std::fs::write(COMMITTED, &generated).expect("write docs/api/openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/api/openapi.json is stale: rewrite it with \
             `JICENG_WRITE_DOCS=1 cargo test -p jiceng-gateway openapi`"
        );
    }

    #[test]
    fn every_route_is_an_operation_and_every_reference_resolves() {
        let routes = HttpRoutes::all().expect("the rules");
        let document = document(&routes, "test");
        let operations: usize = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|methods| methods.as_object().expect("methods").len())
            .sum();
        assert_eq!(operations, routes.iter().count());
        let text = document.to_string();
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').expect("a quoted name")];
            assert!(schemas.contains_key(name), "{name} has no schema");
        }
        let get_unit = &document["paths"]["/v1/units/{id}"]["get"];
        assert_eq!(get_unit["operationId"], "OrgService_GetUnit");
        assert_eq!(get_unit["parameters"][0]["in"], "path");
        let list = &document["paths"]["/v1/units/{root_id}:subtree"]["get"]["parameters"];
        assert!(
            list.as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "pageToken" && p["in"] == "query"),
            "{list}"
        );
    }
}
