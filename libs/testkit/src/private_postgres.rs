//! A PostgreSQL server of a test's own, in a temporary folder on a port of its own, that the test
//! may stop, crash and start again under load: the real restart and crash recovery that the
//! server every other test shares cannot be put through.

use std::{path::PathBuf, process::Command};

/// How a server stops: `Fast` is an orderly shutdown that ends every session (what a restart or
/// a planned failover does); `Immediate` is a crash, after which the server replays its WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    Fast,
    Immediate,
}

impl StopMode {
    fn flag(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Immediate => "immediate",
        }
    }
}

/// A running PostgreSQL server, stopped and removed, folder and all, when dropped.
#[derive(Debug)]
pub struct PrivateServer {
    programs: Programs,
    /// With TLS: the PEM file of the certificate authority that signed the server's
    /// certificate (for `localhost` and `127.0.0.1`), as a client's `sslrootcert`.
    pub tls_root: Option<PathBuf>,
    // Dropped after the server is stopped (fields drop in order, after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Creates and starts a server; `None` when PostgreSQL's server programs are not installed,
    /// except under CI (`CI` set), where that fails the test rather than skipping it.
    pub async fn start() -> Option<Self> {
        Self::start_with(false).await
    }

    /// Like [`PrivateServer::start`], serving TLS with a certificate from an authority of its
    /// own (see [`PrivateServer::tls_root`]).
    pub async fn start_with_tls() -> Option<Self> {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Option<Self> {
        let Some(bin) = server_programs() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL's server programs (initdb, pg_ctl) must be installed in CI"
            );
            return None;
        };
        let server = blocking(move || {
            let dir = tempfile::tempdir().expect("a folder for the server");
            let run_as_postgres = system_output(Command::new("id").arg("-u")).trim() == "0";
            if run_as_postgres {
                system_output(Command::new("chown").arg("postgres:").arg(dir.path()));
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let mut programs = Programs {
                bin,
                dir: dir.path().to_owned(),
                port,
                run_as_postgres,
                tls: false,
            };
            let data = programs.data();
            programs.run(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    // Durability of the cluster's template files is not under test.
                    "--no-sync",
                ],
            );
            let tls_root = tls.then(|| {
                programs.tls = true;
                programs.write_certificates()
            });
            programs.start();
            Self {
                programs,
                tls_root,
                _dir: dir,
            }
        })
        .await;
        Some(server)
    }

    /// The URL of the server's `postgres` database as its superuser.
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.programs.port
        )
    }

    /// Stops the server and waits until it is down.
    pub async fn stop(&self, mode: StopMode) {
        let programs = self.programs.clone();
        blocking(move || programs.stop(mode)).await;
    }

    /// Starts the stopped server again on the same port and data, and waits until it accepts
    /// connections (after crash recovery, when it was stopped `Immediate`).
    pub async fn start_again(&self) {
        let programs = self.programs.clone();
        blocking(move || programs.start()).await;
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // A server that is already down makes pg_ctl fail, which is fine here.
        let data = self.programs.data();
        let _ = self
            .programs
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Where a server's programs and files are, and who runs them; cheap to move onto a blocking
/// thread.
#[derive(Clone, Debug)]
struct Programs {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root; as root, its programs run as the `postgres` user.
    run_as_postgres: bool,
    /// Serves TLS with `server.crt` and `server.key` in its data folder.
    tls: bool,
}

impl Programs {
    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn start(&self) {
        let log = self.dir.join("server.log").display().to_string();
        // The socket goes in the server's own folder, not the shared server's.
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.display()
        );
        if self.tls {
            options.push_str(" -c ssl=on");
        }
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Makes a certificate authority and a server certificate it signs for `localhost` and
    /// `127.0.0.1`; puts the server's in the data folder (as PostgreSQL wants them: its own,
    /// the key private) and returns the authority's PEM file.
    fn write_certificates(&self) -> PathBuf {
        let certificates = crate::tls::TestCertificates::localhost();
        let data = PathBuf::from(self.data());
        std::fs::write(data.join("server.crt"), &certificates.server_pem).expect("server.crt");
        std::fs::write(data.join("server.key"), &certificates.server_key_pem).expect("server.key");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("server.key is private");
        if self.run_as_postgres {
            for file in ["server.crt", "server.key"] {
                system_output(Command::new("chown").arg("postgres:").arg(data.join(file)));
            }
        }
        // TLS or nothing, as a managed server or CloudNativePG's is set up.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
        )
        .expect("pg_hba.conf");
        if self.run_as_postgres {
            system_output(
                Command::new("chown")
                    .arg("postgres:")
                    .arg(data.join("pg_hba.conf")),
            );
        }
        let root = self.dir.join("root.crt");
        std::fs::write(&root, &certificates.authority_pem).expect("root.crt");
        root
    }

    fn stop(&self, mode: StopMode) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", mode.flag(), "-w", "stop"],
        );
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }
}

/// The folder holding `initdb` and `pg_ctl`: on the `PATH`, or else Debian's newest
/// `/usr/lib/postgresql/<version>/bin`.
fn server_programs() -> Option<PathBuf> {
    let has_programs = |dir: &PathBuf| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| has_programs(dir)));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, bin)| has_programs(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

fn system_output(command: &mut Command) -> String {
    let out = command.output().expect("a system program runs");
    assert!(out.status.success(), "{command:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs blocking work (a server program that waits for its server) off the runtime's workers,
/// which the platform under test is using.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("the blocking work does not panic")
}
