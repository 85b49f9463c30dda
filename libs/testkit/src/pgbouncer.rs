//! A PgBouncer of a test's own in front of the PostgreSQL server the tests use, so that a
//! scenario runs through the pooler a district puts between its pods and its database.

use std::{
    io::Write as _,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How PgBouncer hands server connections to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// A server connection for each client connection's life.
    Session,
    /// A server connection for each transaction.
    Transaction,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Transaction => "transaction",
        }
    }
}

/// A running PgBouncer, stopped when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    port: u16,
    /// The folder of its configuration and log, removed after it stops.
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer in `mode` in front of the server `database_url` names, admitting that
    /// URL's user without a password (the tests' server trusts local connections). `None` when
    /// PgBouncer is not installed, except under CI (`CI` set), where that fails the test.
    pub fn start(database_url: &str, mode: PoolMode) -> Option<Self> {
        let Some(program) = program() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PgBouncer must be installed in CI (Debian's pgbouncer package)"
            );
            return None;
        };
        let (user, host, port) = server_of(database_url);
        let dir = tempfile::tempdir().expect("a folder for PgBouncer");
        // Run as root, PgBouncer drops to the postgres user, who must read its files.
        make_readable(dir.path());
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).expect("PgBouncer's users");
        let config = dir.path().join("pgbouncer.ini");
        // The driver sends `extra_float_digits` when it connects, which PgBouncer refuses unless
        // told to ignore it (CloudNativePG's Pooler ignores it by default).
        let mut file = std::fs::File::create(&config).expect("PgBouncer's configuration");
        writeln!(
            file,
            "[databases]\n* = host={host} port={port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\npool_mode = {mode}\n\
             max_client_conn = 500\ndefault_pool_size = 40\n\
             ignore_startup_parameters = extra_float_digits\n{prepared}\
             logfile = {log}\npidfile =\n",
            users = users.display(),
            mode = mode.as_str(),
            log = dir.path().join("pgbouncer.log").display(),
            // Protocol-level prepared statements, tracked per client (1.21 and later).
            prepared = if version().is_some_and(|v| v >= (1, 21)) {
                "max_prepared_statements = 200\n"
            } else {
                ""
            },
        )
        .expect("PgBouncer's configuration");
        drop(file);
        for path in [&users, &config] {
            make_readable(path);
        }
        let mut command = Command::new(program);
        if is_root() {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start PgBouncer");
        let bouncer = Self {
            child,
            port: listen,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PgBouncer did not listen within 10 s: {}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(bouncer)
    }

    /// Whether the installed PgBouncer pools transactions for clients that prepare statements
    /// (1.21 and later, with `max_prepared_statements`, which [`PgBouncer::start`] sets).
    pub fn tracks_prepared_statements() -> bool {
        version().is_some_and(|v| v >= (1, 21))
    }

    /// `database_url` with PgBouncer's address in place of the server's.
    pub fn url_for(&self, database_url: &str) -> String {
        let (scheme, rest) = database_url
            .split_once("://")
            .expect("a PostgreSQL URL has a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = authority.rsplit_once('@').map(|(user, _)| user);
        let address = format!("127.0.0.1:{}", self.port);
        match user {
            Some(user) => format!("{scheme}://{user}@{address}/{path}"),
            None => format!("{scheme}://{address}/{path}"),
        }
    }

    /// What PgBouncer logged, for a failing test.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn program() -> Option<&'static str> {
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
}

/// The installed PgBouncer's version, major and minor.
fn version() -> Option<(u32, u32)> {
    let out = Command::new(program()?).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let number = text.split_whitespace().nth(1)?;
    let mut parts = number.split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn make_readable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if path.is_dir() { 0o777 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("make PgBouncer's files readable");
}

/// The user, host and port of a PostgreSQL URL (`postgres://user@host:port/db`).
fn server_of(url: &str) -> (String, String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (user, address) = authority
        .rsplit_once('@')
        .map_or(("postgres", authority), |(user, address)| (user, address));
    let user = user.split(':').next().unwrap_or(user);
    let (host, port) = address
        .rsplit_once(':')
        .map_or((address, 5432), |(host, port)| {
            (host, port.parse().unwrap_or(5432))
        });
    (user.to_owned(), host.to_owned(), port)
}

#[cfg(test)]
mod tests {
    use super::server_of;

    #[test]
    fn a_url_names_its_server() {
        assert_eq!(
            server_of("postgres://jiceng_test@127.0.0.1:5432/jiceng_test"),
            ("jiceng_test".into(), "127.0.0.1".into(), 5432)
        );
        assert_eq!(
            server_of("postgres://u:secret@db.internal/x?sslmode=require"),
            ("u".into(), "db.internal".into(), 5432)
        );
    }
}
