//! HTTP/JSON and gRPC-Web beside gRPC, on the same port: a request that is not gRPC is matched
//! against the contracts' `google.api.http` rules, turned into the gRPC call it names and sent
//! through the same server stack (authentication, scope, deadlines, tracing, access log), and
//! its answer is written back as proto3 JSON — or, for an error, as the `google.rpc.Status`
//! under the HTTP status its code maps to.

pub mod field_behavior;
pub mod openapi;
mod routes;
mod status;
mod stream;
mod template;
mod transcode;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{Code, body::Body};
use tower::{Layer, Service, ServiceExt as _};

pub use routes::{BodyRule, HttpRoute, HttpRoutes, NoRoute};
pub use status::{GrpcOutcome, JSON, http_status};
pub use stream::StreamFormat;
pub use template::PathTemplate;
pub use tonic_web::GrpcWebLayer;

/// The version the OpenAPI document states: the platform's release.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a process serves the OpenAPI document of its routes.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// Largest HTTP request body the gateway reads, as for a gRPC message.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The compiled descriptor set, decoded once: every contract with its HTTP rules, and
/// `google.rpc` for errors.
pub fn descriptor_pool() -> Result<DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(jiceng_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .clone()
}

/// Marks a gRPC request the gateway made from an HTTP one, with what was asked: the access log
/// writes it beside the RPC.
#[derive(Clone, Debug)]
pub struct Transcoded {
    pub method: Method,
    pub path: String,
}

/// Puts [`Transcode`] in front of a server's services.
#[derive(Clone, Debug)]
pub struct TranscodeLayer {
    routes: HttpRoutes,
    openapi: Arc<OnceLock<Bytes>>,
}

impl TranscodeLayer {
    pub fn new(routes: HttpRoutes) -> Self {
        Self {
            routes,
            openapi: Arc::default(),
        }
    }
}

impl<S> Layer<S> for TranscodeLayer {
    type Service = Transcode<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Transcode {
            inner,
            routes: self.routes.clone(),
            openapi: Arc::clone(&self.openapi),
        }
    }
}

/// Passes gRPC (and gRPC-Web) requests through; answers every other request by its HTTP rule.
#[derive(Clone, Debug)]
pub struct Transcode<S> {
    inner: S,
    routes: HttpRoutes,
    /// The OpenAPI document of `routes`, written on first request.
    openapi: Arc<OnceLock<Bytes>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, R> Service<Request<Body>> for Transcode<S>
where
    S: Service<Request<Body>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_grpc(request.headers()) {
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(Body::new)) });
        }
        if request.method() == Method::GET && request.uri().path() == OPENAPI_PATH {
            let document = self
                .openapi
                .get_or_init(|| {
                    let document = openapi::document(&self.routes, API_VERSION);
                    Bytes::from(document.to_string())
                })
                .clone();
            let mut response = Response::new(Body::new(Full::new(document)));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            return Box::pin(async move { Ok(response) });
        }
        // The ready service takes this call; its clone waits for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(transcode(inner, self.routes.clone(), request))
    }
}

fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

async fn transcode<S, R>(
    inner: S,
    routes: HttpRoutes,
    request: Request<Body>,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<R>>,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<BoxError>,
{
    let pool = routes.pool().clone();
    let (parts, body) = request.into_parts();
    let (route, bindings) = match routes.find(&parts.method, parts.uri.path()) {
        Ok(found) => found,
        Err(NoRoute::NotFound) => {
            let message = format!("no HTTP route for {} {}", parts.method, parts.uri.path());
            return Ok(GrpcOutcome::new(Code::NotFound, message).into_response(&pool));
        }
        Err(NoRoute::MethodNotAllowed) => {
            let message = format!("{} is not a method of {}", parts.method, parts.uri.path());
            let mut response = GrpcOutcome::new(Code::Unimplemented, message).into_response(&pool);
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return Ok(response);
        }
    };
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            let message = format!("the request body is larger than {MAX_BODY_BYTES} bytes");
            let mut response =
                GrpcOutcome::new(Code::ResourceExhausted, message).into_response(&pool);
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        }
        Err(error) => {
            let message = format!("the request body could not be read: {error}");
            return Ok(GrpcOutcome::new(Code::InvalidArgument, message).into_response(&pool));
        }
    };
    let message = match transcode::request_message(route, &bindings, parts.uri.query(), &body) {
        Ok(message) => message,
        Err(outcome) => return Ok(outcome.into_response(&pool)),
    };
    let format = StreamFormat::accepted_by(&parts.headers);
    let route = route.clone();
    let response = inner
        .oneshot(grpc_request(&route, parts, &message.encode_to_vec()))
        .await?;
    let (head, body) = response.into_parts();
    // A trailers-only answer: the call failed before any message.
    if let Some(outcome) = GrpcOutcome::from_headers(&head.headers) {
        return Ok(if outcome.code == Code::Ok && route.server_streaming {
            stream_response(head, Body::empty(), &route, pool, format)
        } else if outcome.code == Code::Ok {
            GrpcOutcome::new(Code::Internal, "the service answered without a message")
                .into_response(&pool)
        } else {
            outcome.into_response(&pool)
        });
    }
    if route.server_streaming {
        return Ok(stream_response(head, Body::new(body), &route, pool, format));
    }
    Ok(unary_response(head, body, &route, &pool)
        .await
        .unwrap_or_else(|outcome| outcome.into_response(&pool)))
}

/// The gRPC request an HTTP request stands for: the caller's headers (its token, its
/// `traceparent`) and connection with the encoded message.
fn grpc_request(route: &HttpRoute, parts: http::request::Parts, message: &[u8]) -> Request<Body> {
    let mut request = Request::new(Body::new(Full::new(stream::frame(message))));
    *request.method_mut() = Method::POST;
    *request.version_mut() = http::Version::HTTP_2;
    *request.uri_mut() = http::Uri::try_from(route.grpc_path.as_str())
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    let headers = request.headers_mut();
    for (name, value) in &parts.headers {
        if !is_transport_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    let transcoded = Transcoded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
    };
    *request.extensions_mut() = parts.extensions;
    request.extensions_mut().insert(transcoded);
    request
}

/// Headers about the HTTP exchange itself, not the call: the gateway sets its own.
fn is_transport_header(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::TE,
        header::ACCEPT,
        header::ACCEPT_ENCODING,
        header::UPGRADE,
        header::ORIGIN,
    ]
    .contains(name)
        || name.as_str().starts_with("grpc-") && name.as_str() != "grpc-timeout"
}

async fn unary_response<R>(
    head: http::response::Parts,
    body: R,
    route: &HttpRoute,
    pool: &DescriptorPool,
) -> Result<Response<Body>, GrpcOutcome>
where
    R: http_body::Body<Data = Bytes>,
    R::Error: Into<BoxError>,
{
    let collected = body.collect().await.map_err(|error| {
        let error: BoxError = error.into();
        GrpcOutcome::new(Code::Unavailable, format!("the call broke off: {error}"))
    })?;
    let outcome = collected
        .trailers()
        .and_then(GrpcOutcome::from_headers)
        .unwrap_or_else(|| GrpcOutcome::new(Code::Unknown, "the service gave no status"));
    if outcome.code != Code::Ok {
        return Ok(outcome.into_response(pool));
    }
    let mut frames = stream::Frames::default();
    frames.push(collected.to_bytes());
    let message = frames.next_message()?.ok_or_else(|| {
        GrpcOutcome::new(Code::Internal, "the service answered without a message")
    })?;
    let message = DynamicMessage::decode(route.output.clone(), message).map_err(|error| {
        GrpcOutcome::new(
            Code::Internal,
            format!("the response does not decode: {error}"),
        )
    })?;
    let json = transcode::json_of(&message)?;
    let mut response = Response::new(Body::new(Full::new(Bytes::from(json))));
    copy_metadata(&head.headers, response.headers_mut());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    Ok(response)
}

fn stream_response(
    head: http::response::Parts,
    body: Body,
    route: &HttpRoute,
    pool: DescriptorPool,
    format: StreamFormat,
) -> Response<Body> {
    let stream = stream::JsonStream::new(body, route.output.clone(), pool, format);
    let mut response = Response::new(Body::new(stream));
    copy_metadata(&head.headers, response.headers_mut());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Proxies must pass each line on as it comes.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Response metadata a service set (not the gRPC transport's own headers).
fn copy_metadata(from: &http::HeaderMap, to: &mut http::HeaderMap) {
    for (name, value) in from {
        if !is_transport_header(name) && !name.as_str().starts_with("grpc-") {
            to.append(name.clone(), value.clone());
        }
    }
}

/// CORS for the deployment's web origins: browsers at those origins may call over gRPC-Web and
/// HTTP/JSON with a bearer token, and read the gRPC status; any other origin gets no CORS
/// headers, so a browser keeps the answer from it. No cookies are involved: credentials are
/// not allowed.
pub fn cors_layer(allowed_origins: &[HeaderValue]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed_origins.iter().cloned()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
        ])
        .max_age(Duration::from_secs(600))
}
