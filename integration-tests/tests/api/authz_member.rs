//! The member service's authorization matrix (and the points ledger's): see `authz/mod.rs`.

use crate::authz;

use authz::{Fixture, Row, Side};
use jiceng_auth::Role;
use jiceng_proto::member::{
    self as pb, member_service_client::MemberServiceClient,
    points_service_client::PointsServiceClient,
};

/// A rule that awards at once, without caps, so every cell may award again.
const AWARD_RULE: &str = "authz.volunteer";
/// A rule whose awards wait for an admin's decision.
const APPROVAL_RULE: &str = "authz.reviewed";
/// A rule in force since before the imported grants.
const LEGACY_RULE: &str = "authz.legacy";
/// The ID card number of a member of street A's branch, with its GB 11643 check character.
const ID_CARD: &str = "310115198001011238";
/// 2020-01-01 and 2025-06-01, Beijing mid-morning.
const LEGACY_FROM: i64 = 1_577_836_800;
const LEGACY_GRANT: i64 = 1_748_743_200;

/// What street A holds beyond the base fixture.
struct Extra {
    /// `f.a.member`'s registration with street A's residential committee.
    registration: String,
}

async fn setup(f: &Fixture) -> Extra {
    let mut members = f.admin(MemberServiceClient::new).await;
    members
        .create_member(pb::CreateMemberRequest {
            name: "党员李某".into(),
            id_card_number: ID_CARD.into(),
            org_id: f.a.branch.clone(),
            status: pb::MemberStatus::Full as i32,
            ..Default::default()
        })
        .await
        .expect("member found by ID card");
    let registration = members
        .register_in_community(pb::RegisterInCommunityRequest {
            member_id: f.a.member.clone(),
            community_org_id: f.a.committee.clone(),
        })
        .await
        .expect("registration")
        .into_inner()
        .id;
    let mut points = f.admin(PointsServiceClient::new).await;
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    for (code, approval_required, valid_from) in [
        (AWARD_RULE, false, None),
        (APPROVAL_RULE, true, None),
        (LEGACY_RULE, false, at(LEGACY_FROM)),
    ] {
        points
            .define_points_rule(pb::DefinePointsRuleRequest {
                rule: Some(pb::PointsRule {
                    code: code.into(),
                    name: "社区志愿服务".into(),
                    points: 5,
                    approval_required,
                    valid_from,
                    ..Default::default()
                }),
            })
            .await
            .expect("rule");
    }
    Extra { registration }
}

/// A new applicant of street A's branch, for a cell that moves a member along.
async fn fresh_applicant(f: &Fixture<Extra>) -> String {
    f.admin(MemberServiceClient::new)
        .await
        .create_member(pb::CreateMemberRequest {
            name: "申请人王某".into(),
            org_id: f.a.branch.clone(),
            ..Default::default()
        })
        .await
        .expect("applicant")
        .into_inner()
        .id
}

/// A pending transfer into street A's branch of a member street B holds.
async fn fresh_transfer_into_street_a(f: &Fixture<Extra>) -> String {
    let mut members = f.admin(MemberServiceClient::new).await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "转入党员赵某".into(),
            org_id: f.b.branch.clone(),
            status: pb::MemberStatus::Full as i32,
            ..Default::default()
        })
        .await
        .expect("member to transfer")
        .into_inner()
        .id;
    members
        .request_transfer(pb::RequestTransferRequest {
            member_id: member,
            to_org_id: f.a.branch.clone(),
            reason: "居住地变更".into(),
            ..Default::default()
        })
        .await
        .expect("transfer")
        .into_inner()
        .id
}

/// An open pledge of `f.a.member`.
async fn fresh_commitment(f: &Fixture<Extra>) -> String {
    f.admin(MemberServiceClient::new)
        .await
        .publish_commitment(pb::PublishCommitmentRequest {
            member_id: f.a.member.clone(),
            text: "每月参加一次社区志愿服务".into(),
            due_date: "2030-12-31".into(),
            ..Default::default()
        })
        .await
        .expect("commitment")
        .into_inner()
        .id
}

/// A pledge of `f.a.member` that they marked fulfilled, waiting for the branch.
async fn fresh_fulfilled_commitment(f: &Fixture<Extra>) -> String {
    let id = fresh_commitment(f).await;
    f.as_role(Role::Member, Side::In, MemberServiceClient::new)
        .await
        .fulfil_commitment(pb::FulfilCommitmentRequest {
            id: id.clone(),
            evidence: "服务记录 2024-05".into(),
            ..Default::default()
        })
        .await
        .expect("fulfilled");
    id
}

/// An entry of `f.a.member` under `rule`, awarded by a district admin.
async fn fresh_award(f: &Fixture<Extra>, rule: &str) -> String {
    f.admin(PointsServiceClient::new)
        .await
        .award_points(pb::AwardPointsRequest {
            entry_id: authz::unique("award"),
            member_id: f.a.member.clone(),
            rule_code: rule.into(),
            reason: "社区志愿服务".into(),
            ..Default::default()
        })
        .await
        .expect("award")
        .into_inner()
        .id
}

fn rows() -> Vec<Row<Extra>> {
    vec![
        row!(
            "/jiceng.member.v1.MemberService/CreateMember",
            [Admins],
            Subtree,
            |f| pb::CreateMemberRequest {
                name: "党员陈某".into(),
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        // A member's own reveals, or anyone's for admins of the whole district.
        row!(
            "/jiceng.member.v1.MemberService/ListPersonalDataReveals",
            [DistrictAdmin, Member],
            Subtree,
            |f| jiceng_proto::audit::ListPersonalDataRevealsRequest {
                subject_kind: "person".into(),
                subject_id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/GetMember",
            [Admins, Member, Service],
            Subtree,
            |f| pb::GetMemberRequest {
                id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ListMembers",
            [Admins, Service],
            Subtree,
            |f| pb::ListMembersRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/FindMemberByIdCard",
            [Admins, Service],
            Subtree,
            |f| pb::FindMemberByIdCardRequest {
                id_card_number: ID_CARD.into(),
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ChangeMemberStatus",
            [Admins],
            Subtree,
            |f| pb::ChangeMemberStatusRequest {
                id: fresh_applicant(&f).await,
                status: pb::MemberStatus::Activist as i32,
                effective_date: "2024-05-01".into(),
                approving_org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ListStatusHistory",
            [Admins, Member, Service],
            Subtree,
            |f| pb::ListStatusHistoryRequest {
                id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/RequestTransfer",
            [Admins],
            Subtree,
            |f| pb::RequestTransferRequest {
                member_id: fresh_applicant(&f).await,
                to_org_id: f.b.branch.clone(),
                reason: "工作调动".into(),
                ..Default::default()
            }
        ),
        // The receiving org decides, so its admins are the ones in scope.
        row!(
            "/jiceng.member.v1.MemberService/DecideTransfer",
            [Admins],
            Subtree,
            |f| pb::DecideTransferRequest {
                id: fresh_transfer_into_street_a(&f).await,
                accept: true,
                note: "同意接收".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ListTransfers",
            [Admins, Member, Service],
            Subtree,
            |f| pb::ListTransfersRequest {
                subject: Some(pb::list_transfers_request::Subject::MemberId(
                    f.a.member.clone()
                )),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/RegisterInCommunity",
            [Admins, Member],
            Subtree,
            |f| pb::RegisterInCommunityRequest {
                member_id: f.a.member.clone(),
                community_org_id: f.a.committee.clone(),
            }
        ),
        // The community's admins: a branch below it does not administer the community.
        row!(
            "/jiceng.member.v1.MemberService/ListCommunityRegistrations",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::ListCommunityRegistrationsRequest {
                community_org_id: f.a.committee.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/LogServiceHours",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::LogServiceHoursRequest {
                registration_id: f.x.registration.clone(),
                minutes: 60,
                service_date: "2024-05-01".into(),
                description: "社区环境整治".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/PublishCommitment",
            [Admins, Member],
            Subtree,
            |f| pb::PublishCommitmentRequest {
                member_id: f.a.member.clone(),
                text: "每季度走访一户困难群众".into(),
                due_date: "2030-12-31".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/FulfilCommitment",
            [Member],
            Subtree,
            |f| pb::FulfilCommitmentRequest {
                id: fresh_commitment(&f).await,
                evidence: "走访记录".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ConfirmCommitment",
            [Admins],
            Subtree,
            |f| pb::ConfirmCommitmentRequest {
                id: fresh_fulfilled_commitment(&f).await,
                confirm: true,
                note: "情况属实".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ListOverdueCommitments",
            [Admins],
            Subtree,
            |f| pb::ListOverdueCommitmentsRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/RecordActivity",
            [Admins],
            Subtree,
            |f| pb::RecordActivityRequest {
                kind: pb::ActivityKind::OrgLife as i32,
                title: "主题党日".into(),
                org_id: f.a.branch.clone(),
                held_on: "2024-05-01".into(),
                attendee_member_ids: vec![f.a.member.clone()],
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.MemberService/ListMemberActivities",
            [Admins, Member, Service],
            Subtree,
            |f| pb::ListMemberActivitiesRequest {
                member_id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        // Rules hold district-wide, so only a district admin scoped at the root defines them.
        row!(
            "/jiceng.member.v1.PointsService/DefinePointsRule",
            [DistrictAdmin],
            Subtree,
            |f| pb::DefinePointsRuleRequest {
                rule: Some(pb::PointsRule {
                    code: AWARD_RULE.into(),
                    name: "社区志愿服务".into(),
                    points: 5,
                    ..Default::default()
                }),
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/ListPointsRules",
            [Everyone],
            Anywhere,
            |f| pb::ListPointsRulesRequest {
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/AwardPoints",
            [Admins, Service],
            Subtree,
            |f| pb::AwardPointsRequest {
                entry_id: authz::unique("award"),
                member_id: f.a.member.clone(),
                rule_code: AWARD_RULE.into(),
                reason: "社区志愿服务".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/DecideEntry",
            [Admins],
            Subtree,
            |f| pb::DecideEntryRequest {
                entry_id: fresh_award(&f, APPROVAL_RULE).await,
                approve: true,
                note: "材料齐全".into(),
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/ReverseEntry",
            [Admins],
            Subtree,
            |f| pb::ReverseEntryRequest {
                entry_id: authz::unique("reversal"),
                reverses_entry_id: fresh_award(&f, AWARD_RULE).await,
                reason: "重复录入".into(),
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/RedeemPoints",
            [Admins, Member],
            Subtree,
            |f| {
                // Every cell brings the points it spends.
                fresh_award(&f, AWARD_RULE).await;
                pb::RedeemPointsRequest {
                    entry_id: authz::unique("redemption"),
                    member_id: f.a.member.clone(),
                    points: 1,
                    reason: "兑换书籍".into(),
                }
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/GetBalance",
            [Admins, Member, Service],
            Subtree,
            |f| pb::GetBalanceRequest {
                member_id: f.a.member.clone(),
                year: 0,
            }
        ),
        row!(
            "/jiceng.member.v1.PointsService/ListLedger",
            [Admins, Member, Service],
            Subtree,
            |f| pb::ListLedgerRequest {
                member_id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        // Admins see the board; the member asks only for their own rank.
        row!(
            "/jiceng.member.v1.PointsService/GetLeaderboard",
            [Admins, Member, Service],
            Subtree,
            |f| pb::GetLeaderboardRequest {
                org_id: f.a.branch.clone(),
                member_id: f.a.member.clone(),
                ..Default::default()
            }
        ),
        // A migration of the whole district's earlier ledger: root-scoped district admins only.
        row!(
            "/jiceng.member.v1.PointsService/ImportPoints",
            [DistrictAdmin],
            Subtree,
            |f| pb::ImportPointsRequest {
                entries: vec![pb::ImportedPoints {
                    entry_id: authz::unique("legacy"),
                    member_id: f.a.member.clone(),
                    rule_code: LEGACY_RULE.into(),
                    points: 5,
                    reason: "旧系统积分".into(),
                    grant_time: Some(prost_types::Timestamp {
                        seconds: LEGACY_GRANT,
                        nanos: 0,
                    }),
                    ..Default::default()
                }],
            }
        ),
    ]
}

/// `ListTransfers` has a second form its row cannot show: an org's pending transfers, for the
/// admins of that org alone.
async fn pending_transfers_are_for_the_receiving_orgs_admins(f: &Fixture<Extra>) {
    let request = || pb::ListTransfersRequest {
        subject: Some(pb::list_transfers_request::Subject::PendingForOrgId(
            f.a.branch.clone(),
        )),
        ..Default::default()
    };
    for role in Role::ALL {
        for side in [Side::In, Side::Out] {
            let outcome = f
                .as_role(role, side, MemberServiceClient::new)
                .await
                .list_transfers(request())
                .await;
            let admitted = side == Side::In && authz::roles::Admins.contains(&role);
            match outcome {
                Ok(_) => assert!(admitted, "{} {side:?} listed", role.as_str()),
                Err(status) => assert!(
                    !admitted && status.code() == tonic::Code::PermissionDenied,
                    "{} {side:?}: {status:?}",
                    role.as_str()
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let extra = setup(&base).await;
    let fixture = base.with(extra);
    pending_transfers_are_for_the_receiving_orgs_admins(&fixture).await;
    authz::check("member", fixture, rows()).await;
}
