//! The org API as another government system sees it: authentication, scope, validation with
//! field details, optimistic concurrency, idempotency and the audit trail — on both databases.

use crate::common;

use common::{Platform, create, fields_of, snapshot};
use jiceng_auth::Role;
use jiceng_proto::org::{self as pb, UnitKind};
use jiceng_testkit::{Bearer, TestDatabase, on_both_backends, service_bearer};
use tonic::Code;
use tonic_types::StatusExt as _;

async fn units_are_created_and_read_with_a_token(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    assert_eq!(street.parent_id, platform.root_id);
    assert_eq!(street.level, pb::Level::Street as i32);
    assert_eq!(street.status, pb::UnitStatus::Active as i32);
    let read = admin
        .get_unit(pb::GetUnitRequest {
            id: street.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read, street);
    let children = admin
        .list_children(pb::ListChildrenRequest {
            parent_id: platform.root_id.clone(),
            ..Default::default()
        })
        .await
        .expect("children")
        .into_inner();
    assert_eq!(children.units, vec![street]);
}

async fn calls_without_a_valid_token_are_unauthenticated(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let request = || pb::GetUnitRequest {
        id: platform.root_id.clone(),
    };
    let mut anonymous = platform.org_as(Bearer::none()).await;
    assert_eq!(
        anonymous
            .get_unit(request())
            .await
            .map_err(|s| s.code())
            .err(),
        Some(Code::Unauthenticated)
    );
    let mut forged = platform.org_as(Bearer::new("Bearer not.a.jwt")).await;
    assert_eq!(
        forged.get_unit(request()).await.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

async fn a_street_admin_acts_only_inside_their_street(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let lujiazui = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let huamu = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let huamu_committee = create(
        &mut admin,
        &huamu.id,
        UnitKind::ResidentialCommittee,
        "由由一村居民区",
    )
    .await;
    let mut street_admin = platform
        .org_for("ljz-admin", Role::StreetAdmin, &lujiazui.id)
        .await;
    let own = create(
        &mut street_admin,
        &lujiazui.id,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区",
    )
    .await;
    assert_eq!(own.parent_id, lujiazui.id);
    let before = snapshot(&mut admin, &platform.root_id).await;
    let denied = [
        street_admin
            .get_unit(pb::GetUnitRequest {
                id: huamu.id.clone(),
            })
            .await
            .map(drop),
        street_admin
            .create_unit(pb::CreateUnitRequest {
                parent_id: huamu.id.clone(),
                kind: UnitKind::ResidentialCommittee as i32,
                name: "越权居民区".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        street_admin
            .move_unit(pb::MoveUnitRequest {
                id: huamu_committee.id.clone(),
                new_parent_id: lujiazui.id.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        street_admin
            .dissolve_unit(pb::DissolveUnitRequest {
                id: lujiazui.id.clone(),
                cascade: true,
                ..Default::default()
            })
            .await
            .map(drop),
        street_admin
            .list_audit_records(pb::ListAuditRecordsRequest::default())
            .await
            .map(drop),
    ];
    for (i, result) in denied.into_iter().enumerate() {
        assert_eq!(
            result.map_err(|s| s.code()).err(),
            Some(Code::PermissionDenied),
            "call {i}"
        );
    }
    assert_eq!(
        snapshot(&mut admin, &platform.root_id).await,
        before,
        "nothing changed"
    );
    let mut member = platform.org_for("m1", Role::Member, &lujiazui.id).await;
    let by_member = member
        .create_unit(pb::CreateUnitRequest {
            parent_id: lujiazui.id.clone(),
            kind: UnitKind::ResidentialCommittee as i32,
            name: "x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        by_member.map_err(|s| s.code()).err(),
        Some(Code::PermissionDenied)
    );
    let search = street_admin
        .search_units(pb::SearchUnitsRequest {
            query: "居民区".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(
        search
            .units
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["梅园一村居民区"]
    );
}

async fn bad_input_gets_field_details_and_changes_nothing(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let committee = create(
        &mut admin,
        &street.id,
        UnitKind::ResidentialCommittee,
        "东昌居民区",
    )
    .await;
    let before = snapshot(&mut admin, &platform.root_id).await;
    let create_req = |parent: &str, kind: UnitKind, name: &str| pb::CreateUnitRequest {
        parent_id: parent.to_owned(),
        kind: kind as i32,
        name: name.to_owned(),
        ..Default::default()
    };

    let empty = admin
        .create_unit(create_req(&street.id, UnitKind::ResidentialCommittee, "  "))
        .await
        .expect_err("empty");
    assert_eq!(
        (empty.code(), fields_of(&empty)),
        (Code::InvalidArgument, vec!["name".to_owned()])
    );
    let long = "居".repeat(101);
    let overlong = admin
        .create_unit(create_req(
            &street.id,
            UnitKind::ResidentialCommittee,
            &long,
        ))
        .await
        .expect_err("long");
    assert_eq!(
        (overlong.code(), fields_of(&overlong)),
        (Code::InvalidArgument, vec!["name".to_owned()])
    );
    // The required fields left unset are named together, first; then every value that is set
    // but wrong, together.
    let missing = admin
        .create_unit(pb::CreateUnitRequest {
            code: "bad code".into(),
            ..Default::default()
        })
        .await
        .expect_err("missing");
    assert_eq!(fields_of(&missing), ["parent_id", "kind", "name"]);
    let several = admin
        .create_unit(pb::CreateUnitRequest {
            parent_id: "nope".into(),
            kind: 999,
            name: "  ".into(),
            code: "bad code".into(),
            ..Default::default()
        })
        .await
        .expect_err("several");
    assert_eq!(fields_of(&several), ["parent_id", "kind", "name", "code"]);

    let unknown_parent = admin
        .create_unit(create_req(
            "01937f6e-0000-7000-8000-000000000000",
            UnitKind::Branch,
            "孤儿支部",
        ))
        .await
        .expect_err("unknown parent");
    assert_eq!(unknown_parent.code(), Code::NotFound);

    let wrong_kind = admin
        .create_unit(create_req(
            &committee.id,
            UnitKind::TownCommittee,
            "某镇党委",
        ))
        .await
        .expect_err("kind");
    assert_eq!(wrong_kind.code(), Code::FailedPrecondition);
    assert!(
        wrong_kind.get_details_precondition_failure().is_some(),
        "precondition details"
    );

    let cycle = admin
        .move_unit(pb::MoveUnitRequest {
            id: street.id.clone(),
            new_parent_id: committee.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("cycle");
    assert_eq!(cycle.code(), Code::FailedPrecondition);

    let stale = admin
        .update_unit(pb::UpdateUnitRequest {
            id: street.id.clone(),
            unit: Some(pb::Unit {
                name: "新名字".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types_mask(&["name"])),
            etag: "v0".into(),
            ..Default::default()
        })
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    // An etag no service issued is bad input, as in every service, not a lost race.
    for (etag, rpc) in [
        ("W/\"v1\"", "update"),
        ("version-1", "move"),
        ("v", "dissolve"),
    ] {
        let malformed = match rpc {
            "update" => {
                admin
                    .update_unit(pb::UpdateUnitRequest {
                        id: street.id.clone(),
                        unit: Some(pb::Unit {
                            name: "新名字".into(),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types_mask(&["name"])),
                        etag: etag.into(),
                        ..Default::default()
                    })
                    .await
            }
            "move" => admin
                .move_unit(pb::MoveUnitRequest {
                    id: committee.id.clone(),
                    new_parent_id: platform.root_id.clone(),
                    etag: etag.into(),
                    ..Default::default()
                })
                .await
                .map(|_| tonic::Response::new(pb::Unit::default())),
            _ => admin
                .dissolve_unit(pb::DissolveUnitRequest {
                    id: committee.id.clone(),
                    etag: etag.into(),
                    ..Default::default()
                })
                .await
                .map(|_| tonic::Response::new(pb::Unit::default())),
        }
        .expect_err("malformed etag");
        assert_eq!(malformed.code(), Code::InvalidArgument, "{rpc}");
        assert_eq!(fields_of(&malformed), ["etag"], "{rpc}");
    }
    let bad_mask = admin
        .update_unit(pb::UpdateUnitRequest {
            id: street.id.clone(),
            unit: Some(pb::Unit::default()),
            update_mask: Some(prost_types_mask(&["parent_id"])),
            ..Default::default()
        })
        .await
        .expect_err("bad mask");
    assert_eq!(fields_of(&bad_mask), ["update_mask"]);

    let list = |page_size: Option<i32>, page_token: &str| pb::ListSubtreeRequest {
        root_id: platform.root_id.clone(),
        page_size,
        page_token: page_token.to_owned(),
        ..Default::default()
    };
    for (size, token, field) in [
        (Some(0), "", "page_size"),
        (Some(-1), "", "page_size"),
        (Some(100_000), "", "page_size"),
        (Some(10), "forged-token", "page_token"),
    ] {
        let status = admin
            .list_subtree(list(size, token))
            .await
            .expect_err("bad page");
        assert_eq!(
            (status.code(), fields_of(&status)),
            (Code::InvalidArgument, vec![field.to_owned()])
        );
    }
    let first = admin
        .list_subtree(list(Some(1), ""))
        .await
        .expect("page")
        .into_inner();
    let other_query = admin
        .list_children(pb::ListChildrenRequest {
            parent_id: platform.root_id.clone(),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a token of another query");
    assert_eq!(fields_of(&other_query), ["page_token"]);

    let dissolve_parent = admin
        .dissolve_unit(pb::DissolveUnitRequest {
            id: street.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("active children");
    assert_eq!(dissolve_parent.code(), Code::FailedPrecondition);

    assert_eq!(
        snapshot(&mut admin, &platform.root_id).await,
        before,
        "nothing stored changed"
    );
}

fn prost_types_mask(paths: &[&str]) -> prost_types::FieldMask {
    prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    }
}

async fn pages_walk_the_whole_subtree(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    for i in 0..7 {
        let committee = create(
            &mut admin,
            &street.id,
            UnitKind::ResidentialCommittee,
            &format!("居民区{i}"),
        )
        .await;
        create(
            &mut admin,
            &committee.id,
            UnitKind::Branch,
            &format!("支部{i}"),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .list_subtree(pb::ListSubtreeRequest {
                root_id: street.id.clone(),
                page_size: Some(4),
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.units.len() <= 4);
        seen.extend(page.units.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 15);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 15, "no unit twice");
}

async fn moves_and_dissolutions_go_through_the_api(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let from = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let to = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let committee = create(
        &mut admin,
        &from.id,
        UnitKind::ResidentialCommittee,
        "东昌居民区",
    )
    .await;
    let branch = create(
        &mut admin,
        &committee.id,
        UnitKind::Branch,
        "东昌第一党支部",
    )
    .await;
    let moved = admin
        .move_unit(pb::MoveUnitRequest {
            id: committee.id.clone(),
            new_parent_id: to.id.clone(),
            etag: committee.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("move")
        .into_inner();
    assert_eq!(moved.parent_id, to.id);
    let ancestry = admin
        .get_ancestry(pb::GetAncestryRequest {
            id: branch.id.clone(),
        })
        .await
        .expect("ancestry")
        .into_inner();
    let chain: Vec<_> = ancestry.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        chain,
        [
            platform.root_id.as_str(),
            to.id.as_str(),
            committee.id.as_str(),
            branch.id.as_str()
        ]
    );
    let dissolved = admin
        .dissolve_unit(pb::DissolveUnitRequest {
            id: committee.id.clone(),
            cascade: true,
            ..Default::default()
        })
        .await
        .expect("dissolve")
        .into_inner();
    assert_eq!(dissolved.dissolved_count, 2);
    assert_eq!(
        dissolved.unit.expect("unit").status,
        pb::UnitStatus::Dissolved as i32
    );
}

async fn a_retried_create_returns_the_first_unit(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let request = pb::CreateUnitRequest {
        parent_id: platform.root_id.clone(),
        kind: UnitKind::TownCommittee as i32,
        name: "北蔡镇党委".into(),
        request_id: "create-beicai-1".into(),
        ..Default::default()
    };
    let first = admin
        .create_unit(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retry = admin
        .create_unit(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);
    assert_eq!(snapshot(&mut admin, &platform.root_id).await.len(), 2);
}

async fn district_admins_read_the_audit_trail(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let town = create(
        &mut admin,
        &platform.root_id,
        UnitKind::TownCommittee,
        "北蔡镇党委",
    )
    .await;
    admin
        .update_unit(pb::UpdateUnitRequest {
            id: town.id.clone(),
            unit: Some(pb::Unit {
                name: "中共北蔡镇委员会".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types_mask(&["name"])),
            etag: town.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("rename");
    let records = admin
        .list_audit_records(pb::ListAuditRecordsRequest {
            target_id: town.id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .records;
    let actions: Vec<_> = records
        .iter()
        .map(|r| (r.action.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("UpdateUnit", "district-admin"),
            ("CreateUnit", "district-admin")
        ]
    );
    assert!(records[0].details.contains("中共北蔡镇委员会"));
}

async fn the_kind_schema_is_listed_and_extended(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let rules = admin
        .list_kind_rules(pb::ListKindRulesRequest {
            ..Default::default()
        })
        .await
        .expect("rules")
        .into_inner()
        .rules;
    assert!(
        rules
            .iter()
            .any(|r| r.parent_kind == UnitKind::TownCommittee as i32
                && r.child_kind == UnitKind::VillageCommittee as i32)
    );
    let extension = pb::AddKindRuleRequest {
        parent_kind: UnitKind::StreetWorkingCommittee as i32,
        child_kind: UnitKind::VillageCommittee as i32,
        ..Default::default()
    };
    let rule = admin
        .add_kind_rule(extension)
        .await
        .expect("extend")
        .into_inner();
    assert!(rule.district_extension);
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "某街道党工委",
    )
    .await;
    create(
        &mut admin,
        &street.id,
        UnitKind::VillageCommittee,
        "某村党总支",
    )
    .await;
    let root_kind = admin
        .add_kind_rule(pb::AddKindRuleRequest {
            parent_kind: UnitKind::Branch as i32,
            child_kind: UnitKind::DistrictCommittee as i32,
            ..Default::default()
        })
        .await
        .expect_err("roots stay roots");
    assert_eq!(fields_of(&root_kind), ["child_kind"]);
}

async fn check_scope_answers_services(db: TestDatabase) {
    let platform = Platform::start(db).await;
    let mut admin = platform.admin().await;
    let street = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await;
    let other = create(
        &mut admin,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "花木街道党工委",
    )
    .await;
    let mut service = platform
        .org_as(Bearer::new(&service_bearer("service:grid")))
        .await;
    let inside = service
        .check_scope(pb::CheckScopeRequest {
            scope_org_id: platform.root_id.clone(),
            org_id: street.id.clone(),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(inside.within);
    assert_eq!(
        inside.ancestor_ids,
        [platform.root_id.clone(), street.id.clone()]
    );
    let outside = service
        .check_scope(pb::CheckScopeRequest {
            scope_org_id: street.id.clone(),
            org_id: other.id.clone(),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(!outside.within);
    let own = service
        .check_scope(pb::CheckScopeRequest {
            scope_org_id: String::new(),
            org_id: other.id.clone(),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(own.within, "the platform's own scope is the whole district");
    assert_eq!(
        own.ancestor_ids,
        [platform.root_id.clone(), other.id.clone()]
    );
    let mut street_admin = platform.org_for("a", Role::StreetAdmin, &street.id).await;
    let foreign = street_admin
        .check_scope(pb::CheckScopeRequest {
            scope_org_id: other.id.clone(),
            org_id: other.id.clone(),
        })
        .await
        .expect_err("only services ask for others");
    assert_eq!(foreign.code(), Code::PermissionDenied);
}

on_both_backends!(
    units_are_created_and_read_with_a_token,
    calls_without_a_valid_token_are_unauthenticated,
    a_street_admin_acts_only_inside_their_street,
    bad_input_gets_field_details_and_changes_nothing,
    pages_walk_the_whole_subtree,
    moves_and_dissolutions_go_through_the_api,
    a_retried_create_returns_the_first_unit,
    district_admins_read_the_audit_trail,
    the_kind_schema_is_listed_and_extended,
    check_scope_answers_services,
);
