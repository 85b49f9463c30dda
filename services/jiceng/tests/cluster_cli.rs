//! `jiceng cluster` as an operator runs it: the cluster found through `KUBECONFIG` (a fake API
//! server here), the table on stdout, and an exit status a script can act on.

use std::process::{Command, Output};

use jiceng_testkit::kube::{FakeApiServer, FakeCluster, PodState, closed_port, health_endpoint};

const NAMESPACE: &str = "jiceng-chongming";
const RELEASE: &str = "chongming";

/// Runs the binary with `KUBECONFIG` naming `api`, off the runtime that serves the fake cluster.
async fn jiceng(api: &FakeApiServer, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).expect("write kubeconfig");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_jiceng"))
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .expect("run jiceng")
    })
    .await
    .expect("join");
    drop(dir);
    output
}

async fn cluster_with_crash_looping_grid() -> FakeCluster {
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    cluster.deployment("org", 2, 2, 2);
    let serving = health_endpoint(true).await;
    cluster.pod("org", 1, PodState::Ready, Some(serving));
    cluster.pod("org", 2, PodState::Ready, Some(serving));
    cluster.deployment("grid", 2, 0, 2);
    let closed = closed_port().await;
    cluster.pod("grid", 1, PodState::CrashLooping, Some(closed));
    cluster.pod("grid", 2, PodState::CrashLooping, Some(closed));
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_every_service_and_fails_while_one_crash_loops() {
    let api = cluster_with_crash_looping_grid().await.serve().await;
    let output = jiceng(
        &api,
        &["cluster", "status", "-n", NAMESPACE, "--release", RELEASE],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}{stderr}");
    let org = stdout.lines().find(|l| l.starts_with("org ")).expect("org");
    assert!(org.contains("2/2") && org.contains("SERVING"), "{stdout}");
    let grid = stdout
        .lines()
        .find(|l| l.starts_with("grid "))
        .expect("grid");
    assert!(
        grid.contains("0/2") && grid.contains("UNREACHABLE"),
        "{stdout}"
    );
    assert!(
        stdout.contains("! pod chongming-jiceng-grid-1: CrashLoopBackOff, 7 restarts"),
        "{stdout}"
    );
    assert!(
        stderr.contains("not ready or not serving: grid"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_succeeds_when_every_service_is_rolled_out_and_serving() {
    let mut cluster = FakeCluster::new(NAMESPACE, RELEASE);
    let serving = health_endpoint(true).await;
    for service in ["org", "grid", "notify"] {
        cluster.deployment(service, 1, 1, 1);
        cluster.pod(service, 1, PodState::Ready, Some(serving));
    }
    let api = cluster.serve().await;
    let output = jiceng(
        &api,
        &["cluster", "status", "-n", NAMESPACE, "--release", RELEASE],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("SERVING").count(), 3, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_stops_at_once_when_grid_has_no_ready_pod() {
    let api = cluster_with_crash_looping_grid().await.serve().await;
    let output = jiceng(
        &api,
        &[
            "cluster",
            "smoke",
            "-n",
            NAMESPACE,
            "--release",
            RELEASE,
            "--token",
            "t",
            "--org",
            "0190-root",
        ],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("grid: no ready pod"), "{stderr}");
}
