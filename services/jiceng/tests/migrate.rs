//! `jiceng migrate`, as the chart's hook Job runs it: schemas up to date, and for org the
//! district root made once, its id printed for the services' token.

use std::process::Command;

fn migrate(service: &str, url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(["migrate", "--service", service, "--database-url", url])
        .env("JICENG_DISTRICT", "310151")
        .output()
        .expect("run jiceng migrate");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn root_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("district root: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no root in {stdout:?}"))
        .to_owned()
}

#[test]
fn migrating_org_makes_the_district_root_once_and_prints_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/org.db", dir.path().display());
    let first = migrate("org", &url);
    assert!(first.contains("org database is up to date"), "{first}");
    assert!(first.contains("中共上海市崇明区委员会"), "{first}");
    let root = root_of(&first);
    assert_eq!(
        root_of(&migrate("org", &url)),
        root,
        "made once, found again"
    );
    // Known before the install: `jiceng root-id`, and anyone's uuid5 of the district's name.
    let printed = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .args(["root-id", "--district", "310151"])
        .output()
        .expect("run jiceng root-id");
    assert!(printed.status.success());
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), root);
    assert_eq!(
        root, "9c6176e1-fc35-5069-acaf-a2e622cd7d00",
        "uuid5(NAMESPACE_URL, \"jiceng:district-root:310151\")"
    );

    let grid = migrate(
        "grid",
        &format!("sqlite://{}/grid.db", dir.path().display()),
    );
    assert!(grid.contains("grid database is up to date"), "{grid}");
    assert!(!grid.contains("district root"), "{grid}");
}
