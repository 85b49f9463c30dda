//! The production topology on one machine: every service its own `jiceng serve` processes (the
//! real binary), each service on its own fresh PostgreSQL database, two replicas or more behind a
//! stand-in for its Kubernetes Service, wired from the chart's `topology.json` as the chart's
//! templates wire it.
//!
//! The stand-in ([`Balancer`]) picks a replica per TCP connection, as kube-proxy does, so a
//! caller's HTTP/2 connection stays on one replica and an event delivery reaches one replica
//! of its consumer. Each process logs to a file of its own; when a test fails, the harness
//! prints the end of every log.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write as _},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    task::JoinHandle,
};

use crate::{TEST_DISTRICT, TEST_INTERNAL_KEY, TEST_SECRET, TestDatabase};

/// Who calls whom and which events each service consumes: the chart's own file.
const TOPOLOGY: &str = include_str!("../../../charts/jiceng/topology.json");

/// The deployment's keys, as the chart's Secrets would hold them.
const PII_KEY: &str = "jiceng-topology-test-pii-key-32-bytes-long";
const LOG_SIGNING_SEED: &str = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a";

/// The services in the chart's topology, in the order the chart ranges over them.
pub fn services() -> Vec<String> {
    topology().into_keys().collect()
}

fn topology() -> BTreeMap<String, Value> {
    serde_json::from_str(TOPOLOGY).expect("topology.json is JSON")
}

/// `JICENG_EVENT_SINKS` of `publisher`, as the chart's `jiceng.eventSinks` writes it: each
/// consumer of its events with the exact types, at the address `uri_of` gives the consumer's
/// Service.
pub fn event_sinks(publisher: &str, uri_of: impl Fn(&str) -> String) -> String {
    let mut sinks = Vec::new();
    for (consumer, service) in topology() {
        let Some(types) = service["consumes"][publisher].as_array() else {
            continue;
        };
        let types: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        if !types.is_empty() {
            sinks.push(format!(
                "{consumer}={};{}",
                uri_of(&consumer),
                types.join(",")
            ));
        }
    }
    sinks.join(" ")
}

/// A stand-in for a Kubernetes Service: accepts connections on its own address and forwards
/// each to one replica, round robin over those that accept it.
#[derive(Debug)]
pub struct Balancer {
    pub addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    /// How many connections went to each backend.
    connections: Arc<Mutex<BTreeMap<SocketAddr, usize>>>,
    task: JoinHandle<()>,
}

impl Balancer {
    pub async fn start() -> Self {
        let (listener, addr) = crate::bind_local().await;
        let backends: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let connections: Arc<Mutex<BTreeMap<SocketAddr, usize>>> = Arc::default();
        let (pool, counts) = (Arc::clone(&backends), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            let mut next = 0usize;
            while let Ok((client, _)) = listener.accept().await {
                let candidates = pool.lock().expect("backends").clone();
                let start = next;
                next = next.wrapping_add(1);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    for offset in 0..candidates.len() {
                        let backend = candidates[(start + offset) % candidates.len()];
                        // A replica that is gone refuses at once; the next one is tried, as
                        // kube-proxy does for an endpoint that has not yet been removed.
                        if let Ok(server) = TcpStream::connect(backend).await {
                            *counts.lock().expect("counts").entry(backend).or_default() += 1;
                            forward(client, server).await;
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            backends,
            connections,
            task,
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The replicas connections go to from now on.
    pub fn set_backends(&self, backends: Vec<SocketAddr>) {
        *self.backends.lock().expect("backends") = backends;
    }

    /// How many connections went to `backend` so far.
    pub fn connections_to(&self, backend: SocketAddr) -> usize {
        self.connections
            .lock()
            .expect("counts")
            .get(&backend)
            .copied()
            .unwrap_or_default()
    }
}

/// Copies both ways until each side has closed, as a NAT would: when the server closes, the
/// client reads to the end of what the server sent; what the client still sends after the
/// server is gone is read and dropped rather than answered with a reset, which would throw
/// away the client's unread responses.
async fn forward(client: TcpStream, server: TcpStream) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let down = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    let up = async {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut server_open = true;
        while let Ok(read @ 1..) = client_read.read(&mut buffer).await {
            if server_open && server_write.write_all(&buffer[..read]).await.is_err() {
                server_open = false;
            }
        }
        let _ = server_write.shutdown().await;
    };
    tokio::join!(down, up);
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One `jiceng serve` process.
#[derive(Debug)]
pub struct Replica {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Replica {
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The replicas of one service behind their balancer.
#[derive(Debug)]
pub struct ServiceGroup {
    pub balancer: Balancer,
    pub replicas: Vec<Replica>,
    env: Vec<(String, String)>,
    database: TestDatabase,
}

/// The whole platform as a district cluster runs it.
#[derive(Debug)]
pub struct Topology {
    binary: PathBuf,
    dir: tempfile::TempDir,
    groups: BTreeMap<String, ServiceGroup>,
    pub root_id: String,
    spawned: usize,
}

impl Topology {
    /// Starts every service of the chart's topology with `replicas` replicas each, on fresh
    /// PostgreSQL databases; `None` outside CI when no PostgreSQL server is configured.
    pub async fn start(binary: &Path, replicas: usize) -> Option<Self> {
        Self::start_with(binary, replicas, &[]).await
    }

    /// Like [`Topology::start`], with extra environment for every process (e.g. a shorter
    /// maximum connection age).
    pub async fn start_with(binary: &Path, replicas: usize, env: &[(&str, &str)]) -> Option<Self> {
        let names = services();
        let mut balancers = BTreeMap::new();
        for name in &names {
            balancers.insert(name.clone(), Balancer::start().await);
        }
        let uris: BTreeMap<String, String> = balancers
            .iter()
            .map(|(name, balancer)| (name.clone(), balancer.uri()))
            .collect();
        let uri_of = |name: &str| uris[name].clone();
        let mut topology = Self {
            binary: binary.to_owned(),
            dir: tempfile::tempdir().expect("a folder for the logs"),
            groups: BTreeMap::new(),
            root_id: String::new(),
            spawned: 0,
        };
        let mut databases = BTreeMap::new();
        for name in &names {
            databases.insert(name.clone(), TestDatabase::postgres().await?);
        }
        // The migration hook's org step makes the district root.
        topology.root_id = migrate_org(binary, &databases["org"].url);
        let internal_key =
            String::from_utf8(TEST_INTERNAL_KEY.to_vec()).expect("the internal key is text");
        let secret = String::from_utf8(TEST_SECRET.to_vec()).expect("the test secret is text");
        for (name, balancer) in balancers {
            let mut group_env = vec![
                ("JICENG_DISTRICT".to_owned(), TEST_DISTRICT.to_owned()),
                ("JICENG_JWT_SECRET".to_owned(), secret.clone()),
                ("JICENG_INTERNAL_KEY".to_owned(), internal_key.clone()),
                ("JICENG_PII_KEY".to_owned(), PII_KEY.to_owned()),
                (
                    "JICENG_LOG_SIGNING_KEY".to_owned(),
                    LOG_SIGNING_SEED.to_owned(),
                ),
                ("JICENG_ORG_ENDPOINT".to_owned(), uri_of("org")),
                ("JICENG_GRID_ENDPOINT".to_owned(), uri_of("grid")),
                ("JICENG_MEMBER_ENDPOINT".to_owned(), uri_of("member")),
                // The tests' webhook receivers listen on loopback.
                ("JICENG_WEBHOOK_ALLOW".to_owned(), "127.0.0.1/32".to_owned()),
                // Two topologies of ten processes run at once against one test server, whose
                // max_connections is PostgreSQL's default of 100: at the default 16 a process
                // under load could take the server's last connection and a third party's
                // connect would time out, as the chart's budget check forbids in a district.
                ("JICENG_DATABASE_POOL_SIZE".to_owned(), "4".to_owned()),
            ];
            // The chart sets it only for services whose events someone consumes.
            let sinks = event_sinks(&name, uri_of);
            if !sinks.is_empty() {
                group_env.push(("JICENG_EVENT_SINKS".to_owned(), sinks));
            }
            group_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            let database = databases.remove(&name).expect("a database per service");
            topology.groups.insert(
                name,
                ServiceGroup {
                    balancer,
                    replicas: Vec::new(),
                    env: group_env,
                    database,
                },
            );
        }
        // Org first: the others ask it for scopes as they start serving.
        let mut order = names.clone();
        order.sort_by_key(|name| name != "org");
        for name in &order {
            for _ in 0..replicas {
                topology.add_replica(name).await;
            }
        }
        Some(topology)
    }

    /// The address of `service`'s Service (its balancer).
    pub fn endpoint(&self, service: &str) -> String {
        self.group(service).balancer.uri()
    }

    pub fn group(&self, service: &str) -> &ServiceGroup {
        &self.groups[service]
    }

    /// The addresses of `service`'s replicas, each reached directly.
    pub fn replica_endpoints(&self, service: &str) -> Vec<String> {
        self.group(service)
            .replicas
            .iter()
            .map(Replica::uri)
            .collect()
    }

    /// The database URL of `service`, for assertions on what it stored.
    pub fn database_url(&self, service: &str) -> &str {
        &self.group(service).database.url
    }

    /// Waits until every service's outbox has routed each event some consumer takes and
    /// finished every delivery, with no event written meanwhile: whatever the events set off in
    /// the other services has happened, once or twice. A delivery a killed replica had claimed
    /// is waited for until its lease runs out and another replica delivers it.
    pub async fn settle(&self) {
        let chart = topology();
        let mut outboxes = Vec::new();
        for (name, group) in &self.groups {
            let consumed: Vec<String> = chart
                .values()
                .filter_map(|service| service["consumes"][name.as_str()].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            // Nobody consumes its events: they wait unrouted, and nothing is delivered.
            if !consumed.is_empty() {
                outboxes.push((name.clone(), group.database.connect().await, consumed));
            }
        }
        let outboxes = &outboxes;
        let settled = crate::eventually(Duration::from_secs(60), || async move {
            let before = events_written(outboxes).await;
            for (_, db, consumed) in outboxes {
                if !outbox_settled(db, consumed).await {
                    return None;
                }
            }
            // An event written while the outboxes were read may not have been seen: read again.
            (events_written(outboxes).await == before).then_some(())
        })
        .await;
        for (_, db, _) in outboxes {
            db.close().await;
        }
        let names: Vec<&str> = outboxes.iter().map(|(name, _, _)| name.as_str()).collect();
        assert!(
            settled.is_some(),
            "the outboxes of {names:?} did not settle within 60 s"
        );
    }

    /// Starts one more replica of `service`, waits until it serves and puts it behind the
    /// balancer; returns its address.
    pub async fn add_replica(&mut self, service: &str) -> SocketAddr {
        self.spawned += 1;
        let log = self
            .dir
            .path()
            .join(format!("{service}-{}.log", self.spawned));
        let group = self.groups.get_mut(service).expect("a known service");
        let replica = spawn_serve(&self.binary, service, &group.database.url, &group.env, log);
        wait_serving(&replica).await;
        let addr = replica.addr;
        group.replicas.push(replica);
        group
            .balancer
            .set_backends(group.replicas.iter().map(|r| r.addr).collect());
        addr
    }

    /// The database of `service`, to back up and restore while its replicas are stopped.
    pub fn database(&self, service: &str) -> &TestDatabase {
        &self.group(service).database
    }

    /// SIGKILLs every replica of `service` (see [`Topology::kill`]).
    pub fn kill_all(&mut self, service: &str) {
        while !self.group(service).replicas.is_empty() {
            self.kill(service, 0);
        }
    }

    /// SIGKILLs replica `index` of `service` and takes it out of the balancer, as Kubernetes
    /// does with a pod that died; [`Topology::add_replica`] starts its successor.
    pub fn kill(&mut self, service: &str, index: usize) {
        let group = self.groups.get_mut(service).expect("a known service");
        let mut replica = group.replicas.remove(index);
        let _ = replica.child.kill();
        let _ = replica.child.wait();
        group
            .balancer
            .set_backends(group.replicas.iter().map(|r| r.addr).collect());
    }

    /// Sends SIGTERM to every process at once (a namespace being drained) and returns how each
    /// exited, by service.
    pub fn terminate_all(&mut self) -> Vec<(String, ExitStatus)> {
        for group in self.groups.values() {
            for replica in &group.replicas {
                let sent = Command::new("kill")
                    .args(["-TERM", &replica.pid().to_string()])
                    .status()
                    .expect("kill -TERM");
                assert!(sent.success());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut exits = Vec::new();
        for (name, group) in &mut self.groups {
            for replica in &mut group.replicas {
                loop {
                    if let Some(status) = replica.child.try_wait().expect("wait") {
                        exits.push((name.clone(), status));
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{name}: no exit 60 s after SIGTERM"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            group.replicas.clear();
        }
        exits
    }

    /// The end of every process's log, for a failing test.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!("==== {}\n", log.display()));
            for line in &all[all.len().saturating_sub(lines)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::io::stderr().write_all(self.log_tails(40).as_bytes());
        }
        for group in self.groups.values_mut() {
            for replica in &mut group.replicas {
                let _ = replica.child.kill();
                let _ = replica.child.wait();
            }
        }
    }
}

/// Runs the chart's migration hook for org and returns the district root it made.
fn migrate_org(binary: &Path, database_url: &str) -> String {
    let output = Command::new(binary)
        .args([
            "migrate",
            "--service",
            "org",
            "--database-url",
            database_url,
        ])
        .env("JICENG_DISTRICT", TEST_DISTRICT)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run jiceng migrate");
    assert!(
        output.status.success(),
        "jiceng migrate --service org: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("district root: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the migration prints the district root")
        .to_owned()
}

/// Starts `jiceng serve --service <service>` on a port of its own choosing, its log (JSON lines)
/// copied to `log`; returns once it says where it listens.
fn spawn_serve(
    binary: &Path,
    service: &str,
    database_url: &str,
    env: &[(String, String)],
    log: PathBuf,
) -> Replica {
    let mut command = Command::new(binary);
    command
        .args(["serve", "--service", service, "--listen", "127.0.0.1:0"])
        .args(["--database-url", database_url])
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start jiceng serve");
    let (said, listening) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let said = said.clone();
        let log = log.clone();
        // Copies the process's output for its life, so that its pipe never fills.
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("open the log");
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                if let Some(addr) = serving_addr(&line) {
                    let _ = said.send(addr);
                }
            }
        });
    }
    let addr = listening
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "jiceng serve --service {service} did not say where it listens: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    Replica { child, addr, log }
}

/// The address in the log line that says a process serves.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let value: Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields").unwrap_or(&value);
    if fields.get("message")?.as_str()? != "serving" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// How many events every outbox in `outboxes` holds, routed or not.
async fn events_written(outboxes: &[(String, jiceng_db::Database, Vec<String>)]) -> Vec<i64> {
    let mut written = Vec::new();
    for (name, db, _) in outboxes {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events")
            .fetch_one(db.pool())
            .await
            .unwrap_or_else(|err| panic!("{name}'s outbox: {err}"));
        written.push(count);
    }
    written
}

/// Whether `db`'s outbox has routed every event of the `consumed` types and has no delivery
/// left to make.
async fn outbox_settled(db: &jiceng_db::Database, consumed: &[String]) -> bool {
    use sqlx::Row as _;
    let unrouted = sqlx::query(
        "SELECT event_type, COUNT(*) FROM outbox_events WHERE routed_at IS NULL GROUP BY event_type",
    )
    .fetch_all(db.pool())
    .await
    .expect("unrouted events");
    let waiting = unrouted.iter().any(|row| {
        let event_type: String = row.try_get(0).expect("event type");
        consumed.contains(&event_type)
    });
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox_deliveries WHERE state = 'pending'")
            .fetch_one(db.pool())
            .await
            .expect("pending deliveries");
    !waiting && pending == 0
}

/// Waits until the replica's health says SERVING (its database answers).
async fn wait_serving(replica: &Replica) {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let serving = crate::eventually(Duration::from_secs(60), || async move {
        let channel = tonic::transport::Endpoint::from_shared(replica.uri())
            .expect("uri")
            .connect()
            .await
            .ok()?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await;
        answer
            .is_ok_and(|a| a.into_inner().status == 1)
            .then_some(())
    })
    .await;
    assert!(
        serving.is_some(),
        "{} is not serving after 60 s",
        replica.addr
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sinks_are_written_as_the_chart_writes_them() {
        let sinks = event_sinks("org", |name| format!("http://{name}:50051"));
        // Consumers in the chart's order, each with exactly the org events it consumes.
        let consumers: Vec<&str> = sinks
            .split(' ')
            .map(|sink| sink.split('=').next().unwrap_or_default())
            .collect();
        assert_eq!(consumers, ["grid", "member", "notify", "property"]);
        assert!(sinks.contains(
            "grid=http://grid:50051;jiceng.org.v1.unit.moved,jiceng.org.v1.meeting.scheduled"
        ));
        assert_eq!(event_sinks("notify", |name| name.to_owned()), "");
    }
}
