//! PostgreSQL lost and back under a running platform (its connections cut through a forwarder,
//! as a failover cuts them): health goes NOT_SERVING while liveness holds, callers get
//! UNAVAILABLE, the platform recovers by itself, and nothing acknowledged is lost.

mod common;

use std::time::{Duration, Instant};

use common::{OrgClient, Platform};
use jiceng_proto::org as pb;
use jiceng_testkit::{TestDatabase, outage::Outage};
use tonic::{Code, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

async fn health(channel: Channel, service: &str) -> ServingStatus {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers whatever the database does")
        .into_inner()
        .status()
}

/// Waits until the server's health is `wanted`; returns how long that took.
async fn until_health(channel: &Channel, wanted: ServingStatus, within: Duration) -> Duration {
    let start = Instant::now();
    while health(channel.clone(), "").await != wanted {
        assert!(start.elapsed() < within, "health never became {wanted:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

fn street_name(n: usize) -> String {
    format!("第{n}街道党工委")
}

/// Street `n` under `root`, under a request id of its own so that a retry makes it once.
async fn create_street(org: &mut OrgClient, root: &str, n: usize) -> Result<pb::Unit, Status> {
    org.create_unit(pb::CreateUnitRequest {
        parent_id: root.to_owned(),
        kind: pb::UnitKind::StreetWorkingCommittee as i32,
        name: street_name(n),
        request_id: format!("street-{n}"),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_makes_the_platform_unready_then_it_recovers_by_itself() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let server: std::net::SocketAddr = {
        let authority = db
            .url
            .split_once('@')
            .map_or(db.url.as_str(), |(_, rest)| rest);
        let authority = authority.trim_start_matches("postgres://");
        let host_port = authority.split('/').next().expect("host and port");
        tokio::net::lookup_host(host_port)
            .await
            .expect("the test server resolves")
            .next()
            .expect("an address")
    };
    let outage = Outage::start(server).await;
    let url = outage.url_through(&db.url);
    let platform = Platform::start_through(db, url).await;
    let channel = platform.channel().await;
    until_health(&channel, ServingStatus::Serving, Duration::from_secs(10)).await;
    let mut org = platform.admin().await;
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        create_street(&mut org, &platform.root_id, n)
            .await
            .expect("before the outage");
        acknowledged.push(n);
    }

    outage.cut();
    let unready_after =
        until_health(&channel, ServingStatus::NotServing, Duration::from_secs(10)).await;
    assert_eq!(
        health(channel.clone(), jiceng_grpc::LIVENESS).await,
        ServingStatus::Serving,
        "alive, so not restarted"
    );
    let refused = create_street(&mut org, &platform.root_id, 5)
        .await
        .expect_err("no database");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    outage.restore();
    let serving_after =
        until_health(&channel, ServingStatus::Serving, Duration::from_secs(15)).await;
    // The refused call, retried under its request id, now goes through once.
    for n in 5..10 {
        create_street(&mut org, &platform.root_id, n)
            .await
            .expect("after the outage");
        acknowledged.push(n);
    }
    println!(
        "NOT_SERVING {unready_after:?} after the cut, SERVING {serving_after:?} after the restore"
    );

    let units = org
        .list_subtree(pb::ListSubtreeRequest {
            root_id: platform.root_id.clone(),
            page_size: Some(100),
            ..Default::default()
        })
        .await
        .expect("subtree")
        .into_inner()
        .units;
    let mut streets: Vec<_> = units
        .iter()
        .filter(|u| u.kind == pb::UnitKind::StreetWorkingCommittee as i32)
        .map(|u| u.name.clone())
        .collect();
    streets.sort();
    let mut expected: Vec<_> = acknowledged.iter().map(|n| street_name(*n)).collect();
    expected.sort();
    assert_eq!(streets, expected, "every acknowledged unit, once");
    platform.stop().await;
}
