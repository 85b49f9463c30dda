//! `jiceng.grid.v1`: authorisation, request parsing and error mapping for `GridService` (here),
//! `CaseService` (`grpc/cases.rs`), `WishService` (`grpc/wishes.rs`) and `ProjectService`
//! (`grpc/projects.rs`), and the event consumer (`grpc/events.rs`). The conversions between
//! protobuf and the service's values are `crate::proto`'s.

mod cases;
mod events;
mod projects;
mod wishes;

pub use events::CONSUMED as CONSUMED_EVENTS;

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
pub(crate) use jiceng_grpc::{time_cursor, time_cursor_of};
use jiceng_member_client::MemberRoll;
use jiceng_org_client::{OrgDirectory, OrgPath};
use jiceng_pii::PiiVault;
use jiceng_proto::grid::{self as pb, grid_service_server::GridService};
use jiceng_values::{RequestId, Text};
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        Grid, Point,
        calendar::day_key,
        category::{Attribute, AttributeKind, Category, Limits, category_code},
        grid_code, polygon,
    },
    proto::{
        ATTRIBUTE_KINDS, CLOCK_KINDS, LAYERS, STAFF_ROLES, category_to_proto, from_proto,
        grid_to_proto, limits_from_proto, staff_to_proto,
    },
    store::{GridStore, NewGrid},
};

/// Admins of an org subtree.
pub(crate) const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

/// Who sees the grids and cases of their subtree: admins, grid workers, the platform's other
/// services and outside systems (a hotline following the cases it handed over). Members see the
/// cases they reported.
pub(crate) const READERS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::GridWorker,
    Role::Service,
    Role::Integration,
];

#[derive(Clone, Debug)]
pub struct GridApi {
    pub(crate) store: GridStore,
    pub(crate) org: OrgDirectory,
    /// Seals the personal details of residents behind wishes.
    pub(crate) vault: PiiVault,
    /// The member service, asked whether the fellow members a group claim names are members;
    /// without it, group claims are refused.
    pub(crate) members: Option<MemberRoll>,
}

impl GridApi {
    pub fn new(
        store: GridStore,
        org: OrgDirectory,
        vault: PiiVault,
        members: Option<MemberRoll>,
    ) -> Self {
        Self {
            store,
            org,
            vault,
            members,
        }
    }

    /// The org path of a unit, from the org service (cached while confirmed current).
    pub(crate) async fn path_of(&self, org_id: &str) -> Result<OrgPath, Status> {
        self.org.path_of(org_id).await
    }

    /// The org path of a subtree to list.
    pub(crate) async fn subtree_path(&self, org_id: &str) -> Result<String, Status> {
        Ok(self.path_of(org_id).await?.as_str().to_owned())
    }

    /// An admin whose scope covers `org_id`.
    pub(crate) async fn require_admin_of(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        self.org.scopes().check(caller, org_id).await
    }

    /// A reader (see [`READERS`]) whose scope covers `org_id`.
    pub(crate) async fn require_reader_of(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> Result<(), Status> {
        caller.require_any(READERS)?;
        self.org.scopes().check(caller, org_id).await
    }

    /// A grid the caller may see: within their scope, or one they are stationed in.
    async fn visible_grid(&self, caller: &Caller, id: &str) -> Result<Grid, Status> {
        let grid = self.store.grid(id).await?;
        if self.require_reader_of(caller, &grid.org_id).await.is_ok()
            || self.store.is_staff(id, &caller.subject).await?
        {
            Ok(grid)
        } else {
            Err(Status::not_found(format!("grid {id} not found")))
        }
    }
}

/// Links to attachments or evidence: http(s) URLs, at most 20 of 2,000 characters each.
pub(crate) fn urls(violations: &mut FieldViolations, field: &str, given: &[String]) -> Vec<String> {
    if given.len() > 20 {
        violations.add(field, "must hold at most 20 links");
    }
    for (n, url) in given.iter().enumerate() {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2_000
            && !url.chars().any(|c| c.is_control() || c.is_whitespace());
        if !ok {
            violations.add(format!("{field}[{n}]"), "must be an http(s) URL");
        }
    }
    given.to_vec()
}

/// The points of a request, each checked to lie on the map.
fn checked_points(
    violations: &mut FieldViolations,
    field: &str,
    given: &[pb::LatLng],
) -> Vec<Point> {
    let mut points = Vec::with_capacity(given.len());
    for (n, p) in given.iter().enumerate() {
        if let Some(point) = violations.check(
            &format!("{field}[{n}]"),
            Point::new(p.latitude, p.longitude),
        ) {
            points.push(point);
        }
    }
    points
}

/// Time limits as a request gives them, each 0 (none) to a year of minutes.
fn checked_limits(
    violations: &mut FieldViolations,
    field: &str,
    given: Option<&pb::TimeLimits>,
) -> Limits {
    let given = given.cloned().unwrap_or_default();
    for (name, value) in [
        ("accept_minutes", given.accept_minutes),
        ("dispatch_minutes", given.dispatch_minutes),
        ("handle_minutes", given.handle_minutes),
        ("verify_minutes", given.verify_minutes),
        ("overall_minutes", given.overall_minutes),
    ] {
        // A year of minutes is more than any limit a district sets.
        if !(0..=525_600).contains(&value) {
            violations.add(format!("{field}.{name}"), "must be 0 (none) to 525,600");
        }
    }
    limits_from_proto(&given)
}

#[tonic::async_trait]
impl GridService for GridApi {
    async fn list_personal_data_reveals(
        &self,
        request: Request<jiceng_proto::audit::ListPersonalDataRevealsRequest>,
    ) -> Result<Response<jiceng_proto::audit::ListPersonalDataRevealsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let listed = jiceng_pii_audit::list_reveals(
            self.store.database(),
            self.org.scopes(),
            &caller,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(listed))
    }

    async fn create_grid(
        &self,
        request: Request<pb::CreateGridRequest>,
    ) -> Result<Response<pb::Grid>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let given = req.grid.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        let code = violations.check("grid.code", grid_code(&given.code));
        let name = violations.check("grid.name", Text::label(100).check(&given.name));
        let layer = from_proto(LAYERS, given.layer);
        if layer.is_none() {
            violations.add("grid.layer", "must be one of the three layers");
        }
        if given.org_id.is_empty() {
            violations.add("grid.org_id", "must name the owning org unit");
        }
        let points = checked_points(&mut violations, "grid.polygon", &given.polygon);
        let points = if given.polygon.is_empty() {
            Vec::new()
        } else {
            violations
                .check("grid.polygon", polygon(points))
                .unwrap_or_default()
        };
        violations.into_result()?;
        let (Some(code), Some(name), Some(layer)) = (code, name, layer) else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &given.org_id).await?;
        let (actor, request_id) = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let new = NewGrid {
            code,
            name,
            layer,
            org_path: self.path_of(&given.org_id).await?,
            org_id: given.org_id,
            polygon: points,
        };
        let grid = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move { self.store.create_grid(actor, request_id, &new).await },
            )
            .await??;
        Ok(Response::new(grid_to_proto(&grid)))
    }

    async fn get_grid(
        &self,
        request: Request<pb::GetGridRequest>,
    ) -> Result<Response<pb::Grid>, Status> {
        let caller = caller(&request)?.clone();
        let grid = self.visible_grid(&caller, &request.get_ref().id).await?;
        Ok(Response::new(grid_to_proto(&grid)))
    }

    async fn list_grids(
        &self,
        request: Request<pb::ListGridsRequest>,
    ) -> Result<Response<pb::ListGridsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let layer = if req.layer == 0 {
            None
        } else {
            Some(
                from_proto(LAYERS, req.layer)
                    .ok_or_else(|| invalid_field("layer", "is unknown"))?,
            )
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("grids|{}|{}", req.org_id, req.layer),
        )?;
        self.require_reader_of(&caller, &req.org_id).await?;
        let path = self.subtree_path(&req.org_id).await?;
        let mut grids = self
            .store
            .list_grids(
                &path,
                layer,
                page.after.as_deref().unwrap_or_default(),
                page.fetch_limit(),
            )
            .await?;
        let next_page_token = page.finish(&mut grids, |g| g.code.clone());
        Ok(Response::new(pb::ListGridsResponse {
            grids: grids.iter().map(grid_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn assign_grid_staff(
        &self,
        request: Request<pb::AssignGridStaffRequest>,
    ) -> Result<Response<pb::GridStaff>, Status> {
        let caller = caller(&request)?.clone();
        let given = request.into_inner().staff.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let name = violations.check("staff.name", Text::label(50).check(&given.name));
        if given.subject.is_empty() || given.subject.len() > 128 {
            violations.add("staff.subject", "must be 1 to 128 characters");
        }
        let role = from_proto(STAFF_ROLES, given.role);
        if role.is_none() {
            violations.add(
                "staff.role",
                "must be leader, worker or party representative",
            );
        }
        violations.into_result()?;
        let (Some(name), Some(role)) = (name, role) else {
            return Err(Status::internal("validation fell through"));
        };
        let grid = self.store.grid(&given.grid_id).await?;
        self.require_admin_of(&caller, &grid.org_id).await?;
        let staff = self
            .store
            .assign_staff(&grid.id, &given.subject, &name, role)
            .await?;
        Ok(Response::new(staff_to_proto(&staff)))
    }

    async fn remove_grid_staff(
        &self,
        request: Request<pb::RemoveGridStaffRequest>,
    ) -> Result<Response<pb::RemoveGridStaffResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let grid = self.store.grid(&req.grid_id).await?;
        self.require_admin_of(&caller, &grid.org_id).await?;
        self.store.remove_staff(&grid.id, &req.subject).await?;
        Ok(Response::new(pb::RemoveGridStaffResponse {}))
    }

    async fn list_grid_staff(
        &self,
        request: Request<pb::ListGridStaffRequest>,
    ) -> Result<Response<pb::ListGridStaffResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("grid-staff|{}", req.grid_id),
        )?;
        let grid = self.visible_grid(&caller, &req.grid_id).await?;
        let staff = self.store.staff(&grid.id).await?;
        let (staff, next_page_token) = page.page_of(staff, |s| s.subject.to_string());
        Ok(Response::new(pb::ListGridStaffResponse {
            staff: staff.iter().map(staff_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn define_category(
        &self,
        request: Request<pb::DefineCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        self.org
            .scopes()
            .require_whole_district(caller(&request)?, &[Role::DistrictAdmin])
            .await?;
        let given = request.into_inner().category.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let code = violations.check("category.code", category_code(&given.code));
        let name = violations.check("category.name", Text::label(100).check(&given.name));
        let mut attributes = Vec::with_capacity(given.attributes.len());
        for (n, a) in given.attributes.iter().enumerate() {
            let field = |name: &str| format!("category.attributes[{n}].{name}");
            let code = violations.check(&field("code"), category_code(&a.code));
            let name = violations.check(&field("name"), Text::label(100).check(&a.name));
            let kind = from_proto(ATTRIBUTE_KINDS, a.kind);
            if kind.is_none() {
                violations.add(field("kind"), "must be text, number, boolean or choice");
            }
            if kind == Some(AttributeKind::Choice) && a.choices.is_empty() {
                violations.add(field("choices"), "a choice needs its choices");
            }
            if given.attributes[..n]
                .iter()
                .any(|other| other.code == a.code)
            {
                violations.add(field("code"), "appears twice");
            }
            if let (Some(code), Some(name), Some(kind)) = (code, name, kind) {
                attributes.push(Attribute {
                    code,
                    name,
                    kind,
                    required: a.required,
                    choices: a.choices.clone(),
                });
            }
        }
        let clock = from_proto(CLOCK_KINDS, given.clock);
        if clock.is_none() {
            violations.add("category.clock", "must be calendar or working hours");
        }
        let handler_kind = violations.check(
            "category.default_handler_kind",
            Text::label(64).check(&given.default_handler_kind),
        );
        let limits = [
            checked_limits(&mut violations, "category.normal", given.normal.as_ref()),
            checked_limits(&mut violations, "category.urgent", given.urgent.as_ref()),
            checked_limits(
                &mut violations,
                "category.critical",
                given.critical.as_ref(),
            ),
        ];
        violations.into_result()?;
        let (Some(code), Some(name), Some(clock), Some(default_handler_kind)) =
            (code, name, clock, handler_kind)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let category = self
            .store
            .define_category(&Category {
                code,
                name,
                attributes,
                default_handler_kind,
                clock,
                limits,
            })
            .await?;
        Ok(Response::new(category_to_proto(&category)))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            "case-categories".to_owned(),
        )?;
        let categories = self.store.categories().await?;
        let (categories, next_page_token) = page.page_of(categories, |c| c.code.to_string());
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.iter().map(category_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn set_calendar_day(
        &self,
        request: Request<pb::SetCalendarDayRequest>,
    ) -> Result<Response<pb::CalendarDay>, Status> {
        self.org
            .scopes()
            .require_whole_district(caller(&request)?, &[Role::DistrictAdmin])
            .await?;
        let req = request.into_inner();
        let given = req.day.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let day = violations.check("day.day", day_key(&given.day));
        let note = violations.check("day.note", Text::prose(100).check(&given.note));
        violations.into_result()?;
        let (Some(day), Some(note)) = (day, note) else {
            return Err(Status::internal("validation fell through"));
        };
        self.store
            .set_calendar_day(&day, (!req.clear).then_some(given.working), &note)
            .await?;
        Ok(Response::new(pb::CalendarDay {
            day,
            working: given.working && !req.clear,
            note,
        }))
    }

    async fn list_calendar_days(
        &self,
        request: Request<pb::ListCalendarDaysRequest>,
    ) -> Result<Response<pb::ListCalendarDaysResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let from = violations.check("from_day", day_key(&req.from_day));
        let to = violations.check("to_day", day_key(&req.to_day));
        violations.into_result()?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(Status::internal("validation fell through"));
        };
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("calendar-days|{from}|{to}"),
        )?;
        let days = self.store.calendar_days(&from, &to).await?;
        let (days, next_page_token) = page.page_of(days, |(day, _, _)| day.clone());
        Ok(Response::new(pb::ListCalendarDaysResponse {
            days: days
                .into_iter()
                .map(|(day, working, note)| pb::CalendarDay { day, working, note })
                .collect(),
            next_page_token,
        }))
    }
}
