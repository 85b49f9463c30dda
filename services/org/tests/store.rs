//! The org store's conformance suite: every case runs on SQLite and on PostgreSQL.

use UnitKind::*;
use jiceng_org::{
    MIGRATIONS, OrgStore,
    domain::{NameQuery, RequestId, Unit, UnitCode, UnitId, UnitKind, UnitName, UnitStatus},
    store::{Mutation, StoreError, SubtreeFilter, UnitChanges},
};
use jiceng_testkit::{TestDatabase, on_both_backends};

async fn store(db: &TestDatabase) -> (OrgStore, Unit) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox migrations");
    database.migrate(&MIGRATIONS).await.expect("org migrations");
    let store = OrgStore::new(database, "//jiceng/310115/org".into());
    let root = store
        .ensure_root(
            &UnitId::district_root("310115"),
            DistrictCommittee,
            &name("中共上海市浦东新区委员会"),
            code("310115").as_ref(),
        )
        .await
        .expect("root");
    (store, root)
}

fn name(text: &str) -> UnitName {
    UnitName::parse(text).expect("valid name")
}

fn code(text: &str) -> Option<UnitCode> {
    UnitCode::parse_optional(text).expect("valid code")
}

fn admin() -> Mutation {
    Mutation {
        actor: "admin".into(),
        request_id: None,
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
    }
}

fn with_request(id: &str) -> Mutation {
    Mutation {
        request_id: RequestId::parse_optional(id).expect("valid"),
        ..admin()
    }
}

async fn add(store: &OrgStore, parent: &Unit, kind: UnitKind, text: &str) -> Unit {
    store
        .create(&admin(), &parent.id, kind, &name(text), None)
        .await
        .expect("create")
}

async fn ids_of_subtree(store: &OrgStore, root: &Unit, filter: &SubtreeFilter) -> Vec<String> {
    store
        .subtree(root, filter, None, 1000)
        .await
        .expect("subtree")
        .into_iter()
        .map(|u| u.name.as_str().to_owned())
        .collect()
}

async fn the_root_is_provisioned_once(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let again = store
        .ensure_root(&UnitId::new_v7(), DistrictCommittee, &name("other"), None)
        .await
        .expect("root");
    assert_eq!(again, root);
    assert_eq!(root.depth, 0);
    assert_eq!(root.parent_id, None);
    assert_eq!(root.path, format!("/{}/", root.id));
}

async fn units_are_created_under_allowed_parents_only(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    assert_eq!(street.depth, 1);
    assert_eq!(street.path, format!("/{}/{}/", root.id, street.id));
    assert_eq!(store.get(&street.id).await.expect("get"), street);
    let refused = store
        .create(&admin(), &street.id, VillageCommittee, &name("某村"), None)
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Precondition {
                kind: "KIND_RULE",
                ..
            })
        ),
        "{refused:?}"
    );
    let missing = store
        .create(&admin(), &UnitId::new_v7(), Branch, &name("x"), None)
        .await;
    assert!(
        matches!(
            missing,
            Err(StoreError::NotFound {
                what: "parent unit",
                ..
            })
        ),
        "{missing:?}"
    );
    store
        .add_kind_rule(&admin(), StreetWorkingCommittee, VillageCommittee)
        .await
        .expect("extend");
    store
        .create(&admin(), &street.id, VillageCommittee, &name("某村"), None)
        .await
        .expect("allowed now");
}

async fn codes_are_unique(db: TestDatabase) {
    let (store, root) = store(&db).await;
    store
        .create(
            &admin(),
            &root.id,
            TownCommittee,
            &name("北蔡镇党委"),
            code("BEICAI").as_ref(),
        )
        .await
        .expect("first");
    let second = store
        .create(
            &admin(),
            &root.id,
            TownCommittee,
            &name("另一个"),
            code("BEICAI").as_ref(),
        )
        .await;
    let status = tonic::Status::from(second.expect_err("duplicate code"));
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert_eq!(status.message(), "a unit with this code already exists");
}

async fn subtrees_are_listed_in_pre_order_with_filters(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let town = add(&store, &root, TownCommittee, "北蔡镇党委").await;
    let centre = add(&store, &town, GridCommandCentre, "网格指挥中心").await;
    let village = add(&store, &centre, VillageCommittee, "御桥村").await;
    add(&store, &village, VillagerGroup, "第三村民小组").await;
    let residential = add(&store, &town, ResidentialCommittee, "鹏飞居民区").await;
    add(&store, &residential, Branch, "鹏飞第一党支部").await;
    let all = ids_of_subtree(&store, &town, &SubtreeFilter::default()).await;
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], "北蔡镇党委");
    // Pre-order: every unit comes after its parent and before its parent's next sibling.
    let position = |n: &str| all.iter().position(|x| x == n).expect("listed");
    assert!(position("网格指挥中心") < position("御桥村"));
    assert!(position("御桥村") < position("第三村民小组"));
    assert!(position("鹏飞居民区") < position("鹏飞第一党支部"));
    let shallow = SubtreeFilter {
        max_depth: Some(1),
        ..SubtreeFilter::default()
    };
    assert_eq!(ids_of_subtree(&store, &town, &shallow).await.len(), 3);
    let villages = SubtreeFilter {
        kinds: vec![VillageCommittee, VillagerGroup],
        ..SubtreeFilter::default()
    };
    assert_eq!(
        ids_of_subtree(&store, &town, &villages).await,
        ["御桥村", "第三村民小组"]
    );
    // Paging by path continues exactly where the last page ended.
    let first = store
        .subtree(&town, &SubtreeFilter::default(), None, 4)
        .await
        .expect("page");
    let rest = store
        .subtree(&town, &SubtreeFilter::default(), Some(&first[3].path), 10)
        .await
        .expect("page");
    let paged: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|u| u.name.as_str().to_owned())
        .collect();
    assert_eq!(paged, all);
}

/// Each filter's subtree of `root` in pages (two units, then the rest), read by `read`.
async fn subtree_pages<F: Future<Output = Vec<Unit>>>(
    read: impl Fn(SubtreeFilter, Option<String>, i64) -> F,
) -> Vec<Vec<Unit>> {
    let filters = [
        SubtreeFilter::default(),
        SubtreeFilter {
            include_dissolved: true,
            ..SubtreeFilter::default()
        },
        SubtreeFilter {
            max_depth: Some(1),
            ..SubtreeFilter::default()
        },
        SubtreeFilter {
            kinds: vec![VillageCommittee, Branch],
            include_dissolved: true,
            ..SubtreeFilter::default()
        },
    ];
    let mut pages = Vec::new();
    for filter in filters {
        let first = read(filter.clone(), None, 2).await;
        let after = first.last().map(|u| u.path.clone());
        pages.push(first);
        pages.push(read(filter, after, 100).await);
    }
    pages
}

/// The pages of [`subtree_pages`] as a replica that holds the tree in memory reads them, and
/// as replicas that hold nothing yet (a store made just now reads from the database).
async fn warm_and_cold_pages(store: &OrgStore, root: &Unit) -> (Vec<Vec<Unit>>, Vec<Vec<Unit>>) {
    let warm = subtree_pages(|filter, after, limit| async move {
        store
            .subtree(root, &filter, after.as_deref(), limit)
            .await
            .expect("page")
    })
    .await;
    let cold = subtree_pages(|filter, after, limit| async move {
        OrgStore::new(store.database().clone(), "//jiceng/310115/org".into())
            .subtree(root, &filter, after.as_deref(), limit)
            .await
            .expect("page")
    })
    .await;
    (warm, cold)
}

async fn the_tree_in_memory_answers_as_the_database_and_follows_every_replicas_changes(
    db: TestDatabase,
) {
    let (store, root) = store(&db).await;
    let other_replica = OrgStore::new(db.connect().await, "//jiceng/310115/org".into());
    let town = add(&store, &root, TownCommittee, "北蔡镇党委").await;
    let other_town = add(&store, &root, TownCommittee, "张江镇党委").await;
    let centre = add(&store, &town, GridCommandCentre, "网格指挥中心").await;
    let village = add(&store, &centre, VillageCommittee, "御桥村").await;
    add(&store, &village, VillagerGroup, "第三村民小组").await;
    let residential = add(&store, &town, ResidentialCommittee, "鹏飞居民区").await;
    let branch = add(&store, &residential, Branch, "鹏飞第一党支部").await;
    let old = add(&store, &residential, Branch, "鹏飞第二党支部").await;
    store
        .dissolve(&admin(), &old.id, false, None)
        .await
        .expect("dissolve");
    store.load_tree_snapshot().await.expect("load");
    let (warm, cold) = warm_and_cold_pages(&store, &town).await;
    assert_eq!(warm, cold);
    assert_eq!(cold[0].len() + cold[1].len(), 6, "active units of the town");

    // Each change another replica makes is in the very next read, and in the tree loaded next.
    let added = add(&other_replica, &branch, PartyGroup, "第一党小组").await;
    let everything = SubtreeFilter::default();
    let town_now = || ids_of_subtree(&store, &town, &everything);
    assert!(town_now().await.contains(&added.name.as_str().to_owned()));
    other_replica
        .move_unit(&admin(), &residential.id, &other_town.id, None)
        .await
        .expect("move");
    assert!(
        !town_now().await.contains(&added.name.as_str().to_owned()),
        "moved away with its committee"
    );
    store.load_tree_snapshot().await.expect("load");
    let read = town_now().await;
    assert_eq!(read.len(), 4, "the town without the committee: {read:?}");
    other_replica
        .update(
            &admin(),
            &village.id,
            None,
            &UnitChanges {
                name: Some(name("御桥村党总支")),
                code: None,
            },
        )
        .await
        .expect("rename");
    assert!(town_now().await.iter().any(|name| name == "御桥村党总支"));
    store.load_tree_snapshot().await.expect("load");
    let (warm, cold) = warm_and_cold_pages(&store, &root).await;
    assert_eq!(warm, cold);
    assert!(
        warm.iter()
            .flatten()
            .any(|u| u.name.as_str() == "御桥村党总支")
    );
}

async fn children_are_paged_by_name(db: TestDatabase) {
    let (store, root) = store(&db).await;
    for n in ["丙街道党工委", "甲街道党工委", "乙街道党工委"] {
        add(&store, &root, StreetWorkingCommittee, n).await;
    }
    let first = store.children(&root, false, None, 2).await.expect("page");
    let last = &first[1];
    let rest = store
        .children(
            &root,
            false,
            Some((last.name.as_str(), last.id.as_str())),
            2,
        )
        .await
        .expect("page");
    let mut names: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|u| u.name.as_str().to_owned())
        .collect();
    assert_eq!(names.len(), 3);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    names.dedup();
    assert_eq!(names.len(), 3);
}

async fn ancestry_runs_from_the_root(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let committee = add(
        &store,
        &street,
        ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await;
    let branch = add(&store, &committee, Branch, "梅园一村第一党支部").await;
    let chain: Vec<_> = store
        .ancestry(&branch)
        .await
        .expect("ancestry")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(chain, [root.id, street.id, committee.id, branch.id]);
}

async fn a_move_re_paths_the_whole_subtree(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let from = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let to = add(&store, &root, StreetWorkingCommittee, "花木街道党工委").await;
    let committee = add(&store, &from, ResidentialCommittee, "东昌居民区").await;
    let branch = add(&store, &committee, Branch, "东昌第一党支部").await;
    let group = add(&store, &branch, PartyGroup, "第一党小组").await;
    let moved = store
        .move_unit(&admin(), &committee.id, &to.id, Some(committee.version))
        .await
        .expect("move");
    assert_eq!(moved.parent_id.as_ref(), Some(&to.id));
    assert_eq!(moved.path, format!("{}{}/", to.path, committee.id));
    let group = store.get(&group.id).await.expect("group");
    assert_eq!(
        group.path,
        format!("{}{}/{}/", moved.path, branch.id, group.id)
    );
    assert_eq!(group.depth, 4);
    assert!(
        ids_of_subtree(&store, &from, &SubtreeFilter::default())
            .await
            .len()
            == 1
    );
    assert_eq!(
        ids_of_subtree(&store, &to, &SubtreeFilter::default())
            .await
            .len(),
        4
    );
    let counts = jiceng_outbox::counts(store.database())
        .await
        .expect("outbox");
    assert_eq!(
        counts.unrouted, 1,
        "one unit.moved event, waiting for a consumer"
    );
}

async fn illegal_moves_change_nothing(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let committee = add(&store, &street, ResidentialCommittee, "东昌居民区").await;
    let branch = add(&store, &committee, Branch, "东昌第一党支部").await;
    let into_own_subtree = store
        .move_unit(&admin(), &street.id, &branch.id, None)
        .await;
    assert!(
        matches!(
            into_own_subtree,
            Err(StoreError::Precondition { kind: "CYCLE", .. })
        ),
        "{into_own_subtree:?}"
    );
    let root_move = store.move_unit(&admin(), &root.id, &street.id, None).await;
    assert!(
        matches!(
            root_move,
            Err(StoreError::Precondition {
                kind: "ROOT" | "CYCLE",
                ..
            })
        ),
        "{root_move:?}"
    );
    let wrong_kind = store.move_unit(&admin(), &branch.id, &root.id, None).await;
    assert!(
        wrong_kind.is_ok(),
        "a branch may sit under the district: {wrong_kind:?}"
    );
    let stale = store
        .move_unit(&admin(), &committee.id, &root.id, Some(999))
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let disallowed = store
        .move_unit(&admin(), &committee.id, &root.id, None)
        .await;
    assert!(
        matches!(
            disallowed,
            Err(StoreError::Precondition {
                kind: "KIND_RULE",
                ..
            })
        ),
        "{disallowed:?}"
    );
    assert_eq!(
        store.get(&committee.id).await.expect("unchanged"),
        committee
    );
}

async fn dissolution_refuses_active_children_unless_cascading(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let committee = add(&store, &street, ResidentialCommittee, "东昌居民区").await;
    add(&store, &committee, Branch, "东昌第一党支部").await;
    let refused = store.dissolve(&admin(), &street.id, false, None).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Precondition {
                kind: "ACTIVE_CHILDREN",
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(store.get(&street.id).await.expect("street").is_active());
    let (dissolved, count) = store
        .dissolve(&admin(), &street.id, true, None)
        .await
        .expect("cascade");
    assert_eq!((dissolved.status, count), (UnitStatus::Dissolved, 3));
    assert!(
        ids_of_subtree(&store, &street, &SubtreeFilter::default())
            .await
            .is_empty()
    );
    let all = SubtreeFilter {
        include_dissolved: true,
        ..SubtreeFilter::default()
    };
    assert_eq!(ids_of_subtree(&store, &street, &all).await.len(), 3);
    let under_dissolved = store
        .create(
            &admin(),
            &street.id,
            ResidentialCommittee,
            &name("新居民区"),
            None,
        )
        .await;
    assert!(matches!(
        under_dissolved,
        Err(StoreError::Precondition {
            kind: "DISSOLVED",
            ..
        })
    ));
    let root_refused = store.dissolve(&admin(), &root.id, true, None).await;
    assert!(matches!(
        root_refused,
        Err(StoreError::Precondition { kind: "ROOT", .. })
    ));
}

async fn updates_check_the_etag(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let changes = UnitChanges {
        name: Some(name("陆家嘴街道党工委（新）")),
        code: Some(code("LJZ")),
    };
    let updated = store
        .update(&admin(), &street.id, Some(street.version), &changes)
        .await
        .expect("update");
    assert_eq!(updated.name.as_str(), "陆家嘴街道党工委（新）");
    assert_ne!(updated.version, street.version);
    let stale = store
        .update(&admin(), &street.id, Some(street.version), &changes)
        .await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })));
}

async fn a_retried_request_returns_the_first_result(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let first = store
        .create(
            &with_request("req-1"),
            &root.id,
            TownCommittee,
            &name("高行镇党委"),
            None,
        )
        .await
        .expect("create");
    let retry = store
        .create(
            &with_request("req-1"),
            &root.id,
            TownCommittee,
            &name("高行镇党委"),
            None,
        )
        .await
        .expect("retry");
    assert_eq!(first, retry);
    assert_eq!(
        store
            .children(&root, true, None, 10)
            .await
            .expect("children")
            .len(),
        1
    );
    let reused = store
        .dissolve(&with_request("req-1"), &first.id, false, None)
        .await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused)),
        "{reused:?}"
    );
    let (_, count) = store
        .dissolve(&with_request("req-2"), &first.id, false, None)
        .await
        .expect("dissolve");
    let (again, count_again) = store
        .dissolve(&with_request("req-2"), &first.id, false, None)
        .await
        .expect("retry");
    assert_eq!((count, count_again), (1, 1));
    assert_eq!(again.status, UnitStatus::Dissolved);
}

async fn search_finds_names_within_a_scope(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let a = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let b = add(&store, &root, StreetWorkingCommittee, "花木街道党工委").await;
    add(&store, &a, ResidentialCommittee, "梅园一村居民区").await;
    add(&store, &b, ResidentialCommittee, "梅园二村居民区").await;
    add(&store, &b, ResidentialCommittee, "100%_居民区").await;
    let query = NameQuery::parse("梅园").expect("query");
    let in_a = store
        .search(&a, &query, &SubtreeFilter::default(), None, 10)
        .await
        .expect("search");
    assert_eq!(in_a.len(), 1);
    let everywhere = store
        .search(&root, &query, &SubtreeFilter::default(), None, 10)
        .await
        .expect("search");
    assert_eq!(everywhere.len(), 2);
    let literal = NameQuery::parse("%_").expect("query");
    let escaped = store
        .search(&root, &literal, &SubtreeFilter::default(), None, 10)
        .await
        .expect("search");
    assert_eq!(escaped.len(), 1, "wildcards match literally");
}

async fn every_mutation_is_audited(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let street = add(&store, &root, StreetWorkingCommittee, "陆家嘴街道党工委").await;
    let town = add(&store, &root, TownCommittee, "北蔡镇党委").await;
    let committee = add(&store, &street, ResidentialCommittee, "东昌居民区").await;
    store
        .move_unit(&admin(), &committee.id, &town.id, None)
        .await
        .expect("move");
    store
        .dissolve(&admin(), &committee.id, false, None)
        .await
        .expect("dissolve");
    let records = store
        .audit_records(Some(committee.id.as_str()), None, 10)
        .await
        .expect("audit");
    let actions: Vec<_> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["DissolveUnit", "MoveUnit", "CreateUnit"],
        "newest first"
    );
    assert!(
        records.iter().all(|r| r.actor == "admin"
            && r.trace_id.as_deref() == Some("4bf92f3577b34da6a3ce929d0e0e4736"))
    );
    let page = store.audit_records(None, None, 2).await.expect("page");
    let next = store
        .audit_records(None, Some(&page[1].id), 10)
        .await
        .expect("next");
    assert_eq!(page.len() + next.len(), 5);
}

/// Every unit's path is its parent's path plus its own id, and its depth matches.
async fn assert_tree_consistent(store: &OrgStore, root: &Unit) {
    let all = SubtreeFilter {
        include_dissolved: true,
        ..SubtreeFilter::default()
    };
    let units = store
        .subtree(root, &all, None, 100_000)
        .await
        .expect("tree");
    let by_id: std::collections::HashMap<_, _> = units.iter().map(|u| (u.id.clone(), u)).collect();
    for unit in &units {
        let Some(parent_id) = &unit.parent_id else {
            continue;
        };
        let parent = by_id
            .get(parent_id)
            .unwrap_or_else(|| panic!("parent of {} is in the tree", unit.id));
        assert_eq!(
            unit.path,
            format!("{}{}/", parent.path, unit.id),
            "path of {}",
            unit.name.as_str()
        );
        assert_eq!(unit.depth, parent.depth + 1);
    }
}

async fn concurrent_moves_and_creates_keep_the_tree_consistent(db: TestDatabase) {
    let (store, root) = store(&db).await;
    let a = add(&store, &root, StreetWorkingCommittee, "甲街道党工委").await;
    let b = add(&store, &root, StreetWorkingCommittee, "乙街道党工委").await;
    let general_a = add(&store, &a, GeneralBranch, "甲党总支").await;
    let general_b = add(&store, &b, GeneralBranch, "乙党总支").await;
    let branch = add(&store, &general_a, Branch, "甲第一党支部").await;
    store
        .add_kind_rule(&admin(), GeneralBranch, GeneralBranch)
        .await
        .expect("let general branches nest");
    // Two admins move the general branches into each other at the same moment: one may win,
    // never both (that would be a cycle).
    let (first, second) = (admin(), admin());
    let crossing = tokio::join!(
        store.move_unit(&first, &general_a.id, &general_b.id, None),
        store.move_unit(&second, &general_b.id, &general_a.id, None),
    );
    let wins = [crossing.0.is_ok(), crossing.1.is_ok()]
        .iter()
        .filter(|ok| **ok)
        .count();
    assert_eq!(wins, 1, "exactly one crossing move succeeds: {crossing:?}");
    // Meanwhile creates below a subtree that keeps moving land on the right path.
    let mover = async {
        for i in 0..10 {
            let target = if i % 2 == 0 { &b } else { &a };
            store
                .move_unit(&admin(), &branch.id, &target.id, None)
                .await
                .ok();
        }
    };
    let creator = async {
        for i in 0..10 {
            store
                .create(
                    &admin(),
                    &branch.id,
                    PartyGroup,
                    &name(&format!("第{i}党小组")),
                    None,
                )
                .await
                .expect("create");
        }
    };
    tokio::join!(mover, creator);
    assert_tree_consistent(&store, &root).await;
}

on_both_backends!(
    concurrent_moves_and_creates_keep_the_tree_consistent,
    the_root_is_provisioned_once,
    units_are_created_under_allowed_parents_only,
    codes_are_unique,
    subtrees_are_listed_in_pre_order_with_filters,
    children_are_paged_by_name,
    the_tree_in_memory_answers_as_the_database_and_follows_every_replicas_changes,
    ancestry_runs_from_the_root,
    a_move_re_paths_the_whole_subtree,
    illegal_moves_change_nothing,
    dissolution_refuses_active_children_unless_cascading,
    updates_check_the_etag,
    a_retried_request_returns_the_first_result,
    search_finds_names_within_a_scope,
    every_mutation_is_audited,
);
