//! Errors over HTTP: the `google.rpc.Status` of the call as proto3 JSON, under the HTTP status
//! that `google/rpc/code.proto` (and AIP-193) gives its code.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::Code;

/// The HTTP status a gRPC code maps to.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 Client Closed Request: nginx's, as google/rpc/code.proto names it.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A call's outcome as a gRPC server reports it: in headers for a trailers-only response, in
/// trailers otherwise.
#[derive(Clone, Debug)]
pub struct GrpcOutcome {
    pub code: Code,
    pub message: String,
    /// `grpc-status-details-bin`, decoded: an encoded `google.rpc.Status` with its details.
    pub details: Option<Bytes>,
}

impl GrpcOutcome {
    /// The outcome these headers or trailers carry, if they carry one.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let code = headers
            .get("grpc-status")?
            .to_str()
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from);
        let message = headers
            .get("grpc-message")
            .map(|v| {
                percent_encoding::percent_decode(v.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        let details = headers.get("grpc-status-details-bin").and_then(|v| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(v.as_bytes().strip_suffix(b"==").unwrap_or(v.as_bytes()))
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v.as_bytes()))
                .ok()
                .map(Bytes::from)
        });
        Some(Self {
            code,
            message,
            details,
        })
    }

    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The `google.rpc.Status` as proto3 JSON: the details the service attached (field
    /// violations, error info) rendered by their types in `pool`.
    pub fn to_json(&self, pool: &DescriptorPool) -> serde_json::Value {
        if let (Some(details), Some(status)) =
            (&self.details, pool.get_message_by_name("google.rpc.Status"))
            && let Ok(decoded) = DynamicMessage::decode(status, details.clone())
            && let Ok(mut json) = serde_json::to_value(&decoded)
        {
            // The header's code and message are the call's; the details' copies agree with them
            // when a service set both, and are absent when it did not.
            json["code"] = (self.code as i32).into();
            json["message"] = self.message.clone().into();
            if json.get("details").is_none() {
                json["details"] = serde_json::Value::Array(Vec::new());
            }
            return json;
        }
        serde_json::json!({
            "code": self.code as i32,
            "message": self.message,
            "details": [],
        })
    }

    /// The whole HTTP error response.
    pub fn into_response(self, pool: &DescriptorPool) -> http::Response<tonic::body::Body> {
        let body = self.to_json(pool).to_string();
        let mut response = http::Response::new(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(body),
        )));
        *response.status_mut() = http_status(self.code);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    }
}

impl From<tonic::Status> for GrpcOutcome {
    fn from(status: tonic::Status) -> Self {
        let details = (!status.details().is_empty()).then(|| status.details().to_vec().into());
        Self {
            code: status.code(),
            message: status.message().to_owned(),
            details,
        }
    }
}

/// The content type of every JSON answer.
pub const JSON: &str = "application/json";

/// A `google.rpc.Status` carrying a `BadRequest` with one field violation, encoded: how a
/// request the transcoding cannot read is described.
pub fn bad_request(field: &str, description: &str) -> GrpcOutcome {
    use jiceng_proto::google::rpc::{BadRequest, Status, bad_request::FieldViolation};
    let bad_request = BadRequest {
        field_violations: vec![FieldViolation {
            field: field.to_owned(),
            description: description.to_owned(),
            ..Default::default()
        }],
    };
    let message = if field.is_empty() {
        description.to_owned()
    } else {
        format!("{field}: {description}")
    };
    let status = Status {
        code: Code::InvalidArgument as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.BadRequest".to_owned(),
            value: bad_request.encode_to_vec(),
        }],
    };
    GrpcOutcome {
        code: Code::InvalidArgument,
        message,
        details: Some(status.encode_to_vec().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_http_statuses_of_google_rpc_code() {
        let cases = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, http) in cases {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn details_are_rendered_by_their_types() {
        let pool = crate::descriptor_pool().expect("the compiled descriptor set");
        let json = bad_request("page_size", "must not be negative").to_json(&pool);
        assert_eq!(json["code"], 3);
        assert_eq!(json["message"], "page_size: must not be negative");
        assert_eq!(
            json["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(
            json["details"][0]["fieldViolations"][0]["field"],
            "page_size"
        );
    }

    #[test]
    fn an_outcome_without_details_still_has_the_status_shape() {
        let pool = crate::descriptor_pool().expect("the compiled descriptor set");
        let json = GrpcOutcome::new(Code::NotFound, "no such unit").to_json(&pool);
        assert_eq!(
            json,
            serde_json::json!({"code": 5, "message": "no such unit", "details": []})
        );
    }
}
