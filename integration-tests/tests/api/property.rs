//! The property service through the public gRPC API on both databases: a town registers a
//! company and a committee its compound; the company's publisher discloses typed items and a
//! correction; every disclosure's proof bundle verifies offline against the log's key, later
//! heads are consistent with earlier ones, and a disclosure altered in the database no longer
//! verifies; the compliance report names what is missing and late, and an overdue item reaches
//! the publishers once; three parties meet and follow decisions up; the town assesses, ranks
//! and orders.

use crate::common;

use common::{Platform, TEST_LOG_SEED, create, fields_of};
use jiceng::verify::{Bundle, HeadBundle, ProofBundle, VerifyError};
use jiceng_auth::Role;
use jiceng_property::store::log::Witnessing;
use jiceng_proto::{
    org::{
        self as org_pb, UnitKind, org_service_client::OrgServiceClient,
        witness_service_client::WitnessServiceClient,
    },
    property::{
        self as pb, disclosure_service_client::DisclosureServiceClient,
        linkage_service_client::LinkageServiceClient,
        property_service_client::PropertyServiceClient,
    },
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::Code;
use tonic_types::StatusExt as _;

fn fee_collection(billed: i64) -> pb::disclosure::Content {
    pb::disclosure::Content::FeeCollection(pb::FeeCollection {
        billed_fen: billed,
        collected_fen: billed * 9 / 10,
        households_billed: 420,
        households_paid: 378,
    })
}

/// Gaohang town and Donggou New Village's committee, created through the API; the town's admin
/// registers companies and compounds.
struct Gaohang {
    platform: Platform,
    town: String,
    committee: String,
}

impl Gaohang {
    async fn start(db: TestDatabase) -> Self {
        let platform = Platform::start(db).await;
        let mut org = platform.admin().await;
        let town = create(
            &mut org,
            &platform.root_id,
            UnitKind::TownCommittee,
            "高行镇党委",
        )
        .await
        .id;
        let committee = create(
            &mut org,
            &town,
            UnitKind::ResidentialCommittee,
            "东沟新村居民区党总支",
        )
        .await
        .id;
        Self {
            platform,
            town,
            committee,
        }
    }

    fn admin(&self) -> Bearer {
        Bearer::new(&bearer("town-admin", &[Role::StreetAdmin], &self.town))
    }

    /// A caller of the committee's subtree: a resident, or a company's publisher.
    fn member(&self, subject: &str) -> Bearer {
        Bearer::new(&bearer(subject, &[Role::Member], &self.committee))
    }

    /// A company of the town with the credit code `code`, publishing as `publisher`.
    fn company(&self, code: &str, publisher: &str) -> pb::Company {
        pb::Company {
            name: format!("高行物业{publisher}"),
            credit_code: code.into(),
            org_id: self.town.clone(),
            supervision_hotline: "021-58681234".into(),
            repair_hotline: "021-58685678".into(),
            staff: vec![pb::StaffMember {
                role: "项目经理".into(),
                name: "周某".into(),
                phone: "13912345678".into(),
            }],
            publishers: vec![publisher.into()],
            ..Default::default()
        }
    }

    async fn register(&self, code: &str, publisher: &str) -> pb::Company {
        self.platform
            .client_as(self.admin(), PropertyServiceClient::new)
            .await
            .create_company(pb::CreateCompanyRequest {
                company: Some(self.company(code, publisher)),
                request_id: String::new(),
            })
            .await
            .expect("company")
            .into_inner()
    }

    /// Donggou New Village, managed by `company_id` from now.
    async fn compound(&self, company_id: &str) -> pb::Compound {
        self.compound_with_history(company_id, Vec::new())
            .await
            .expect("compound")
    }

    /// Donggou New Village, managed by `company_id` after the earlier `terms` (none: from now).
    async fn compound_with_history(
        &self,
        company_id: &str,
        terms: Vec<pb::ManagementTerm>,
    ) -> Result<pb::Compound, tonic::Status> {
        self.platform
            .client_as(self.admin(), PropertyServiceClient::new)
            .await
            .create_compound(pb::CreateCompoundRequest {
                compound: Some(pb::Compound {
                    name: "东沟新村".into(),
                    address: "东沟路100弄".into(),
                    org_id: self.committee.clone(),
                    company_id: company_id.to_owned(),
                    owners_committee: "东沟新村业主委员会".into(),
                    terms,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// A fee-collection disclosure schedule for the town: monthly, due ten days after.
    async fn monthly_fee_collection(&self) {
        self.platform
            .client_as(self.admin(), DisclosureServiceClient::new)
            .await
            .set_schedule(pb::SetScheduleRequest {
                schedule: Some(pb::Schedule {
                    org_id: self.town.clone(),
                    kind: pb::DisclosureKind::FeeCollection as i32,
                    frequency: pb::Frequency::Monthly as i32,
                    due_days: 10,
                    display_days: 365,
                }),
            })
            .await
            .expect("schedule");
    }
}

const DAY_SECS: i64 = 86_400;

/// A time `days` from now (before now when negative).
fn days_from_now(days: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: jiceng_db::now_millis() / 1000 + days * DAY_SECS,
        nanos: 0,
    }
}

fn term(company_id: &str, start: prost_types::Timestamp) -> pb::ManagementTerm {
    pb::ManagementTerm {
        company_id: company_id.to_owned(),
        start_time: Some(start),
        end_time: None,
    }
}

/// A hand-over agreed today for next month changes nothing until then: the company managing
/// the compound today is the one `GetCompound` and `ListCompounds` name, the one that may
/// publish and the one its disclosures are attributed to; the next may not publish yet.
async fn a_hand_over_agreed_for_later_takes_effect_then(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let today = gaohang
        .register("91310115MA1H7XYX0X", "publisher-today")
        .await;
    let next = gaohang
        .register(
            jiceng_values::CreditCode::complete("91310115MA1H7XYX1")
                .expect("a code")
                .as_str(),
            "publisher-next",
        )
        .await;
    let compound = gaohang.compound(&today.id).await;
    let mut properties = platform
        .client_as(gaohang.admin(), PropertyServiceClient::new)
        .await;
    let changed = properties
        .change_managing_company(pb::ChangeManagingCompanyRequest {
            compound_id: compound.id.clone(),
            company_id: next.id.clone(),
            start_time: Some(days_from_now(30)),
        })
        .await
        .expect("a hand-over next month")
        .into_inner();
    assert_eq!(
        changed.company_id, today.id,
        "managed by today's company until then"
    );
    assert_eq!(changed.terms.len(), 2);
    let read = properties
        .get_compound(pb::GetCompoundRequest {
            id: compound.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read.company_id, today.id);
    let managed_by = |company: &str| pb::ListCompoundsRequest {
        company_id: company.to_owned(),
        ..Default::default()
    };
    let listed = properties
        .list_compounds(managed_by(&today.id))
        .await
        .expect("list")
        .into_inner()
        .compounds;
    assert_eq!(
        listed
            .iter()
            .map(|c| (&c.id, &c.company_id))
            .collect::<Vec<_>>(),
        [(&compound.id, &today.id)]
    );
    assert!(
        properties
            .list_compounds(managed_by(&next.id))
            .await
            .expect("list")
            .into_inner()
            .compounds
            .is_empty(),
        "not yet the next company's"
    );
    let publish = pb::PublishDisclosureRequest {
        disclosure: Some(pb::Disclosure {
            compound_id: compound.id.clone(),
            period: "2026-11".into(),
            content: Some(fee_collection(4_200_000)),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let early = platform
        .client_as(
            gaohang.member("publisher-next"),
            DisclosureServiceClient::new,
        )
        .await
        .publish_disclosure(publish.clone())
        .await
        .expect_err("the next company, before its term");
    assert_eq!(early.code(), Code::PermissionDenied);
    let published = platform
        .client_as(
            gaohang.member("publisher-today"),
            DisclosureServiceClient::new,
        )
        .await
        .publish_disclosure(publish)
        .await
        .expect("today's company publishes")
        .into_inner();
    assert_eq!(published.company_id, today.id);
}

/// A district moving its records in registers a compound with the companies that managed it
/// before: the compliance report holds each period against the company managing it when the
/// period ended, and nothing is due for the months before the first term. A history with a
/// gap, a term in the future or out of order is refused by field.
async fn a_compound_brought_in_with_its_history_is_due_from_its_first_term(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let before = gaohang
        .register("91310115MA1H7XYX0X", "publisher-before")
        .await;
    let now = gaohang
        .register(
            jiceng_values::CreditCode::complete("91310115MA1H7XYX1")
                .expect("a code")
                .as_str(),
            "publisher-now",
        )
        .await;
    let refused = gaohang
        .compound_with_history(
            &now.id,
            vec![
                pb::ManagementTerm {
                    end_time: Some(days_from_now(-200)),
                    ..term(&before.id, days_from_now(-300))
                },
                term(&now.id, days_from_now(-100)),
                term(&before.id, days_from_now(10)),
            ],
        )
        .await
        .expect_err("a gap and a term to come");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        fields_of(&refused),
        [
            "compound.terms[0].end_time",
            "compound.terms[2].start_time",
            "compound.company_id"
        ]
    );
    // Managed by `before` from about five months ago, by `now` for the last two months.
    let compound = gaohang
        .compound_with_history(
            "",
            vec![
                term(&before.id, days_from_now(-150)),
                term(&now.id, days_from_now(-60)),
            ],
        )
        .await
        .expect("a compound with its history");
    assert_eq!(compound.company_id, now.id);
    assert_eq!(compound.terms.len(), 2);
    gaohang.monthly_fee_collection().await;
    let report = platform
        .client_as(gaohang.admin(), DisclosureServiceClient::new)
        .await
        .get_compliance_report(pb::GetComplianceReportRequest {
            org_id: gaohang.town.clone(),
            first_month: "2024-01".into(),
            last_month: "2030-12".into(),
            ..Default::default()
        })
        .await
        .expect("report")
        .into_inner();
    // Nothing was ever disclosed: every month that ended in a term and is past due is missing,
    // about five of them, none from before the first term.
    let first_term = compound.terms[0].start_time.expect("start");
    assert!(
        (3..=6).contains(&report.exceptions.len()),
        "{:?}",
        report.exceptions
    );
    let by = |company: &str| {
        report
            .exceptions
            .iter()
            .filter(|item| item.company_id == company)
            .count()
    };
    assert!(
        by(&before.id) >= 2 && by(&now.id) >= 1,
        "{:?}",
        report.exceptions
    );
    assert_eq!(by(&before.id) + by(&now.id), report.exceptions.len());
    for item in &report.exceptions {
        let due = item.due_time.expect("due time");
        assert!(
            due.seconds > first_term.seconds,
            "{item:?} is due before the first term"
        );
    }
}

async fn disclosures_are_published_corrected_and_proven(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let bad = platform
        .client_as(gaohang.admin(), PropertyServiceClient::new)
        .await
        .create_company(pb::CreateCompanyRequest {
            company: Some(gaohang.company("91310115MA1H7XYX01", "publisher-1")),
            request_id: String::new(),
        })
        .await
        .expect_err("a wrong check character");
    assert_eq!(fields_of(&bad), ["company.credit_code"]);
    let company = gaohang.register("91310115MA1H7XYX0X", "publisher-1").await;
    assert_eq!(company.staff[0].phone, "139****5678");
    // Managed by the company since long before the months the compliance report looks at.
    let compound = gaohang
        .compound_with_history("", vec![term(&company.id, days_from_now(-400))])
        .await
        .expect("compound");

    let mut publisher = platform
        .client_as(gaohang.member("publisher-1"), DisclosureServiceClient::new)
        .await;
    let mut resident = platform
        .client_as(gaohang.member("resident-1"), DisclosureServiceClient::new)
        .await;
    let publish = |content: pb::disclosure::Content, period: &str| pb::PublishDisclosureRequest {
        disclosure: Some(pb::Disclosure {
            compound_id: compound.id.clone(),
            period: period.into(),
            content: Some(content),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let not_theirs = resident
        .publish_disclosure(publish(fee_collection(100), "2026-10"))
        .await
        .expect_err("residents read, companies publish");
    assert_eq!(not_theirs.code(), Code::PermissionDenied);
    let unbalanced = publisher
        .publish_disclosure(publish(
            pb::disclosure::Content::PublicRevenue(pb::PublicRevenue {
                lines: vec![pb::public_revenue::Line {
                    source: "parking".into(),
                    income_fen: 1_200_000,
                    expense_fen: 200_000,
                }],
                balance_fen: 900_000,
            }),
            "2026-Q3",
        ))
        .await
        .expect_err("the balance must add up");
    assert_eq!(fields_of(&unbalanced), ["disclosure.content.balance_fen"]);
    let original = publisher
        .publish_disclosure(publish(fee_collection(4_200_000), "2026-10"))
        .await
        .expect("publish")
        .into_inner();
    publisher
        .publish_disclosure(publish(
            pb::disclosure::Content::Hotlines(pb::Hotlines {
                supervision: "021-58681234".into(),
                repair: "021-58685678".into(),
            }),
            "2026-10-01",
        ))
        .await
        .expect("hotlines");
    let mut fix = publish(fee_collection(4_300_000), "2026-10");
    if let Some(d) = fix.disclosure.as_mut() {
        d.supersedes_id = original.id.clone();
    }
    let no_reason = publisher
        .publish_disclosure(fix.clone())
        .await
        .expect_err("a correction gives its reason");
    assert_eq!(fields_of(&no_reason), ["disclosure.correction_reason"]);
    if let Some(d) = fix.disclosure.as_mut() {
        d.correction_reason = "漏计商铺物业费".into();
    }
    let correction = publisher
        .publish_disclosure(fix)
        .await
        .expect("correction")
        .into_inner();
    let reread = resident
        .get_disclosure(pb::GetDisclosureRequest {
            id: original.id.clone(),
        })
        .await
        .expect("the original stays readable")
        .into_inner();
    assert_eq!(reread.content, original.content);
    assert_eq!(reread.superseded_by_id, correction.id);

    // Every disclosure verifies offline against the log's key, the original and its correction
    // alike.
    let trusted = jiceng_merkle::hex(
        &jiceng_merkle::LogSigner::from_seed(&TEST_LOG_SEED)
            .expect("key")
            .public_key(),
    );
    let bundle_of = |id: &str| pb::GetInclusionProofRequest {
        disclosure_id: id.to_owned(),
        tree_size: None,
    };
    for id in [&original.id, &correction.id] {
        let proof = resident
            .get_inclusion_proof(bundle_of(id))
            .await
            .expect("proof")
            .into_inner();
        let bundle = ProofBundle::from_proto(&proof).expect("bundle");
        let kept = serde_json::to_string(&Bundle::Proof(bundle.clone())).expect("json");
        assert_eq!(
            serde_json::from_str::<Bundle>(&kept).expect("read back"),
            Bundle::Proof(bundle.clone()),
            "a proof bundle reads back as a proof"
        );
        let verified = bundle.verify(&trusted).expect("verified");
        assert_eq!(&verified.disclosure_id, id);
        assert_eq!(verified.tree_size, 3);
        let other_key = jiceng_merkle::hex(&[1u8; 32]);
        assert!(matches!(
            bundle.verify(&other_key),
            Err(VerifyError::OtherKey { .. })
        ));
    }
    let consistency = resident
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first_size: 1,
            second_size: 3,
        })
        .await
        .expect("consistency")
        .into_inner();
    let first = resident
        .get_signed_tree_head(pb::GetSignedTreeHeadRequest { tree_size: Some(1) })
        .await
        .expect("head")
        .into_inner();
    let hash = |bytes: &[u8]| -> jiceng_merkle::Hash { bytes.try_into().expect("32 bytes") };
    assert_eq!(consistency.first_root_hash, first.root_hash);
    assert!(jiceng_merkle::verify_consistency(
        1,
        3,
        &hash(&consistency.first_root_hash),
        &hash(&consistency.second_root_hash),
        &consistency
            .proof
            .iter()
            .map(|p| hash(p))
            .collect::<Vec<_>>()
    ));
    let too_far = resident
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first_size: 3,
            second_size: 2,
        })
        .await
        .expect_err("first after second");
    assert_eq!(too_far.code(), Code::InvalidArgument);

    // The town asks for monthly fee collection within ten days: October's came late (it was
    // published today, after 11 November), September's never came.
    let mut town_disclosures = platform
        .client_as(gaohang.admin(), DisclosureServiceClient::new)
        .await;
    town_disclosures
        .set_schedule(pb::SetScheduleRequest {
            schedule: Some(pb::Schedule {
                org_id: gaohang.town.clone(),
                kind: pb::DisclosureKind::FeeCollection as i32,
                frequency: pb::Frequency::Monthly as i32,
                due_days: 10,
                display_days: 90,
            }),
        })
        .await
        .expect("schedule");
    let report_request = pb::GetComplianceReportRequest {
        org_id: gaohang.town.clone(),
        first_month: "2026-09".into(),
        last_month: "2026-10".into(),
        as_of_time: None,
    };
    let denied = resident
        .get_compliance_report(report_request.clone())
        .await
        .expect_err("residents read disclosures, not reports");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let report = town_disclosures
        .get_compliance_report(report_request)
        .await
        .expect("report")
        .into_inner();
    let standings: Vec<(String, i32)> = report
        .exceptions
        .iter()
        .map(|e| (e.period.clone(), e.standing))
        .collect();
    assert_eq!(
        standings,
        [
            ("2026-09".to_owned(), pb::Standing::Missing as i32),
            ("2026-10".to_owned(), pb::Standing::Late as i32),
        ]
    );
    assert_eq!(
        (report.due, report.on_time, report.companies.len()),
        (2, 0, 1)
    );

    // Someone with database access lowers the amount billed: the bundle no longer verifies.
    sqlx::query(
        "UPDATE property_disclosures SET entry = REPLACE(entry, '4200000', '4100000') WHERE id = $1",
    )
    .bind(&original.id)
    .execute(platform.database().await.pool())
    .await
    .expect("tamper");
    let proof = resident
        .get_inclusion_proof(bundle_of(&original.id))
        .await
        .expect("proof")
        .into_inner();
    let tampered = ProofBundle::from_proto(&proof).expect("bundle");
    assert!(tampered.entry.contains("4100000"));
    assert_eq!(tampered.verify(&trusted), Err(VerifyError::NotIncluded));
}

/// A compound's three parties meet and hand out decisions the company reports done; the town
/// assesses its companies, ranks them and orders the weakest to rectify.
async fn three_parties_meet_and_the_town_assesses(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let mut companies = Vec::new();
    for (n, code) in ["91310115MA1H7XYX0X", "91310115MA1FL2AB3F"]
        .iter()
        .enumerate()
    {
        companies.push(gaohang.register(code, &format!("publisher-{n}")).await.id);
    }
    let compound = gaohang.compound(&companies[0]).await;

    let mut linkage = platform
        .client_as(gaohang.admin(), LinkageServiceClient::new)
        .await;
    let meeting = linkage
        .schedule_linkage_meeting(pb::ScheduleLinkageMeetingRequest {
            compound_id: compound.id.clone(),
            title: "三方联席会议".into(),
            agenda: "地下车库渗水维修".into(),
            scheduled_time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("schedule")
        .into_inner();
    let attendee = |party: pb::Party, name: &str| pb::Attendee {
        party: party as i32,
        name: name.into(),
    };
    let mut record = pb::RecordLinkageMeetingRequest {
        meeting_id: meeting.id.clone(),
        attendees: vec![
            attendee(pb::Party::ResidentsCommittee, "居委会书记"),
            attendee(pb::Party::Company, "项目经理"),
        ],
        minutes: "三方同意先行维修，费用从公共收益列支".into(),
        decisions: vec![pb::NewDecision {
            text: "两周内完成车库防水维修".into(),
            owner: pb::Party::Company as i32,
            due_time: None,
        }],
        ..Default::default()
    };
    let two_parties = linkage
        .record_linkage_meeting(record.clone())
        .await
        .expect_err("the owners' committee is missing");
    assert_eq!(fields_of(&two_parties), ["attendees"]);
    record
        .attendees
        .push(attendee(pb::Party::OwnersCommittee, "业委会主任"));
    let held = linkage
        .record_linkage_meeting(record.clone())
        .await
        .expect("record")
        .into_inner();
    let decision = held.decisions[0].id.clone();
    let twice = linkage
        .record_linkage_meeting(record)
        .await
        .expect_err("recorded once");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let mut other_company = platform
        .client_as(gaohang.member("publisher-1"), LinkageServiceClient::new)
        .await;
    let done = pb::FollowUpDecisionRequest {
        decision_id: decision.clone(),
        state: pb::DecisionState::Done as i32,
        note: "已完成维修并经业委会验收".into(),
        ..Default::default()
    };
    let not_theirs = other_company
        .follow_up_decision(done.clone())
        .await
        .expect_err("another company's publisher");
    assert_eq!(not_theirs.code(), Code::PermissionDenied);
    let mut managing = platform
        .client_as(gaohang.member("publisher-0"), LinkageServiceClient::new)
        .await;
    let followed = managing
        .follow_up_decision(done)
        .await
        .expect("the managing company reports it done")
        .into_inner();
    assert_eq!(followed.state, pb::DecisionState::Done as i32);

    let criterion = |code: &str, weight: i32| pb::Criterion {
        code: code.into(),
        name: code.into(),
        weight,
    };
    let unbalanced = linkage
        .define_assessment(pb::DefineAssessmentRequest {
            assessment: Some(pb::Assessment {
                org_id: gaohang.town.clone(),
                period: "2026".into(),
                criteria: vec![criterion("service", 60), criterion("disclosure", 30)],
                ..Default::default()
            }),
        })
        .await
        .expect_err("weights add up to 100");
    assert_eq!(fields_of(&unbalanced), ["assessment.criteria"]);
    let assessment = linkage
        .define_assessment(pb::DefineAssessmentRequest {
            assessment: Some(pb::Assessment {
                org_id: gaohang.town.clone(),
                period: "2026".into(),
                criteria: vec![criterion("service", 60), criterion("disclosure", 40)],
                ..Default::default()
            }),
        })
        .await
        .expect("assessment")
        .into_inner();
    for (company, service, disclosure) in [(&companies[0], 90, 95), (&companies[1], 70, 60)] {
        linkage
            .score_company(pb::ScoreCompanyRequest {
                assessment_id: assessment.id.clone(),
                company_id: company.clone(),
                scores: [
                    ("service".to_owned(), service),
                    ("disclosure".to_owned(), disclosure),
                ]
                .into(),
                comment: String::new(),
            })
            .await
            .expect("score");
    }
    let ranking = linkage
        .get_ranking(pb::GetRankingRequest {
            assessment_id: assessment.id.clone(),
        })
        .await
        .expect("ranking")
        .into_inner();
    let ranked: Vec<(i32, String, f64)> = ranking
        .companies
        .iter()
        .map(|c| {
            let score = c.score.as_ref().expect("score");
            (c.rank, score.company_id.clone(), score.total)
        })
        .collect();
    assert_eq!(
        ranked,
        [
            (1, companies[0].clone(), 92.0),
            (2, companies[1].clone(), 66.0)
        ]
    );
    let no_date = linkage
        .issue_order(pb::IssueOrderRequest {
            assessment_id: assessment.id.clone(),
            company_id: companies[1].clone(),
            kind: pb::OrderKind::Rectification as i32,
            text: "公示不及时，限期整改".into(),
            due_time: None,
            ..Default::default()
        })
        .await
        .expect_err("a rectification sets a date");
    assert_eq!(fields_of(&no_date), ["due_time"]);
    linkage
        .issue_order(pb::IssueOrderRequest {
            assessment_id: assessment.id.clone(),
            company_id: companies[1].clone(),
            kind: pb::OrderKind::Rectification as i32,
            text: "公示不及时，限期整改".into(),
            due_time: Some(prost_types::Timestamp {
                seconds: 1_801_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("order");
    let orders = linkage
        .list_orders(pb::ListOrdersRequest {
            company_id: companies[1].clone(),
            ..Default::default()
        })
        .await
        .expect("orders")
        .into_inner()
        .orders;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].kind, pb::OrderKind::Rectification as i32);
}

/// An item never disclosed brings the company's publishers and the committee's secretary an
/// overdue notice, once however often the scan runs.
async fn an_overdue_disclosure_is_announced_once(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let company = gaohang.register("91310115MA1H7XYX0X", "publisher-1").await;
    // Managed by the company for two years already, as the district's records say.
    gaohang
        .compound_with_history("", vec![term(&company.id, days_from_now(-730))])
        .await
        .expect("compound");
    gaohang.monthly_fee_collection().await;
    // No month's fee collection was ever disclosed: every month of the last year that is past
    // its due date is overdue, whatever today's date.
    let scan = || {
        platform
            .property
            .announce_due(jiceng_db::now_millis(), 3 * 86_400_000)
    };
    let sent = scan().await.expect("scan");
    assert!(sent >= 10, "{sent}");
    let notices = |category: &'static str| {
        common::notices_of(platform, "publisher-1", &gaohang.committee, category)
    };
    // Every overdue notice the scan sent arrives (it may also have sent a reminder, when this
    // month's item falls due within three days).
    let expected: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'jiceng.property.v1.disclosure.overdue'",
    )
    .fetch_one(platform.database().await.pool())
    .await
    .expect("count");
    platform.settle().await;
    let told = notices("property.disclosure.overdue").await;
    assert_eq!(told.len() as i64, expected);
    assert!(told.len() >= 10, "{}", told.len());
    assert!(
        told.iter()
            .all(|n| n.title.contains("东沟新村物业费收缴情况")),
        "{}",
        told[0].title
    );
    // Scanning again announces nothing twice.
    assert_eq!(scan().await.expect("scan"), 0);
    platform.settle().await;
    assert_eq!(
        notices("property.disclosure.overdue").await.len(),
        told.len()
    );
}

/// A new district's log has a head before its first disclosure: size 0, the root RFC 6962
/// gives the empty tree (SHA-256 of nothing), signed by the log's key, the same when asked
/// again; the first disclosure's head follows it.
async fn an_empty_log_has_a_signed_head_of_size_zero(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let mut log = gaohang
        .platform
        .client_as(gaohang.member("monitor"), DisclosureServiceClient::new)
        .await;
    let head = |tree_size: Option<i64>| pb::GetSignedTreeHeadRequest { tree_size };
    let empty = log
        .get_signed_tree_head(head(None))
        .await
        .expect("the empty log's head")
        .into_inner();
    assert_eq!(empty.tree_size, 0);
    assert_eq!(empty.root_hash, jiceng_merkle::empty_root().to_vec());

    // `jiceng proof` without a disclosure keeps the head; `jiceng verify` accepts it offline.
    let signer = jiceng_merkle::LogSigner::from_seed(&TEST_LOG_SEED).expect("key");
    let trusted = jiceng_merkle::hex(&signer.public_key());
    let kept = serde_json::to_string(&Bundle::Head(
        HeadBundle::from_proto(&empty).expect("head bundle"),
    ))
    .expect("json");
    let Ok(Bundle::Head(bundle)) = serde_json::from_str::<Bundle>(&kept) else {
        panic!("a head bundle reads back as a head: {kept}");
    };
    assert_eq!(bundle.tree_size, 0);
    let verified = bundle.verify(&trusted).expect("the empty head verifies");
    assert_eq!(verified.root, jiceng_merkle::empty_root());
    let forged_root = HeadBundle {
        root_hash: jiceng_merkle::hex(&[7u8; 32]),
        ..bundle.clone()
    };
    assert_eq!(forged_root.verify(&trusted), Err(VerifyError::BadSignature));
    // Even the log's own key cannot make another root the empty tree's.
    let signed_other_root = HeadBundle {
        signature: jiceng_merkle::hex(&signer.sign(&jiceng_merkle::TreeHead {
            root: [7u8; 32],
            ..verified
        })),
        ..forged_root
    };
    assert_eq!(
        signed_other_root.verify(&trusted),
        Err(VerifyError::NotEmptyRoot)
    );

    let again = log
        .get_signed_tree_head(head(Some(0)))
        .await
        .expect("size 0 by name")
        .into_inner();
    assert_eq!(again, empty, "signed once");
    let none_yet = log
        .get_signed_tree_head(head(Some(1)))
        .await
        .expect_err("no disclosure yet");
    assert_eq!(none_yet.code(), Code::NotFound);
}

/// A request id names one call: its retry returns the first company, and the same id sent with
/// another operation (a compound) is refused on `request_id` rather than answered as if it were
/// the company's retry.
async fn a_request_id_reused_for_another_operation_is_refused(db: TestDatabase) {
    let gaohang = Gaohang::start(db).await;
    let mut admin = gaohang
        .platform
        .client_as(gaohang.admin(), PropertyServiceClient::new)
        .await;
    let create = pb::CreateCompanyRequest {
        company: Some(gaohang.company("91310115MA1H7XYX0X", "publisher-1")),
        request_id: "register-gaohang-1".into(),
    };
    let first = admin
        .create_company(create.clone())
        .await
        .expect("first")
        .into_inner();
    let retried = admin
        .create_company(create)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retried);
    let reused = admin
        .create_compound(pb::CreateCompoundRequest {
            compound: Some(pb::Compound {
                name: "东沟新村".into(),
                address: "东沟路100弄".into(),
                org_id: gaohang.committee.clone(),
                company_id: first.id.clone(),
                ..Default::default()
            }),
            request_id: "register-gaohang-1".into(),
        })
        .await
        .expect_err("the id names the company's registration");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(fields_of(&reused), ["request_id"]);
    // The refused call made nothing: the same compound under a fresh id is the first.
    let compound = gaohang.compound(&first.id).await;
    assert_eq!(compound.company_id, first.id);
}

/// Undoes the log's appends after its first `size` entries, as a restore of the property
/// database to that point would: the disclosures, their signed heads and the subtrees they
/// completed. The org service's witness, in its own database in a cluster, keeps its head.
async fn restore_log_to(platform: &Platform, size: i64) {
    let db = platform.database().await;
    sqlx::query("DELETE FROM property_disclosures WHERE leaf_index >= $1")
        .bind(size)
        .execute(db.pool())
        .await
        .expect("disclosures");
    sqlx::query("DELETE FROM property_log_heads WHERE size > $1")
        .bind(size)
        .execute(db.pool())
        .await
        .expect("heads");
    for level in 0..20i64 {
        sqlx::query("DELETE FROM property_log_nodes WHERE level = $1 AND (idx + 1) * $2 > $3")
            .bind(level)
            .bind(1i64 << level)
            .bind(size)
            .execute(db.pool())
            .await
            .expect("nodes");
    }
}

/// The head the org service witnesses for the property log, as a whole-district admin reads it.
async fn witnessed_size(platform: &Platform) -> Option<i64> {
    let admin = Bearer::new(&bearer(
        "district-admin",
        &[Role::DistrictAdmin],
        &platform.root_id,
    ));
    match platform
        .client_as(admin, WitnessServiceClient::new)
        .await
        .get_witnessed_head(org_pb::GetWitnessedHeadRequest {
            log: "property".into(),
        })
        .await
    {
        Ok(head) => Some(head.into_inner().tree_size),
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => panic!("the witness: {status}"),
    }
}

async fn a_log_restored_to_an_earlier_point_signs_nothing_until_the_operator_resolves_it(
    db: TestDatabase,
) {
    let gaohang = Gaohang::start(db).await;
    let platform = &gaohang.platform;
    let company = gaohang.register("91310115MA1H7XYX0X", "publisher-1").await;
    let compound = gaohang.compound(&company.id).await;
    let mut publisher = platform
        .client_as(gaohang.member("publisher-1"), DisclosureServiceClient::new)
        .await;
    let hotlines = |period: &str| pb::PublishDisclosureRequest {
        disclosure: Some(pb::Disclosure {
            compound_id: compound.id.clone(),
            period: period.into(),
            content: Some(pb::disclosure::Content::Hotlines(pb::Hotlines {
                supervision: "021-58681234".into(),
                repair: "021-58685678".into(),
            })),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    for day in ["2026-10-01", "2026-10-02", "2026-10-03"] {
        publisher
            .publish_disclosure(hotlines(day))
            .await
            .expect("publish");
    }
    // Each append wakes the witnessing: the witness holds the third head moments later, and
    // the service knows it does.
    let witnessed = jiceng_testkit::eventually(std::time::Duration::from_secs(10), || async {
        matches!(
            platform.property.witnessing(),
            Witnessing::Holds { size: 3, .. }
        )
        .then_some(())
    })
    .await;
    assert!(
        witnessed.is_some(),
        "the witness never took the head of size 3"
    );
    assert_eq!(witnessed_size(platform).await, Some(3));

    restore_log_to(platform, 1).await;
    let refused = publisher
        .publish_disclosure(hotlines("2026-10-04"))
        .await
        .expect_err("a log without its witnessed head signs nothing");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let failure = refused
        .get_details_precondition_failure()
        .expect("precondition details");
    assert_eq!(failure.violations[0].r#type, "LOG_DIVERGED");
    assert!(
        refused.message().contains("restored to an earlier point"),
        "{}",
        refused.message()
    );
    // Readers still get what the restored log holds.
    let mut resident = platform
        .client_as(gaohang.member("resident-1"), DisclosureServiceClient::new)
        .await;
    let head = resident
        .get_signed_tree_head(pb::GetSignedTreeHeadRequest::default())
        .await
        .expect("the restored log's head")
        .into_inner();
    assert_eq!(head.tree_size, 1);

    // The operator finds the entries cannot be recovered and resets the witness: with the size
    // they looked at, and a reason the audit trail keeps.
    let admin = Bearer::new(&bearer(
        "district-admin",
        &[Role::DistrictAdmin],
        &platform.root_id,
    ));
    let mut witness = platform
        .client_as(admin.clone(), WitnessServiceClient::new)
        .await;
    let reset = |tree_size| org_pb::ResetWitnessedHeadRequest {
        log: "property".into(),
        reason: "恢复至11月30日备份，之后的公开事项无法找回".into(),
        tree_size,
    };
    let stale = witness
        .reset_witnessed_head(reset(2))
        .await
        .expect_err("a reset names the head it forgets");
    assert_eq!(stale.code(), Code::Aborted);
    let forgotten = witness
        .reset_witnessed_head(reset(3))
        .await
        .expect("reset")
        .into_inner();
    assert_eq!(forgotten.tree_size, 3);
    let resumed = jiceng_testkit::eventually(std::time::Duration::from_secs(15), || {
        let mut publisher = publisher.clone();
        let request = hotlines("2026-10-04");
        async move { publisher.publish_disclosure(request).await.ok() }
    })
    .await
    .expect("appends resume once the witness is reset")
    .into_inner();
    assert_eq!(resumed.leaf_index, 1);
    let rewitnessed = jiceng_testkit::eventually(std::time::Duration::from_secs(10), || async {
        (witnessed_size(platform).await == Some(2)).then_some(())
    })
    .await;
    assert!(
        rewitnessed.is_some(),
        "the witness holds the log's new head"
    );
    let records = platform
        .client_as(admin, OrgServiceClient::new)
        .await
        .list_audit_records(org_pb::ListAuditRecordsRequest::default())
        .await
        .expect("audit")
        .into_inner()
        .records;
    let record = records
        .iter()
        .find(|r| r.action == "witness.reset")
        .expect("the reset is in the audit trail");
    assert_eq!(record.actor, "district-admin");
    assert!(
        record.details.contains("恢复至11月30日备份"),
        "{}",
        record.details
    );
}

on_both_backends!(
    a_log_restored_to_an_earlier_point_signs_nothing_until_the_operator_resolves_it,
    a_request_id_reused_for_another_operation_is_refused,
    an_empty_log_has_a_signed_head_of_size_zero,
    a_hand_over_agreed_for_later_takes_effect_then,
    a_compound_brought_in_with_its_history_is_due_from_its_first_term,
    an_overdue_disclosure_is_announced_once,
    disclosures_are_published_corrected_and_proven,
    three_parties_meet_and_the_town_assesses,
);
