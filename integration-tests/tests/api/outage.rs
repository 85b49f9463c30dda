//! PostgreSQL lost and back under a running platform: its connections cut through a forwarder,
//! as a failover cuts them, and a server of the test's own restarted and crashed under load.
//! Health goes NOT_SERVING while liveness holds, callers get UNAVAILABLE, the platform recovers
//! by itself, and nothing acknowledged is lost or done twice.

use crate::common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{OrgClient, Platform};
use jiceng_proto::org as pb;
use jiceng_testkit::{
    TestDatabase, eventually,
    outage::Outage,
    private_postgres::{PrivateServer, StopMode},
};
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
    let became = eventually(within, || {
        let channel = channel.clone();
        async move { (health(channel, "").await == wanted).then(|| start.elapsed()) }
    })
    .await;
    became.unwrap_or_else(|| panic!("health never became {wanted:?}"))
}

/// Waits until the server is NOT_SERVING, which a database outage must make it within 10 s,
/// and checks that its liveness still serves (so it would not be restarted); returns how long
/// the first took.
async fn until_unready_but_alive(channel: &Channel) -> Duration {
    let unready_after =
        until_health(channel, ServingStatus::NotServing, Duration::from_secs(10)).await;
    assert_eq!(
        health(channel.clone(), jiceng_grpc::LIVENESS).await,
        ServingStatus::Serving,
        "alive, so not restarted"
    );
    unready_after
}

fn street_name(n: impl std::fmt::Display) -> String {
    format!("第{n}街道党工委")
}

/// Street `n` under `root`, under a request id of its own so that a retry makes it once.
async fn create_street(
    org: &mut OrgClient,
    root: &str,
    n: impl std::fmt::Display,
) -> Result<pb::Unit, Status> {
    org.create_unit(pb::CreateUnitRequest {
        parent_id: root.to_owned(),
        kind: pb::UnitKind::StreetWorkingCommittee as i32,
        name: street_name(&n),
        request_id: format!("street-{n}"),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

/// The names of every street under `root`, paged through.
async fn street_names(org: &mut OrgClient, root: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = org
            .list_subtree(pb::ListSubtreeRequest {
                root_id: root.to_owned(),
                kinds: vec![pb::UnitKind::StreetWorkingCommittee as i32],
                page_size: Some(1000),
                page_token,
                ..Default::default()
            })
            .await
            .expect("subtree")
            .into_inner();
        names.extend(page.units.into_iter().map(|unit| unit.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        page_token = page.next_page_token;
    }
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
    let unready_after = until_unready_but_alive(&channel).await;
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

/// Writers that create streets without pause, each retrying an UNAVAILABLE call under the same
/// request id until it is acknowledged, as a well-behaved client of the platform does.
struct Load {
    acknowledged: Arc<Mutex<Vec<String>>>,
    unavailable: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(platform: &Platform, writers: usize) -> Self {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let org = platform.admin().await;
            let root = platform.root_id.clone();
            let (acknowledged, unavailable, stop) =
                (acknowledged.clone(), unavailable.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("{writer}-{n}");
                    let created = eventually(Duration::from_secs(120), || {
                        let (mut org, root, key, unavailable) =
                            (org.clone(), root.clone(), key.clone(), unavailable.clone());
                        async move {
                            match create_street(&mut org, &root, &key).await {
                                Ok(unit) => Some(unit),
                                Err(status) if status.code() == Code::Unavailable => {
                                    unavailable.fetch_add(1, Ordering::Relaxed);
                                    None
                                }
                                Err(status) => panic!("street {key}: {status:?}"),
                            }
                        }
                    })
                    .await;
                    assert!(created.is_some(), "street {key}: never acknowledged");
                    acknowledged
                        .lock()
                        .expect("not poisoned")
                        .push(street_name(&key));
                }
            }));
        }
        Self {
            acknowledged,
            unavailable,
            stop,
            writers: tasks,
        }
    }

    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().expect("not poisoned").len()
    }

    /// Waits until `more` writes beyond the present ones are acknowledged.
    async fn until_more_acknowledged(&self, more: usize, within: Duration) {
        let target = self.acknowledged() + more;
        let went_on = eventually(within, || async move {
            (self.acknowledged() >= target).then_some(())
        })
        .await;
        assert!(
            went_on.is_some(),
            "the load did not go on: {} of {target} acknowledged",
            self.acknowledged()
        );
    }

    /// Stops the writers after their calls in flight are acknowledged; returns what was.
    async fn finish(self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer
                .await
                .expect("a writer saw only UNAVAILABLE or success");
        }
        let acknowledged = self.acknowledged.lock().expect("not poisoned").clone();
        (acknowledged, self.unavailable.load(Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_and_then_a_crashed_postgresql_under_load_lose_nothing() {
    let Some(server) = PrivateServer::start().await else {
        return;
    };
    let db = TestDatabase::postgres_on(&server.admin_url()).await;
    let url = db.url.clone();
    let platform = Platform::start_through(db, url).await;
    let channel = platform.channel().await;
    until_health(&channel, ServingStatus::Serving, Duration::from_secs(10)).await;
    let load = Load::start(&platform, 4).await;
    load.until_more_acknowledged(20, Duration::from_secs(20))
        .await;

    for mode in [StopMode::Fast, StopMode::Immediate] {
        let unavailable_before = load.unavailable.load(Ordering::Relaxed);
        server.stop(mode).await;
        let unready_after = until_unready_but_alive(&channel).await;
        let unavailable = &load.unavailable;
        let told = eventually(Duration::from_secs(10), || async move {
            (unavailable.load(Ordering::Relaxed) != unavailable_before).then_some(())
        })
        .await;
        assert!(told.is_some(), "no caller was told UNAVAILABLE");
        server.start_again().await;
        let serving_after =
            until_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        load.until_more_acknowledged(20, Duration::from_secs(20))
            .await;
        println!(
            "{mode:?} stop: NOT_SERVING {unready_after:?} after it, SERVING {serving_after:?} \
             after the start, {} acknowledged so far",
            load.acknowledged()
        );
    }

    let (mut acknowledged, unavailable) = load.finish().await;
    let mut org = platform.admin().await;
    let mut stored = street_names(&mut org, &platform.root_id).await;
    println!(
        "{} streets acknowledged, {unavailable} calls answered UNAVAILABLE and retried",
        acknowledged.len()
    );
    acknowledged.sort();
    stored.sort();
    assert_eq!(stored, acknowledged, "every acknowledged street, once");
    platform.stop().await;
}
