//! A request message from an HTTP request (the body as proto3 JSON, path variables, query
//! parameters), and a response message as proto3 JSON.

use bytes::Bytes;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    Value,
};

use crate::{
    routes::{BodyRule, HttpRoute},
    status::{GrpcOutcome, bad_request},
    template::Binding,
};

/// The request message `route` calls its RPC with.
pub fn request_message(
    route: &HttpRoute,
    bindings: &[Binding],
    query: Option<&str>,
    body: &Bytes,
) -> Result<DynamicMessage, GrpcOutcome> {
    let mut message = DynamicMessage::new(route.input.clone());
    let body_is_empty = body.iter().all(u8::is_ascii_whitespace);
    match &route.body {
        BodyRule::Whole if !body_is_empty => message = json_message(route.input.clone(), body)?,
        BodyRule::Field(field) if !body_is_empty => {
            let Kind::Message(of) = field.kind() else {
                return Err(bad_request(field.name(), "a body field must be a message"));
            };
            message.set_field(field, Value::Message(json_message(of, body)?));
        }
        BodyRule::None if !body_is_empty => {
            return Err(bad_request("", "this method takes no request body"));
        }
        _ => {}
    }
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if matches!(route.body, BodyRule::Whole) {
            return Err(bad_request(
                &key,
                "this method takes its fields in the JSON body, not the query string",
            ));
        }
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        set_field(&mut message, &path, &value, Setting::Query)?;
    }
    for (path, value) in bindings {
        set_field(&mut message, path, value, Setting::Path)?;
    }
    Ok(message)
}

/// A message as proto3 JSON, as the HTTP answer carries it.
pub fn json_of(message: &DynamicMessage) -> Result<Vec<u8>, GrpcOutcome> {
    serde_json::to_vec(message).map_err(|error| {
        GrpcOutcome::new(
            tonic::Code::Internal,
            format!("the response does not render as JSON: {error}"),
        )
    })
}

fn json_message(
    descriptor: MessageDescriptor,
    body: &Bytes,
) -> Result<DynamicMessage, GrpcOutcome> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let message = DynamicMessage::deserialize_with_options(
        descriptor,
        &mut deserializer,
        &DeserializeOptions::new(),
    )
    .and_then(|message| deserializer.end().map(|()| message))
    .map_err(|error| bad_request("", &format!("the request body is not valid: {error}")))?;
    Ok(message)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// A path variable: it sets the field, whatever the body said.
    Path,
    /// A query parameter: repeated fields take one value per occurrence.
    Query,
}

/// Sets the field at `path` (proto or JSON names, dotted through singular messages) from its
/// text form.
fn set_field(
    message: &mut DynamicMessage,
    path: &[String],
    text: &str,
    setting: Setting,
) -> Result<(), GrpcOutcome> {
    let dotted = path.join(".");
    let Some((name, rest)) = path.split_first() else {
        return Err(bad_request(&dotted, "an empty field name"));
    };
    let field = field_named(&message.descriptor(), name)
        .ok_or_else(|| bad_request(&dotted, "no such field"))?;
    if !rest.is_empty() {
        if field.is_list() || field.is_map() || !matches!(field.kind(), Kind::Message(_)) {
            return Err(bad_request(&dotted, "only singular messages have fields"));
        }
        let Value::Message(inner) = message.get_field_mut(&field) else {
            return Err(bad_request(&dotted, "only singular messages have fields"));
        };
        return set_field(inner, rest, text, setting);
    }
    if field.is_map() {
        return Err(bad_request(&dotted, "maps go in a JSON body"));
    }
    let value = scalar(&field, text).map_err(|why| bad_request(&dotted, &why))?;
    if field.is_list() {
        match (setting, message.get_field_mut(&field)) {
            (Setting::Query, Value::List(values)) => values.push(value),
            _ => message.set_field(&field, Value::List(vec![value])),
        }
    } else {
        message.set_field(&field, value);
    }
    Ok(())
}

fn field_named(descriptor: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    descriptor
        .get_field_by_name(name)
        .or_else(|| descriptor.get_field_by_json_name(name))
}

/// A field's value from the text of a path segment or query parameter: numbers and booleans
/// as written, enums by name or number, bytes in base64, and messages (timestamps, field
/// masks, durations, wrappers) by their JSON string form.
fn scalar(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
        text.parse()
            .map_err(|_| format!("`{text}` is not a number of this field's type"))
    }
    Ok(match field.kind() {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bool => Value::Bool(match text {
            "true" => true,
            "false" => false,
            _ => return Err(format!("`{text}` is neither true nor false")),
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(number(text)?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(number(text)?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(number(text)?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(number(text)?),
        Kind::Float => Value::F32(number(text)?),
        Kind::Double => Value::F64(number(text)?),
        Kind::Bytes => {
            use base64::Engine as _;
            let engines = [
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
            ];
            let trimmed = text.trim_end_matches('=');
            let bytes = engines
                .iter()
                .find_map(|engine| engine.decode(trimmed).ok())
                .ok_or_else(|| format!("`{text}` is not base64"))?;
            Value::Bytes(bytes.into())
        }
        Kind::Enum(descriptor) => {
            let number = match descriptor.get_value_by_name(text) {
                Some(value) => value.number(),
                None => text
                    .parse::<i32>()
                    .ok()
                    .filter(|n| descriptor.get_value(*n).is_some())
                    .ok_or_else(|| format!("`{text}` is not a value of {}", descriptor.name()))?,
            };
            Value::EnumNumber(number)
        }
        Kind::Message(descriptor) => {
            let json = serde_json::Value::String(text.to_owned());
            Value::Message(
                DynamicMessage::deserialize(descriptor, json)
                    .map_err(|error| format!("`{text}` is not valid here: {error}"))?,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::HttpRoutes;

    fn route_of(method: &http::Method, path: &str) -> (HttpRoute, Vec<Binding>) {
        let routes = HttpRoutes::all().expect("the compiled rules");
        let (route, bindings) = routes.find(method, path).expect("a route");
        (route.clone(), bindings)
    }

    #[test]
    fn path_variables_and_query_parameters_fill_the_request() {
        let (route, bindings) = route_of(&http::Method::GET, "/v1/units/u1:subtree");
        let message = request_message(
            &route,
            &bindings,
            Some("maxDepth=2&kinds=UNIT_KIND_TOWN_COMMITTEE&kinds=UNIT_KIND_RESIDENTIAL_COMMITTEE&page_size=5"),
            &Bytes::new(),
        )
        .expect("a request");
        let json = serde_json::to_value(&message).expect("json");
        assert_eq!(json["rootId"], "u1");
        assert_eq!(json["maxDepth"], 2);
        assert_eq!(json["pageSize"], 5);
        assert_eq!(
            json["kinds"],
            serde_json::json!([
                "UNIT_KIND_TOWN_COMMITTEE",
                "UNIT_KIND_RESIDENTIAL_COMMITTEE"
            ])
        );
    }

    #[test]
    fn a_body_is_read_as_proto3_json_and_the_path_wins() {
        let (route, bindings) = route_of(&http::Method::POST, "/v1/units/u1:move");
        let body = Bytes::from_static(br#"{"id": "other", "newParentId": "p2", "etag": "W/1"}"#);
        let message = request_message(&route, &bindings, None, &body).expect("a request");
        let json = serde_json::to_value(&message).expect("json");
        assert_eq!(json["id"], "u1");
        assert_eq!(json["newParentId"], "p2");
    }

    #[test]
    fn what_cannot_be_read_is_an_invalid_argument_naming_the_field() {
        let (route, bindings) = route_of(&http::Method::GET, "/v1/units/u1:subtree");
        for (query, field) in [
            ("maxDepth=deep", "maxDepth"),
            ("kinds=UNIT_KIND_PLANET", "kinds"),
            ("colour=red", "colour"),
        ] {
            let error =
                request_message(&route, &bindings, Some(query), &Bytes::new()).expect_err(query);
            assert_eq!(error.code, tonic::Code::InvalidArgument, "{query}");
            assert!(
                error.message.starts_with(field),
                "{query}: {}",
                error.message
            );
        }
        let (route, bindings) = route_of(&http::Method::POST, "/v1/units");
        for body in [
            &b"{"[..],
            br#"{"colour": "red"}"#,
            br#"{"name": 7}"#,
            b"{} {}",
        ] {
            let error = request_message(&route, &bindings, None, &Bytes::from_static(body))
                .expect_err("bad body");
            assert_eq!(error.code, tonic::Code::InvalidArgument);
        }
        let error = request_message(&route, &bindings, Some("name=x"), &Bytes::new())
            .expect_err("query with a whole body");
        assert_eq!(error.code, tonic::Code::InvalidArgument);
    }
}
