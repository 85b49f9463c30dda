//! Grid cases through the public gRPC API on both databases: a whole lifecycle with a failed
//! verification and an approved extension, and an escalation that climbs two levels while the
//! platform's clock is moved ahead.

mod common;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{
        self as pb, case_service_client::CaseServiceClient, grid_service_client::GridServiceClient,
    },
    org::UnitKind,
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

type Cases = CaseServiceClient<InterceptedService<Channel, Bearer>>;

const MINUTE_MS: i64 = 60_000;

struct District {
    platform: Platform,
    street: String,
    committee: String,
    handler: String,
    grid: String,
}

fn millis(time: Option<&prost_types::Timestamp>) -> i64 {
    let time = time.expect("a time");
    time.seconds * 1000 + i64::from(time.nanos / 1_000_000)
}

impl District {
    async fn start(db: TestDatabase) -> Self {
        let platform = Platform::start(db).await;
        let mut org = platform.admin().await;
        let street = create(
            &mut org,
            &platform.root_id,
            UnitKind::StreetWorkingCommittee,
            "陆家嘴街道党工委",
        )
        .await
        .id;
        let committee = create(
            &mut org,
            &street,
            UnitKind::ResidentialCommittee,
            "梅园一村居民区党总支",
        )
        .await
        .id;
        let handler = create(
            &mut org,
            &street,
            UnitKind::ResidentialCommittee,
            "梅园二村居民区党总支",
        )
        .await
        .id;
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
            .define_category(pb::DefineCategoryRequest {
                category: Some(pb::Category {
                    code: "city.garbage".into(),
                    name: "垃圾堆放".into(),
                    attributes: vec![pb::Attribute {
                        code: "volume".into(),
                        name: "体量".into(),
                        kind: pb::AttributeKind::Choice as i32,
                        required: true,
                        choices: vec!["small".into(), "large".into()],
                    }],
                    default_handler_kind: "service_team".into(),
                    clock: pb::ClockKind::Calendar as i32,
                    normal: Some(pb::TimeLimits {
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
            .create_grid(pb::CreateGridRequest {
                grid: Some(pb::Grid {
                    code: "PD-LJZ-001".into(),
                    name: "梅园一村第一网格".into(),
                    layer: pb::Layer::SocialManagement as i32,
                    org_id: committee.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("grid")
            .into_inner()
            .id;
        grids
            .assign_grid_staff(pb::AssignGridStaffRequest {
                staff: Some(pb::GridStaff {
                    grid_id: grid.clone(),
                    subject: "worker-1".into(),
                    name: "网格员李某".into(),
                    role: pb::StaffRole::Worker as i32,
                    ..Default::default()
                }),
            })
            .await
            .expect("staff");
        Self {
            platform,
            street,
            committee,
            handler,
            grid,
        }
    }

    async fn cases_as(&self, subject: &str, role: Role, scope: &str) -> Cases {
        self.platform
            .client_as(
                Bearer::new(&bearer(subject, &[role], scope)),
                CaseServiceClient::new,
            )
            .await
    }

    async fn report(&self, worker: &mut Cases) -> pb::Case {
        worker
            .report_case(pb::ReportCaseRequest {
                category_code: "city.garbage".into(),
                description: "楼道口堆放建筑垃圾".into(),
                attributes: [("volume".to_owned(), "large".to_owned())].into(),
                grid_id: self.grid.clone(),
                reporter_kind: pb::ReporterKind::GridWorker as i32,
                attachment_urls: vec!["https://files.example/before.jpg".into()],
                ..Default::default()
            })
            .await
            .expect("report")
            .into_inner()
    }
}

async fn a_case_is_filed_handled_verified_and_rated(db: TestDatabase) {
    let district = District::start(db).await;
    let mut worker = district
        .cases_as("worker-1", Role::GridWorker, &district.committee)
        .await;
    let mut centre = district
        .cases_as("centre", Role::BranchAdmin, &district.committee)
        .await;
    let mut handler = district
        .cases_as("handler-1", Role::BranchAdmin, &district.handler)
        .await;
    let mut street = district
        .cases_as("street", Role::StreetAdmin, &district.street)
        .await;
    let bad = worker
        .report_case(pb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "缺少属性".into(),
            grid_id: district.grid.clone(),
            reporter_kind: pb::ReporterKind::GridWorker as i32,
            ..Default::default()
        })
        .await
        .expect_err("a required attribute is missing");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let case = district.report(&mut worker).await;
    assert_eq!(case.state, pb::CaseState::Reported as i32);
    let id = case.id.clone();
    let illegal = centre
        .close_case(pb::CloseCaseRequest {
            case_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a reported case cannot be closed");
    assert_eq!(illegal.code(), Code::FailedPrecondition);
    centre
        .accept_case(pb::AcceptCaseRequest {
            case_id: id.clone(),
            etag: case.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("accept");
    centre
        .dispatch_case(pb::DispatchCaseRequest {
            case_id: id.clone(),
            handler_org_id: district.handler.clone(),
            note: "请中队处置".into(),
            ..Default::default()
        })
        .await
        .expect("dispatch");
    handler
        .start_case(pb::StartCaseRequest {
            case_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("start");
    let report_back = |evidence: &str| pb::ReportHandledRequest {
        case_id: id.clone(),
        note: "已清运".into(),
        evidence_urls: vec![evidence.into()],
        ..Default::default()
    };
    handler
        .report_handled(report_back("https://files.example/after-1.jpg"))
        .await
        .expect("handled");
    let failed = centre
        .verify_case(pb::VerifyCaseRequest {
            case_id: id.clone(),
            passed: false,
            note: "仍有残留".into(),
            ..Default::default()
        })
        .await
        .expect("verification fails")
        .into_inner();
    assert_eq!(failed.state, pb::CaseState::InProgress as i32);

    // The handler asks for an hour more; the street, the level above, approves.
    let before = millis(failed.step_due_time.as_ref());
    handler
        .request_change(pb::RequestChangeRequest {
            case_id: id.clone(),
            kind: pb::ChangeKind::Extension as i32,
            reason: "需要调度清运车".into(),
            extension_minutes: 60,
            ..Default::default()
        })
        .await
        .expect("request");
    let own = handler
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            ..Default::default()
        })
        .await
        .expect_err("the handler does not approve their own request");
    assert_eq!(own.code(), Code::PermissionDenied);
    let extended = street
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            note: "同意延期".into(),
        })
        .await
        .expect("approve")
        .into_inner();
    assert_eq!(
        millis(extended.step_due_time.as_ref()) - before,
        60 * MINUTE_MS
    );

    handler
        .report_handled(report_back("https://files.example/after-2.jpg"))
        .await
        .expect("handled again");
    let own_check = handler
        .verify_case(pb::VerifyCaseRequest {
            case_id: id.clone(),
            passed: true,
            ..Default::default()
        })
        .await
        .expect_err("outside the owning org");
    assert_eq!(own_check.code(), Code::PermissionDenied);
    centre
        .verify_case(pb::VerifyCaseRequest {
            case_id: id.clone(),
            passed: true,
            ..Default::default()
        })
        .await
        .expect("verified");
    centre
        .close_case(pb::CloseCaseRequest {
            case_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("closed");
    let rated_by_other = centre
        .evaluate_case(pb::EvaluateCaseRequest {
            case_id: id.clone(),
            satisfaction: 5,
            ..Default::default()
        })
        .await
        .expect_err("the reporter rates");
    assert_eq!(rated_by_other.code(), Code::PermissionDenied);
    let rated = worker
        .evaluate_case(pb::EvaluateCaseRequest {
            case_id: id.clone(),
            satisfaction: 5,
            comment: "处理及时".into(),
        })
        .await
        .expect("rated")
        .into_inner();
    assert_eq!(rated.state, pb::CaseState::Evaluated as i32);
    let history = worker
        .list_case_history(pb::ListCaseHistoryRequest {
            case_id: id.clone(),
        })
        .await
        .expect("history")
        .into_inner()
        .events;
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "report",
            "accept",
            "dispatch",
            "start",
            "handle",
            "fail_verification",
            "request",
            "extend",
            "handle",
            "verify",
            "close",
            "evaluate"
        ]
    );
    let outsider = district
        .cases_as("someone", Role::Member, &district.committee)
        .await
        .get_case(pb::GetCaseRequest { id: id.clone() })
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    let dashboard = street
        .count_cases(pb::CountCasesRequest {
            org_id: district.street.clone(),
        })
        .await
        .expect("counts")
        .into_inner();
    assert_eq!(
        dashboard
            .counts
            .iter()
            .map(|c| (c.state, c.count))
            .collect::<Vec<_>>(),
        [(pb::CaseState::Evaluated as i32, 1)]
    );
}

async fn an_overdue_case_climbs_two_levels(db: TestDatabase) {
    let district = District::start(db).await;
    let mut worker = district
        .cases_as("worker-1", Role::GridWorker, &district.committee)
        .await;
    let mut admin = district
        .cases_as("district", Role::DistrictAdmin, &district.platform.root_id)
        .await;
    let case = district.report(&mut worker).await;
    let level = |case: &pb::Case| (case.escalation_level, case.escalated_org_id.clone());
    assert_eq!(level(&case), (0, district.committee.clone()));
    let mut seen = Vec::new();
    for _ in 0..2 {
        // An hour and a minute: past the accept step's limit at each level.
        district.platform.clock.advance(61 * MINUTE_MS);
        admin
            .scan_overdue(pb::ScanOverdueRequest {})
            .await
            .expect("scan");
        let now = admin
            .get_case(pb::GetCaseRequest {
                id: case.id.clone(),
            })
            .await
            .expect("case")
            .into_inner();
        seen.push(level(&now));
    }
    assert_eq!(
        seen,
        [
            (1, district.street.clone()),
            (2, district.platform.root_id.clone())
        ]
    );
    let overdue = admin
        .list_cases(pb::ListCasesRequest {
            org_id: district.street.clone(),
            overdue: true,
            ..Default::default()
        })
        .await
        .expect("overdue")
        .into_inner();
    assert!(overdue.cases.is_empty(), "a fresh deadline runs at the top");
    let mine = worker
        .list_cases(pb::ListCasesRequest {
            mine: true,
            ..Default::default()
        })
        .await
        .expect("mine")
        .into_inner();
    assert_eq!(mine.cases.len(), 1);
    let not_admin = worker
        .scan_overdue(pb::ScanOverdueRequest {})
        .await
        .expect_err("district admins only");
    assert_eq!(not_admin.code(), Code::PermissionDenied);
}

on_both_backends!(
    a_case_is_filed_handled_verified_and_rated,
    an_overdue_case_climbs_two_levels,
);
