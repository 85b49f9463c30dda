//! `jiceng seed` then `jiceng bench` as a user runs them: the demo district is loaded, the
//! writes are measured through gRPC and as their raw-SQL baseline, and the figures come out as
//! JSON and Markdown; `--startup` measures a real `jiceng up`.

use std::process::Command;

fn jiceng(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(args)
        .env_remove("JICENG_DATABASE_URL")
        .output()
        .expect("jiceng runs");
    assert!(
        output.status.success(),
        "jiceng {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_seeded_district_is_benchmarked_through_grpc_and_beside_raw_sql() {
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let seeded = jiceng(&["seed", "--scale", "demo", "--data-dir", data_dir]);
    assert!(seeded.contains("seeded"), "{seeded}");
    let again = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(["seed", "--scale", "demo", "--data-dir", data_dir])
        .output()
        .expect("jiceng runs");
    assert!(
        !again.status.success()
            && String::from_utf8_lossy(&again.stderr).contains("already has units"),
        "a second seed is refused rather than doubling the district"
    );

    let json = data.path().join("bench.json");
    let markdown = data.path().join("bench.md");
    let table = jiceng(&[
        "bench",
        "--data-dir",
        data_dir,
        "--op",
        "grid-report,points-award,property-proof",
        "--concurrency",
        "2",
        "--duration-secs",
        "1",
        "--warmup-secs",
        "0",
        "--json",
        json.to_str().expect("utf-8 path"),
        "--markdown",
        markdown.to_str().expect("utf-8 path"),
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    let runs = report["runs"].as_array().expect("runs");
    let run = |op: &str, path: &str| {
        runs.iter()
            .find(|r| r["op"] == op && r["path"] == path)
            .unwrap_or_else(|| panic!("no {path} run of {op}: {report}"))
    };
    for (op, path) in [
        ("grid-report", "grpc"),
        ("grid-report", "sql"),
        ("points-award", "grpc"),
        ("points-award", "sql"),
        ("property-proof", "grpc"),
    ] {
        let run = run(op, path);
        assert!(run["calls"].as_u64() > Some(0), "{run}");
        assert_eq!(run["errors"], serde_json::json!({}), "{run}");
        assert!(run["p99_ms"].as_f64() >= run["p50_ms"].as_f64(), "{run}");
    }
    assert!(table.contains("| grid report | grpc |"), "{table}");
    assert!(table.contains("% |"), "the ratio to raw SQL: {table}");
    assert_eq!(std::fs::read_to_string(&markdown).expect("markdown"), table);
}

#[test]
fn startup_is_measured_on_a_real_jiceng_up() {
    let out = jiceng(&["bench", "--startup"]);
    assert!(
        out.starts_with("jiceng up: SERVING after ") && out.contains("MiB resident"),
        "{out}"
    );
}
