//! A subtree move reaches other services: the org service's outbox relays `unit.moved` to an
//! event sink, which invalidates its scope cache, so a street admin loses authority over the
//! moved unit at once.

use crate::common;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use common::{Platform, create};
use jiceng_app::EventSink;
use jiceng_auth::{Authenticator, Caller, RemoteAncestry, Role, ScopeCache, ServiceToken, caller};
use jiceng_db::Database;
use jiceng_grpc::{GrpcServer, ServerOptions};
use jiceng_proto::{
    cloudevents::cloud_event::Data,
    events::{
        DeliverRequest, DeliverResponse,
        event_sink_service_server::{EventSinkService, EventSinkServiceServer},
    },
    org::{self as pb, UnitKind, UnitMovedEvent},
};
use jiceng_testkit::{TEST_DISTRICT, TestDatabase, on_both_backends, test_internal_key, test_keys};
use prost::Message as _;
use tonic::{Request, Response, Status, service::interceptor::InterceptedService};

/// Another service's side: a scope cache kept fresh by the org service's events.
struct ScopeSink {
    db: Database,
    cache: Arc<ScopeCache<RemoteAncestry>>,
    applied: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl EventSinkService for ScopeSink {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("event is required"))?;
        let mut tx = self
            .db
            .begin_write()
            .await
            .map_err(jiceng_db::status_from_sqlx)?;
        let first = jiceng_outbox::record_once(&mut tx, &event)
            .await
            .map_err(jiceng_db::status_from_sqlx)?;
        tx.commit().await.map_err(jiceng_db::status_from_sqlx)?;
        if first && event.r#type == "jiceng.org.v1.unit.moved" {
            let Some(Data::ProtoData(any)) = &event.data else {
                return Err(Status::invalid_argument("no data"));
            };
            let moved = UnitMovedEvent::decode(any.value.as_slice())
                .map_err(|_| Status::invalid_argument("bad data"))?;
            self.cache
                .invalidate_subtree(&moved.unit_id, moved.tree_generation);
            self.applied.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Response::new(DeliverResponse { duplicate: !first }))
    }
}

fn admin_of(scope: &str) -> Caller {
    Caller {
        subject: "admin".into(),
        district: TEST_DISTRICT.into(),
        scope_org: scope.into(),
        roles: vec![Role::StreetAdmin],
    }
}

async fn a_move_invalidates_scope_caches_elsewhere(db: TestDatabase) {
    // The consuming service, with its own database and scope cache.
    let sink_db = TestDatabase::sqlite();
    let sink_database = sink_db.connect().await;
    sink_database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("inbox");
    let authenticator = Arc::new(
        Authenticator::new(&test_keys(), TEST_DISTRICT)
            .and_then(|auth| auth.with_internal_key(&test_internal_key()))
            .expect("keys"),
    );
    // The sink's port is bound first, so the platform knows where to deliver before the sink
    // (which needs the platform's address for its cache) starts serving.
    let (sink_listener, sink_addr) = jiceng_testkit::bind_local().await;
    let platform = Platform::start_with_sinks(
        db,
        vec![EventSink {
            name: "grid".into(),
            uri: format!("http://{sink_addr}"),
            event_types: vec!["jiceng.org.v1.unit.moved".into()],
        }],
    )
    .await;
    let service_token = ServiceToken::new(&test_internal_key(), TEST_DISTRICT, "service:grid")
        .expect("internal token");
    let remote = RemoteAncestry::new(&platform.server.uri(), service_token).expect("remote");
    let cache = Arc::new(ScopeCache::new(remote, 10_000));
    let applied = Arc::new(AtomicUsize::new(0));
    let sink = ScopeSink {
        db: sink_database,
        cache: Arc::clone(&cache),
        applied: Arc::clone(&applied),
    };
    let mut server = GrpcServer::new(ServerOptions::default());
    server.add_service(InterceptedService::new(
        EventSinkServiceServer::new(sink),
        authenticator.interceptor(),
    ));
    let _sink = jiceng_testkit::spawn_on(sink_addr, |shutdown| async move {
        server
            .serve(sink_listener, shutdown)
            .await
            .expect("sink serves");
    });

    let mut admin = platform.admin().await;
    let lujiazui = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let huamu = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let committee = create(
        &mut admin,
        &lujiazui.id,
        UnitKind::ResidentialCommittee,
        "东昌居民区",
    )
    .await;
    let branch = create(
        &mut admin,
        &committee.id,
        UnitKind::Branch,
        "东昌第一党支部",
    )
    .await;
    cache
        .check(&admin_of(&lujiazui.id), &branch.id)
        .await
        .expect("inside Lujiazui");
    assert!(!cache.is_empty());

    admin
        .move_unit(pb::MoveUnitRequest {
            id: committee.id.clone(),
            new_parent_id: huamu.id.clone(),
            ..Default::default()
        })
        .await
        .expect("move");
    // Every delivery done, the sink has had every chance to apply the move, and to apply it
    // again.
    platform.settle().await;
    assert_eq!(
        applied.load(Ordering::SeqCst),
        1,
        "the move event arrived once"
    );
    let denied = cache
        .check(&admin_of(&lujiazui.id), &branch.id)
        .await
        .map_err(|s| s.code());
    assert_eq!(
        denied,
        Err(tonic::Code::PermissionDenied),
        "Lujiazui no longer covers the branch"
    );
    cache
        .check(&admin_of(&huamu.id), &branch.id)
        .await
        .expect("Huamu covers it now");
    let _keep = sink_db;
}

on_both_backends!(a_move_invalidates_scope_caches_elsewhere);
