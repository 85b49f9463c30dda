//! Members through the public gRPC API: personal data masked except to admins who ask, the
//! development pipeline, and scope — on both databases.

mod common;

use common::{Platform, create};
use jiceng_auth::Role;
use jiceng_proto::{
    member::{self as pb, member_service_client::MemberServiceClient},
    org::UnitKind,
};
use jiceng_testkit::{Bearer, TestDatabase, bearer, on_both_backends};
use tonic::Code;

const ID_CARD: &str = "11010519491231002X";

async fn members_are_masked_except_to_admins_who_ask(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let branch_parent = create(
        &mut org,
        &street.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let other = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let admin = || Bearer::new(&bearer("ljz-admin", &[Role::StreetAdmin], &street.id));
    let mut members = platform.client_as(admin(), MemberServiceClient::new).await;
    let created = members
        .create_member(pb::CreateMemberRequest {
            name: "王某".into(),
            phone: "13812345678".into(),
            id_card_number: ID_CARD.into(),
            birth_date: "1949-12-31".into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    assert_eq!(
        (created.phone.as_str(), created.id_card_number.as_str()),
        ("138****5678", "1101**********002X")
    );
    assert_eq!(created.status, pb::MemberStatus::Applicant as i32);
    let revealed = members
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: true,
        })
        .await
        .expect("reveal")
        .into_inner();
    assert_eq!(
        (revealed.phone.as_str(), revealed.id_card_number.as_str()),
        ("13812345678", ID_CARD)
    );
    let listed = members
        .list_members(pb::ListMembersRequest {
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .members;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phone, "138****5678", "lists are always masked");
    let found = members
        .find_member_by_id_card(pb::FindMemberByIdCardRequest {
            id_card_number: ID_CARD.to_lowercase(),
        })
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found.id, created.id);
    let duplicate = members
        .create_member(pb::CreateMemberRequest {
            name: "冒名".into(),
            id_card_number: ID_CARD.into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the same ID card");
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let mut themself = platform
        .client_as(
            Bearer::new(&bearer(&created.id, &[Role::Member], &branch_parent.id)),
            MemberServiceClient::new,
        )
        .await;
    let own = themself
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: false,
        })
        .await
        .expect("own record")
        .into_inner();
    assert_eq!(own.phone, "138****5678");
    let not_for_members = themself
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: true,
        })
        .await
        .expect_err("members see their record masked");
    assert_eq!(not_for_members.code(), Code::PermissionDenied);
    let mut outsider = platform
        .client_as(
            Bearer::new(&bearer("huamu", &[Role::StreetAdmin], &other.id)),
            MemberServiceClient::new,
        )
        .await;
    let hidden = outsider
        .get_member(pb::GetMemberRequest {
            id: created.id.clone(),
            reveal_personal_data: false,
        })
        .await
        .expect_err("outside scope");
    assert_eq!(hidden.code(), Code::NotFound);
    let bad = members
        .create_member(pb::CreateMemberRequest {
            name: "x".into(),
            phone: "12345".into(),
            id_card_number: "110105194912310021".into(),
            org_id: branch_parent.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("bad numbers");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        !bad.message().contains("12345") && !bad.message().contains("110105194912310021"),
        "errors do not echo personal data"
    );
}

async fn illegal_pipeline_transitions_are_refused(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut org = platform.admin().await;
    let street = create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let admin = Bearer::new(&bearer("admin", &[Role::DistrictAdmin], &platform.root_id));
    let mut members = platform.client_as(admin, MemberServiceClient::new).await;
    let member = members
        .create_member(pb::CreateMemberRequest {
            name: "李某".into(),
            org_id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let change = |status: pb::MemberStatus| pb::ChangeMemberStatusRequest {
        id: member.id.clone(),
        status: status as i32,
        effective_date: "2026-07-01".into(),
        approving_org_id: street.id.clone(),
        note: "支部大会讨论通过".into(),
        ..Default::default()
    };
    let skipped = members
        .change_member_status(change(pb::MemberStatus::Full))
        .await
        .expect_err("skip");
    assert_eq!(skipped.code(), Code::FailedPrecondition);
    members
        .change_member_status(change(pb::MemberStatus::Activist))
        .await
        .expect("activist");
    let history = members
        .list_status_history(pb::ListStatusHistoryRequest {
            id: member.id.clone(),
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.changes.len(), 2);
    assert_eq!(history.changes[1].actor, "admin");
    let bad_date = pb::ChangeMemberStatusRequest {
        effective_date: "2026-02-30".into(),
        ..change(pb::MemberStatus::DevelopmentTarget)
    };
    assert_eq!(
        members
            .change_member_status(bad_date)
            .await
            .expect_err("date")
            .code(),
        Code::InvalidArgument
    );
}

on_both_backends!(
    members_are_masked_except_to_admins_who_ask,
    illegal_pipeline_transitions_are_refused
);
