//! The points ledger's conformance suite, concurrency included: every case runs on SQLite and
//! on PostgreSQL.

use jiceng_db::now_millis;
use jiceng_member::{
    MIGRATIONS, MemberStore,
    domain::{
        MemberStatus,
        points::{EntryState, PointsRule},
    },
    store::{
        NewMember, StoreError,
        leaderboard::LEADERBOARD_WALK_MIN,
        ledger::{ImportedEntry, NewEntry},
    },
};
use jiceng_org_client::OrgPath;
use jiceng_testkit::{TestDatabase, on_both_backends};

async fn setup(db: &TestDatabase) -> (MemberStore, String) {
    let database = db.connect().await;
    database
        .migrate(&jiceng_outbox::MIGRATIONS)
        .await
        .expect("outbox");
    database
        .migrate(&jiceng_org_client::paths::MIGRATIONS)
        .await
        .expect("org paths");
    database.migrate(&MIGRATIONS).await.expect("migrations");
    let store = MemberStore::new(database, "//jiceng/310115/member".into());
    let member = NewMember {
        name: "王某".into(),
        gender: None,
        birth_date: None,
        phone: None,
        id_card: None,
        join_date: None,
        status: MemberStatus::Full,
        org_id: "01937f6e-0000-7000-8000-0000000000c1".into(),
        org_path: OrgPath::of_unmoved_tree("/root/01937f6e-0000-7000-8000-0000000000c1/"),
    };
    let member = store.create("admin", None, &member).await.expect("member");
    (store, member.id)
}

fn rule(code: &str, points: i64, daily_cap: Option<i64>, approval_required: bool) -> PointsRule {
    PointsRule {
        code: code.into(),
        version: 0,
        name: code.into(),
        points,
        evidence_required: false,
        approval_required,
        daily_cap,
        monthly_cap: None,
        yearly_cap: None,
        valid_from: 0,
        valid_to: None,
    }
}

fn entry(id: &str, member: &str) -> NewEntry {
    NewEntry {
        id: id.into(),
        member_id: member.into(),
        reason: "参加组织生活".into(),
        evidence: String::new(),
        source_event_id: String::new(),
        actor: "admin".into(),
    }
}

async fn balance(store: &MemberStore, member: &str) -> i64 {
    let year = jiceng_member::domain::points::periods(now_millis()).0;
    store.balance(member, year).await.expect("balance").0
}

async fn a_hundred_concurrent_replays_make_one_entry(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&rule("org_life.attend", 2, None, false))
        .await
        .expect("rule");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (store, member) = (store.clone(), member.clone());
            tokio::spawn(async move {
                store
                    .award(&entry("award-1", &member), "org_life.attend", now_millis())
                    .await
            })
        })
        .collect();
    for task in tasks {
        let entry = task
            .await
            .expect("task")
            .expect("every replay returns the entry");
        assert_eq!(entry.id, "award-1");
    }
    assert_eq!(
        store
            .ledger(&member, None, 1000)
            .await
            .expect("ledger")
            .len(),
        1
    );
    assert_eq!(balance(&store, &member).await, 2);
    let other_fields = NewEntry {
        reason: "别的理由".into(),
        ..entry("award-1", &member)
    };
    let conflict = store
        .award(&other_fields, "org_life.attend", now_millis())
        .await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict(_))),
        "{conflict:?}"
    );
}

async fn a_daily_cap_holds_under_concurrent_awards(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&rule("volunteer.hour", 2, Some(10), false))
        .await
        .expect("rule");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, member) = (store.clone(), member.clone());
            tokio::spawn(async move {
                store
                    .award(
                        &entry(&format!("v-{i}"), &member),
                        "volunteer.hour",
                        now_millis(),
                    )
                    .await
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => granted += 1,
            Err(StoreError::Precondition { kind: "CAP", .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, 5, "10 points a day at 2 points each");
    assert_eq!(balance(&store, &member).await, 10);
}

async fn a_redemption_race_never_overdraws(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&rule("wish.fulfilled", 10, None, false))
        .await
        .expect("rule");
    store
        .award(&entry("w-1", &member), "wish.fulfilled", now_millis())
        .await
        .expect("award");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, member) = (store.clone(), member.clone());
            tokio::spawn(async move {
                store
                    .redeem(&entry(&format!("r-{i}"), &member), 3, now_millis())
                    .await
            })
        })
        .collect();
    let mut spent = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => spent += 1,
            Err(StoreError::Precondition {
                kind: "BALANCE", ..
            }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(spent, 3);
    assert_eq!(balance(&store, &member).await, 1);
}

async fn approvals_gate_the_balance_and_corrections_are_new_entries(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&rule("model.member", 20, None, true))
        .await
        .expect("rule");
    let pending = store
        .award(&entry("m-1", &member), "model.member", now_millis())
        .await
        .expect("award");
    assert_eq!(pending.state, EntryState::Pending);
    assert_eq!(balance(&store, &member).await, 0);
    let approved = store
        .decide("m-1", true, now_millis())
        .await
        .expect("approve");
    assert_eq!(approved.state, EntryState::Approved);
    assert!(matches!(
        store.decide("m-1", false, now_millis()).await,
        Err(StoreError::Precondition {
            kind: "DECIDED",
            ..
        })
    ));
    assert_eq!(balance(&store, &member).await, 20);
    let reversal = store
        .reverse(&entry("m-1-fix", &member), "m-1", now_millis())
        .await
        .expect("reverse");
    assert_eq!(
        (reversal.amount, reversal.reverses.as_deref()),
        (-20, Some("m-1"))
    );
    assert_eq!(balance(&store, &member).await, 0);
    let twice = store
        .reverse(&entry("m-1-fix-2", &member), "m-1", now_millis())
        .await;
    assert!(matches!(
        twice,
        Err(StoreError::Precondition {
            kind: "REVERSAL",
            ..
        })
    ));
    let rejected = store
        .award(&entry("m-2", &member), "model.member", now_millis())
        .await
        .expect("award");
    store
        .decide(&rejected.id, false, now_millis())
        .await
        .expect("reject");
    assert_eq!(balance(&store, &member).await, 0);
    let v2 = store
        .define_rule(&rule("model.member", 30, None, false))
        .await
        .expect("new version");
    assert_eq!(v2.version, 2);
    let third = store
        .award(&entry("m-3", &member), "model.member", now_millis())
        .await
        .expect("award");
    assert_eq!(
        (third.amount, third.rule_version),
        (30, Some(2)),
        "entries name the version they used"
    );
    let entries = store.ledger(&member, None, 2).await.expect("page");
    let rest = store
        .ledger(&member, Some((entries[1].created_at, &entries[1].id)), 10)
        .await
        .expect("rest");
    assert_eq!(entries.len() + rest.len(), 4);
}

async fn leaderboards_rank_a_subtree_and_follow_moves(db: TestDatabase) {
    let (store, first) = setup(&db).await;
    store
        .define_rule(&rule("service", 1, None, false))
        .await
        .expect("rule");
    let add = |name: &'static str, path: &'static str| {
        let store = store.clone();
        async move {
            let new = NewMember {
                name: name.into(),
                gender: None,
                birth_date: None,
                phone: None,
                id_card: None,
                join_date: None,
                status: MemberStatus::Full,
                org_id: "01937f6e-0000-7000-8000-0000000000c9".into(),
                org_path: OrgPath::of_unmoved_tree(path),
            };
            store.create("admin", None, &new).await.expect("member").id
        }
    };
    let second = add("李某", "/root/street-b/committee/").await;
    let third = add("张某", "/root/street-b/").await;
    for (member, times) in [(&first, 3), (&second, 5), (&third, 3)] {
        for i in 0..times {
            store
                .award(
                    &entry(&format!("{member}-{i}"), member),
                    "service",
                    now_millis(),
                )
                .await
                .expect("award");
        }
    }
    let year = jiceng_member::domain::points::periods(now_millis()).0;
    let district = store.leaderboard("/root/", year, 10).await.expect("board");
    let ranks: Vec<_> = district
        .iter()
        .map(|s| (s.name.as_str(), s.rank, s.balance))
        .collect();
    assert_eq!(ranks[0], ("李某", 1, 5));
    assert_eq!((ranks[1].1, ranks[2].1), (2, 2), "ties share a rank");
    let street_b = store
        .leaderboard("/root/street-b/", year, 10)
        .await
        .expect("board");
    assert_eq!(street_b.len(), 2);
    let standing = store
        .standing("/root/", year, &third)
        .await
        .expect("standing")
        .expect("in subtree");
    assert_eq!((standing.rank, standing.balance), (2, 3));
    assert!(
        store
            .standing("/root/street-b/", year, &first)
            .await
            .expect("standing")
            .is_none()
    );
    // street-b moves under street-c: its two members follow, with their balance rows.
    assert_eq!(
        store
            .repath_members(
                "street-b",
                &OrgPath::of_unmoved_tree("/root/street-c/street-b/")
            )
            .await
            .expect("repath"),
        4
    );
    assert_eq!(
        store
            .leaderboard("/root/street-c/", year, 10)
            .await
            .expect("board")
            .len(),
        2
    );
    assert!(
        store
            .leaderboard("/root/street-b/", year, 10)
            .await
            .expect("board")
            .is_empty(),
        "the old path keeps no balances"
    );
    // An accepted transfer carries the member's points to the receiving subtree.
    let transfer = store
        .request_transfer(
            ("admin", None),
            &first,
            "01937f6e-0000-7000-8000-0000000000ca",
            "调动",
        )
        .await
        .expect("transfer");
    store
        .decide_transfer(
            ("receiver", None),
            &transfer.id,
            true,
            "",
            &OrgPath::of_unmoved_tree("/root/street-c/office/"),
        )
        .await
        .expect("accept");
    let street_c = store
        .leaderboard("/root/street-c/", year, 10)
        .await
        .expect("board");
    assert_eq!(street_c.len(), 3);
    let standing = store
        .standing("/root/street-c/", year, &first)
        .await
        .expect("standing")
        .expect("moved in");
    assert_eq!((standing.rank, standing.balance), (2, 3));
}

async fn imported_points_are_written_once_with_their_balances(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&rule("volunteer.hour", 1, Some(2), false))
        .await
        .expect("rule");
    let now = now_millis();
    // Six hundred entries: more than one statement, and over the daily cap, which an import
    // does not apply again.
    let imported: Vec<ImportedEntry> = (0..600)
        .map(|n| ImportedEntry {
            entry: entry(&format!("legacy-{n}"), &member),
            rule_code: "volunteer.hour".into(),
            points: 1 + n % 3,
            at: now - n,
        })
        .collect();
    let expected: i64 = imported.iter().map(|e| e.points).sum();
    assert_eq!(store.import_points(&imported).await.expect("import"), 600);
    assert_eq!(balance(&store, &member).await, expected);
    // Run again after an interruption: nothing is written twice.
    assert_eq!(store.import_points(&imported).await.expect("again"), 0);
    assert_eq!(balance(&store, &member).await, expected);
    let first = store.entry("legacy-0").await.expect("entry");
    assert_eq!((first.state, first.amount), (EntryState::Approved, 1));
    // A retried award with an imported id and other fields is a conflict, not a second entry.
    let clash = store
        .award(&entry("legacy-0", &member), "volunteer.hour", now)
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    // So is an import that sends an id again with other points.
    let mut changed = imported[..2].to_vec();
    changed[1].points += 1;
    let clash = store.import_points(&changed).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

    // A batch naming an unknown member or rule, or taking points away, writes nothing.
    let bad = |id: &str, member: &str, rule_code: &str, points: i64| ImportedEntry {
        entry: entry(id, member),
        rule_code: rule_code.into(),
        points,
        at: now,
    };
    for batch in [
        vec![
            bad("legacy-x1", &member, "volunteer.hour", 1),
            bad("legacy-x2", "no-such-member", "volunteer.hour", 1),
        ],
        vec![
            bad("legacy-x1", &member, "volunteer.hour", 1),
            bad("legacy-x2", &member, "no.such.rule", 1),
        ],
        vec![bad("legacy-x1", &member, "volunteer.hour", -5)],
        vec![
            bad("legacy-x1", &member, "volunteer.hour", 1),
            bad("legacy-x1", &member, "volunteer.hour", 2),
        ],
    ] {
        let refused = store.import_points(&batch).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::NotFound { .. } | StoreError::Precondition { .. })
            ),
            "{refused:?}"
        );
        assert!(matches!(
            store.entry("legacy-x1").await,
            Err(StoreError::NotFound { .. })
        ));
    }
    assert_eq!(balance(&store, &member).await, expected);
}

/// A leaderboard is found among the year's highest balances or, when the subtree has too few
/// of them, from the subtree's own range: both ways must agree with the balances, the
/// tie-break by member id included.
async fn leaderboards_agree_however_they_are_found(db: TestDatabase) {
    let (store, _) = setup(&db).await;
    store
        .define_rule(&rule("volunteer.hour", 1, None, false))
        .await
        .expect("rule");
    // More balances than one walk reads; street-b's are all lower than street-a's, so its
    // leaders are not among the highest and its range is read instead.
    let members = LEADERBOARD_WALK_MIN as usize * 2;
    let mut expected = Vec::with_capacity(members);
    let mut imported = Vec::with_capacity(members);
    let now = now_millis();
    for n in 0..members {
        let (branch, points) = match n % 3 {
            0 => ("/root/street-a/branch-1/", 10 + (n as i64 * 37) % 101),
            1 => ("/root/street-a/branch-2/", 10 + (n as i64 * 37) % 101),
            _ => ("/root/street-b/branch-3/", 1 + (n as i64) % 7),
        };
        let new = NewMember {
            name: format!("党员{n}"),
            gender: None,
            birth_date: None,
            phone: None,
            id_card: None,
            join_date: None,
            status: MemberStatus::Full,
            org_id: "01937f6e-0000-7000-8000-0000000000c7".into(),
            org_path: OrgPath::of_unmoved_tree(branch),
        };
        let id = store.create("admin", None, &new).await.expect("member").id;
        imported.push(ImportedEntry {
            entry: entry(&format!("legacy-{n}"), &id),
            rule_code: "volunteer.hour".into(),
            points,
            at: now,
        });
        expected.push((branch, id, points));
    }
    store.import_points(&imported).await.expect("import");
    expected.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.1.cmp(&a.1)));
    let year = jiceng_member::domain::points::periods(now).0;
    for (path, top) in [
        ("/root/", 10),
        ("/root/street-a/branch-2/", 10),
        ("/root/street-b/", 10),
        ("/root/street-b/", 40),
        ("/root/street-a/", 400),
    ] {
        let in_subtree: Vec<_> = expected
            .iter()
            .filter(|(branch, _, _)| branch.starts_with(path))
            .collect();
        let board = store.leaderboard(path, year, top).await.expect("board");
        let got: Vec<_> = board
            .iter()
            .map(|s| (s.member_id.as_str(), s.balance))
            .collect();
        let want: Vec<_> = in_subtree
            .iter()
            .take(top as usize)
            .map(|(_, id, points)| (id.as_str(), *points))
            .collect();
        assert_eq!(got, want, "{path} top {top}");
        let (_, middle, points) = in_subtree[in_subtree.len() / 2];
        let standing = store
            .standing(path, year, middle)
            .await
            .expect("standing")
            .expect("in subtree");
        let ahead = in_subtree.iter().filter(|(_, _, p)| p > points).count() as i64;
        assert_eq!((standing.rank, standing.balance), (ahead + 1, *points));
    }
}

/// Each cap counts the awards of its own period: the month's cap refuses within January, a new
/// month starts afresh until the year's cap, and a new year starts afresh again.
async fn monthly_and_yearly_caps_count_their_own_periods(db: TestDatabase) {
    let (store, member) = setup(&db).await;
    store
        .define_rule(&PointsRule {
            monthly_cap: Some(20),
            yearly_cap: Some(30),
            ..rule("study.session", 10, Some(10), false)
        })
        .await
        .expect("rule");
    // 04:00 UTC on each day: noon in Beijing, the day the periods are counted in.
    let days = [
        ("2026-01-10", 1_768_017_600_000, None),
        ("2026-01-10 again", 1_768_017_600_000, Some("day")),
        ("2026-01-11", 1_768_104_000_000, None),
        ("2026-01-12", 1_768_190_400_000, Some("month")),
        ("2026-02-01", 1_769_918_400_000, None),
        ("2026-03-01", 1_772_337_600_000, Some("year")),
        ("2027-01-05", 1_799_121_600_000, None),
    ];
    for (n, (day, at, refused_by)) in days.into_iter().enumerate() {
        let outcome = store
            .award(&entry(&format!("s-{n}"), &member), "study.session", at)
            .await;
        match (refused_by, outcome) {
            (None, Ok(entry)) => assert_eq!(entry.amount, 10, "{day}"),
            (
                Some(period),
                Err(StoreError::Precondition {
                    kind: "CAP",
                    description,
                    ..
                }),
            ) => {
                assert!(
                    description.contains(&format!("per {period}")),
                    "{day}: {description}"
                );
            }
            (expected, outcome) => panic!("{day}: expected {expected:?}, got {outcome:?}"),
        }
    }
    for (member_id, rule_code, missing) in [
        ("no-such-member", "study.session", "member"),
        (member.as_str(), "no.such.rule", "points rule"),
    ] {
        let outcome = store
            .award(&entry("s-missing", member_id), rule_code, now_millis())
            .await;
        assert!(
            matches!(outcome, Err(StoreError::NotFound { what, .. }) if what == missing),
            "{outcome:?}"
        );
    }
}

on_both_backends!(
    monthly_and_yearly_caps_count_their_own_periods,
    leaderboards_agree_however_they_are_found,
    imported_points_are_written_once_with_their_balances,
    leaderboards_rank_a_subtree_and_follow_moves,
    a_hundred_concurrent_replays_make_one_entry,
    a_daily_cap_holds_under_concurrent_awards,
    a_redemption_race_never_overdraws,
    approvals_gate_the_balance_and_corrections_are_new_entries,
);
