//! The authorization matrix: a table per service of every RPC, which roles it admits and whether
//! their scope must cover the target, checked call by call against a running platform.
//!
//! Every row is called by each role twice: once scoped over the target ("in") and once scoped
//! over the parallel unit of another street ("out"). Targets always lie in street A. A cell the
//! table allows must pass authorization (any answer but PERMISSION_DENIED, UNAUTHENTICATED or
//! NOT_FOUND), and at least one allowed cell per row must succeed outright, which proves the
//! row's request is one the RPC accepts. A cell the table denies must fail with
//! PERMISSION_DENIED, or NOT_FOUND where the service hides that the target exists. Denied cells
//! are called before allowed ones, so no denial is owed to state an allowed call changed.
//!
//! The tables must name every method of the gRPC services they own, and every service of the
//! contracts must be owned by a table: a new RPC without a row fails its service's matrix.

// Each service's matrix compiles this module anew and uses only part of it.

use std::{collections::BTreeSet, fmt::Write as _, future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;
use jiceng_auth::Role;
use jiceng_proto::{grid as grid_pb, member as member_pb, org as org_pb};
use jiceng_testkit::{Bearer, TestDatabase, bearer, service_bearer};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

use crate::common::{Platform, create, raw};

/// Which table owns which gRPC services of the contracts.
pub const OWNERS: &[(&str, &[&str])] = &[
    (
        "org",
        &[
            "jiceng.org.v1.OrgService",
            "jiceng.org.v1.PositionService",
            "jiceng.org.v1.AllianceService",
            "jiceng.org.v1.MeetingService",
            "jiceng.org.v1.VenueService",
            "jiceng.org.v1.WitnessService",
            "jiceng.events.v1.EventSinkService",
        ],
    ),
    (
        "member",
        &[
            "jiceng.member.v1.MemberService",
            "jiceng.member.v1.PointsService",
        ],
    ),
    (
        "grid",
        &["jiceng.grid.v1.GridService", "jiceng.grid.v1.CaseService"],
    ),
    (
        "grid_projects",
        &[
            "jiceng.grid.v1.WishService",
            "jiceng.grid.v1.ProjectService",
        ],
    ),
    ("notify", &["jiceng.notify.v1.NotifyService"]),
    (
        "property",
        &[
            "jiceng.property.v1.PropertyService",
            "jiceng.property.v1.DisclosureService",
            "jiceng.property.v1.LinkageService",
        ],
    ),
];

/// Whether a role the row admits must also have the target in its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoping {
    /// Only inside the caller's subtree (for a member: only their own records).
    Subtree,
    /// Wherever the caller's scope lies: the RPC acts on the caller's own things (their inbox)
    /// or on district-wide reference data every caller may read.
    Anywhere,
}

pub type Build<X> = fn(Arc<Fixture<X>>) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// One RPC: who may call it and how to make a request that names a target in street A.
pub struct Row<X> {
    pub method: &'static str,
    pub allowed: Vec<Role>,
    pub scoping: Scoping,
    /// Called once per cell, so a row may create a fresh target for each call.
    pub build: Build<X>,
}

impl<X> Row<X> {
    /// Whether the table lets `role` call this RPC from `side`. The platform's own services
    /// have no scope: they act on the whole district, so both their sides are alike.
    pub fn admits(&self, role: Role, side: Side) -> bool {
        self.allowed.contains(&role)
            && (side == Side::In || self.scoping == Scoping::Anywhere || role == Role::Service)
    }
}

/// The table as `docs/AUTHORIZATION.md` shows it: per role, ✓ or · in scope then out of scope.
fn rendered<X>(rows: &[Row<X>]) -> String {
    let mark = |allowed: bool| if allowed { "✓" } else { "·" };
    let mut table = String::from("| RPC |");
    for role in Role::ALL {
        let _ = write!(table, " {} |", role.as_str());
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(Role::ALL.len()));
    for row in rows {
        let _ = write!(
            table,
            "\n| `{}` |",
            row.method.trim_start_matches("/jiceng.")
        );
        for role in Role::ALL {
            let _ = write!(
                table,
                " {}{} |",
                mark(row.admits(role, Side::In)),
                mark(row.admits(role, Side::Out))
            );
        }
    }
    table.push('\n');
    table
}

/// Where the tables are documented for the systems that call the platform.
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/AUTHORIZATION.md");

/// Checks that the documented table of `owner` is `table`; with `JICENG_AUTHZ_WRITE=1`,
/// rewrites it instead.
fn check_documented(owner: &str, table: &str) -> Result<(), String> {
    let (start, end) = (
        format!("<!-- authz:{owner} -->\n"),
        format!("<!-- /authz:{owner} -->"),
    );
    let doc = std::fs::read_to_string(DOC).map_err(|e| format!("{DOC}: {e}"))?;
    let section = doc
        .find(&start)
        .map(|at| at + start.len())
        .and_then(|from| doc[from..].find(&end).map(|len| from..from + len));
    if section
        .as_ref()
        .is_some_and(|range| doc[range.clone()] == *table)
    {
        return Ok(());
    }
    if std::env::var_os("JICENG_AUTHZ_WRITE").is_none() {
        return Err(format!(
            "docs/AUTHORIZATION.md does not show the {owner} table; \
             JICENG_AUTHZ_WRITE=1 rewrites it from the rows"
        ));
    }
    let updated = match section {
        Some(range) => format!("{}{table}{}", &doc[..range.start], &doc[range.end..]),
        None => format!("{doc}\n{start}{table}{end}\n"),
    };
    std::fs::write(DOC, updated).map_err(|e| format!("{DOC}: {e}"))
}

/// The role sets a row names: one role each, and `Admins` and `Everyone`. Every role is
/// nameable whether or not a table names it alone today.
#[allow(non_upper_case_globals, dead_code)]
pub mod roles {
    use jiceng_auth::Role;

    pub const DistrictAdmin: &[Role] = &[Role::DistrictAdmin];
    pub const StreetAdmin: &[Role] = &[Role::StreetAdmin];
    pub const BranchAdmin: &[Role] = &[Role::BranchAdmin];
    pub const GridWorker: &[Role] = &[Role::GridWorker];
    pub const Member: &[Role] = &[Role::Member];
    pub const Service: &[Role] = &[Role::Service];
    pub const Integration: &[Role] = &[Role::Integration];
    /// The three admin levels.
    pub const Admins: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];
    pub const Everyone: &[Role] = &Role::ALL;
}

/// A number no other call of the test process has had: for names, codes and keys that must not
/// repeat.
pub fn serial() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `prefix` with a number no other call has had.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", serial())
}

/// `row!("/pkg.Service/Method", [Admins, Member], Scoping, |f| request)`: the roles are sets
/// from [`roles`]; the request expression may `.await` and is encoded as the RPC's message.
#[macro_export]
macro_rules! row {
    ($method:literal, [$($role:ident),* $(,)?], $scoping:ident, |$f:ident| $request:expr) => {
        $crate::authz::Row {
            method: $method,
            allowed: [$($crate::authz::roles::$role),*].concat(),
            scoping: $crate::authz::Scoping::$scoping,
            build: |$f| {
                // Not every request names a target.
                let _ = &$f;
                Box::pin(async move {
                    #[allow(clippy::needless_update)]
                    let request = $request;
                    prost::Message::encode_to_vec(&request)
                })
            },
        }
    };
}

/// The calls made for each row: every role, in scope and out.
pub const CELLS: usize = Role::ALL.len() * 2;

/// Street A (where targets lie) or street B (the caller's scope when it is "out").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    In,
    Out,
}

/// One street's part of the fixture: a street, a residential committee below it, a general branch
/// below that (deep enough for its admin to restructure inside it), a grid of the committee with a
/// worker on it, and a member of the general branch.
#[derive(Clone, Debug, Default)]
pub struct Street {
    pub street: String,
    pub committee: String,
    /// A general branch (党总支): the branch admin's scope.
    pub branch: String,
    /// The grid worker's token subject, assigned to a grid of the committee.
    pub worker: String,
    /// The member's id, which is also their token subject.
    pub member: String,
}

/// A running platform with two streets, plus what a service's table sets up on top (`x`).
pub struct Fixture<X = ()> {
    pub platform: Platform,
    pub root: String,
    /// Street A, where every target lies.
    pub a: Street,
    /// Street B, the scope of "out" callers.
    pub b: Street,
    pub x: X,
}

/// The grid case category every fixture defines, for rows that report cases.
pub const CASE_CATEGORY: &str = "city.garbage";

impl Fixture<()> {
    pub async fn start() -> Self {
        let platform = Platform::start(TestDatabase::sqlite()).await;
        let root = platform.root_id.clone();
        let mut fixture = Fixture {
            // Filled in below: the streets are made through the platform's API as its admin.
            a: Street::default(),
            b: Street::default(),
            root,
            platform,
            x: (),
        };
        fixture
            .admin(grid_pb::grid_service_client::GridServiceClient::new)
            .await
            .define_category(grid_pb::DefineCategoryRequest {
                category: Some(case_category()),
            })
            .await
            .expect("category");
        fixture.a = fixture.street("陆家嘴街道党工委", "梅园一村", "a").await;
        fixture.b = fixture.street("洋泾街道党工委", "东昌新村", "b").await;
        fixture
    }

    /// The fixture with what a table set up on top of it.
    pub fn with<X>(self, x: X) -> Fixture<X> {
        Fixture {
            platform: self.platform,
            root: self.root,
            a: self.a,
            b: self.b,
            x,
        }
    }

    async fn street(&self, street: &str, committee: &str, tag: &str) -> Street {
        let mut org = self.platform.admin().await;
        let street = create(
            &mut org,
            &self.root,
            org_pb::UnitKind::StreetWorkingCommittee,
            street,
        )
        .await
        .id;
        let committee = create(
            &mut org,
            &street,
            org_pb::UnitKind::ResidentialCommittee,
            &format!("{committee}居民区党总支"),
        )
        .await
        .id;
        let branch = create(
            &mut org,
            &committee,
            org_pb::UnitKind::GeneralBranch,
            "第一党总支",
        )
        .await
        .id;
        let mut grids = self
            .admin(grid_pb::grid_service_client::GridServiceClient::new)
            .await;
        let grid = grids
            .create_grid(grid_pb::CreateGridRequest {
                grid: Some(grid_pb::Grid {
                    code: format!("PD-{tag}-001").to_uppercase(),
                    name: "第一网格".into(),
                    layer: grid_pb::Layer::SocialManagement as i32,
                    org_id: committee.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("grid")
            .into_inner()
            .id;
        let worker = format!("worker-{tag}");
        grids
            .assign_grid_staff(grid_pb::AssignGridStaffRequest {
                staff: Some(grid_pb::GridStaff {
                    grid_id: grid.clone(),
                    subject: worker.clone(),
                    name: "网格员".into(),
                    role: grid_pb::StaffRole::Worker as i32,
                    ..Default::default()
                }),
            })
            .await
            .expect("staff");
        let member = self
            .admin(member_pb::member_service_client::MemberServiceClient::new)
            .await
            .create_member(member_pb::CreateMemberRequest {
                name: "党员张某".into(),
                org_id: branch.clone(),
                status: member_pb::MemberStatus::Full as i32,
                ..Default::default()
            })
            .await
            .expect("member")
            .into_inner()
            .id;
        Street {
            street,
            committee,
            branch,
            worker,
            member,
        }
    }
}

/// A category with generous time limits and no required attributes.
pub fn case_category() -> grid_pb::Category {
    grid_pb::Category {
        code: CASE_CATEGORY.into(),
        name: "垃圾堆放".into(),
        default_handler_kind: "service_team".into(),
        clock: grid_pb::ClockKind::Calendar as i32,
        normal: Some(grid_pb::TimeLimits {
            accept_minutes: 600,
            dispatch_minutes: 600,
            handle_minutes: 1200,
            verify_minutes: 600,
            overall_minutes: 24 * 60 * 7,
        }),
        ..Default::default()
    }
}

impl<X> Fixture<X> {
    /// The token of `role` on `side`: in, scoped over street A's unit of the role's level; out,
    /// over street B's. Members and grid workers carry their own subject; an outside system
    /// is scoped over a street; the platform's own services present an internal token, which
    /// has no scope.
    pub fn token(&self, role: Role, side: Side) -> String {
        let (street, tag) = match side {
            Side::In => (&self.a, "a"),
            Side::Out => (&self.b, "b"),
        };
        let district_wide = match side {
            Side::In => self.root.as_str(),
            Side::Out => street.street.as_str(),
        };
        let (subject, scope) = match role {
            Role::DistrictAdmin => (format!("district-admin-{tag}"), district_wide),
            Role::Service => return service_bearer(&format!("service:{tag}")),
            Role::Integration => (format!("integration-{tag}"), street.street.as_str()),
            Role::StreetAdmin => (format!("street-admin-{tag}"), street.street.as_str()),
            Role::BranchAdmin => (format!("branch-admin-{tag}"), street.branch.as_str()),
            Role::GridWorker => (street.worker.clone(), street.committee.as_str()),
            Role::Member => (street.member.clone(), street.branch.as_str()),
        };
        bearer(&subject, &[role], scope)
    }

    /// A client of any service calling as a district admin of the whole district, for setting
    /// up targets.
    pub async fn admin<C>(&self, make: impl FnOnce(InterceptedService<Channel, Bearer>) -> C) -> C {
        self.as_role(Role::DistrictAdmin, Side::In, make).await
    }

    /// A client of any service calling as `role` on `side`.
    pub async fn as_role<C>(
        &self,
        role: Role,
        side: Side,
        make: impl FnOnce(InterceptedService<Channel, Bearer>) -> C,
    ) -> C {
        self.platform
            .client_as(Bearer::new(&self.token(role, side)), make)
            .await
    }
}

/// Checks `rows` against the running fixture: the table's completeness over `owner`'s services
/// first, then every cell. Fails with every mismatch at once and prints the matrix.
pub async fn check<X: Send + Sync + 'static>(owner: &str, fixture: Fixture<X>, rows: Vec<Row<X>>) {
    let services = OWNERS
        .iter()
        .find(|(name, _)| *name == owner)
        .map(|(_, services)| *services)
        .unwrap_or_else(|| panic!("{owner} owns no services in OWNERS"));
    let methods = raw::methods();
    let unowned: BTreeSet<_> = methods
        .iter()
        .map(|method| method.service.as_str())
        .filter(|service| !OWNERS.iter().any(|(_, owned)| owned.contains(service)))
        .collect();
    assert!(
        unowned.is_empty(),
        "gRPC services no authorization table owns: {unowned:?}"
    );
    let expected: BTreeSet<&str> = methods
        .iter()
        .filter(|method| services.contains(&method.service.as_str()))
        .map(|method| method.path.as_str())
        .collect();
    let mut named = BTreeSet::new();
    for row in &rows {
        assert!(named.insert(row.method), "{} has two rows", row.method);
    }
    // Reported with the cells' mismatches, so a table being written can be run as it grows.
    let mut mismatches: Vec<String> = expected
        .difference(&named)
        .map(|method| format!("{method} has no row"))
        .chain(
            named
                .difference(&expected)
                .map(|method| format!("{method} is not a method of {services:?}")),
        )
        .collect();

    let fixture = Arc::new(fixture);
    let channel = fixture.platform.channel().await;
    let mut table = String::from("| RPC |");
    for role in Role::ALL {
        let _ = write!(table, " {} |", role.as_str());
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(Role::ALL.len()));
    for row in &rows {
        let stream = methods
            .iter()
            .any(|method| method.path == row.method && method.server_streaming);
        let admits = |role: Role, side: Side| row.admits(role, side);
        let mut cells: Vec<(Role, Side)> = Role::ALL
            .into_iter()
            .flat_map(|role| [(role, Side::In), (role, Side::Out)])
            .collect();
        // Denials first: an allowed call may change the state a denied one would meet.
        cells.sort_by_key(|(role, side)| admits(*role, *side));
        let mut succeeded = false;
        let mut marks = std::collections::HashMap::new();
        for (role, side) in cells {
            let body = Bytes::from((row.build)(fixture.clone()).await);
            let token = fixture.token(role, side);
            let outcome = if stream {
                raw::open_stream(channel.clone(), &token, row.method, body).await
            } else {
                raw::call(channel.clone(), &token, row.method, body)
                    .await
                    .map(drop)
            };
            let code = outcome.as_ref().err().map(tonic::Status::code);
            let allowed = admits(role, side);
            let passed = !matches!(
                code,
                Some(Code::PermissionDenied | Code::Unauthenticated | Code::NotFound)
            );
            succeeded |= allowed && code.is_none();
            let ok = if allowed {
                passed
            } else {
                matches!(code, Some(Code::PermissionDenied | Code::NotFound))
            };
            if !ok {
                mismatches.push(format!(
                    "{} as {} {:?}: expected {}, got {:?}",
                    row.method,
                    role.as_str(),
                    side,
                    if allowed { "allow" } else { "deny" },
                    outcome.err()
                ));
            }
            marks.insert((role, side), if passed { "✓" } else { "·" });
        }
        if !succeeded {
            mismatches.push(format!(
                "{}: no allowed call succeeded, so its request proves nothing",
                row.method
            ));
        }
        let _ = write!(table, "\n| {} |", row.method);
        for role in Role::ALL {
            let _ = write!(
                table,
                " {}{} |",
                marks[&(role, Side::In)],
                marks[&(role, Side::Out)]
            );
        }
    }
    println!("{owner}: in/out scope, ✓ passes authorization, · refused\n{table}");
    if let Err(stale) = check_documented(owner, &rendered(&rows)) {
        mismatches.push(stale);
    }
    assert!(
        mismatches.is_empty(),
        "{} problems with the {owner} table ({} cells):\n{}",
        mismatches.len(),
        rows.len() * CELLS,
        mismatches.join("\n")
    );
    Arc::try_unwrap(fixture)
        .unwrap_or_else(|_| panic!("a row kept the fixture"))
        .platform
        .stop()
        .await;
}
