//! The one check of the fields the contracts mark `(google.api.field_behavior) = REQUIRED`: a
//! request that leaves any of them unset is INVALID_ARGUMENT, with a `BadRequest` naming every
//! one, before its handler runs. It sits behind the authenticator, so that a caller without a
//! valid token learns nothing about the request's shape.
//!
//! Unset is proto3's: an empty string, 0, the enum's zero value, an empty list, an absent
//! message. The handlers still check what a set value must be (a UUID, 1 to 100 characters).

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor};
use tonic::{body::Body, server::NamedService};
use tower::Service;

use crate::{FieldViolations, server::MAX_MESSAGE_BYTES};

/// The REQUIRED fields of one RPC's request.
#[derive(Debug)]
struct Rule {
    input: MessageDescriptor,
    fields: Vec<FieldDescriptor>,
}

/// Every RPC's rule, by gRPC path, read once from the descriptor set.
fn rules() -> &'static HashMap<String, Rule> {
    static RULES: OnceLock<HashMap<String, Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let Ok(pool) = jiceng_gateway::descriptor_pool() else {
            return HashMap::new();
        };
        let mut rules = HashMap::new();
        for service in pool.services() {
            for rpc in service.methods() {
                let input = rpc.input();
                let fields: Vec<FieldDescriptor> = input
                    .fields()
                    .filter(jiceng_gateway::field_behavior::is_required)
                    .collect();
                if !fields.is_empty() {
                    rules.insert(
                        format!("/{}/{}", service.full_name(), rpc.name()),
                        Rule { input, fields },
                    );
                }
            }
        }
        rules
    })
}

/// The REQUIRED fields `message` leaves unset, by their proto names.
fn unset(rule: &Rule, message: &DynamicMessage) -> Vec<String> {
    rule.fields
        .iter()
        .filter(|field| !message.has_field(field))
        .map(|field| field.name().to_owned())
        .collect()
}

/// Wraps a generated server: see the module's comment.
#[derive(Clone, Debug)]
pub struct RequiredFields<S> {
    inner: S,
}

impl<S> RequiredFields<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for RequiredFields<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for RequiredFields<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(rule) = rules().get(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        // The ready service takes this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_MESSAGE_BYTES + 5).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                    // What the generated server answers to a message over its limit.
                    let status = tonic::Status::resource_exhausted(format!(
                        "the message is larger than {MAX_MESSAGE_BYTES} bytes"
                    ));
                    return Ok(status.into_http());
                }
                Err(error) => {
                    let status =
                        tonic::Status::cancelled(format!("the request body broke off: {error}"));
                    return Ok(status.into_http());
                }
            };
            if let Some(missing) = first_message(&bytes)
                .and_then(|message| DynamicMessage::decode(rule.input.clone(), message).ok())
                .map(|message| unset(rule, &message))
                .filter(|missing| !missing.is_empty())
            {
                let mut violations = FieldViolations::new();
                for field in missing {
                    violations.add(&field, "is required");
                }
                if let Err(status) = violations.into_result() {
                    return Ok(status.into_http());
                }
            }
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await
        })
    }
}

/// The first message of a gRPC request body, when it is whole and uncompressed.
fn first_message(bytes: &Bytes) -> Option<Bytes> {
    let header = bytes.get(..5)?;
    if header[0] != 0 {
        return None;
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    bytes.get(5..5 + length).map(|m| bytes.slice_ref(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(path: &str) -> Option<&'static Rule> {
        rules().get(path)
    }

    #[test]
    fn the_contracts_required_fields_are_read_per_rpc() {
        let create = rule_of("/jiceng.org.v1.OrgService/CreateUnit").expect("a rule");
        let names: Vec<&str> = create.fields.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["parent_id", "kind", "name"]);
        assert!(rule_of("/jiceng.org.v1.OrgService/ListKindRules").is_none());
        assert!(rules().len() > 100, "{}", rules().len());
    }

    #[test]
    fn unset_is_proto3s_default() {
        let rule = rule_of("/jiceng.org.v1.OrgService/CreateUnit").expect("a rule");
        let mut message = DynamicMessage::new(rule.input.clone());
        assert_eq!(unset(rule, &message), ["parent_id", "kind", "name"]);
        message.set_field_by_name("name", prost_reflect::Value::String("塘桥".into()));
        message.set_field_by_name("kind", prost_reflect::Value::EnumNumber(3));
        assert_eq!(unset(rule, &message), ["parent_id"]);
    }

    #[test]
    fn only_a_whole_uncompressed_first_message_is_read() {
        assert_eq!(
            first_message(&Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1])),
            Some(Bytes::from_static(&[8, 1]))
        );
        assert_eq!(
            first_message(&Bytes::from_static(&[0, 0, 0, 0, 3, 8, 1])),
            None
        );
        assert_eq!(
            first_message(&Bytes::from_static(&[1, 0, 0, 0, 1, 8])),
            None
        );
        assert_eq!(first_message(&Bytes::new()), None);
    }
}
