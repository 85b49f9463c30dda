//! The grid service's authorization matrix (grids, categories, the calendar and cases): see
//! `authz/mod.rs`.

use crate::authz;
use crate::common;

use authz::{CASE_CATEGORY, Fixture, Row, Side};
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{
        self as pb, case_service_client::CaseServiceClient, grid_service_client::GridServiceClient,
    },
    org::UnitKind,
};

/// What the rows share in street A, at or below the fixture's general branch so that every admin level's
/// "in" scope covers it.
struct Extra {
    /// A grid owned by the general branch, with the fixture's grid worker stationed in it.
    grid: String,
    /// A branch below the fixture's general branch that cases are dispatched to: its level
    /// above is the general branch, so a branch admin decides its change requests.
    handler: String,
    /// A case the fixture's member reported to the general branch, for the rows that only read.
    read_case: String,
}

async fn setup(f: &Fixture) -> Extra {
    let mut org = f.platform.admin().await;
    let handler = common::create(&mut org, &f.a.branch, UnitKind::Branch, "第一党支部")
        .await
        .id;
    let mut grids = f.admin(GridServiceClient::new).await;
    let grid = grids
        .create_grid(pb::CreateGridRequest {
            grid: Some(pb::Grid {
                code: "PD-A-PB-001".into(),
                name: "党建网格".into(),
                layer: pb::Layer::PartyBuilding as i32,
                org_id: f.a.branch.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("branch grid")
        .into_inner()
        .id;
    grids
        .assign_grid_staff(pb::AssignGridStaffRequest {
            staff: Some(pb::GridStaff {
                grid_id: grid.clone(),
                subject: f.a.worker.clone(),
                name: "网格员".into(),
                role: pb::StaffRole::Worker as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("worker in the branch grid");
    let read_case = report_as(f, Role::Member, &f.a.branch).await;
    Extra {
        grid,
        handler,
        read_case,
    }
}

/// A resident's report to `org_id` made by `role` in street A.
async fn report_as<X>(f: &Fixture<X>, role: Role, org_id: &str) -> String {
    f.as_role(role, Side::In, CaseServiceClient::new)
        .await
        .report_case(pb::ReportCaseRequest {
            category_code: CASE_CATEGORY.into(),
            description: "楼道口堆放建筑垃圾".into(),
            location: Some(pb::LatLng {
                latitude: 31.2397,
                longitude: 121.4998,
            }),
            org_id: org_id.to_owned(),
            reporter_kind: pb::ReporterKind::Resident as i32,
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner()
        .id
}

/// A fresh case reported by `reporter` to the general branch and moved on to `state` the usual way:
/// filed, verified and closed by the district admin, handled by the grid worker.
async fn case_in(f: &Fixture<Extra>, reporter: Role, state: pb::CaseState) -> String {
    use pb::CaseState as S;
    let id = report_as(f, reporter, &f.a.branch).await;
    let mut admin = f.admin(CaseServiceClient::new).await;
    let mut worker = f
        .as_role(Role::GridWorker, Side::In, CaseServiceClient::new)
        .await;
    let reached = |step: S| (state as i32) >= (step as i32);
    if reached(S::Accepted) {
        admin
            .accept_case(pb::AcceptCaseRequest {
                case_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("accept");
    }
    if reached(S::Dispatched) {
        admin
            .dispatch_case(pb::DispatchCaseRequest {
                case_id: id.clone(),
                handler_org_id: f.x.handler.clone(),
                ..Default::default()
            })
            .await
            .expect("dispatch");
    }
    if reached(S::InProgress) {
        worker
            .start_case(pb::StartCaseRequest {
                case_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("start");
    }
    if reached(S::Handled) {
        worker
            .report_handled(pb::ReportHandledRequest {
                case_id: id.clone(),
                note: "已清运".into(),
                ..Default::default()
            })
            .await
            .expect("handled");
    }
    if reached(S::Verified) {
        admin
            .verify_case(pb::VerifyCaseRequest {
                case_id: id.clone(),
                passed: true,
                ..Default::default()
            })
            .await
            .expect("verify");
    }
    if reached(S::Closed) {
        admin
            .close_case(pb::CloseCaseRequest {
                case_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("close");
    }
    id
}

/// A fresh dispatched case whose handling grid worker asked for an extension.
async fn case_with_waiting_request(f: &Fixture<Extra>) -> String {
    let id = case_in(f, Role::DistrictAdmin, pb::CaseState::Dispatched).await;
    f.as_role(Role::GridWorker, Side::In, CaseServiceClient::new)
        .await
        .request_change(extension(&id))
        .await
        .expect("request an extension");
    id
}

fn extension(case_id: &str) -> pb::RequestChangeRequest {
    pb::RequestChangeRequest {
        case_id: case_id.to_owned(),
        kind: pb::ChangeKind::Extension as i32,
        reason: "需要调度清运车".into(),
        extension_minutes: 60,
        ..Default::default()
    }
}

/// Someone freshly stationed in the general branch's grid, for a removal to find.
async fn fresh_staff(f: &Fixture<Extra>) -> String {
    let subject = format!("leader-{}", authz::serial());
    f.admin(GridServiceClient::new)
        .await
        .assign_grid_staff(pb::AssignGridStaffRequest {
            staff: Some(pb::GridStaff {
                grid_id: f.x.grid.clone(),
                subject: subject.clone(),
                name: "网格长".into(),
                role: pb::StaffRole::Leader as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("station");
    subject
}

fn rows() -> Vec<Row<Extra>> {
    use pb::CaseState as S;
    vec![
        row!(
            "/jiceng.grid.v1.GridService/CreateGrid",
            [Admins],
            Subtree,
            |f| pb::CreateGridRequest {
                grid: Some(pb::Grid {
                    code: format!("PD-A-X{:03}", authz::serial()),
                    name: "新网格".into(),
                    layer: pb::Layer::PartyBuilding as i32,
                    org_id: f.a.branch.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/GetGrid",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::GetGridRequest {
                id: f.x.grid.clone(),
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/ListGrids",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListGridsRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/AssignGridStaff",
            [Admins],
            Subtree,
            |f| pb::AssignGridStaffRequest {
                staff: Some(pb::GridStaff {
                    grid_id: f.x.grid.clone(),
                    subject: format!("representative-{}", authz::serial()),
                    name: "党员代表".into(),
                    role: pb::StaffRole::PartyRepresentative as i32,
                    ..Default::default()
                }),
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/RemoveGridStaff",
            [Admins],
            Subtree,
            |f| pb::RemoveGridStaffRequest {
                grid_id: f.x.grid.clone(),
                subject: fresh_staff(&f).await,
            }
        ),
        // A member's own reveals, or anyone's for admins of the whole district.
        row!(
            "/jiceng.grid.v1.GridService/ListPersonalDataReveals",
            [DistrictAdmin, Member],
            Subtree,
            |f| jiceng_proto::audit::ListPersonalDataRevealsRequest {
                subject_kind: "person".into(),
                subject_id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/ListGridStaff",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListGridStaffRequest {
                grid_id: f.x.grid.clone(),
                ..Default::default()
            }
        ),
        // District-wide settings: only a district admin scoped at the root sets them.
        row!(
            "/jiceng.grid.v1.GridService/DefineCategory",
            [DistrictAdmin],
            Subtree,
            |f| pb::DefineCategoryRequest {
                category: Some(pb::Category {
                    code: "city.noise".into(),
                    name: "噪声扰民".into(),
                    ..authz::case_category()
                }),
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/ListCategories",
            [Everyone],
            Anywhere,
            |f| pb::ListCategoriesRequest {
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/SetCalendarDay",
            [DistrictAdmin],
            Subtree,
            |f| pb::SetCalendarDayRequest {
                day: Some(pb::CalendarDay {
                    day: "2031-10-01".into(),
                    working: false,
                    note: "国庆节".into(),
                }),
                clear: false,
            }
        ),
        row!(
            "/jiceng.grid.v1.GridService/ListCalendarDays",
            [Everyone],
            Anywhere,
            |f| pb::ListCalendarDaysRequest {
                from_day: "2031-10-01".into(),
                to_day: "2031-10-07".into(),
                ..Default::default()
            }
        ),
        // Reporting as a grid worker: those stationed in the grid, or admins of its org.
        // Residents report anywhere, so that kind of report says nothing about scope.
        row!(
            "/jiceng.grid.v1.CaseService/ReportCase",
            [Admins, GridWorker],
            Subtree,
            |f| pb::ReportCaseRequest {
                category_code: CASE_CATEGORY.into(),
                description: "路边垃圾满溢".into(),
                grid_id: f.x.grid.clone(),
                reporter_kind: pb::ReporterKind::GridWorker as i32,
                ..Default::default()
            }
        ),
        // The member reads the case because they reported it.
        row!(
            "/jiceng.grid.v1.CaseService/GetCase",
            [Everyone],
            Subtree,
            |f| pb::GetCaseRequest {
                id: f.x.read_case.clone(),
                reveal_reporter_contact: false,
                reveal_reason: String::new(),
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/ListCases",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListCasesRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/CountCases",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::CountCasesRequest {
                org_id: f.a.branch.clone(),
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/ListCaseHistory",
            [Everyone],
            Subtree,
            |f| pb::ListCaseHistoryRequest {
                case_id: f.x.read_case.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/AcceptCase",
            [Admins],
            Subtree,
            |f| pb::AcceptCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Reported).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/RejectCase",
            [Admins],
            Subtree,
            |f| pb::RejectCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Reported).await,
                note: "不属于本辖区".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/DispatchCase",
            [Admins],
            Subtree,
            |f| pb::DispatchCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Accepted).await,
                handler_org_id: f.x.handler.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/StartCase",
            [Admins, GridWorker],
            Subtree,
            |f| pb::StartCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Dispatched).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/ReportHandled",
            [Admins, GridWorker],
            Subtree,
            |f| pb::ReportHandledRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::InProgress).await,
                note: "已清运".into(),
                evidence_urls: vec!["https://files.example/after.jpg".into()],
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/VerifyCase",
            [Admins],
            Subtree,
            |f| pb::VerifyCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Handled).await,
                passed: true,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/CloseCase",
            [Admins],
            Subtree,
            |f| pb::CloseCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Verified).await,
                ..Default::default()
            }
        ),
        // Only the reporter rates, and the member reported this case.
        row!(
            "/jiceng.grid.v1.CaseService/EvaluateCase",
            [Member],
            Subtree,
            |f| pb::EvaluateCaseRequest {
                case_id: case_in(&f, Role::Member, S::Closed).await,
                satisfaction: 5,
                comment: "处理及时".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/RequestChange",
            [Admins, GridWorker],
            Subtree,
            |f| extension(&case_in(&f, Role::DistrictAdmin, S::Dispatched).await)
        ),
        // The grid worker asked; admins at or above the handler's level above decide.
        row!(
            "/jiceng.grid.v1.CaseService/DecideChange",
            [Admins],
            Subtree,
            |f| pb::DecideChangeRequest {
                case_id: case_with_waiting_request(&f).await,
                approve: true,
                note: "同意延期".into(),
                ..Default::default()
            }
        ),
        // Escalates every street's overdue cases, so it is district-wide.
        row!(
            "/jiceng.grid.v1.CaseService/ScanOverdue",
            [DistrictAdmin],
            Subtree,
            |f| pb::ScanOverdueRequest {}
        ),
        row!(
            "/jiceng.grid.v1.CaseService/ListDuplicateCandidates",
            [Admins, GridWorker, Service, Integration],
            Subtree,
            |f| pb::ListDuplicateCandidatesRequest {
                case_id: f.x.read_case.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.grid.v1.CaseService/MergeCase",
            [Admins],
            Subtree,
            |f| pb::MergeCaseRequest {
                case_id: case_in(&f, Role::DistrictAdmin, S::Reported).await,
                original_case_id: case_in(&f, Role::DistrictAdmin, S::Reported).await,
                note: "同一处垃圾".into(),
                ..Default::default()
            }
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grid_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    authz::check("grid", base.with(extra), rows()).await;
}
