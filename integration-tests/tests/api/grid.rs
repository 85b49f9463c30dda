//! Grid cases through the public gRPC API on both databases: a whole lifecycle with a failed
//! verification and an approved extension, and an escalation that climbs two levels while the
//! platform's clock is moved ahead; a micro-wish from collection to the points and the notice its
//! fulfilment brings.

use crate::common;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{
        self as pb, case_service_client::CaseServiceClient,
        project_service_client::ProjectServiceClient, wish_service_client::WishServiceClient,
    },
    member::{self as member_pb, points_service_client::PointsServiceClient},
    notify::ListInboxRequest,
    org::{self as org_pb, UnitKind, meeting_service_client::MeetingServiceClient},
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
        let grid = common::garbage_grid(&platform, &committee).await;
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
                reporter_contact: "13912345678".into(),
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
    assert_eq!(case.reporter_contact, "139****5678");
    let id = case.id.clone();
    let reveal = pb::GetCaseRequest {
        id: id.clone(),
        reveal_reporter_contact: true,
        reveal_reason: "核实身份".into(),
    };
    let revealed = centre
        .get_case(reveal.clone())
        .await
        .expect("the owning org's admin reveals")
        .into_inner();
    assert_eq!(revealed.reporter_contact, "13912345678");
    let hidden = worker
        .get_case(reveal)
        .await
        .expect_err("a grid worker sees it masked");
    assert_eq!(hidden.code(), Code::PermissionDenied);
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
    let asked = handler
        .request_change(pb::RequestChangeRequest {
            case_id: id.clone(),
            kind: pb::ChangeKind::Extension as i32,
            reason: "需要调度清运车".into(),
            extension_minutes: 60,
            ..Default::default()
        })
        .await
        .expect("request")
        .into_inner();
    let own = handler
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            ..Default::default()
        })
        .await
        .expect_err("the handler does not approve their own request");
    assert_eq!(own.code(), Code::PermissionDenied);
    let other_request = street
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            change_request_id: "not-the-waiting-one".into(),
            ..Default::default()
        })
        .await
        .expect_err("decides only what was read");
    assert_eq!(other_request.code(), Code::FailedPrecondition);
    let extended = street
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            note: "同意延期".into(),
            change_request_id: asked.id.clone(),
        })
        .await
        .expect("approve")
        .into_inner();
    assert_eq!(
        millis(extended.step_due_time.as_ref()) - before,
        60 * MINUTE_MS
    );
    assert_eq!(extended.deferred_until, None);

    // Then a deferral until the owners' committee votes in two days: while it waits the clock
    // is stopped with no end known; once approved the case says until when it is deferred, and
    // its step is due that much later.
    let two_days_on = prost_types::Timestamp {
        seconds: extended.update_time.expect("updated").seconds + 2 * 86_400,
        nanos: 0,
    };
    let left = millis(extended.step_due_time.as_ref()) - millis(extended.update_time.as_ref());
    let deferral = handler
        .request_change(pb::RequestChangeRequest {
            case_id: id.clone(),
            kind: pb::ChangeKind::Deferral as i32,
            reason: "待业委会表决".into(),
            defer_until: Some(two_days_on),
            ..Default::default()
        })
        .await
        .expect("request a deferral")
        .into_inner();
    let waiting = street
        .get_case(pb::GetCaseRequest {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("case")
        .into_inner();
    assert!(waiting.clock_stopped && waiting.step_due_time.is_none());
    assert_eq!(
        waiting.deferred_until, None,
        "not deferred before it is approved"
    );
    let deferred = street
        .decide_change(pb::DecideChangeRequest {
            case_id: id.clone(),
            approve: true,
            note: "同意缓办".into(),
            change_request_id: deferral.id.clone(),
        })
        .await
        .expect("approve the deferral")
        .into_inner();
    assert_eq!(deferred.deferred_until, Some(two_days_on));
    assert!(!deferred.clock_stopped, "no request waits");
    assert!(
        millis(deferred.step_due_time.as_ref()) >= millis(Some(&two_days_on)) + left - MINUTE_MS,
        "the step is due after the deferral, with the time it had left"
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
            ..Default::default()
        })
        .await
        .expect("rated")
        .into_inner();
    assert_eq!(rated.state, pb::CaseState::Evaluated as i32);
    let history = worker
        .list_case_history(pb::ListCaseHistoryRequest {
            case_id: id.clone(),
            ..Default::default()
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
            "request",
            "defer",
            "handle",
            "verify",
            "close",
            "evaluate"
        ]
    );
    let outsider = district
        .cases_as("someone", Role::Member, &district.committee)
        .await
        .get_case(pb::GetCaseRequest {
            id: id.clone(),
            ..Default::default()
        })
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
                ..Default::default()
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

async fn a_confirmed_wish_brings_points_and_a_notice_once(db: TestDatabase) {
    let district = District::start(db).await;
    let platform = &district.platform;
    let (claimer, secretary) =
        common::wish_people(platform, &district.street, &district.committee).await;

    let wishes_as = |subject: &str, role: Role, scope: &str| {
        platform.client_as(
            Bearer::new(&bearer(subject, &[role], scope)),
            WishServiceClient::new,
        )
    };
    let mut worker = wishes_as("worker-1", Role::GridWorker, &district.committee).await;
    let mut centre = wishes_as("centre", Role::BranchAdmin, &district.committee).await;
    let mut member_client = wishes_as(&claimer, Role::Member, &district.street).await;
    let mut other = wishes_as("someone", Role::Member, &district.street).await;
    let wish = worker
        .collect_wish(pb::CollectWishRequest {
            title: "一台助听器".into(),
            description: "独居老人听力下降".into(),
            beneficiary_name: "王小明".into(),
            beneficiary_phone: "13812345678".into(),
            org_id: district.committee.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner();
    assert_eq!(
        (
            wish.beneficiary_name.as_str(),
            wish.beneficiary_phone.as_str()
        ),
        ("王*明", "138****5678")
    );
    let early = member_client
        .claim_wish(pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("not published yet");
    assert_eq!(early.code(), Code::NotFound);
    for step in ["verify", "publish"] {
        let id = wish.id.clone();
        match step {
            "verify" => {
                centre
                    .verify_wish(pb::VerifyWishRequest {
                        wish_id: id,
                        ..Default::default()
                    })
                    .await
            }
            _ => {
                centre
                    .publish_wish(pb::PublishWishRequest {
                        wish_id: id,
                        ..Default::default()
                    })
                    .await
            }
        }
        .expect(step);
    }
    member_client
        .claim_wish(pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("claim");
    let second = other
        .claim_wish(pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("one claimant");
    assert_eq!(second.code(), Code::FailedPrecondition);
    let not_claimant = other
        .fulfil_wish(pb::FulfilWishRequest {
            wish_id: wish.id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect_err("the claimant fulfils");
    assert_eq!(not_claimant.code(), Code::PermissionDenied);
    member_client
        .fulfil_wish(pb::FulfilWishRequest {
            wish_id: wish.id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("fulfil");
    centre
        .confirm_wish_fulfilment(pb::ConfirmWishFulfilmentRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("the collecting org confirms");
    let revealed = centre
        .get_wish(pb::GetWishRequest {
            id: wish.id.clone(),
            reveal_beneficiary: true,
            reveal_reason: "核实身份".into(),
        })
        .await
        .expect("reveal")
        .into_inner();
    assert_eq!(revealed.beneficiary_name, "王小明");
    let refused = member_client
        .get_wish(pb::GetWishRequest {
            id: wish.id.clone(),
            reveal_beneficiary: true,
            reveal_reason: "核实身份".into(),
        })
        .await
        .expect_err("members see it masked");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The member service awards the claimer once; notify tells the committee's secretary once.
    let mut points = platform
        .client_as(
            Bearer::new(&bearer(&claimer, &[Role::Member], &district.street)),
            PointsServiceClient::new,
        )
        .await;
    let mut inbox = platform
        .notify_as(Bearer::new(&bearer(
            &secretary,
            &[Role::Member],
            &district.committee,
        )))
        .await;
    // Once every delivery is done, the points and notices are there, and a redelivery would
    // have shown: exactly one of each.
    platform.settle().await;
    let entries = points
        .list_ledger(member_pb::ListLedgerRequest {
            member_id: claimer.clone(),
            ..Default::default()
        })
        .await
        .expect("ledger")
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].amount, entries[0].rule_code.as_str()),
        (5, "wish.fulfilled")
    );
    // The secretary also hears of their appointment; of the wish's claim and fulfilment, once
    // each.
    let mut titles: Vec<_> = inbox
        .list_inbox(ListInboxRequest::default())
        .await
        .expect("inbox")
        .into_inner()
        .items
        .into_iter()
        .filter_map(|i| i.notification.map(|n| n.title))
        .filter(|title| title.starts_with("微心愿"))
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        ["微心愿已实现：一台助听器", "微心愿已被认领：一台助听器"]
    );
    let published = other
        .list_wishes(pb::ListWishesRequest {
            published: true,
            ..Default::default()
        })
        .await
        .expect("published")
        .into_inner();
    assert!(published.wishes.is_empty(), "claimed wishes leave the list");
}

async fn cases_follow_their_org_when_it_moves(db: TestDatabase) {
    let district = District::start(db).await;
    let mut worker = district
        .cases_as("worker-1", Role::GridWorker, &district.committee)
        .await;
    district.report(&mut worker).await;
    // A resident whose scope is the committee's street reports there too.
    let mut resident = district
        .cases_as("resident-1", Role::Member, &district.street)
        .await;
    let theirs = resident
        .report_case(pb::ReportCaseRequest {
            category_code: "city.garbage".into(),
            description: "楼道堆物".into(),
            attributes: [("volume".to_owned(), "small".to_owned())].into(),
            org_id: district.committee.clone(),
            reporter_kind: pb::ReporterKind::Resident as i32,
            ..Default::default()
        })
        .await
        .expect("a resident's report")
        .into_inner();
    let mut org = district.platform.admin().await;
    let huamu = create(
        &mut org,
        &district.platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await
    .id;
    org.move_unit(org_pb::MoveUnitRequest {
        id: district.committee.clone(),
        new_parent_id: huamu.clone(),
        ..Default::default()
    })
    .await
    .expect("move");
    let mut admin = district
        .cases_as("district", Role::DistrictAdmin, &district.platform.root_id)
        .await;
    let count = |street: String| pb::CountCasesRequest { org_id: street };
    // The move has re-pathed the cases once its event is delivered.
    district.platform.settle().await;
    let moved = admin
        .count_cases(count(huamu.clone()))
        .await
        .expect("counts")
        .into_inner()
        .counts
        .iter()
        .map(|c| c.count)
        .sum::<i64>();
    assert_eq!(moved, 2, "the cases are counted in their org's new street");
    let left = admin
        .count_cases(count(district.street.clone()))
        .await
        .expect("counts")
        .into_inner();
    assert!(left.counts.is_empty(), "{left:?}");
    // The committee now lies outside the resident's street; their report stays theirs to follow.
    let followed = resident
        .get_case(pb::GetCaseRequest {
            id: theirs.id.clone(),
            ..Default::default()
        })
        .await
        .expect("the reporter follows their report wherever its org moved")
        .into_inner();
    assert_eq!(followed.owner_org_id, district.committee);
}

/// Two residents report the same pile of rubbish 30 m apart: the centre finds the second as a
/// candidate duplicate of the first, merges it, and both residents are told.
async fn a_duplicate_report_is_merged_and_both_reporters_told(db: TestDatabase) {
    let district = District::start(db).await;
    let mut residents = Vec::new();
    let mut reported = Vec::new();
    for (n, latitude) in [(1, 31.2397), (2, 31.23997)] {
        let subject = format!("resident-{n}");
        let mut client = district
            .cases_as(&subject, Role::Member, &district.committee)
            .await;
        let case = client
            .report_case(pb::ReportCaseRequest {
                category_code: "city.garbage".into(),
                description: format!("小区门口垃圾堆放（第{n}次反映）"),
                attributes: [("volume".to_owned(), "small".to_owned())].into(),
                location: Some(pb::LatLng {
                    latitude,
                    longitude: 121.4998,
                }),
                org_id: district.committee.clone(),
                reporter_kind: pb::ReporterKind::Resident as i32,
                ..Default::default()
            })
            .await
            .expect("report")
            .into_inner();
        residents.push((subject, client));
        reported.push(case);
    }
    let (original, duplicate) = (&reported[0], &reported[1]);
    let mut centre = district
        .cases_as("centre", Role::BranchAdmin, &district.committee)
        .await;
    let candidates = |radius: i32| pb::ListDuplicateCandidatesRequest {
        case_id: duplicate.id.clone(),
        radius_meters: Some(radius),
        ..Default::default()
    };
    let found = centre
        .list_duplicate_candidates(candidates(100))
        .await
        .expect("candidates")
        .into_inner()
        .candidates;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].candidate.as_ref().map(|c| c.id.as_str()),
        Some(original.id.as_str())
    );
    assert!((25.0..35.0).contains(&found[0].distance_meters));
    let too_wide = centre
        .list_duplicate_candidates(candidates(50_000))
        .await
        .expect_err("radius bounded");
    assert_eq!(too_wide.code(), Code::InvalidArgument);
    let not_theirs = residents[1]
        .1
        .list_duplicate_candidates(candidates(100))
        .await
        .expect_err("residents see their own reports only");
    assert_eq!(not_theirs.code(), Code::PermissionDenied);
    let merge = |case_id: &str, original_case_id: &str| pb::MergeCaseRequest {
        case_id: case_id.to_owned(),
        original_case_id: original_case_id.to_owned(),
        note: "同一处垃圾".into(),
        etag: String::new(),
        ..Default::default()
    };
    let by_resident = residents[1]
        .1
        .merge_case(merge(&duplicate.id, &original.id))
        .await
        .expect_err("admins merge");
    assert_eq!(by_resident.code(), Code::PermissionDenied);
    let merged = centre
        .merge_case(merge(&duplicate.id, &original.id))
        .await
        .expect("merge")
        .into_inner();
    assert_eq!(merged.state, pb::CaseState::Merged as i32);
    assert_eq!(merged.duplicate_of_case_id, original.id);
    let again = centre
        .merge_case(merge(&duplicate.id, &original.id))
        .await
        .expect_err("merged once");
    assert_eq!(again.code(), Code::FailedPrecondition);
    let history = residents[0]
        .1
        .list_case_history(pb::ListCaseHistoryRequest {
            case_id: original.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .events;
    assert!(
        history
            .iter()
            .any(|e| e.action == "merge_in" && e.note.contains(&duplicate.id)),
        "{history:?}"
    );

    // Each resident hears of it once, in their own inbox.
    for (subject, _) in &residents {
        let told = common::notices_of(
            &district.platform,
            subject,
            &district.committee,
            "grid.case.merged",
        )
        .await;
        assert_eq!(told.len(), 1, "{subject}: {told:?}");
        assert!(told[0].title.contains("第1次反映"), "{}", told[0].title);
    }
}

/// A street's joint meeting may take up a case that exists, and then shows in its history.
async fn a_joint_meeting_about_a_case_joins_its_history(db: TestDatabase) {
    let district = District::start(db).await;
    let mut worker = district
        .cases_as("worker-1", Role::GridWorker, &district.committee)
        .await;
    let case = district.report(&mut worker).await;
    let mut meetings = district
        .platform
        .client_as(
            Bearer::new(&bearer("street", &[Role::StreetAdmin], &district.street)),
            MeetingServiceClient::new,
        )
        .await;
    let about = |case_id: &str| org_pb::ScheduleJointMeetingRequest {
        host: Some(org_pb::schedule_joint_meeting_request::Host::HostUnitId(
            district.street.clone(),
        )),
        title: "街道联席会议".into(),
        topic: Some(org_pb::schedule_joint_meeting_request::Topic::GridCaseId(
            case_id.to_owned(),
        )),
        scheduled_time: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let unknown = meetings
        .schedule_joint_meeting(about("01937f6e-0000-7000-8000-0000000000aa"))
        .await
        .expect_err("no such case");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let meeting = meetings
        .schedule_joint_meeting(about(&case.id))
        .await
        .expect("schedule")
        .into_inner();
    // The meeting's event has reached the grid service once every delivery is done.
    district.platform.settle().await;
    let history = worker
        .list_case_history(pb::ListCaseHistoryRequest {
            case_id: case.id.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .events;
    let entries: Vec<_> = history.iter().filter(|e| e.action == "meeting").collect();
    assert_eq!(entries.len(), 1, "{history:?}");
    assert_eq!(entries[0].org_id, district.street);
    assert!(entries[0].note.contains(&meeting.id), "{}", entries[0].note);
    assert!(
        entries[0].note.contains("街道联席会议"),
        "{}",
        entries[0].note
    );
}

/// A community posts a need, a member offers a resource; the community claims it, the member is
/// told and accepts, and the project ends with its outcome and the need met.
async fn a_need_and_a_resource_become_a_project(db: TestDatabase) {
    let district = District::start(db).await;
    let platform = &district.platform;
    let projects_as = |subject: &str, role: Role, scope: &str| {
        platform.client_as(
            Bearer::new(&bearer(subject, &[role], scope)),
            ProjectServiceClient::new,
        )
    };
    let mut centre = projects_as("centre", Role::BranchAdmin, &district.committee).await;
    let mut member = projects_as("member-7", Role::Member, &district.street).await;
    let mut stranger = projects_as("stranger", Role::Member, &district.handler).await;
    let refused = member
        .post_need(pb::PostNeedRequest {
            org_id: district.committee.clone(),
            title: "上门理发".into(),
            category: "助老".into(),
            ..Default::default()
        })
        .await
        .expect_err("communities post needs");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = centre
        .post_need(pb::PostNeedRequest {
            org_id: district.committee.clone(),
            ..Default::default()
        })
        .await
        .expect_err("title and category");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let post = pb::PostNeedRequest {
        org_id: district.committee.clone(),
        title: "上门理发".into(),
        description: "独居老人每月需要上门理发".into(),
        category: "助老".into(),
        request_id: "need-1".into(),
    };
    let need = centre
        .post_need(post.clone())
        .await
        .expect("need")
        .into_inner();
    // The request id names that need: sent again it is the retry, sent with another operation
    // it is refused.
    let retried = centre.post_need(post).await.expect("retry").into_inner();
    assert_eq!(retried.id, need.id);
    let reused = centre
        .offer_resource(pb::OfferResourceRequest {
            title: "理发手艺".into(),
            category: "助老".into(),
            provider_org_id: district.committee.clone(),
            request_id: "need-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("the id names the need");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(common::fields_of(&reused), ["request_id"]);
    // A stale etag names what changed, a need here, not some other record.
    let stale = centre
        .withdraw_need(pb::WithdrawNeedRequest {
            need_id: need.id.clone(),
            etag: "v999".into(),
            ..Default::default()
        })
        .await
        .expect_err("a version the need is not at");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(
        stale.message(),
        "the need changed since it was read; read it again and retry"
    );
    let resource = member
        .offer_resource(pb::OfferResourceRequest {
            title: "理发手艺".into(),
            category: "助老".into(),
            ..Default::default()
        })
        .await
        .expect("resource")
        .into_inner();
    assert_eq!(resource.org_id, district.street);
    let listed = stranger
        .list_needs(pb::ListNeedsRequest {
            org_id: district.street.clone(),
            state: pb::NeedState::Open as i32,
            ..Default::default()
        })
        .await
        .expect("the needs list is open to the district")
        .into_inner()
        .needs;
    assert_eq!(listed.len(), 1);
    let project = centre
        .propose_project(pb::ProposeProjectRequest {
            need_id: need.id.clone(),
            resource_id: resource.id.clone(),
            note: "请每月第一个周二上门".into(),
            ..Default::default()
        })
        .await
        .expect("the community claims the resource")
        .into_inner();
    assert_eq!(project.proposed_by_side, pb::ProjectSide::Need as i32);
    let own = centre
        .accept_project(pb::AcceptProjectRequest {
            project_id: project.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the other side answers");
    assert_eq!(own.code(), Code::PermissionDenied);
    let hidden = stranger
        .get_project(pb::GetProjectRequest {
            id: project.id.clone(),
        })
        .await
        .expect_err("not a side");
    assert_eq!(hidden.code(), Code::NotFound);
    let told = common::notices_of(
        platform,
        "member-7",
        &district.street,
        "grid.project.proposed",
    )
    .await;
    assert_eq!(told.len(), 1, "the provider is told once");
    assert!(told[0].body.contains("梅园一村"), "{}", told[0].body);
    let active = member
        .accept_project(pb::AcceptProjectRequest {
            project_id: project.id.clone(),
            ..Default::default()
        })
        .await
        .expect("accept")
        .into_inner();
    assert_eq!(active.state, pb::ProjectState::Active as i32);
    let no_outcome = member
        .complete_project(pb::CompleteProjectRequest {
            project_id: project.id.clone(),
            outcome: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("an outcome is required");
    assert_eq!(no_outcome.code(), Code::InvalidArgument);
    let done = member
        .complete_project(pb::CompleteProjectRequest {
            project_id: project.id.clone(),
            outcome: "已为8位老人理发".into(),
            ..Default::default()
        })
        .await
        .expect("complete")
        .into_inner();
    assert_eq!(done.state, pb::ProjectState::Completed as i32);
    let met = stranger
        .get_need(pb::GetNeedRequest {
            id: need.id.clone(),
        })
        .await
        .expect("need")
        .into_inner();
    assert_eq!(met.state, pb::NeedState::Met as i32);
    let mine = member
        .list_projects(pb::ListProjectsRequest {
            mine: true,
            ..Default::default()
        })
        .await
        .expect("mine")
        .into_inner()
        .projects;
    assert_eq!(mine.len(), 1);
    let again = member
        .complete_project(pb::CompleteProjectRequest {
            project_id: project.id.clone(),
            outcome: "再次完成".into(),
            ..Default::default()
        })
        .await
        .expect_err("ended once");
    assert_eq!(again.code(), Code::FailedPrecondition);
}

on_both_backends!(
    a_need_and_a_resource_become_a_project,
    a_joint_meeting_about_a_case_joins_its_history,
    a_duplicate_report_is_merged_and_both_reporters_told,
    cases_follow_their_org_when_it_moves,
    a_confirmed_wish_brings_points_and_a_notice_once,
    a_case_is_filed_handled_verified_and_rated,
    an_overdue_case_climbs_two_levels,
);
