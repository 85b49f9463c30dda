//! The webhook dispatcher against a receiver of the test's own: a listed host name that
//! resolves to an address the policy does not allow (DNS rebinding into the cluster) is not
//! connected to, and the attempt says so without the remote's words; a listed address is
//! reached; over HTTPS, a receiver whose certificate comes from the configured CA is reached and
//! one the client has no reason to trust is not; an attempt that fails is an error of its span,
//! with its warning inside it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiceng_notify::{
    MIGRATIONS, NotifyStore,
    domain::{Category, Name, NewNotification, Priority, Template},
    egress::WebhookPolicy,
    webhooks::{DispatchOptions, REFUSED_BY_POLICY, WebhookDispatcher},
};
use jiceng_testkit::{HttpReceiver, OtlpReceiver, TestDatabase};
use opentelemetry_proto::tonic::{common::v1::any_value::Value, trace::v1::Span};

/// A store on a database of its own, kept as long as the database is.
async fn store() -> (TestDatabase, NotifyStore) {
    let db = TestDatabase::sqlite();
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    let store = NotifyStore::new(database);
    let empty = || Template::parse("").expect("empty");
    let category = Category::new(
        Name::parse("dispatch").expect("name"),
        empty(),
        empty(),
        vec![],
        false,
    )
    .expect("category");
    store.register_category(&category).await.expect("register");
    (db, store)
}

/// A notice to `recipient`, whose webhook is at `url`; returns the notification's id.
async fn notice_with_webhook(store: &NotifyStore, recipient: &str, url: &str) -> String {
    store
        .register_webhook("tester", None, recipient, url, "secret")
        .await
        .expect("webhook");
    let category = store
        .category(&Name::parse("dispatch").expect("name"))
        .await
        .expect("category");
    let new = NewNotification {
        publisher: "district".into(),
        idempotency_key: format!("notice-{recipient}"),
        category: category.name.clone(),
        priority: Priority::Normal,
        title: "派单".into(),
        body: String::new(),
        link: String::new(),
        data: BTreeMap::new(),
        source_event_id: None,
        trace_id: None,
    };
    store
        .publish(&new, &[recipient.to_owned()], &category, None)
        .await
        .expect("publish")
        .notification
        .id
}

fn dispatcher(store: &NotifyStore, allow: &str) -> WebhookDispatcher {
    dispatcher_trusting(store, allow, None)
}

fn dispatcher_trusting(store: &NotifyStore, allow: &str, ca: Option<&str>) -> WebhookDispatcher {
    WebhookDispatcher::new(
        store.clone(),
        DispatchOptions {
            policy: Arc::new(WebhookPolicy::parse(allow).expect("policy")),
            ca_pem: ca.map(|pem| pem.as_bytes().to_vec()),
            ..DispatchOptions::default()
        },
    )
    .expect("dispatcher")
}

#[tokio::test]
async fn a_listed_name_that_resolves_inside_is_not_connected_to() {
    let (_db, store) = store().await;
    let receiver = HttpReceiver::start(vec![]).await;
    let port = receiver
        .url("")
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    // Listed by name, the way a district lists another system's host; it resolves to loopback.
    let url = format!("http://localhost:{port}/hook");
    let id = notice_with_webhook(&store, "hotline", &url).await;
    assert_eq!(
        dispatcher(&store, "localhost")
            .dispatch_once()
            .await
            .expect("dispatch"),
        1
    );
    let status = store.delivery_status(&id, None).await.expect("status");
    let attempts = &status[0].attempts;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].http_status, attempts[0].error.as_str()),
        (0, REFUSED_BY_POLICY)
    );
    // The dispatch has returned, so any request it made has been answered, and the receiver
    // records a request before answering it.
    assert!(receiver.requests().is_empty(), "nothing reached it");
}

#[tokio::test]
async fn an_address_in_a_listed_block_is_reached_and_one_outside_is_not() {
    let (_db, store) = store().await;
    let receiver = HttpReceiver::start(vec![]).await;
    let inside = notice_with_webhook(&store, "receiver", &receiver.url("/hook")).await;
    // Registered while the list allowed it, then the list changed: checked again when sent.
    let dropped = notice_with_webhook(&store, "dropped", "http://127.0.0.2:9/hook").await;
    dispatcher(&store, "127.0.0.1/32")
        .dispatch_once()
        .await
        .expect("dispatch");
    let arrived = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(arrived.len(), 1);
    let delivered = store.delivery_status(&inside, None).await.expect("status");
    assert_eq!(delivered[0].state, "delivered");
    let refused = store.delivery_status(&dropped, None).await.expect("status");
    assert_eq!(refused[0].attempts[0].error, REFUSED_BY_POLICY);
}

#[tokio::test]
async fn https_reaches_a_receiver_the_configured_ca_vouches_for_and_no_other() {
    let (_db, store) = store().await;
    let (receiver, authority) = HttpReceiver::start_tls(vec![]).await;
    let url = receiver.url("/hook");
    assert!(url.starts_with("https://localhost:"), "{url}");
    let untrusted = notice_with_webhook(&store, "untrusted", &url).await;
    dispatcher(&store, "127.0.0.1/32")
        .dispatch_once()
        .await
        .expect("dispatch");
    let refused = store
        .delivery_status(&untrusted, None)
        .await
        .expect("status");
    assert_eq!(refused[0].attempts[0].error, "TLS handshake failed");
    let trusted = notice_with_webhook(&store, "trusted", &url).await;
    dispatcher_trusting(&store, "127.0.0.1/32", Some(&authority))
        .dispatch_once()
        .await
        .expect("dispatch");
    let arrived = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(arrived.len(), 1, "one delivery over TLS");
    assert!(arrived[0].header("x-jiceng-signature").is_some());
    let delivered = store.delivery_status(&trusted, None).await.expect("status");
    assert_eq!(delivered[0].state, "delivered");
}

/// A webhook that answers 500 fails the attempt: the attempt's span is an error saying so, and
/// the warning is written inside that span, so that its log line carries the trace. The one
/// test here that installs the process's telemetry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_500_is_an_error_of_its_span_with_its_warning_inside() {
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_telemetry();
    let (_db, store) = store().await;
    let receiver = HttpReceiver::start(vec![500]).await;
    let id = notice_with_webhook(&store, "hotline", &receiver.url("/hook")).await;
    dispatcher(&store, "127.0.0.1/32")
        .dispatch_once()
        .await
        .expect("dispatch");
    let status = store.delivery_status(&id, None).await.expect("status");
    assert_eq!(status[0].attempts[0].http_status, 500);
    let flusher = Arc::clone(&telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");
    // Counted as rejected, with its duration; other tests of this binary may add theirs.
    let rejected = [("outcome", "rejected")];
    assert!(collector.metric_total("jiceng.webhook.attempts", &rejected) >= 1.0);
    assert!(collector.metric_total("jiceng.webhook.duration", &rejected) >= 1.0);
    const ERROR: i32 = 2;
    // Other tests of this binary send webhooks at the same time: this notice's attempt only.
    let of_this_notice = |span: &Span| {
        span.attributes.iter().any(|kv| {
            kv.key == "notification.id"
                && kv.value.as_ref().and_then(|v| v.value.as_ref())
                    == Some(&Value::StringValue(id.clone()))
        })
    };
    let failed_with_warning = |span: &Span| {
        span.name == "notify.webhook"
            && of_this_notice(span)
            && span.status.as_ref().is_some_and(|s| s.code == ERROR)
            && span
                .events
                .iter()
                .any(|e| e.name == "webhook delivery failed, will retry")
    };
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().any(failed_with_warning)
        })
        .await;
    let failed = spans
        .iter()
        .find(|span| failed_with_warning(span))
        .expect("the attempt's span is an error with its warning inside");
    assert_eq!(
        failed.status.as_ref().map(|s| s.message.as_str()),
        Some("answered HTTP 500")
    );
}
