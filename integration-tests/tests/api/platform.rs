//! What a platform engineer and a generic gRPC client see of a running process: health that
//! follows the database, reflection, and a clean shutdown.

use crate::common;

use std::time::Duration;

use common::Platform;
use jiceng_testkit::TestDatabase;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

async fn status_of(mut health: HealthClient<Channel>, service: &str) -> ServingStatus {
    health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health")
        .into_inner()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_serving_and_reflection_lists_every_org_service() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let health = HealthClient::new(platform.channel().await);
    // "" is what the readiness probe asks, `liveness` what the liveness probe asks.
    for service in [
        "",
        jiceng_grpc::LIVENESS,
        "jiceng.org.v1.OrgService",
        "jiceng.org.v1.VenueService",
    ] {
        let serving = jiceng_testkit::eventually(Duration::from_secs(1), || {
            let health = health.clone();
            async move { (status_of(health, service).await == ServingStatus::Serving).then_some(()) }
        })
        .await;
        assert!(
            serving.is_some(),
            "service {service:?}: {:?}",
            status_of(health.clone(), service).await
        );
    }

    let mut reflection = ServerReflectionClient::new(platform.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("a response")
        .expect("not empty");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "jiceng.org.v1.OrgService",
        "jiceng.org.v1.PositionService",
        "jiceng.org.v1.AllianceService",
        "jiceng.org.v1.MeetingService",
        "jiceng.org.v1.VenueService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_platform_refuses_new_connections() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let addr = platform.server.addr;
    platform.server.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
