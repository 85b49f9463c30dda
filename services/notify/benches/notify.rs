//! Publish throughput with fan-out to 1,000 recipients, and live-stream latency, through the
//! real gRPC service; printed as a table (not a timed test). SQLite always; PostgreSQL too when
//! `JICENG_TEST_DATABASE_URL` is set.
//!
//! `cargo bench -p jiceng-notify --bench notify`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jiceng_auth::{Authenticator, Role, ServiceToken};
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_notify::{
    DispatchOptions, MIGRATIONS,
    domain::{Category, Name, Template},
};
use jiceng_org_client::OrgDirectory;
use jiceng_proto::notify::{self as pb, notify_service_client::NotifyServiceClient};
use jiceng_service::{Built, Context};
use jiceng_testkit::{
    Bearer, TEST_DISTRICT, TestDatabase, bearer, service_bearer, spawn_server, test_internal_key,
    test_keys,
};
use tokio_stream::StreamExt as _;

const FAN_OUT: usize = 1000;
const PUBLISHES: usize = 20;
const LATENCY_SAMPLES: usize = 200;
/// Tokens whose scope the notify service never looks at in this benchmark.
const ANY_SCOPE: &str = "00000000-0000-0000-0000-000000000000";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backends = jiceng_testkit::bench::backends().await;
        println!("| backend | publishes/s (1,000 recipients each) | inbox items/s | stream latency p50 / p95 / p99 (ms) |");
        println!("|---|---|---|---|");
        for db in &backends {
            bench(db).await;
        }
    });
}

async fn bench(db: &TestDatabase) {
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    // Every recipient is a member: the org service is never asked.
    let service_token = service_bearer("service:bench");
    let internal_token =
        ServiceToken::new(&test_internal_key(), TEST_DISTRICT, "service:bench").expect("token");
    let org = OrgDirectory::new("http://127.0.0.1:9", internal_token.clone()).expect("directory");
    let authenticator = Arc::new(
        Authenticator::new(&test_keys(), TEST_DISTRICT)
            .and_then(|auth| auth.with_internal_key(&test_internal_key()))
            .expect("keys"),
    );
    let context = Context {
        db: database,
        district: TEST_DISTRICT.into(),
        authenticator,
        service_token: internal_token,
        org: Some(org),
        members: None,
        grid_endpoint: None,
        vault: None,
    };
    let Built { store, parts } = jiceng_notify::build(&context, DispatchOptions::default())
        .await
        .expect("notify");
    let empty = || Template::parse("").expect("template");
    let category = Category::new(
        Name::parse("bench").expect("name"),
        empty(),
        empty(),
        vec![],
        false,
    )
    .expect("category");
    store.register_category(&category).await.expect("register");
    let mut server = GrpcServer::new(ServerOptions::default());
    server.mount(parts.grpc);
    let server = spawn_server(server).await;
    let channel = tonic::transport::Channel::from_shared(server.uri())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut publisher =
        NotifyServiceClient::with_interceptor(channel.clone(), Bearer::new(&service_token));

    let recipients: Vec<pb::Recipient> = (0..FAN_OUT)
        .map(|i| pb::Recipient {
            recipient: Some(pb::recipient::Recipient::MemberId(format!("member-{i:04}"))),
        })
        .collect();
    let started = Instant::now();
    for n in 0..PUBLISHES {
        publisher
            .publish(pb::PublishRequest {
                idempotency_key: format!("fan-out-{n}"),
                category: "bench".into(),
                title: "全体党员：主题党日活动通知".into(),
                recipients: recipients.clone(),
                ..Default::default()
            })
            .await
            .expect("publish");
    }
    let publishes_per_second = PUBLISHES as f64 / started.elapsed().as_secs_f64();

    let listener = Bearer::new(&bearer("listener", &[Role::Member], ANY_SCOPE));
    let mut subscriber = NotifyServiceClient::with_interceptor(channel, listener);
    // The listener's inbox is empty, so the stream waits for the first item published below.
    let mut stream = subscriber
        .subscribe(pb::SubscribeRequest { after_cursor: 0 })
        .await
        .expect("subscribe")
        .into_inner();
    let me = vec![pb::Recipient {
        recipient: Some(pb::recipient::Recipient::MemberId("listener".into())),
    }];
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let sent = Instant::now();
        publisher
            .publish(pb::PublishRequest {
                idempotency_key: format!("live-{n}"),
                category: "bench".into(),
                title: "live".into(),
                recipients: me.clone(),
                ..Default::default()
            })
            .await
            .expect("publish");
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("item");
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let ms = |p: usize| {
        latencies[(latencies.len() * p / 100).min(latencies.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "| {:?} | {:.1} | {:.0} | {:.2} / {:.2} / {:.2} |",
        db.backend,
        publishes_per_second,
        publishes_per_second * FAN_OUT as f64,
        ms(50),
        ms(95),
        ms(99)
    );
    // The open stream would hold a graceful shutdown for ever; end it first, as jiceng does.
    parts.on_stop.run();
    server.stop().await;
}
