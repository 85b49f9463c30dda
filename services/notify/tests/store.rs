//! The notify store's conformance suite: every case runs on SQLite and on PostgreSQL.

use std::collections::BTreeMap;

use jiceng_notify::{
    MIGRATIONS, NotifyStore,
    domain::{Category, Name, NewNotification, Priority, Template},
    store::InboxFilter,
};
use jiceng_testkit::{TestDatabase, on_both_backends};

/// The categories every case uses: "meeting", and "overdue", which is critical; "bulletin"
/// folds low-priority items into a digest after a minute.
fn category(name: &str) -> Category {
    let empty = || Template::parse("").expect("empty");
    let category = Category::new(
        Name::parse(name).expect("name"),
        empty(),
        empty(),
        vec![],
        name == "overdue",
    )
    .expect("category");
    let window = if name == "bulletin" { 60_000 } else { 0 };
    category.with_digest(window).expect("window")
}

async fn store(db: &TestDatabase) -> NotifyStore {
    let database = db.connect().await;
    database.migrate(&MIGRATIONS).await.expect("migrations");
    let store = NotifyStore::new(database);
    for name in ["meeting", "overdue", "bulletin"] {
        store
            .register_category(&category(name))
            .await
            .expect("register");
    }
    store
}

fn notification(key: &str, category: &str) -> NewNotification {
    NewNotification {
        publisher: "//jiceng/310115/org".into(),
        idempotency_key: key.into(),
        category: Name::parse(category).expect("category"),
        priority: Priority::Normal,
        title: format!("通知 {key}"),
        body: String::new(),
        link: String::new(),
        data: BTreeMap::new(),
        source_event_id: Some(key.into()),
        trace_id: None,
    }
}

fn people(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn inbox_titles(store: &NotifyStore, recipient: &str) -> Vec<String> {
    store
        .inbox(recipient, &InboxFilter::default(), None, 100)
        .await
        .expect("inbox")
        .into_iter()
        .map(|i| i.notification.title)
        .collect()
}

async fn a_repeated_key_creates_nothing_even_after_a_restart(db: TestDatabase) {
    let first_process = store(&db).await;
    let first = first_process
        .publish(
            &notification("e1", "meeting"),
            &people(&["a", "b"]),
            &category("meeting"),
            None,
        )
        .await
        .expect("publish");
    assert!(first.created);
    assert_eq!(first.notification.delivered_count, 2);
    let again = first_process
        .publish(
            &notification("e1", "meeting"),
            &people(&["a", "b", "c"]),
            &category("meeting"),
            None,
        )
        .await
        .expect("again");
    assert!(!again.created);
    assert_eq!(again.notification.id, first.notification.id);
    // A restarted service (a new pool on the same database) still knows the key.
    let restarted = NotifyStore::new(db.connect().await);
    let after_restart = restarted
        .publish(
            &notification("e1", "meeting"),
            &people(&["a"]),
            &category("meeting"),
            None,
        )
        .await
        .expect("after restart");
    assert_eq!(
        (after_restart.created, after_restart.notification.id),
        (false, first.notification.id)
    );
    for person in ["a", "b"] {
        assert_eq!(
            inbox_titles(&restarted, person).await.len(),
            1,
            "{person} sees it once"
        );
    }
    assert!(inbox_titles(&restarted, "c").await.is_empty());
}

async fn muted_categories_are_skipped_unless_critical(db: TestDatabase) {
    let store = store(&db).await;
    store
        .set_preference("a", &Name::parse("meeting").expect("name"), "in_app", false)
        .await
        .expect("mute");
    let refused = store
        .set_preference("a", &Name::parse("overdue").expect("name"), "in_app", false)
        .await;
    assert!(refused.is_err(), "critical categories cannot be muted");
    let muted = store
        .publish(
            &notification("m1", "meeting"),
            &people(&["a", "b"]),
            &category("meeting"),
            None,
        )
        .await
        .expect("publish");
    assert_eq!(muted.notification.delivered_count, 1);
    store
        .publish(
            &notification("o1", "overdue"),
            &people(&["a"]),
            &category("overdue"),
            None,
        )
        .await
        .expect("publish");
    assert_eq!(inbox_titles(&store, "a").await, ["通知 o1"]);
    assert_eq!(inbox_titles(&store, "b").await, ["通知 m1"]);
    assert_eq!(store.preferences("a").await.expect("preferences").len(), 1);
}

async fn each_recipient_reads_and_archives_only_their_own_items(db: TestDatabase) {
    let store = store(&db).await;
    for key in ["n1", "n2", "n3"] {
        store
            .publish(
                &notification(key, "meeting"),
                &people(&["a", "b"]),
                &category("meeting"),
                None,
            )
            .await
            .expect("publish");
    }
    assert_eq!(
        inbox_titles(&store, "a").await,
        ["通知 n3", "通知 n2", "通知 n1"],
        "newest first"
    );
    assert_eq!(store.unread_count("a").await.expect("count"), 3);
    let items = store
        .inbox("a", &InboxFilter::default(), None, 100)
        .await
        .expect("inbox");
    let n1 = &items[2].notification.id;
    store.mark_read("a", n1, true).await.expect("read");
    assert!(
        store.mark_read("c", n1, true).await.is_err(),
        "not c's item"
    );
    assert_eq!(store.unread_count("a").await.expect("count"), 2);
    assert_eq!(
        store.unread_count("b").await.expect("count"),
        3,
        "b's copy is untouched"
    );
    let meetings = InboxFilter {
        category: Some(Name::parse("meeting").expect("name")),
        ..InboxFilter::default()
    };
    assert_eq!(
        store
            .inbox("a", &meetings, None, 100)
            .await
            .expect("by category")
            .len(),
        3
    );
    let others = InboxFilter {
        category: Some(Name::parse("overdue").expect("name")),
        ..InboxFilter::default()
    };
    assert!(
        store
            .inbox("a", &others, None, 100)
            .await
            .expect("by category")
            .is_empty()
    );
    let unread = InboxFilter {
        unread_only: true,
        ..InboxFilter::default()
    };
    assert_eq!(
        store
            .inbox("a", &unread, None, 100)
            .await
            .expect("unread")
            .len(),
        2
    );
    store.mark_read("a", n1, false).await.expect("unread again");
    assert_eq!(store.mark_all_read("a").await.expect("all"), 3);
    store.archive("a", n1).await.expect("archive");
    assert_eq!(inbox_titles(&store, "a").await.len(), 2);
    // Pages continue below the last cursor.
    let first = store
        .inbox("b", &InboxFilter::default(), None, 2)
        .await
        .expect("page");
    let rest = store
        .inbox("b", &InboxFilter::default(), Some(first[1].seq), 2)
        .await
        .expect("page");
    assert_eq!(first.len() + rest.len(), 3);
}

async fn streams_read_items_after_a_cursor_in_order(db: TestDatabase) {
    let store = store(&db).await;
    for key in ["s1", "s2", "s3", "s4"] {
        store
            .publish(
                &notification(key, "meeting"),
                &people(&["a"]),
                &category("meeting"),
                None,
            )
            .await
            .expect("publish");
    }
    let all = store.inbox_after("a", 0, 100).await.expect("all");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let rest = store.inbox_after("a", all[1].seq, 100).await.expect("rest");
    assert_eq!(
        rest.iter()
            .map(|i| i.notification.title.as_str())
            .collect::<Vec<_>>(),
        ["通知 s3", "通知 s4"]
    );
}

async fn topics_reach_their_followers(db: TestDatabase) {
    let store = store(&db).await;
    let topic = Name::parse("lujiazui.volunteers").expect("topic");
    store.follow(&topic, "a").await.expect("follow");
    store.follow(&topic, "b").await.expect("follow");
    store.follow(&topic, "a").await.expect("follow twice");
    store.unfollow(&topic, "b").await.expect("unfollow");
    assert_eq!(store.followers(&topic).await.expect("followers"), ["a"]);
}

async fn low_priority_items_of_a_digest_category_fold_into_one(db: TestDatabase) {
    let store = store(&db).await;
    let bulletin = category("bulletin");
    for key in ["b1", "b2", "b3"] {
        let low = NewNotification {
            priority: Priority::Low,
            ..notification(key, "bulletin")
        };
        let held = store
            .publish(&low, &people(&["a", "b"]), &bulletin, None)
            .await
            .expect("publish");
        assert_eq!(held.notification.delivered_count, 0, "held for the digest");
    }
    let urgent = NewNotification {
        priority: Priority::Urgent,
        ..notification("b4", "bulletin")
    };
    store
        .publish(&urgent, &people(&["a"]), &bulletin, None)
        .await
        .expect("publish");
    assert_eq!(
        inbox_titles(&store, "a").await,
        ["通知 b4"],
        "only the urgent one arrives at once"
    );
    let now = jiceng_db::now_millis();
    assert_eq!(
        store.fold_digests(now).await.expect("fold"),
        0,
        "the window has not passed"
    );
    assert_eq!(
        store.fold_digests(now + 61_000).await.expect("fold"),
        2,
        "one digest per recipient"
    );
    assert_eq!(inbox_titles(&store, "a").await, ["3 条通知汇总", "通知 b4"]);
    let digest = &store
        .inbox("b", &InboxFilter::default(), None, 10)
        .await
        .expect("inbox")[0]
        .notification;
    assert_eq!(digest.body, "通知 b1\n通知 b2\n通知 b3");
    assert_eq!(
        store.fold_digests(now + 122_000).await.expect("fold"),
        0,
        "nothing held any more"
    );
}

on_both_backends!(
    low_priority_items_of_a_digest_category_fold_into_one,
    a_repeated_key_creates_nothing_even_after_a_restart,
    muted_categories_are_skipped_unless_critical,
    each_recipient_reads_and_archives_only_their_own_items,
    streams_read_items_after_a_cursor_in_order,
    topics_reach_their_followers,
);
