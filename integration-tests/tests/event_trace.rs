//! One business flow is one trace across services and queues: a position change in the org
//! service, its outbox event relayed to notify, the notification, and the webhook POST to another
//! government system all carry the caller's trace id.
//!
//! A test binary of its own because telemetry is installed once per process.

#[allow(dead_code)] // the helpers of the API suite this binary does not need
#[path = "api/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Platform;
use jiceng_auth::Role;
use jiceng_proto::{
    notify as npb,
    org::{self as pb, position_service_client::PositionServiceClient},
};
use jiceng_testkit::{Bearer, HttpReceiver, OtlpReceiver, TestDatabase, bearer};
use tracing::Instrument as _;

const WANG: &str = "01937f6e-0000-7000-8000-0000000000a1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_change_is_one_trace_from_caller_to_webhook() {
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_telemetry();
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let admin = || Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut org = platform.admin().await;
    let street = common::create(
        &mut org,
        &platform.root_id,
        pb::UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let webhook = HttpReceiver::start(vec![]).await;
    let mut notify = platform.notify_as(admin()).await;
    notify
        .register_webhook(npb::RegisterWebhookRequest {
            recipient: WANG.into(),
            url: webhook.url("/hook"),
            ..Default::default()
        })
        .await
        .expect("webhook");

    let channel =
        jiceng_grpc::channel(&platform.server.uri(), Duration::from_secs(5)).expect("channel");
    let mut positions = PositionServiceClient::with_interceptor(channel, admin());
    let caller_span = tracing::info_span!("hr.appoint");
    positions
        .appoint_position(pb::AppointPositionRequest {
            unit_id: street.id.clone(),
            role: pb::PositionRole::Secretary as i32,
            holder: Some(pb::appoint_position_request::Holder::MemberId(WANG.into())),
            ..Default::default()
        })
        .instrument(caller_span)
        .await
        .expect("appoint");

    let posts = webhook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(posts.len(), 1, "the webhook was called");
    let traceparent = posts[0]
        .header("traceparent")
        .expect("the POST carries the trace")
        .to_owned();
    let flusher = std::sync::Arc::clone(&telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "notify.webhook")
        })
        .await;
    let caller = spans
        .iter()
        .find(|s| s.name == "hr.appoint")
        .expect("caller span");
    let trace_id = hex(&caller.trace_id);
    assert!(
        traceparent.contains(&trace_id),
        "{traceparent} continues trace {trace_id}"
    );
    for name in [
        "AppointPosition",
        "outbox.deliver",
        "Deliver",
        "notify.store.publish",
        "notify.webhook",
    ] {
        let span = spans
            .iter()
            .find(|s| s.name.contains(name) && s.trace_id == caller.trace_id)
            .unwrap_or_else(|| {
                panic!(
                    "a {name} span in the caller's trace among {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            });
        assert_eq!(span.trace_id, caller.trace_id);
    }
}
