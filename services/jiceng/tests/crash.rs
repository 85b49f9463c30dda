//! A `jiceng up` process stopped in the middle of writes, then started again on the same data.
//! Killed (SIGKILL): every acknowledged write is there, every write's event is delivered, and no
//! effect happens twice, including for the writes a caller retries because it never heard back.
//! Terminated (SIGTERM): the calls in flight finish, later ones are refused as UNAVAILABLE, the
//! process exits cleanly and its spans reach the collector.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use jiceng_auth::{Claims, Role, TokenIssuer};
use jiceng_proto::{
    notify::{ListInboxRequest, notify_service_client::NotifyServiceClient},
    org::{
        self as pb, org_service_client::OrgServiceClient,
        position_service_client::PositionServiceClient,
    },
};
use jiceng_testkit::{Bearer, eventually};
use tokio::sync::watch;
use tonic::transport::Channel;

/// Appointments the load makes: one new unit and one secretary each.
const APPOINTMENTS: usize = 120;
/// Acknowledged appointments after which the process is killed.
const KILL_AFTER: usize = 40;
const WRITERS: usize = 4;

/// A running `jiceng up`, what it printed at start, and the lines it prints after.
struct Up {
    child: Child,
    endpoint: String,
    root: String,
    lines: mpsc::Receiver<String>,
}

impl Up {
    fn start(data_dir: &Path) -> Self {
        Self::start_exporting(data_dir, None)
    }

    /// Starts the process with quiet logs, exporting its spans to `collector` if one is named:
    /// the spans are made and exported whatever the log filter.
    fn start_exporting(data_dir: &Path, collector: Option<&str>) -> Self {
        Self::start_with(data_dir, collector, "warn")
    }

    fn start_with(data_dir: &Path, collector: Option<&str>, log_filter: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jiceng"));
        command
            .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", log_filter)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(endpoint) = collector {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jiceng up");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, printed) = mpsc::channel();
        // Drains stdout for the process's life, so that its logs never fill the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let (mut endpoint, mut root) = (None, None);
        while endpoint.is_none() || root.is_none() {
            let line = printed
                .recv_timeout(Duration::from_secs(60))
                .expect("jiceng up prints its endpoint and root");
            if let Some(rest) = line.strip_prefix("  endpoint:   ") {
                endpoint = rest
                    .split_whitespace()
                    .next()
                    .map(|a| format!("http://{a}"));
            }
            if let Some(rest) = line.strip_prefix("  root unit:  ") {
                root = Some(rest.trim().to_owned());
            }
        }
        Self {
            child,
            endpoint: endpoint.expect("endpoint"),
            root: root.expect("root"),
            lines: printed,
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Sends SIGTERM (what Kubernetes sends first) and waits for the process to exit.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let exited = eventually(Duration::from_secs(30), || {
            std::future::ready(self.child.try_wait().expect("wait"))
        })
        .await;
        exited.expect("no exit 30 s after SIGTERM")
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint.clone())
            .expect("uri")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(data_dir: &Path, subject: &str, role: Role, root: &str) -> String {
    let secret = std::fs::read_to_string(data_dir.join("dev-jwt-secret")).expect("dev secret");
    let claims = Claims::new(subject, "310115", root, &[role], 3600);
    let token = TokenIssuer::hs256(secret.trim().as_bytes())
        .and_then(|issuer| issuer.mint(&claims))
        .expect("token");
    format!("Bearer {token}")
}

fn holder(n: usize) -> String {
    format!("01937f6e-0000-7000-8000-{n:012}")
}

/// Appointment `n`: its unit and its secretary, each under its own request id so that a retry
/// returns what the first attempt made. `answered` counts the calls that got their response.
async fn appoint(
    channel: Channel,
    admin: &str,
    root: &str,
    n: usize,
    answered: &AtomicUsize,
) -> Result<(), tonic::Status> {
    let unit = OrgServiceClient::with_interceptor(channel.clone(), Bearer::new(admin))
        .create_unit(pb::CreateUnitRequest {
            parent_id: root.to_owned(),
            kind: pb::UnitKind::StreetWorkingCommittee as i32,
            name: street_name(n),
            request_id: format!("unit-{n}"),
            ..Default::default()
        })
        .await?
        .into_inner();
    answered.fetch_add(1, Ordering::SeqCst);
    PositionServiceClient::with_interceptor(channel, Bearer::new(admin))
        .appoint_position(pb::AppointPositionRequest {
            unit_id: unit.id,
            role: pb::PositionRole::Secretary as i32,
            holder: Some(pb::appoint_position_request::Holder::MemberId(holder(n))),
            request_id: format!("position-{n}"),
            ..Default::default()
        })
        .await?;
    answered.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Appointments made by concurrent writers until the process stops under them.
struct Load {
    acknowledged: Arc<Mutex<Vec<usize>>>,
    /// How many appointments are acknowledged, for a test to wait on.
    progress: Arc<watch::Sender<usize>>,
    /// Calls (CreateUnit or AppointPosition) that got their response.
    answered: Arc<AtomicUsize>,
    /// How the calls that were not acknowledged failed.
    refused: Arc<Mutex<Vec<tonic::Code>>>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(channel: &Channel, admin: &str, root: &str) -> Self {
        let next = Arc::new(AtomicUsize::new(0));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(watch::Sender::new(0));
        let writers = (0..WRITERS)
            .map(|_| {
                let (next, acknowledged, refused, answered, progress) = (
                    next.clone(),
                    acknowledged.clone(),
                    refused.clone(),
                    answered.clone(),
                    progress.clone(),
                );
                let (channel, admin, root) = (channel.clone(), admin.to_owned(), root.to_owned());
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= APPOINTMENTS {
                            return;
                        }
                        if let Err(status) =
                            appoint(channel.clone(), &admin, &root, n, &answered).await
                        {
                            refused.lock().expect("lock").push(status.code());
                            return;
                        }
                        acknowledged.lock().expect("lock").push(n);
                        progress.send_modify(|count| *count += 1);
                    }
                })
            })
            .collect();
        Self {
            acknowledged,
            progress,
            answered,
            refused,
            writers,
        }
    }

    /// Returns as soon as `count` appointments are acknowledged.
    async fn until_acknowledged(&self, count: usize) {
        let mut progress = self.progress.subscribe();
        tokio::time::timeout(
            Duration::from_secs(60),
            progress.wait_for(|acknowledged| *acknowledged >= count),
        )
        .await
        .expect("the load made no progress")
        .expect("the load is watched");
    }

    /// The acknowledged appointments and the codes of the refused calls, once every writer
    /// stopped.
    async fn finish(self) -> Finished {
        for writer in self.writers {
            writer.await.expect("writer");
        }
        Finished {
            acknowledged: self.acknowledged.lock().expect("lock").clone(),
            answered: self.answered.load(Ordering::SeqCst),
            refused: self.refused.lock().expect("lock").clone(),
        }
    }
}

/// What a load saw once the process stopped.
struct Finished {
    acknowledged: Vec<usize>,
    answered: usize,
    refused: Vec<tonic::Code>,
}

/// The street units (one per appointment) under `root`, by name.
async fn streets(channel: Channel, admin: &str, root: &str) -> Vec<String> {
    OrgServiceClient::with_interceptor(channel, Bearer::new(admin))
        .list_subtree(pb::ListSubtreeRequest {
            root_id: root.to_owned(),
            page_size: Some(1000),
            ..Default::default()
        })
        .await
        .expect("subtree")
        .into_inner()
        .units
        .into_iter()
        .filter(|u| u.kind == pb::UnitKind::StreetWorkingCommittee as i32)
        .map(|u| u.name)
        .collect()
}

fn street_name(n: usize) -> String {
    format!("第{n}街道党工委")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_acknowledged_write_and_repeats_no_effect() {
    let data = tempfile::tempdir().expect("data dir");
    let up = Up::start(data.path());
    let admin = token(data.path(), "admin", Role::DistrictAdmin, &up.root);
    let load = Load::start(&up.channel().await, &admin, &up.root);
    load.until_acknowledged(KILL_AFTER).await;
    let root = up.root.clone();
    up.kill();
    let acknowledged = load.finish().await.acknowledged;
    assert!(acknowledged.len() >= KILL_AFTER && acknowledged.len() < APPOINTMENTS);

    // The same data, a new process.
    let up = Up::start(data.path());
    assert_eq!(up.root, root, "the district root survives");
    let channel = up.channel().await;
    let after_restart = streets(channel.clone(), &admin, &root).await;
    for n in &acknowledged {
        assert!(
            after_restart.contains(&street_name(*n)),
            "acknowledged appointment {n} lost its unit"
        );
    }

    // Writes in doubt at the kill: committed or not, the callers cannot tell.
    let in_doubt: Vec<_> = (0..APPOINTMENTS)
        .filter(|n| !acknowledged.contains(n))
        .filter(|n| after_restart.contains(&street_name(*n)))
        .collect();
    println!(
        "killed after {} acknowledged appointments; {} more units had committed unacknowledged: {in_doubt:?}",
        acknowledged.len(),
        in_doubt.len()
    );

    // The callers retry everything they did not hear back about, and finish the load.
    for n in (0..APPOINTMENTS).filter(|n| !acknowledged.contains(n)) {
        appoint(channel.clone(), &admin, &root, n, &AtomicUsize::new(0))
            .await
            .unwrap_or_else(|status| panic!("retry of {n}: {status}"));
    }
    let mut names = streets(channel.clone(), &admin, &root).await;
    assert_eq!(
        names.len(),
        APPOINTMENTS,
        "one unit per appointment, none twice"
    );
    names.sort();
    names.dedup();
    assert_eq!(names.len(), APPOINTMENTS);

    // Every appointment's event reached notify, once: each secretary has exactly one notice.
    let inbox_of = |n: usize| {
        let member = token(data.path(), &holder(n), Role::Member, &root);
        NotifyServiceClient::with_interceptor(channel.clone(), Bearer::new(&member))
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    for n in 0..APPOINTMENTS {
        let inbox = inbox_of(n);
        let told = eventually(deadline.saturating_duration_since(Instant::now()), || {
            let mut inbox = inbox.clone();
            async move {
                let notices = inbox
                    .list_inbox(ListInboxRequest {
                        category: "org.position.changed".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("inbox")
                    .into_inner()
                    .items;
                (!notices.is_empty()).then_some(notices)
            }
        })
        .await
        .unwrap_or_else(|| panic!("secretary {n} was never told: an event was lost"));
        assert_eq!(told.len(), 1, "secretary {n} was told twice");
    }
    // A delivery claimed before the kill is retried once its lease (30 s) runs out: notify
    // must recognise it, not tell anyone again. Once org's outbox has routed and delivered
    // everything, that retry has been made.
    let org = jiceng_db::Database::connect(&format!("sqlite://{}/org.db", data.path().display()))
        .await
        .expect("org's database");
    let settled = eventually(Duration::from_secs(60), || {
        let org = org.clone();
        async move {
            // Read beside the running process: a busy database is asked again.
            let counts = jiceng_outbox::counts(&org).await.ok()?;
            (counts.unrouted == 0 && counts.pending == 0).then_some(())
        }
    })
    .await;
    org.close().await;
    assert!(settled.is_some(), "org's outbox did not settle within 60 s");
    for n in 0..APPOINTMENTS {
        let notices = inbox_of(n)
            .list_inbox(ListInboxRequest::default())
            .await
            .expect("inbox")
            .into_inner()
            .items;
        assert_eq!(notices.len(), 1, "secretary {n}: {notices:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_process_finishes_its_calls_refuses_new_ones_and_flushes_its_spans() {
    let collector = jiceng_testkit::OtlpReceiver::start().await;
    let data = tempfile::tempdir().expect("data dir");
    let up = Up::start_exporting(data.path(), Some(collector.endpoint()));
    let admin = token(data.path(), "admin", Role::DistrictAdmin, &up.root);
    let load = Load::start(&up.channel().await, &admin, &up.root);
    load.until_acknowledged(KILL_AFTER).await;
    let root = up.root.clone();
    let status = up.terminate().await;
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");
    let Finished {
        acknowledged,
        answered,
        refused,
    } = load.finish().await;
    println!(
        "terminated after {} acknowledged appointments ({answered} calls answered); refused: {refused:?}",
        acknowledged.len()
    );
    // Refused: the connection was refused, or closed before the call went out on it.
    assert!(
        refused
            .iter()
            .all(|code| matches!(code, tonic::Code::Unavailable | tonic::Code::Cancelled)),
        "{refused:?}"
    );

    // Every call the process began it finished and answered (one server span each, no more
    // spans than answers), and every span was exported before it exited (no fewer).
    let handled = collector
        .spans()
        .iter()
        .filter(|s| {
            s.name.ends_with("OrgService/CreateUnit")
                || s.name.ends_with("PositionService/AppointPosition")
        })
        .count();
    assert_eq!(
        handled, answered,
        "calls the process handled, calls answered"
    );

    let up = Up::start(data.path());
    let names = streets(up.channel().await, &admin, &root).await;
    for n in &acknowledged {
        assert!(names.contains(&street_name(*n)), "appointment {n} lost");
    }
}

/// Whatever `RUST_LOG` says (here `info`, not the default), a call that carries no
/// `traceparent` has a trace id: in its audit record and in its access-log line, the same one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_has_its_trace_id_whatever_the_log_filter() {
    let data = tempfile::tempdir().expect("data dir");
    let up = Up::start_with(data.path(), None, "info");
    let admin = token(data.path(), "admin", Role::DistrictAdmin, &up.root);
    let mut org = OrgServiceClient::with_interceptor(up.channel().await, Bearer::new(&admin));
    let unit = org
        .create_unit(pb::CreateUnitRequest {
            parent_id: up.root.clone(),
            kind: pb::UnitKind::StreetWorkingCommittee as i32,
            name: street_name(1),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let records = org
        .list_audit_records(pb::ListAuditRecordsRequest {
            target_id: unit.id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit records")
        .into_inner()
        .records;
    let trace_id = records
        .iter()
        .find(|r| r.action == "CreateUnit")
        .map(|r| r.trace_id.clone())
        .expect("the creation's record");
    assert_eq!(trace_id.len(), 32, "{trace_id:?}");
    assert_ne!(trace_id, "0".repeat(32));
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let line = up
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the access-log line of CreateUnit");
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if json["rpc"]
            .as_str()
            .is_some_and(|rpc| rpc.ends_with("OrgService/CreateUnit"))
        {
            break json;
        }
    };
    assert_eq!(
        logged["trace_id"].as_str(),
        Some(trace_id.as_str()),
        "{logged}"
    );
}
