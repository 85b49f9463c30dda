//! Starts the platform in-process for a scenario and hands out authenticated clients.

// Each scenario file compiles this module anew and uses only part of it.

pub mod raw;

use std::time::Duration;

use jiceng_app::{App, AppConfig, District, EventSink, ServiceName, Storage};
use jiceng_auth::Role;
use jiceng_db::Clock;
use jiceng_grpc::ServerOptions;
use jiceng_notify::webhooks::DispatchOptions;
use jiceng_outbox::RelayOptions;
use jiceng_proto::{
    notify::notify_service_client::NotifyServiceClient,
    org::{self as pb, org_service_client::OrgServiceClient},
};
use jiceng_testkit::{Bearer, RunningServer, TestDatabase, bearer, spawn_on, test_keys};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

/// The property log's signing seed in tests.
pub const TEST_LOG_SEED: [u8; 32] = [9; 32];

pub type OrgClient = OrgServiceClient<InterceptedService<Channel, Bearer>>;
pub type NotifyClient = NotifyServiceClient<InterceptedService<Channel, Bearer>>;

/// What a platform holds when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    Nothing,
    Demo,
    Seeded(jiceng_tools::seed::Plan, u64),
}

/// A running platform on its own database.
pub struct Platform {
    /// Public so a scenario can stop it.
    pub server: RunningServer,
    pub root_id: String,
    /// The clock every service stamps and compares with: a scenario moves it ahead instead of
    /// waiting.
    pub clock: Clock,
    /// The property store, for a scenario that runs its reminder scan now rather than on the
    /// hour.
    pub property: jiceng_property::PropertyStore,
    db: TestDatabase,
}

impl Platform {
    pub async fn start(db: TestDatabase) -> Self {
        Self::start_with_sinks(db, Vec::new()).await
    }

    /// A platform loaded with the demo district of `jiceng up --demo`.
    pub async fn start_demo(db: TestDatabase) -> Self {
        let url = db.url.clone();
        Self::start_inner(db, url, Vec::new(), Load::Demo, None).await
    }

    /// A platform that reaches its database at `url` (e.g. through a forwarder a test cuts).
    pub async fn start_through(db: TestDatabase, url: String) -> Self {
        Self::start_inner(db, url, Vec::new(), Load::Nothing, None).await
    }

    /// Like [`Platform::start_through`], each service keeping at most `pool_size` connections
    /// (a pooler in between has room for so many).
    pub async fn start_pooled(db: TestDatabase, url: String, pool_size: u32) -> Self {
        Self::start_inner(db, url, Vec::new(), Load::Nothing, Some(pool_size)).await
    }

    /// A platform loaded with a synthetic district of `plan`'s size by `jiceng seed`'s loader.
    pub async fn start_seeded(db: TestDatabase, plan: jiceng_tools::seed::Plan, seed: u64) -> Self {
        let url = db.url.clone();
        Self::start_inner(db, url, Vec::new(), Load::Seeded(plan, seed), None).await
    }

    /// A platform whose outbox relays deliver to `sinks`.
    pub async fn start_with_sinks(db: TestDatabase, sinks: Vec<EventSink>) -> Self {
        let url = db.url.clone();
        Self::start_inner(db, url, sinks, Load::Nothing, None).await
    }

    async fn start_inner(
        db: TestDatabase,
        url: String,
        sinks: Vec<EventSink>,
        load: Load,
        pool_size: Option<u32>,
    ) -> Self {
        let clock = Clock::adjustable();
        let config = AppConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            district: District::lookup(jiceng_testkit::TEST_DISTRICT).expect("district"),
            services: ServiceName::ALL.to_vec(),
            storage: Storage::Url(url),
            database_pool_size: pool_size,
            keys: test_keys(),
            token_issuer: jiceng_auth::DEFAULT_ISSUER.to_owned(),
            token_audience: jiceng_auth::DEFAULT_AUDIENCE.to_owned(),
            event_sinks: sinks,
            org_endpoint: None,
            grid_endpoint: None,
            member_endpoint: None,
            pii_key: Some(b"jiceng-test-pii-key-at-least-32-bytes".to_vec()),
            log_signing_key: Some(TEST_LOG_SEED.to_vec()),
            internal_key: jiceng_testkit::test_internal_key(),
            server: ServerOptions {
                health_interval: Duration::from_millis(100),
                // The portal the HTTP/JSON and gRPC-Web scenarios call from as a browser.
                cors_allowed_origins: vec![http::HeaderValue::from_static(
                    "https://portal.example.gov.cn",
                )],
                ..ServerOptions::default()
            },
            relay: RelayOptions {
                idle_interval: Duration::from_millis(20),
                ..RelayOptions::default()
            },
            webhooks: DispatchOptions {
                idle_interval: Duration::from_millis(20),
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                // The tests' receivers listen on loopback.
                policy: std::sync::Arc::new(
                    jiceng_notify::egress::WebhookPolicy::parse("127.0.0.1/32")
                        .expect("the tests' webhook policy"),
                ),
                ..DispatchOptions::default()
            },
            clock: clock.clone(),
        };
        let app = App::build(config).await.expect("the platform builds");
        let root_id = app.root_id().expect("org runs").to_owned();
        if let Load::Seeded(plan, seed) = load {
            jiceng_tools::seed::seed_plan(
                &app,
                &plan,
                seed,
                std::sync::Arc::new(jiceng_tools::seed::NoProgress),
            )
            .await
            .expect("the district is seeded");
        }
        if load == Load::Demo {
            let store = app.org_store().expect("org runs");
            let root = jiceng_org::domain::UnitId::parse(&root_id).expect("root id");
            jiceng_tools::demo::load(store, &root)
                .await
                .expect("the demo loads");
            let (grid, vault) = app.grid_store().expect("grid runs");
            jiceng_tools::demo::load_grid(store, grid, vault)
                .await
                .expect("the grid demo loads");
            let property = app.property_store().expect("property runs");
            jiceng_tools::demo::load_property(store, property)
                .await
                .expect("the property demo loads");
        }
        let property = app.property_store().expect("property runs").clone();
        let server = spawn_on(app.local_addr(), |shutdown| async move {
            app.run_until(shutdown).await.expect("the platform serves");
        });
        Self {
            server,
            root_id,
            clock,
            property,
            db,
        }
    }

    /// The platform's database, for a scenario that reaches under the API (to tamper with
    /// stored data, say).
    pub async fn database(&self) -> jiceng_db::Database {
        self.db.connect().await
    }

    /// Waits until the outboxes have routed every event and finished every delivery, so that
    /// whatever the events set off has happened, once or twice: what a test checks for
    /// "exactly once" after this has had every chance to happen again. Every event type is
    /// routed here (the process's own sink takes them all), so none waits unrouted for ever.
    pub async fn settle(&self) {
        let db = self.database().await;
        let settled = jiceng_testkit::eventually(Duration::from_secs(10), || {
            let db = db.clone();
            async move {
                let counts = jiceng_outbox::counts(&db).await.expect("outbox counts");
                (counts.unrouted == 0 && counts.pending == 0).then_some(counts)
            }
        })
        .await;
        assert!(settled.is_some(), "the outboxes did not settle within 10 s");
    }

    /// Stops the platform gracefully, then drops its database.
    pub async fn stop(self) {
        self.server.stop().await;
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.server.uri())
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// An org client calling with `header` as its authorization.
    pub async fn org_as(&self, auth: Bearer) -> OrgClient {
        OrgServiceClient::with_interceptor(self.channel().await, auth)
    }

    /// An org client for `subject` holding `role` over the subtree of `scope`.
    pub async fn org_for(&self, subject: &str, role: Role, scope: &str) -> OrgClient {
        self.org_as(Bearer::new(&bearer(subject, &[role], scope)))
            .await
    }

    /// A client of any org-package service, calling as `auth`.
    pub async fn client_as<C>(
        &self,
        auth: Bearer,
        make: impl FnOnce(InterceptedService<Channel, Bearer>) -> C,
    ) -> C {
        make(InterceptedService::new(self.channel().await, auth))
    }

    /// A notify client calling as `auth`.
    pub async fn notify_as(&self, auth: Bearer) -> NotifyClient {
        NotifyServiceClient::with_interceptor(self.channel().await, auth)
    }

    /// An org client for a district admin of the whole district.
    pub async fn admin(&self) -> OrgClient {
        self.org_as(Bearer::new(&bearer(
            "district-admin",
            &[Role::DistrictAdmin],
            &self.root_id,
        )))
        .await
    }
}

/// The grid scenarios' ground in `committee`: the category `city.garbage` (a required `volume`,
/// small or large; an hour for each step but handling, two hours for that, a day in all, on the
/// working calendar), a grid `PD-LJZ-001` and its worker `worker-1`. Returns the grid's id.
pub async fn garbage_grid(platform: &Platform, committee: &str) -> String {
    use jiceng_proto::grid::{self as gpb, grid_service_client::GridServiceClient};
    let mut grids = platform
        .client_as(
            Bearer::new(&bearer(
                "district",
                &[Role::DistrictAdmin],
                &platform.root_id,
            )),
            GridServiceClient::new,
        )
        .await;
    grids
        .define_category(gpb::DefineCategoryRequest {
            category: Some(gpb::Category {
                code: "city.garbage".into(),
                name: "垃圾堆放".into(),
                attributes: vec![gpb::Attribute {
                    code: "volume".into(),
                    name: "体量".into(),
                    kind: gpb::AttributeKind::Choice as i32,
                    required: true,
                    choices: vec!["small".into(), "large".into()],
                }],
                default_handler_kind: "service_team".into(),
                clock: gpb::ClockKind::Calendar as i32,
                normal: Some(gpb::TimeLimits {
                    accept_minutes: 60,
                    dispatch_minutes: 60,
                    handle_minutes: 120,
                    verify_minutes: 60,
                    overall_minutes: 24 * 60,
                }),
                urgent: None,
                critical: None,
            }),
        })
        .await
        .expect("category");
    let grid = grids
        .create_grid(gpb::CreateGridRequest {
            grid: Some(gpb::Grid {
                code: "PD-LJZ-001".into(),
                name: "梅园一村第一网格".into(),
                layer: gpb::Layer::SocialManagement as i32,
                org_id: committee.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("grid")
        .into_inner()
        .id;
    grids
        .assign_grid_staff(gpb::AssignGridStaffRequest {
            staff: Some(gpb::GridStaff {
                grid_id: grid.clone(),
                subject: "worker-1".into(),
                name: "网格员李某".into(),
                role: gpb::StaffRole::Worker as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("staff");
    grid
}

pub async fn create(
    client: &mut OrgClient,
    parent: &str,
    kind: pb::UnitKind,
    name: &str,
) -> pb::Unit {
    client
        .create_unit(pb::CreateUnitRequest {
            parent_id: parent.to_owned(),
            kind: kind as i32,
            name: name.to_owned(),
            ..Default::default()
        })
        .await
        .expect("create unit")
        .into_inner()
}

/// Every unit of the district, dissolved included, to compare before and after a refused call.
pub async fn snapshot(client: &mut OrgClient, root: &str) -> Vec<pb::Unit> {
    client
        .list_subtree(pb::ListSubtreeRequest {
            root_id: root.to_owned(),
            include_dissolved: true,
            page_size: Some(1000),
            ..Default::default()
        })
        .await
        .expect("subtree")
        .into_inner()
        .units
}

/// The notifications of `category` in `subject`'s inbox, once at least one has arrived (or
/// none after five seconds).
pub async fn notices_of(
    platform: &Platform,
    subject: &str,
    scope: &str,
    category: &str,
) -> Vec<jiceng_proto::notify::Notification> {
    let inbox = platform
        .notify_as(Bearer::new(&bearer(subject, &[Role::Member], scope)))
        .await;
    jiceng_testkit::eventually(Duration::from_secs(5), || {
        let mut inbox = inbox.clone();
        async move {
            let found: Vec<_> = inbox
                .list_inbox(jiceng_proto::notify::ListInboxRequest::default())
                .await
                .expect("inbox")
                .into_inner()
                .items
                .into_iter()
                .filter_map(|item| item.notification)
                .filter(|n| n.category == category)
                .collect();
            (!found.is_empty()).then_some(found)
        }
    })
    .await
    .unwrap_or_default()
}

/// The titles of the notices in the inbox of member `subject` (scoped at `scope`), in the
/// order the inbox holds them (by cursor), once there are at least `count` (or after ten
/// seconds, whatever there is).
pub async fn inbox_titles(
    platform: &Platform,
    subject: &str,
    scope: &str,
    count: usize,
) -> Vec<String> {
    let inbox = platform
        .notify_as(Bearer::new(&bearer(subject, &[Role::Member], scope)))
        .await;
    let list = || {
        let mut inbox = inbox.clone();
        async move {
            inbox
                .list_inbox(jiceng_proto::notify::ListInboxRequest::default())
                .await
                .expect("inbox")
                .into_inner()
                .items
        }
    };
    let arrived = jiceng_testkit::eventually(Duration::from_secs(10), || {
        let items = list();
        async move {
            let items = items.await;
            (items.len() >= count).then_some(items)
        }
    })
    .await;
    // Whatever there is after the wait, for the assertion to show.
    let mut items = match arrived {
        Some(items) => items,
        None => list().await,
    };
    items.sort_by_key(|item| item.cursor);
    items
        .into_iter()
        .filter_map(|item| item.notification.map(|n| n.title))
        .collect()
}

/// Who a micro-wish scenario needs: two members of `street` (the claimer, and the secretary
/// appointed to `committee`, who hears of the wish) and the district's `wish.fulfilled` rule
/// of 5 points. Returns (claimer, secretary).
pub async fn wish_people(platform: &Platform, street: &str, committee: &str) -> (String, String) {
    use jiceng_proto::{
        member::{
            self as member_pb, member_service_client::MemberServiceClient,
            points_service_client::PointsServiceClient,
        },
        org::position_service_client::PositionServiceClient,
    };
    let admin = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
    let mut ids = Vec::new();
    for name in ["赵某", "钱某"] {
        let created = members
            .create_member(member_pb::CreateMemberRequest {
                name: name.into(),
                org_id: street.to_owned(),
                ..Default::default()
            })
            .await
            .expect("member");
        ids.push(created.into_inner().id);
    }
    platform
        .client_as(admin(), PointsServiceClient::new)
        .await
        .define_points_rule(member_pb::DefinePointsRuleRequest {
            rule: Some(member_pb::PointsRule {
                code: "wish.fulfilled".into(),
                name: "认领实现微心愿".into(),
                points: 5,
                ..Default::default()
            }),
        })
        .await
        .expect("rule");
    platform
        .client_as(admin(), PositionServiceClient::new)
        .await
        .appoint_position(pb::AppointPositionRequest {
            unit_id: committee.to_owned(),
            role: pb::PositionRole::Secretary as i32,
            holder: Some(pb::appoint_position_request::Holder::MemberId(
                ids[1].clone(),
            )),
            ..Default::default()
        })
        .await
        .expect("secretary");
    (ids[0].clone(), ids[1].clone())
}

/// The fields an INVALID_ARGUMENT status names, in order.
pub fn fields_of(status: &tonic::Status) -> Vec<String> {
    tonic_types::StatusExt::get_details_bad_request(status)
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
