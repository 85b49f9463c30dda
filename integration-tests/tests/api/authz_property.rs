//! The property service's authorization matrix (disclosures and three-party linkage too): see
//! `authz/mod.rs`.
//!
//! Street A's member is the publisher of street A's company, so the member rows stand for the
//! company's staff account: it publishes for the company's compounds and reports the company's
//! decisions done, while street B's member publishes for none of them.

use crate::authz;

use std::sync::atomic::{AtomicU32, Ordering};

use authz::{Fixture, Row};
use jiceng_auth::Role;
use jiceng_proto::property::{
    self as pb, disclosure_service_client::DisclosureServiceClient,
    linkage_service_client::LinkageServiceClient, property_service_client::PropertyServiceClient,
};

/// What the rows share, all in street A: a company whose publisher is street A's member, a
/// second company to hand compounds to, a compound of the committee managed by the first, two
/// of its disclosures (so the log has a consistency proof to give) and the street's assessment,
/// which has scored the first company.
struct Extra {
    company: String,
    successor: String,
    compound: String,
    disclosure: String,
    assessment: String,
}

/// A fresh, valid unified social credit code per call: a company's code is taken once.
fn next_credit_code() -> String {
    let body = format!("91310115MA{:07}", authz::serial() + 1_000_000);
    jiceng_values::CreditCode::complete(&body)
        .expect("a code's body")
        .as_str()
        .to_owned()
}

/// A fresh month per call: an org has one assessment per period.
fn next_period() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{:02}", 2040 + n / 12, n % 12 + 1)
}

fn company_of(street: &str, publishers: Vec<String>) -> pb::Company {
    pb::Company {
        name: "陆家嘴物业".into(),
        credit_code: next_credit_code(),
        org_id: street.to_owned(),
        supervision_hotline: "021-58681234".into(),
        repair_hotline: "021-58685678".into(),
        publishers,
        ..Default::default()
    }
}

fn compound_of(committee: &str, company_id: &str) -> pb::Compound {
    pb::Compound {
        name: "梅园一村".into(),
        address: "梅园路100弄".into(),
        org_id: committee.to_owned(),
        company_id: company_id.to_owned(),
        owners_committee: "梅园一村业主委员会".into(),
        ..Default::default()
    }
}

fn fee_collection(period: &str, compound_id: &str) -> pb::Disclosure {
    pb::Disclosure {
        compound_id: compound_id.to_owned(),
        period: period.into(),
        content: Some(pb::disclosure::Content::FeeCollection(pb::FeeCollection {
            billed_fen: 4_200_000,
            collected_fen: 3_780_000,
            households_billed: 420,
            households_paid: 378,
        })),
        ..Default::default()
    }
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn meeting_in(compound_id: &str) -> pb::ScheduleLinkageMeetingRequest {
    pb::ScheduleLinkageMeetingRequest {
        compound_id: compound_id.to_owned(),
        title: "三方联席会议".into(),
        agenda: "地下车库渗水维修".into(),
        scheduled_time: at(1_800_000_000),
        ..Default::default()
    }
}

/// The record of a meeting all three parties attended, leaving the company one decision.
fn record_of(meeting_id: String) -> pb::RecordLinkageMeetingRequest {
    let attendee = |party: pb::Party, name: &str| pb::Attendee {
        party: party as i32,
        name: name.into(),
    };
    pb::RecordLinkageMeetingRequest {
        meeting_id,
        attendees: vec![
            attendee(pb::Party::ResidentsCommittee, "居委会书记"),
            attendee(pb::Party::OwnersCommittee, "业委会主任"),
            attendee(pb::Party::Company, "项目经理"),
        ],
        minutes: "三方同意先行维修，费用从公共收益列支".into(),
        decisions: vec![pb::NewDecision {
            text: "两周内完成车库防水维修".into(),
            owner: pb::Party::Company as i32,
            due_time: None,
        }],
        ..Default::default()
    }
}

fn criteria() -> Vec<pb::Criterion> {
    [("service", 60), ("disclosure", 40)]
        .into_iter()
        .map(|(code, weight)| pb::Criterion {
            code: code.into(),
            name: code.into(),
            weight,
        })
        .collect()
}

async fn register_company<X>(f: &Fixture<X>, publishers: Vec<String>) -> String {
    f.admin(PropertyServiceClient::new)
        .await
        .create_company(pb::CreateCompanyRequest {
            company: Some(company_of(&f.a.street, publishers)),
            request_id: String::new(),
        })
        .await
        .expect("company")
        .into_inner()
        .id
}

async fn register_compound<X>(f: &Fixture<X>, company_id: &str) -> String {
    f.admin(PropertyServiceClient::new)
        .await
        .create_compound(pb::CreateCompoundRequest {
            compound: Some(compound_of(&f.a.committee, company_id)),
            request_id: String::new(),
        })
        .await
        .expect("compound")
        .into_inner()
        .id
}

/// A compound still managed by the shared company, so handing it over succeeds once.
async fn fresh_compound(f: &Fixture<Extra>) -> String {
    register_compound(f, &f.x.company).await
}

/// A meeting of the shared compound not yet recorded.
async fn fresh_meeting(f: &Fixture<Extra>) -> String {
    f.admin(LinkageServiceClient::new)
        .await
        .schedule_linkage_meeting(meeting_in(&f.x.compound))
        .await
        .expect("meeting")
        .into_inner()
        .id
}

/// An open decision that falls to the shared compound's company.
async fn fresh_decision(f: &Fixture<Extra>) -> String {
    let meeting = fresh_meeting(f).await;
    f.admin(LinkageServiceClient::new)
        .await
        .record_linkage_meeting(record_of(meeting))
        .await
        .expect("record")
        .into_inner()
        .decisions[0]
        .id
        .clone()
}

async fn setup(f: &Fixture<()>) -> Extra {
    let company = register_company(f, vec![f.a.member.clone()]).await;
    let successor = register_company(f, Vec::new()).await;
    let compound = register_compound(f, &company).await;
    let mut publisher = f
        .as_role(Role::Member, authz::Side::In, DisclosureServiceClient::new)
        .await;
    let mut disclosures = Vec::new();
    for period in ["2026-09", "2026-10"] {
        disclosures.push(
            publisher
                .publish_disclosure(pb::PublishDisclosureRequest {
                    disclosure: Some(fee_collection(period, &compound)),
                    request_id: String::new(),
                })
                .await
                .expect("disclosure")
                .into_inner()
                .id,
        );
    }
    let mut linkage = f.admin(LinkageServiceClient::new).await;
    let assessment = linkage
        .define_assessment(pb::DefineAssessmentRequest {
            assessment: Some(pb::Assessment {
                org_id: f.a.street.clone(),
                period: "2026".into(),
                criteria: criteria(),
                ..Default::default()
            }),
        })
        .await
        .expect("assessment")
        .into_inner()
        .id;
    linkage
        .score_company(pb::ScoreCompanyRequest {
            assessment_id: assessment.clone(),
            company_id: company.clone(),
            scores: [("service".to_owned(), 90), ("disclosure".to_owned(), 80)].into(),
            comment: String::new(),
        })
        .await
        .expect("score");
    Extra {
        company,
        successor,
        compound,
        disclosure: disclosures.swap_remove(0),
        assessment,
    }
}

fn rows() -> Vec<Row<Extra>> {
    vec![
        // Towns (streets) and the district register the companies of their subtree.
        row!(
            "/jiceng.property.v1.PropertyService/CreateCompany",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::CreateCompanyRequest {
                company: Some(company_of(&f.a.street, Vec::new())),
                request_id: String::new(),
            }
        ),
        // Companies, compounds and disclosures are public to the whole district.
        row!(
            "/jiceng.property.v1.PropertyService/GetCompany",
            [Everyone],
            Anywhere,
            |f| pb::GetCompanyRequest {
                id: f.x.company.clone(),
            }
        ),
        row!(
            "/jiceng.property.v1.PropertyService/ListCompanies",
            [Everyone],
            Anywhere,
            |f| pb::ListCompaniesRequest {
                org_id: f.a.street.clone(),
                ..Default::default()
            }
        ),
        // Admins over the compound's committee keep it; a branch below the committee does not.
        row!(
            "/jiceng.property.v1.PropertyService/CreateCompound",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::CreateCompoundRequest {
                compound: Some(compound_of(&f.a.committee, &f.x.company)),
                request_id: String::new(),
            }
        ),
        row!(
            "/jiceng.property.v1.PropertyService/GetCompound",
            [Everyone],
            Anywhere,
            |f| pb::GetCompoundRequest {
                id: f.x.compound.clone(),
            }
        ),
        row!(
            "/jiceng.property.v1.PropertyService/ListCompounds",
            [Everyone],
            Anywhere,
            |f| pb::ListCompoundsRequest {
                org_id: f.a.committee.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.property.v1.PropertyService/ChangeManagingCompany",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::ChangeManagingCompanyRequest {
                compound_id: fresh_compound(&f).await,
                company_id: f.x.successor.clone(),
                start_time: at(1_900_000_000),
            }
        ),
        // Only the managing company's publishers disclose, so the record is the company's own.
        row!(
            "/jiceng.property.v1.DisclosureService/PublishDisclosure",
            [Member],
            Subtree,
            |f| pb::PublishDisclosureRequest {
                disclosure: Some(fee_collection("2026-08", &f.x.compound)),
                request_id: String::new(),
            }
        ),
        row!(
            "/jiceng.property.v1.DisclosureService/GetDisclosure",
            [Everyone],
            Anywhere,
            |f| pb::GetDisclosureRequest {
                id: f.x.disclosure.clone(),
            }
        ),
        row!(
            "/jiceng.property.v1.DisclosureService/ListDisclosures",
            [Everyone],
            Anywhere,
            |f| pb::ListDisclosuresRequest {
                compound_id: f.x.compound.clone(),
                ..Default::default()
            }
        ),
        // The transparency log is verifiable by anyone: heads and proofs are public.
        row!(
            "/jiceng.property.v1.DisclosureService/GetSignedTreeHead",
            [Everyone],
            Anywhere,
            |f| pb::GetSignedTreeHeadRequest { tree_size: None }
        ),
        row!(
            "/jiceng.property.v1.DisclosureService/GetInclusionProof",
            [Everyone],
            Anywhere,
            |f| pb::GetInclusionProofRequest {
                disclosure_id: f.x.disclosure.clone(),
                tree_size: None,
            }
        ),
        row!(
            "/jiceng.property.v1.DisclosureService/GetConsistencyProof",
            [Everyone],
            Anywhere,
            |f| pb::GetConsistencyProofRequest {
                first_size: 1,
                second_size: 2,
            }
        ),
        row!(
            "/jiceng.property.v1.DisclosureService/SetSchedule",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::SetScheduleRequest {
                schedule: Some(pb::Schedule {
                    org_id: f.a.street.clone(),
                    kind: pb::DisclosureKind::FeeCollection as i32,
                    frequency: pb::Frequency::Monthly as i32,
                    due_days: 10,
                    display_days: 90,
                }),
            }
        ),
        // What is due when is reference data every party needs to read.
        row!(
            "/jiceng.property.v1.DisclosureService/ListSchedules",
            [Everyone],
            Anywhere,
            |f| pb::ListSchedulesRequest {
                org_id: f.a.committee.clone(),
                ..Default::default()
            }
        ),
        // Oversight of a subtree, not for residents; the branch is the smallest subtree every
        // reader's "in" scope covers.
        row!(
            "/jiceng.property.v1.DisclosureService/GetComplianceReport",
            [Admins, GridWorker, Service],
            Subtree,
            |f| pb::GetComplianceReportRequest {
                org_id: f.a.branch.clone(),
                first_month: "2026-09".into(),
                last_month: "2026-10".into(),
                as_of_time: None,
            }
        ),
        row!(
            "/jiceng.property.v1.LinkageService/ScheduleLinkageMeeting",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| meeting_in(&f.x.compound)
        ),
        row!(
            "/jiceng.property.v1.LinkageService/RecordLinkageMeeting",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| record_of(fresh_meeting(&f).await)
        ),
        row!(
            "/jiceng.property.v1.LinkageService/ListLinkageMeetings",
            [Everyone],
            Anywhere,
            |f| pb::ListLinkageMeetingsRequest {
                compound_id: f.x.compound.clone(),
                ..Default::default()
            }
        ),
        // The company (its publisher, street A's member) reports its own decision done.
        row!(
            "/jiceng.property.v1.LinkageService/FollowUpDecision",
            [DistrictAdmin, StreetAdmin, Member],
            Subtree,
            |f| pb::FollowUpDecisionRequest {
                decision_id: fresh_decision(&f).await,
                state: pb::DecisionState::Done as i32,
                note: "已完成维修并经业委会验收".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.property.v1.LinkageService/DefineAssessment",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::DefineAssessmentRequest {
                assessment: Some(pb::Assessment {
                    org_id: f.a.street.clone(),
                    period: next_period(),
                    criteria: criteria(),
                    ..Default::default()
                }),
            }
        ),
        row!(
            "/jiceng.property.v1.LinkageService/ScoreCompany",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::ScoreCompanyRequest {
                assessment_id: f.x.assessment.clone(),
                company_id: f.x.company.clone(),
                scores: [("service".to_owned(), 85), ("disclosure".to_owned(), 75)].into(),
                comment: String::new(),
            }
        ),
        // Rankings, rewards and rectification orders are published to the district.
        row!(
            "/jiceng.property.v1.LinkageService/GetRanking",
            [Everyone],
            Anywhere,
            |f| pb::GetRankingRequest {
                assessment_id: f.x.assessment.clone(),
            }
        ),
        row!(
            "/jiceng.property.v1.LinkageService/IssueOrder",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::IssueOrderRequest {
                assessment_id: f.x.assessment.clone(),
                company_id: f.x.company.clone(),
                kind: pb::OrderKind::Reward as i32,
                text: "公示及时，予以表扬".into(),
                due_time: None,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.property.v1.LinkageService/ListOrders",
            [Everyone],
            Anywhere,
            |f| pb::ListOrdersRequest {
                company_id: f.x.company.clone(),
                ..Default::default()
            }
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_property_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    authz::check("property", base.with(extra), rows()).await;
}
