//! `jiceng outbox`, as an operator runs it against a service's database when the parked-events
//! alert fires: what waits and why, then the parked deliveries put back in line.

use std::process::{Command, Output};

use sqlx::Connection as _;

fn jiceng(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(args)
        .env("JICENG_DISTRICT", "310151")
        .output()
        .expect("run jiceng")
}

fn succeeded(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const EVENT: &str = "01937f6e-0000-7000-8000-0000000000e1";

#[tokio::test]
async fn an_operator_sees_what_was_parked_and_puts_it_back_in_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/grid.db", dir.path().display());
    succeeded(jiceng(&[
        "migrate",
        "--service",
        "grid",
        "--database-url",
        &url,
    ]));
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("db");
    sqlx::query(
        "INSERT INTO outbox_events (event_id, event_type, payload, created_at, routed_at)
         VALUES ($1, 'jiceng.grid.v1.case.escalated', x'00', 1000, 1000)",
    )
    .bind(EVENT)
    .execute(&mut db)
    .await
    .expect("event");
    sqlx::query(
        "INSERT INTO outbox_deliveries (event_id, destination, available_at, attempts, state,
                                        last_error, done_at)
         VALUES ($1, 'notify', 1000, 10, 'parked', 'Unavailable: connection refused', 2000)",
    )
    .bind(EVENT)
    .execute(&mut db)
    .await
    .expect("delivery");

    let status = |args: &[&str]| {
        let mut all = vec![
            "outbox",
            "status",
            "--service",
            "grid",
            "--database-url",
            &url,
        ];
        all.extend_from_slice(args);
        succeeded(jiceng(&all))
    };
    let before = status(&[]);
    assert!(before.contains("to notify: 0 pending"), "{before}");
    assert!(before.contains("1 parked"), "{before}");
    assert!(
        before.contains(&format!(
            "{EVENT} jiceng.grid.v1.case.escalated to notify: 10 attempts, last error: Unavailable: connection refused"
        )),
        "{before}"
    );

    let unsaid = jiceng(&[
        "outbox",
        "requeue",
        "--service",
        "grid",
        "--database-url",
        &url,
    ]);
    assert!(!unsaid.status.success(), "which deliveries must be said");
    assert!(String::from_utf8_lossy(&unsaid.stderr).contains("--destination, --event-id or --all"));

    let requeue = |destination: &str| {
        succeeded(jiceng(&[
            "outbox",
            "requeue",
            "--service",
            "grid",
            "--database-url",
            &url,
            "--destination",
            destination,
        ]))
    };
    assert!(requeue("member").contains("0 parked deliveries"));
    assert!(requeue("notify").contains("1 parked deliveries of the grid outbox put back in line"));
    let after = status(&["--destination", "notify"]);
    assert!(after.contains("to notify: 1 pending"), "{after}");
    assert!(after.contains("0 parked"), "{after}");
    let (state, attempts): (String, i64) =
        sqlx::query_as("SELECT state, attempts FROM outbox_deliveries WHERE event_id = $1")
            .bind(EVENT)
            .fetch_one(&mut db)
            .await
            .expect("delivery");
    assert_eq!((state.as_str(), attempts), ("pending", 0));
}
