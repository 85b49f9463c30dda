//! The outbox end to end: a producer database, the relay, and a consumer served over gRPC that
//! applies each event's effect in one transaction with its dedup record.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jiceng_db::{Database, Migration, Migrations};
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_outbox::{Destination, EventDraft, Relay, RelayOptions, counts, enqueue, record_once};
use jiceng_proto::{
    cloudevents::cloud_event::{Data, cloud_event_attribute_value::Attr},
    events::{
        DeliverRequest, DeliverResponse,
        event_sink_service_server::{EventSinkService, EventSinkServiceServer},
    },
};
use jiceng_testkit::{OtlpReceiver, RunningServer, TestDatabase, on_both_backends, spawn_server};
use opentelemetry_proto::tonic::trace::v1::Span;
use sqlx::Row as _;
use tonic::{Request, Response, Status};

static EFFECTS: Migrations = Migrations {
    component: "test-consumer",
    steps: &[Migration {
        version: 1,
        name: "effects",
        postgres: "CREATE TABLE effects (event_id TEXT PRIMARY KEY)",
        sqlite: "CREATE TABLE effects (event_id TEXT PRIMARY KEY)",
    }],
};

/// A consumer whose effect is one row per event; it can be told to fail its first deliveries,
/// to be slow to answer, or to take a random while before applying (so that deliveries in
/// flight together finish in any order). It notes the subject and the first data byte of each
/// event it applies, in the order it applies them.
#[derive(Clone)]
struct Consumer {
    db: Database,
    deliveries: Arc<AtomicUsize>,
    duplicates: Arc<AtomicUsize>,
    applied: Arc<Mutex<Vec<(String, u8)>>>,
    /// Deliveries refused before the consumer takes any; a scenario may change it.
    fail_first: Arc<AtomicUsize>,
    delay: Duration,
    jitter: Duration,
}

#[tonic::async_trait]
impl EventSinkService for Consumer {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        let n = self.deliveries.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first.load(Ordering::SeqCst) {
            return Err(Status::unavailable("consumer is starting"));
        }
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("no event"))?;
        // The consumer's own while before applying (see `jitter`): not a wait for anything.
        tokio::time::sleep(self.jitter.mul_f64(fastrand::f64())).await;
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(jiceng_db::status_from_sqlx)?;
        let first = record_once(&mut tx, &event)
            .await
            .map_err(jiceng_db::status_from_sqlx)?;
        if first {
            sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                .bind(&event.id)
                .execute(&mut *tx)
                .await
                .map_err(jiceng_db::status_from_sqlx)?;
            let subject = match event
                .attributes
                .get("subject")
                .and_then(|a| a.attr.as_ref())
            {
                Some(Attr::CeString(subject)) => subject.clone(),
                _ => String::new(),
            };
            let byte = match &event.data {
                Some(Data::ProtoData(any)) => any.value.first().copied().unwrap_or_default(),
                _ => 0,
            };
            self.applied.lock().expect("applied").push((subject, byte));
        } else {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
        }
        tx.commit().await.map_err(jiceng_db::status_from_sqlx)?;
        // Slow to answer (see `delay`): not a wait for anything.
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(DeliverResponse { duplicate: !first }))
    }
}

struct Setup {
    producer: Database,
    consumer: Consumer,
    server: RunningServer,
    _consumer_db: TestDatabase,
}

async fn setup(producer_db: &TestDatabase, fail_first: usize, delay: Duration) -> Setup {
    setup_with_jitter(producer_db, fail_first, delay, Duration::ZERO).await
}

async fn setup_with_jitter(
    producer_db: &TestDatabase,
    fail_first: usize,
    delay: Duration,
    jitter: Duration,
) -> Setup {
    let producer = producer_db.connect().await;
    producer
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("producer migrations");
    let consumer_db = TestDatabase::sqlite();
    let db = consumer_db.connect().await;
    db.migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("consumer migrations");
    db.migrate(&EFFECTS).await.expect("effects table");
    let consumer = Consumer {
        db,
        deliveries: Arc::default(),
        duplicates: Arc::default(),
        applied: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
        delay,
        jitter,
    };
    let mut server = GrpcServer::new(ServerOptions::default());
    server.add_service(EventSinkServiceServer::new(consumer.clone()));
    let server = spawn_server(server).await;
    Setup {
        producer,
        consumer,
        server,
        _consumer_db: consumer_db,
    }
}

fn relay(setup: &Setup, options: RelayOptions) -> Relay {
    relay_named("producer", setup, options)
}

/// A relay whose metrics go by `source`, apart from the other scenarios' running meanwhile.
fn relay_named(source: &str, setup: &Setup, options: RelayOptions) -> Relay {
    let channel =
        jiceng_grpc::channel(&setup.server.uri(), Duration::from_secs(5)).expect("channel");
    let destination = Destination::new(channel, None, vec!["jiceng.test.v1.*".to_owned()]);
    Relay::new(
        source,
        setup.producer.clone(),
        HashMap::from([("consumer".to_owned(), destination)]),
        options,
    )
}

fn quick_options() -> RelayOptions {
    RelayOptions {
        batch_size: 50,
        lease: Duration::from_millis(500),
        idle_interval: Duration::from_millis(20),
        delivery_timeout: Duration::from_secs(5),
        max_attempts: 5,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

async fn write_events(db: &Database, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut tx = db.begin_write().await.expect("begin");
        let draft = EventDraft {
            event_type: "jiceng.test.v1.happened".into(),
            subject: format!("thing-{i}"),
            data: prost_types::Any {
                type_url: "type.googleapis.com/test".into(),
                value: vec![i as u8],
            },
        };
        ids.push(
            enqueue(&mut tx, "//jiceng/310115/test", draft)
                .await
                .expect("enqueue"),
        );
        tx.commit().await.expect("commit");
    }
    ids
}

async fn effects(consumer: &Consumer) -> Vec<String> {
    sqlx::query("SELECT event_id FROM effects ORDER BY event_id")
        .fetch_all(consumer.db.pool())
        .await
        .expect("effects")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

/// Relays until nothing is due any more (a delivery under another relay's lease included), or
/// for thirty seconds: what a test asserts next says whether it drained.
async fn drain(relay: &Relay) {
    jiceng_testkit::eventually(Duration::from_secs(30), || async move {
        let relayed = relay.relay_once().await.expect("relay round");
        let pending = counts(relay.database()).await.expect("counts").pending;
        (relayed == 0 && pending == 0).then_some(())
    })
    .await;
}

async fn every_committed_event_is_applied_once(db: TestDatabase) {
    let setup = setup(&db, 0, Duration::ZERO).await;
    let mut ids = write_events(&setup.producer, 30).await;
    ids.sort();
    let relay = relay(&setup, quick_options());
    drain(&relay).await;
    assert_eq!(effects(&setup.consumer).await, ids);
    let counts = counts(&setup.producer).await.expect("counts");
    assert_eq!(
        (counts.pending, counts.delivered, counts.parked),
        (0, 30, 0)
    );
}

async fn an_event_rolled_back_with_its_change_is_never_sent(db: TestDatabase) {
    let setup = setup(&db, 0, Duration::ZERO).await;
    let mut tx = setup.producer.begin_write().await.expect("begin");
    let draft = EventDraft {
        event_type: "jiceng.test.v1.happened".into(),
        subject: "rolled-back".into(),
        data: prost_types::Any::default(),
    };
    enqueue(&mut tx, "//jiceng/310115/test", draft)
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");
    let relay = relay(&setup, quick_options());
    assert_eq!(relay.relay_once().await.expect("round"), 0);
    assert_eq!(setup.consumer.deliveries.load(Ordering::SeqCst), 0);
}

async fn failed_deliveries_are_retried_with_backoff(db: TestDatabase) {
    let setup = setup(&db, 3, Duration::ZERO).await;
    let ids = write_events(&setup.producer, 1).await;
    let relay = relay(&setup, quick_options());
    drain(&relay).await;
    assert_eq!(effects(&setup.consumer).await, ids);
    assert_eq!(setup.consumer.deliveries.load(Ordering::SeqCst), 4);
}

async fn a_poison_event_is_parked_after_max_attempts(db: TestDatabase) {
    let setup = setup(&db, usize::MAX, Duration::ZERO).await;
    write_events(&setup.producer, 1).await;
    let relay = relay(&setup, quick_options());
    drain(&relay).await;
    assert_eq!(setup.consumer.deliveries.load(Ordering::SeqCst), 5);
    let counts = counts(&setup.producer).await.expect("counts");
    assert_eq!((counts.pending, counts.delivered, counts.parked), (0, 0, 1));
    assert!(effects(&setup.consumer).await.is_empty());

    // An operator sees what was parked and why, and puts it back in line once the consumer
    // can take it: the relay delivers it, once.
    let parked = jiceng_outbox::parked(&setup.producer, Some("consumer"), 10)
        .await
        .expect("parked");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].attempts, 5);
    assert!(parked[0].last_error.is_some());
    let elsewhere = jiceng_outbox::requeue_parked(&setup.producer, Some("elsewhere"), None)
        .await
        .expect("requeue");
    assert_eq!(elsewhere, 0, "another destination's parked deliveries only");
    setup.consumer.fail_first.store(0, Ordering::SeqCst);
    let requeued = jiceng_outbox::requeue_parked(&setup.producer, None, Some(&parked[0].event_id))
        .await
        .expect("requeue");
    assert_eq!(requeued, 1);
    drain(&relay).await;
    let after = jiceng_outbox::counts(&setup.producer)
        .await
        .expect("counts");
    assert_eq!((after.pending, after.delivered, after.parked), (0, 1, 0));
    assert_eq!(effects(&setup.consumer).await.len(), 1);
}

async fn a_relay_killed_mid_batch_loses_and_doubles_nothing(db: TestDatabase) {
    let setup = setup(&db, 0, Duration::from_millis(300)).await;
    let mut ids = write_events(&setup.producer, 20).await;
    ids.sort();
    // The first relay claims every event, the consumer applies them, and the relay dies before
    // it records a single acknowledgement.
    let first = relay(&setup, quick_options());
    let running = tokio::spawn(async move { first.relay_once().await });
    let consumer = &setup.consumer;
    let applied = jiceng_testkit::eventually(Duration::from_secs(10), || async move {
        (effects(consumer).await.len() >= 20).then_some(())
    })
    .await;
    assert!(applied.is_some(), "the consumer applied every event");
    running.abort();
    let _ = running.await;
    assert_eq!(counts(&setup.producer).await.expect("counts").delivered, 0);

    // A new relay waits out the lease, then delivers everything again; the consumer applies none
    // twice. Draining waits the lease out: nothing is delivered while the claims are leased.
    let second = relay(&setup, RelayOptions { ..quick_options() });
    drain(&second).await;
    assert_eq!(effects(&setup.consumer).await, ids);
    assert_eq!(setup.consumer.duplicates.load(Ordering::SeqCst), 20);
    let counts = counts(&setup.producer).await.expect("counts");
    assert_eq!(
        (counts.pending, counts.delivered, counts.parked),
        (0, 20, 0)
    );
}

async fn events_wait_unrouted_until_a_consumer_is_configured(db: TestDatabase) {
    let setup = setup(&db, 0, Duration::ZERO).await;
    let mut ids = write_events(&setup.producer, 5).await;
    ids.sort();
    let channel =
        jiceng_grpc::channel(&setup.server.uri(), Duration::from_secs(5)).expect("channel");
    let other_types = Destination::new(channel, None, vec!["jiceng.org.v1.*".to_owned()]);
    let nobody = Relay::new(
        "producer",
        setup.producer.clone(),
        HashMap::from([("consumer".to_owned(), other_types)]),
        quick_options(),
    );
    assert_eq!(nobody.relay_once().await.expect("round"), 0);
    assert_eq!(counts(&setup.producer).await.expect("counts").unrouted, 5);
    drain(&relay(&setup, quick_options())).await;
    assert_eq!(effects(&setup.consumer).await, ids);
    let counts = counts(&setup.producer).await.expect("counts");
    assert_eq!((counts.unrouted, counts.delivered), (0, 5));
}

/// Events about one subject reach the consumer one at a time in the order they were written,
/// while two relays (two replicas) deliver, answers come back in any order and the first
/// deliveries fail and are retried; events of different subjects still go side by side.
async fn events_of_a_subject_arrive_in_the_order_they_were_written(db: TestDatabase) {
    const SUBJECTS: u8 = 8;
    const ROUNDS: u8 = 6;
    let setup = setup_with_jitter(&db, 3, Duration::ZERO, Duration::from_millis(15)).await;
    for round in 0..ROUNDS {
        for subject in 0..SUBJECTS {
            let mut tx = setup.producer.begin_write().await.expect("begin");
            let draft = EventDraft {
                event_type: "jiceng.test.v1.happened".into(),
                subject: format!("member-{subject}"),
                data: prost_types::Any {
                    type_url: "type.googleapis.com/test".into(),
                    value: vec![round],
                },
            };
            enqueue(&mut tx, "//jiceng/310115/test", draft)
                .await
                .expect("enqueue");
            tx.commit().await.expect("commit");
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let relay = relay(&setup, quick_options());
            let mut stopped = stopped.clone();
            tokio::spawn(relay.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }))
        })
        .collect();
    let total = usize::from(SUBJECTS) * usize::from(ROUNDS);
    let applied = &setup.consumer.applied;
    jiceng_testkit::eventually(Duration::from_secs(30), || async move {
        (applied.lock().expect("applied").len() == total).then_some(())
    })
    .await;
    let _ = stop.send(true);
    for replica in replicas {
        replica.await.expect("relay");
    }
    let applied = setup.consumer.applied.lock().expect("applied").clone();
    assert_eq!(applied.len(), total, "every event applied once");
    for subject in 0..SUBJECTS {
        let name = format!("member-{subject}");
        let order: Vec<u8> = applied
            .iter()
            .filter(|(s, _)| *s == name)
            .map(|(_, round)| *round)
            .collect();
        assert_eq!(
            order,
            (0..ROUNDS).collect::<Vec<_>>(),
            "{name}: {applied:?}"
        );
    }
}

/// A failed delivery is an error of its `outbox.deliver` span, and its warning is written inside
/// that span, so that the log line carries the trace an operator opens next; the retry that
/// succeeds is no error. The outage shows in the metrics too: a failed delivery counted, the
/// backlog gauge at one pending until the retry delivers it. The one test here that installs
/// the process's telemetry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_an_error_of_its_span_with_its_warning_inside() {
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_telemetry();
    let flush = || {
        let flusher = Arc::clone(&telemetry);
        async move {
            tokio::task::spawn_blocking(move || flusher.flush())
                .await
                .expect("flush");
        }
    };
    let producer_db = TestDatabase::sqlite();
    let setup = setup(&producer_db, 1, Duration::ZERO).await;
    write_events(&setup.producer, 1).await;
    let relay = relay_named("traced", &setup, quick_options());
    assert_eq!(relay.relay_once().await.expect("round"), 1, "one attempt");
    relay.publish_backlog().await.expect("backlog");
    flush().await;
    let of_consumer = [("jiceng.outbox", "traced"), ("destination", "consumer")];
    assert_eq!(
        collector.metric_total("jiceng.outbox.pending", &of_consumer),
        1.0,
        "the failed delivery waits: {:?}",
        collector.metric_points()
    );
    let failed = [of_consumer[0], of_consumer[1], ("outcome", "failed")];
    assert_eq!(
        collector.metric_total("jiceng.outbox.deliveries", &failed),
        1.0
    );
    drain(&relay).await;
    relay.publish_backlog().await.expect("backlog");
    flush().await;
    assert_eq!(
        collector.metric_total("jiceng.outbox.pending", &of_consumer),
        0.0
    );
    let delivered = [of_consumer[0], of_consumer[1], ("outcome", "delivered")];
    assert_eq!(
        collector.metric_total("jiceng.outbox.deliveries", &delivered),
        1.0
    );
    const ERROR: i32 = 2;
    let failed_with_warning = |span: &Span| {
        span.name == "outbox.deliver"
            && span.status.as_ref().is_some_and(|s| s.code == ERROR)
            && span
                .events
                .iter()
                .any(|e| e.name == "outbox delivery failed, will retry")
    };
    let delivered = |span: &Span| {
        span.name == "outbox.deliver" && span.status.as_ref().is_none_or(|s| s.code != ERROR)
    };
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().any(failed_with_warning) && spans.iter().any(delivered)
        })
        .await;
    let failed = spans
        .iter()
        .find(|span| failed_with_warning(span))
        .expect("the failed delivery's span is an error with its warning inside");
    let description = failed.status.as_ref().map(|s| s.message.as_str());
    assert!(
        description.is_some_and(|d| d.contains("Unavailable")),
        "{description:?}"
    );
    assert!(
        spans.iter().any(delivered),
        "the retry that succeeds is no error"
    );
}

on_both_backends!(
    events_of_a_subject_arrive_in_the_order_they_were_written,
    events_wait_unrouted_until_a_consumer_is_configured,
    every_committed_event_is_applied_once,
    an_event_rolled_back_with_its_change_is_never_sent,
    failed_deliveries_are_retried_with_backoff,
    a_poison_event_is_parked_after_max_attempts,
    a_relay_killed_mid_batch_loses_and_doubles_nothing,
);
