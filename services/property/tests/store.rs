//! The property store's conformance suite: companies, compounds and their terms; disclosures in
//! the transparency log, whose proofs verify with the RFC 6962 rules and whose signed heads
//! check against the log's key; corrections that leave the original readable; tampering that
//! the proofs expose; concurrent publishers that never fork the log. Every case runs on SQLite
//! and PostgreSQL.

use jiceng_merkle::{self as merkle, LogSigner, TreeHead};
use jiceng_org_client::OrgPath;
use jiceng_property::{
    MIGRATIONS, PropertyStore,
    domain::{
        CompanyDetails, Term,
        compliance::{Frequency, Month, Schedule, Standing},
        disclosure::{Content, Entry, Kind, Period, RevenueLine},
    },
    store::{Listing, NewCompany, NewCompound, StoreError},
};
use jiceng_testkit::{TestDatabase, on_both_backends};

const T0: i64 = 1_796_004_000_000;
/// When the compounds' companies began managing them, as the district's records say: before
/// every period the compliance tests look at (2025-01-01).
const MANAGED_SINCE: i64 = 1_735_689_600_000;
const TOWN: &str = "01937f6e-0000-7000-8000-0000000000b7";
const TOWN_PATH: &str = "/root/01937f6e-0000-7000-8000-0000000000b7/";
const COMMITTEE: &str = "01937f6e-0000-7000-8000-0000000000c8";

async fn setup(db: &TestDatabase) -> PropertyStore {
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
    let signer = LogSigner::from_seed(&[42u8; 32]).expect("key");
    PropertyStore::new(database, signer, "310115".into())
}

fn company(name: &str, code: &str) -> NewCompany {
    NewCompany {
        name: name.into(),
        credit_code: code.into(),
        org_id: TOWN.into(),
        org_path: OrgPath::of_unmoved_tree(TOWN_PATH),
        details: CompanyDetails::default(),
        publishers: vec!["publisher".into()],
    }
}

/// A company managing one compound of the committee: (company id, compound id).
async fn managed_compound(store: &PropertyStore) -> (String, String) {
    let company = store
        .create_company("town", None, &company("高行物业", "91310115MA1H7XYZ03"), T0)
        .await
        .expect("company");
    let compound = store
        .create_compound(
            "committee",
            None,
            &NewCompound {
                name: "东沟新村".into(),
                address: "东沟路100弄".into(),
                org_id: COMMITTEE.into(),
                org_path: OrgPath::of_unmoved_tree(format!("{TOWN_PATH}{COMMITTEE}/")),
                terms: vec![Term::running(&company.id, MANAGED_SINCE)],
                owners_committee: "东沟新村业委会".into(),
                owners_chair: "陈某".into(),
            },
            T0,
        )
        .await
        .expect("compound");
    (company.id, compound.id)
}

fn entry(company: &str, compound: &str, period: &str, billed: i64, at: i64) -> Entry {
    Entry {
        id: uuid_like(at, billed),
        compound_id: compound.into(),
        company_id: company.into(),
        period: Period::parse(period).expect("period"),
        content: Content::FeeCollection {
            billed_fen: billed,
            collected_fen: billed / 2,
            households_billed: 100,
            households_paid: 50,
        },
        supersedes_id: None,
        correction_reason: None,
        published_by: "publisher".into(),
        published_at: at,
    }
}

fn uuid_like(at: i64, n: i64) -> String {
    format!("01937f6e-{:04x}-7000-8000-{:012x}", (at / 1000) % 0xffff, n)
}

/// Checks a disclosure's inclusion proof and signed head as an outside verifier would: from the
/// entry bytes, the audit path and the log's public key alone.
fn verifies(store: &PropertyStore, inclusion: &jiceng_property::domain::log::Inclusion) -> bool {
    let head = &inclusion.head;
    let signed =
        merkle::verify_tree_head(&store.signer().public_key(), &head.head, &head.signature)
            .expect("key");
    signed
        && merkle::verify_inclusion(
            inclusion.leaf_index,
            head.head.size,
            &merkle::leaf_hash(&inclusion.entry_bytes),
            &inclusion.path,
            &head.head.root,
        )
}

async fn companies_and_compounds_keep_their_terms(db: TestDatabase) {
    let store = setup(&db).await;
    let (first, compound) = managed_compound(&store).await;
    let duplicate = store
        .create_company("town", None, &company("另一家", "91310115MA1H7XYZ03"), T0)
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let retried = store
        .create_company(
            "town",
            Some("r1"),
            &company("新物业", "91350100M000100Y43"),
            T0,
        )
        .await
        .expect("second");
    let again = store
        .create_company(
            "town",
            Some("r1"),
            &company("新物业", "91350100M000100Y43"),
            T0,
        )
        .await
        .expect("retry");
    assert_eq!(
        again, retried,
        "a retried request returns the first company"
    );
    let refused = store
        .change_company(&compound, &retried.id, MANAGED_SINCE - 1)
        .await;
    assert!(matches!(refused, Err(StoreError::Precondition { .. })));
    let changed = store
        .change_company(&compound, &retried.id, T0 + 1_000)
        .await
        .expect("change");
    assert_eq!(changed.company_id, retried.id);
    assert_eq!(
        changed
            .terms
            .iter()
            .map(|t| (t.company_id.as_str(), t.end_at))
            .collect::<Vec<_>>(),
        [
            (first.as_str(), Some(T0 + 1_000)),
            (retried.id.as_str(), None)
        ]
    );
    let listed = store
        .list_companies(&Listing {
            subtree: Some(TOWN_PATH.into()),
            limit: 10,
            ..Listing::default()
        })
        .await
        .expect("companies");
    assert_eq!(listed.len(), 2);
    // The old company no longer publishes for the compound.
    let stale = store
        .publish(
            None,
            entry(&first, &compound, "2026-10", 100, T0 + 2_000),
            TOWN_PATH,
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Precondition { .. })),
        "{stale:?}"
    );
}

async fn every_disclosure_is_provably_in_the_log(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    let mut published = Vec::new();
    for n in 0..13 {
        let disclosure = store
            .publish(
                None,
                entry(&company, &compound, "2026-10", 1_000 + n, T0 + n),
                TOWN_PATH,
            )
            .await
            .expect("publish");
        assert_eq!(disclosure.leaf_index, n as u64);
        published.push(disclosure);
    }
    let latest = store.tree_head(None).await.expect("head");
    assert_eq!(latest.head.size, 13);
    for disclosure in &published {
        for size in [None, Some(disclosure.leaf_index + 1), Some(13)] {
            let inclusion = store
                .inclusion(&disclosure.entry.id, size)
                .await
                .expect("inclusion");
            assert!(verifies(&store, &inclusion), "{size:?}");
            assert_eq!(inclusion.entry_bytes, disclosure.entry.to_bytes());
        }
    }
    let early = store.inclusion(&published[12].entry.id, Some(5)).await;
    assert!(matches!(early, Err(StoreError::Precondition { .. })));
    // Every earlier head is a prefix of every later one.
    for first in 1..=13u64 {
        for second in first..=13u64 {
            let proof = store.consistency(first, second).await.expect("consistency");
            let heads = (
                store.tree_head(Some(first)).await.expect("first"),
                store.tree_head(Some(second)).await.expect("second"),
            );
            assert_eq!(proof.first_root, heads.0.head.root);
            assert!(merkle::verify_consistency(
                first,
                second,
                &heads.0.head.root,
                &heads.1.head.root,
                &proof.proof
            ));
        }
    }
    assert!(matches!(
        store.consistency(3, 14).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_correction_leaves_the_original_and_both_are_logged(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    let original = store
        .publish(
            None,
            entry(&company, &compound, "2026-Q3", 5_000, T0),
            TOWN_PATH,
        )
        .await
        .expect("original");
    let mut fix = entry(&company, &compound, "2026-Q3", 5_500, T0 + 10);
    fix.supersedes_id = Some(original.entry.id.clone());
    fix.correction_reason = Some("漏计车位费".into());
    let correction = store
        .publish(Some("fix-1"), fix.clone(), TOWN_PATH)
        .await
        .expect("correction");
    let retried = store
        .publish(Some("fix-1"), fix, TOWN_PATH)
        .await
        .expect("retry");
    assert_eq!(
        retried.entry.id, correction.entry.id,
        "a retry publishes once"
    );
    let reread = store
        .disclosure(&original.entry.id)
        .await
        .expect("original");
    assert_eq!(reread.entry, original.entry, "the original is unchanged");
    assert_eq!(
        reread.superseded_by.as_deref(),
        Some(correction.entry.id.as_str())
    );
    for id in [&original.entry.id, &correction.entry.id] {
        let inclusion = store.inclusion(id, None).await.expect("inclusion");
        assert!(verifies(&store, &inclusion));
    }
    assert_eq!(store.tree_head(None).await.expect("head").head.size, 2);
    let mut again = entry(&company, &compound, "2026-Q3", 5_400, T0 + 20);
    again.supersedes_id = Some(original.entry.id.clone());
    again.correction_reason = Some("再次更正".into());
    let refused = store.publish(None, again, TOWN_PATH).await;
    assert!(
        matches!(refused, Err(StoreError::Precondition { .. })),
        "{refused:?}"
    );
}

async fn tampering_with_a_stored_disclosure_is_detected(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    let honest = store
        .publish(
            None,
            entry(&company, &compound, "2026-10", 8_000, T0),
            TOWN_PATH,
        )
        .await
        .expect("publish");
    store
        .publish(
            None,
            entry(&company, &compound, "2026-11", 9_000, T0 + 1),
            TOWN_PATH,
        )
        .await
        .expect("publish");
    let signed_before = store.tree_head(None).await.expect("head");
    // Someone with database access lowers the billed amount after publication.
    sqlx::query(
        "UPDATE property_disclosures SET entry = REPLACE(entry, '8000', '7000') WHERE id = $1",
    )
    .bind(&honest.entry.id)
    .execute(store.database().pool())
    .await
    .expect("tamper");
    let inclusion = store
        .inclusion(&honest.entry.id, None)
        .await
        .expect("inclusion");
    assert!(
        String::from_utf8_lossy(&inclusion.entry_bytes).contains("7000"),
        "the altered entry is what is served"
    );
    assert!(!verifies(&store, &inclusion), "and its proof fails");
    assert_eq!(
        inclusion.head, signed_before,
        "against the head signed before"
    );
}

async fn concurrent_publishers_never_fork_the_log(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    let mut tasks = Vec::new();
    for writer in 0..4i64 {
        let (store, company, compound) = (store.clone(), company.clone(), compound.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..8i64 {
                let at = T0 + writer * 100 + n;
                store
                    .publish(
                        None,
                        entry(&company, &compound, "2026-12", writer * 100 + n, at),
                        TOWN_PATH,
                    )
                    .await
                    .expect("publish");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let latest = store.tree_head(None).await.expect("head");
    assert_eq!(latest.head.size, 32);
    let mut indexes: Vec<u64> = store
        .list_disclosures(&Listing {
            compound_id: Some(compound.clone()),
            limit: 100,
            ..Listing::default()
        })
        .await
        .expect("list")
        .iter()
        .map(|d| d.leaf_index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..32).collect::<Vec<_>>(),
        "one leaf per disclosure"
    );
    for size in 1..32u64 {
        let earlier: TreeHead = store.tree_head(Some(size)).await.expect("head").head;
        let proof = store.consistency(size, 32).await.expect("proof");
        assert!(merkle::verify_consistency(
            size,
            32,
            &earlier.root,
            &latest.head.root,
            &proof.proof
        ));
    }
}

/// An import publishes a batch in one transaction: all of it, each entry signed, or none.
async fn a_batch_is_published_whole_or_not_at_all(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    let mut batch: Vec<(Entry, String)> = (0..5)
        .map(|n| {
            (
                entry(&company, &compound, "2026-10", 100 + n, T0 + n),
                TOWN_PATH.to_owned(),
            )
        })
        .collect();
    batch[3].0.company_id = "someone-else".into();
    assert!(matches!(
        store.publish_batch(&batch).await,
        Err(StoreError::Precondition { .. })
    ));
    assert_eq!(
        store
            .tree_head(None)
            .await
            .expect("the empty log's head")
            .head
            .size,
        0,
        "nothing of the refused batch"
    );
    batch[3].0.company_id = company.clone();
    assert_eq!(store.publish_batch(&batch).await.expect("batch"), 5);
    for (entry, _) in &batch {
        let inclusion = store.inclusion(&entry.id, None).await.expect("inclusion");
        assert!(verifies(&store, &inclusion));
    }
    let single = store
        .publish(
            None,
            entry(&company, &compound, "2026-11", 999, T0 + 9),
            TOWN_PATH,
        )
        .await
        .expect("after the batch");
    assert_eq!(single.leaf_index, 5);
}

/// Reminders go out before an undisclosed item is due and notices once it is overdue, each once.
async fn reminders_and_overdue_notices_go_out_once(db: TestDatabase) {
    let store = setup(&db).await;
    let (company, compound) = managed_compound(&store).await;
    store
        .set_schedule(
            &Schedule {
                org_id: TOWN.into(),
                org_path: TOWN_PATH.into(),
                kind: Kind::FeeCollection,
                frequency: Frequency::Monthly,
                due_days: 10,
                display_days: 90,
            },
            0,
        )
        .await
        .expect("schedule");
    // September is disclosed on time; the rest of the year before it never was.
    store
        .publish(
            None,
            entry(&company, &compound, "2026-09", 100, 1_790_800_000_000),
            TOWN_PATH,
        )
        .await
        .expect("september");
    let lead = 3 * 86_400_000;
    let count = |event_type: &'static str| {
        let pool = store.database().pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox_events WHERE event_type = $1")
                .bind(event_type)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    // 20 October: October 2025 to August 2026 are overdue; October 2026 is not yet near. Two
    // replicas (each its own pool on the database) scan at the same moment: each item once.
    let replica = PropertyStore::new(
        db.connect().await,
        LogSigner::from_seed(&[42u8; 32]).expect("key"),
        "310115".into(),
    );
    let (first, second) = tokio::join!(
        store.announce_due(OCTOBER_20, lead),
        replica.announce_due(OCTOBER_20, lead)
    );
    assert_eq!(first.expect("scan") + second.expect("scan"), 11);
    assert_eq!(
        store.announce_due(OCTOBER_20, lead).await.expect("again"),
        0
    );
    // 9 November: October's is due on the 11th — a reminder.
    let november_9 = OCTOBER_20 + 20 * 86_400_000;
    assert_eq!(store.announce_due(november_9, lead).await.expect("scan"), 1);
    // 12 November: now it is overdue too.
    assert_eq!(
        store
            .announce_due(november_9 + 3 * 86_400_000, lead)
            .await
            .expect("scan"),
        1
    );
    assert_eq!(count("jiceng.property.v1.disclosure.overdue").await, 12);
    assert_eq!(count("jiceng.property.v1.disclosure.due").await, 1);
}

on_both_backends!(
    reminders_and_overdue_notices_go_out_once,
    a_batch_is_published_whole_or_not_at_all,
    the_compliance_report_lists_exactly_what_is_missing,
    companies_and_compounds_keep_their_terms,
    every_disclosure_is_provably_in_the_log,
    a_correction_leaves_the_original_and_both_are_logged,
    tampering_with_a_stored_disclosure_is_detected,
    concurrent_publishers_never_fork_the_log,
    a_log_key_that_did_not_sign_the_log_is_refused,
);

/// A log signed under one key refuses a process started with another: every head it signed
/// would fail every reader's check. The empty log, never signed, takes any key.
async fn a_log_key_that_did_not_sign_the_log_is_refused(db: TestDatabase) {
    let store = setup(&db).await;
    store
        .confirm_signer()
        .await
        .expect("an unsigned log takes any key");
    store
        .tree_head(None)
        .await
        .expect("the empty log's head, signed");
    store
        .confirm_signer()
        .await
        .expect("the key that signed it");
    let regenerated = PropertyStore::new(
        db.connect().await,
        LogSigner::from_seed(&[7u8; 32]).expect("key"),
        "310115".into(),
    );
    let refused = regenerated.confirm_signer().await;
    assert!(
        matches!(
            &refused,
            Err(StoreError::Precondition {
                kind: "LOG_KEY",
                ..
            })
        ),
        "{refused:?}"
    );
}

/// 2026-10-20 12:00 Beijing.
const OCTOBER_20: i64 = 1_792_468_800_000;

fn content_of(kind: Kind) -> Content {
    match kind {
        Kind::FeeCollection => Content::FeeCollection {
            billed_fen: 100,
            collected_fen: 90,
            households_billed: 10,
            households_paid: 9,
        },
        Kind::PublicRevenue => Content::PublicRevenue {
            lines: vec![RevenueLine {
                source: "parking".into(),
                income_fen: 500,
                expense_fen: 100,
            }],
            balance_fen: 400,
        },
        _ => Content::MaintenanceFund {
            opening_fen: 1_000,
            income_fen: 100,
            spending: Vec::new(),
            closing_fen: 1_100,
        },
    }
}

/// Gaohang's 21 companies with two compounds each: every item of a constructed calendar is
/// published on time except three, and the report lists exactly those three.
async fn the_compliance_report_lists_exactly_what_is_missing(db: TestDatabase) {
    let store = setup(&db).await;
    let schedule =
        |org_id: &str, org_path: &str, kind: Kind, frequency: Frequency, due: i64| Schedule {
            org_id: org_id.into(),
            org_path: org_path.into(),
            kind,
            frequency,
            due_days: due,
            display_days: 90,
        };
    for (kind, frequency, due) in [
        (Kind::FeeCollection, Frequency::Quarterly, 15),
        (Kind::PublicRevenue, Frequency::Quarterly, 30),
        (Kind::MaintenanceFund, Frequency::HalfYearly, 30),
        (Kind::Hotlines, Frequency::OnChange, 0),
    ] {
        store
            .set_schedule(&schedule(TOWN, TOWN_PATH, kind, frequency, due), 0)
            .await
            .expect("schedule");
    }
    // One committee asks its compounds for monthly fee collection.
    let strict = "01937f6e-0000-7000-8000-00000000c020";
    let strict_path = format!("{TOWN_PATH}{strict}/");
    store
        .set_schedule(
            &schedule(
                strict,
                &strict_path,
                Kind::FeeCollection,
                Frequency::Monthly,
                10,
            ),
            0,
        )
        .await
        .expect("schedule");
    // Periods and the time each is published: well before it is due.
    let quarters = [
        ("2026-Q1", 1_775_000_000_000),
        ("2026-Q2", 1_782_900_000_000),
        ("2026-Q3", 1_790_900_000_000),
    ];
    let months: Vec<(String, i64)> = (1..=9)
        .map(|m| {
            (
                format!("2026-{m:02}"),
                1_767_300_000_000 + i64::from(m) * 2_629_800_000,
            )
        })
        .collect();
    let half = ("2026-H1", 1_782_900_000_000);
    let late_at = 1_786_000_000_000; // 2026-08-06: after H1's due date (07-31).
    let mut expected = Vec::new();
    for c in 0..21u32 {
        let code = format!("91310115MA1H{c:04}0");
        let company = store
            .create_company("town", None, &company(&format!("物业公司{c}"), &code), T0)
            .await
            .expect("company");
        for side in ["A", "B"] {
            let committee = if c == 20 && side == "A" {
                strict.to_owned()
            } else {
                format!(
                    "01937f6e-0000-7000-8000-0000000{c:03}{}",
                    if side == "A" { "a" } else { "b" }
                )
            };
            let path = format!("{TOWN_PATH}{committee}/");
            let compound = store
                .create_compound(
                    "committee",
                    None,
                    &NewCompound {
                        name: format!("小区{c}{side}"),
                        address: String::new(),
                        org_id: committee.clone(),
                        org_path: OrgPath::of_unmoved_tree(path.clone()),
                        terms: vec![Term::running(&company.id, MANAGED_SINCE)],
                        owners_committee: String::new(),
                        owners_chair: String::new(),
                    },
                    T0,
                )
                .await
                .expect("compound");
            let mut items: Vec<(Kind, String, i64)> = Vec::new();
            if committee == strict {
                items.extend(
                    months
                        .iter()
                        .map(|(p, at)| (Kind::FeeCollection, p.clone(), *at)),
                );
            } else {
                items.extend(
                    quarters
                        .iter()
                        .map(|(p, at)| (Kind::FeeCollection, (*p).to_owned(), *at)),
                );
            }
            items.extend(
                quarters[..2]
                    .iter()
                    .map(|(p, at)| (Kind::PublicRevenue, (*p).to_owned(), *at)),
            );
            items.push((Kind::MaintenanceFund, half.0.to_owned(), half.1));
            for (n, (kind, period, mut at)) in items.into_iter().enumerate() {
                let skipped =
                    (c == 3 && side == "A" && kind == Kind::FeeCollection && period == "2026-Q2")
                        || (c == 7
                            && side == "B"
                            && kind == Kind::PublicRevenue
                            && period == "2026-Q1");
                if skipped {
                    expected.push((
                        company.id.clone(),
                        compound.id.clone(),
                        kind,
                        period.clone(),
                        "missing",
                    ));
                    continue;
                }
                if c == 12 && side == "B" && kind == Kind::MaintenanceFund {
                    at = late_at;
                    expected.push((
                        company.id.clone(),
                        compound.id.clone(),
                        kind,
                        period.clone(),
                        "late",
                    ));
                }
                let entry = Entry {
                    id: format!(
                        "01937f6e-{c:04x}-7000-8{}{n:02x}-000000000000",
                        if side == "A" { 0 } else { 1 }
                    ),
                    compound_id: compound.id.clone(),
                    company_id: company.id.clone(),
                    period: Period::parse(&period).expect("period"),
                    content: content_of(kind),
                    supersedes_id: None,
                    correction_reason: None,
                    published_by: "publisher".into(),
                    published_at: at,
                };
                store.publish(None, entry, &path).await.expect("publish");
            }
        }
    }
    let report = store
        .compliance(
            TOWN_PATH,
            Month::parse("2026-01").expect("month"),
            Month::parse("2026-09").expect("month"),
            OCTOBER_20,
        )
        .await
        .expect("report");
    let mut found: Vec<(String, String, Kind, String, &str)> = report
        .exceptions
        .iter()
        .map(|item| {
            (
                item.company_id.clone(),
                item.compound_id.clone(),
                item.kind,
                item.period.clone(),
                match item.standing {
                    Standing::Missing => "missing",
                    Standing::Late(_) => "late",
                    Standing::OnTime => "on time",
                },
            )
        })
        .collect();
    found.sort_by(|a, b| (&a.0, &a.1, &a.3).cmp(&(&b.0, &b.1, &b.3)));
    expected.sort_by(|a, b| (&a.0, &a.1, &a.3).cmp(&(&b.0, &b.1, &b.3)));
    assert_eq!(found, expected);
    // 41 compounds × 6 items, and the strict committee's 9 + 2 + 1.
    assert_eq!(report.total.due, 41 * 6 + 12);
    assert_eq!(report.total.on_time, 41 * 6 + 12 - 3);
    assert_eq!(report.companies.len(), 21);
    let rates: Vec<f64> = report
        .companies
        .values()
        .map(|r| r.on_time_rate())
        .collect();
    assert_eq!(rates.iter().filter(|r| **r < 1.0).count(), 3);
    // A month before Q3's fee collection is due, it is not counted yet.
    let earlier = store
        .compliance(
            TOWN_PATH,
            Month::parse("2026-01").expect("month"),
            Month::parse("2026-09").expect("month"),
            1_790_000_000_000,
        )
        .await
        .expect("report");
    assert!(earlier.total.due < report.total.due);
}
