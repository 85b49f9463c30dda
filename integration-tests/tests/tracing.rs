//! One business call is one trace: the caller's span, the org service's server span and its
//! database work share a trace id, exported over OTLP to a receiver in this process, and the
//! audit record of the change names the same trace.
//!
//! A test binary of its own because telemetry is installed once per process.

#[allow(dead_code)] // the helpers of the API suite this binary does not need
#[path = "api/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Platform;
use jiceng_auth::Role;
use jiceng_proto::org::{self as pb, org_service_client::OrgServiceClient};
use jiceng_testkit::{Bearer, OtlpReceiver, TestDatabase, bearer};
use opentelemetry_proto::tonic::{
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use tracing::Instrument as _;

fn named<'a>(spans: &'a [Span], name: &str, kind: Option<SpanKind>) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.name.contains(name) && kind.is_none_or(|k| s.kind == k as i32))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_one_trace_from_client_to_database() {
    let receiver = OtlpReceiver::start().await;
    let flushing = receiver.install_telemetry();
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let channel =
        jiceng_grpc::channel(&platform.server.uri(), Duration::from_secs(5)).expect("channel");
    let auth = Bearer::new(&bearer("tracer", &[Role::DistrictAdmin], &platform.root_id));
    let mut client = OrgServiceClient::with_interceptor(channel, auth);
    let request = pb::CreateUnitRequest {
        parent_id: platform.root_id.clone(),
        kind: pb::UnitKind::StreetWorkingCommittee as i32,
        name: "陆家嘴街道党工委".into(),
        ..Default::default()
    };
    let unit = client
        .create_unit(request)
        .instrument(tracing::info_span!("hotline.report"))
        .await
        .expect("create")
        .into_inner();
    // A call the caller gets wrong: NOT_FOUND is no failure of the server's.
    let missing = client
        .get_unit(pb::GetUnitRequest {
            id: "01937f6e-0000-7000-8000-00000000dead".into(),
        })
        .await
        .expect_err("no such unit");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let flusher = std::sync::Arc::clone(&flushing);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");

    let spans = receiver
        .wait_for(Duration::from_secs(10), |spans| {
            named(spans, "hotline.report", None).is_some()
                && named(spans, "CreateUnit", Some(SpanKind::Server)).is_some()
                && named(spans, "org.store.create", None).is_some()
                && named(spans, "GetUnit", Some(SpanKind::Server)).is_some()
                && named(spans, "INSERT", Some(SpanKind::Client)).is_some()
        })
        .await;
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    let caller =
        named(&spans, "hotline.report", None).unwrap_or_else(|| panic!("caller span in {names:?}"));
    let client_span = named(&spans, "CreateUnit", Some(SpanKind::Client))
        .unwrap_or_else(|| panic!("client span in {names:?}"));
    let server = named(&spans, "CreateUnit", Some(SpanKind::Server))
        .unwrap_or_else(|| panic!("server span in {names:?}"));
    let store = named(&spans, "org.store.create", None)
        .unwrap_or_else(|| panic!("store span in {names:?}"));
    for span in [client_span, server, store] {
        assert_eq!(
            span.trace_id, caller.trace_id,
            "{} is in the caller's trace",
            span.name
        );
    }
    assert_eq!(client_span.parent_span_id, caller.span_id);
    assert_eq!(
        server.parent_span_id, client_span.span_id,
        "the server continues the client's span"
    );
    assert_eq!(
        store.parent_span_id, server.span_id,
        "the database work happens inside the RPC"
    );

    // The server span says which of the platform's services answered, and on which port, even
    // here where one process serves them all under one `service.name`.
    let attribute = |name: &str| {
        server
            .attributes
            .iter()
            .find(|kv| kv.key == name)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(
        attribute("jiceng.service"),
        Some(Value::StringValue("org".into()))
    );
    let port = platform.server.uri().rsplit(':').next().map(str::to_owned);
    assert_eq!(
        attribute("server.port").map(|v| format!("{v:?}")),
        port.map(|p| format!("{:?}", Value::IntValue(p.parse().expect("port"))))
    );

    // The status code is the integer the conventions name; the span's status is left unset for
    // a success and for the caller's mistakes alike.
    assert_eq!(attribute("rpc.grpc.status_code"), Some(Value::IntValue(0)));
    const UNSET: i32 = 0;
    assert_eq!(server.status.as_ref().map_or(UNSET, |s| s.code), UNSET);
    let not_found = named(&spans, "GetUnit", Some(SpanKind::Server))
        .unwrap_or_else(|| panic!("the NOT_FOUND call's server span in {names:?}"));
    assert_eq!(
        not_found
            .attributes
            .iter()
            .find(|kv| kv.key == "rpc.grpc.status_code")
            .and_then(|kv| kv.value.as_ref()?.value.clone()),
        Some(Value::IntValue(tonic::Code::NotFound as i64))
    );
    assert_eq!(not_found.status.as_ref().map_or(UNSET, |s| s.code), UNSET);

    // The client span names the server it called.
    let client_attribute = |name: &str| {
        client_span
            .attributes
            .iter()
            .find(|kv| kv.key == name)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(
        client_attribute("server.address"),
        Some(Value::StringValue("127.0.0.1".into()))
    );

    // Every statement the store ran is a client span inside the store's, with the database,
    // the operation and the statement's text: its placeholders, never the values bound to them.
    let statements: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == caller.trace_id && s.kind == SpanKind::Client as i32)
        .filter(|s| s.attributes.iter().any(|kv| kv.key == "db.system.name"))
        .collect();
    let text_of = |span: &Span, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let insert = statements
        .iter()
        .find(|s| {
            text_of(s, "db.operation.name") == "INSERT"
                && text_of(s, "db.query.text").contains("INSERT INTO org_units")
        })
        .unwrap_or_else(|| panic!("the unit's INSERT among {names:?}"));
    assert_eq!(text_of(insert, "db.system.name"), "sqlite");
    assert_eq!(insert.name, "INSERT");
    assert!(text_of(insert, "db.query.text").contains("$1"));
    let mut ancestor = insert.parent_span_id.clone();
    while ancestor != store.span_id {
        let parent = spans
            .iter()
            .find(|s| s.span_id == ancestor)
            .expect("the statement's span is inside the store's");
        ancestor = parent.parent_span_id.clone();
    }
    for statement in &statements {
        assert!(
            !text_of(statement, "db.query.text").contains("陆家嘴"),
            "a bound value in {:?}",
            text_of(statement, "db.query.text")
        );
    }

    let trace_id: String = caller.trace_id.iter().map(|b| format!("{b:02x}")).collect();
    let mut admin = platform.admin().await;
    let audit = admin
        .list_audit_records(pb::ListAuditRecordsRequest {
            target_id: unit.id,
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner();
    assert_eq!(
        audit.records[0].trace_id, trace_id,
        "the audit record leads to the trace"
    );
}
