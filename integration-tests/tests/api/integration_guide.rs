//! The curl examples of docs/INTEGRATION.md run as written against a platform, so that the
//! guide an outside system follows cannot drift from what the platform answers.

use std::process::Command;

use jiceng_auth::Role;
use jiceng_testkit::{TestDatabase, bearer};

use crate::common::Platform;

const GUIDE: &str = include_str!("../../../docs/INTEGRATION.md");

/// The guide's ```sh blocks, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(block), "```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            (Some(block), _) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integration_guides_examples_run_as_written() {
    let blocks = shell_blocks(GUIDE);
    assert!(blocks.len() >= 6, "the guide's examples: {}", blocks.len());
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let token = bearer("district-admin", &[Role::DistrictAdmin], &platform.root_id);
    let token = token
        .strip_prefix("Bearer ")
        .expect("a bearer header")
        .to_owned();
    let script = format!("set -euo pipefail\n{}\n", blocks.join("\n"));
    let root = platform.root_id.clone();
    let base = format!("http://{}", platform.server.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("JICENG", base)
            .env("TOKEN", token)
            .env("ROOT", root)
            .output()
            .expect("bash runs")
    })
    .await
    .expect("the examples ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "docs/INTEGRATION.md's examples failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // What the guide says the error example and the stale etag print.
    assert!(stdout.contains("\n400\n"), "{stdout}");
    assert!(stdout.contains("\n409\n"), "{stdout}");
    assert!(stdout.contains("\"fieldViolations\""), "{stdout}");
    platform.stop().await;
}
