//! The platform's connections to PostgreSQL over TLS: a server of the test's own that accepts
//! nothing else, reached with `sslmode=verify-full` and the authority that signed its
//! certificate, as a district reaches CloudNativePG's or a managed server with its CA.

use jiceng_db::Database;
use jiceng_testkit::private_postgres::PrivateServer;
use sqlx::Row as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_tls_is_reached_with_its_authority_verified() {
    let Some(server) = PrivateServer::start_with_tls().await else {
        eprintln!("skipped: PostgreSQL's server programs are not installed");
        return;
    };
    let root = server.tls_root.clone().expect("the server's authority");
    let url = |query: &str| format!("{}?{query}", server.admin_url());

    let verified = Database::connect(&url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        root.display()
    )))
    .await
    .expect("verify-full with the server's authority");
    let encrypted: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(verified.pool())
        .await
        .expect("pg_stat_ssl")
        .try_get(0)
        .expect("ssl");
    assert!(encrypted);
    verified.close().await;

    assert!(
        Database::connect(&url("sslmode=disable")).await.is_err(),
        "a plaintext connection is refused by the server"
    );
    let stranger = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(
        stranger.path(),
        rcgen::CertifiedIssuer::self_signed(
            {
                let mut params =
                    rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                params
            },
            rcgen::KeyPair::generate().expect("key"),
        )
        .expect("another authority")
        .pem(),
    )
    .expect("write");
    assert!(
        Database::connect(&url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            stranger.path().display()
        )))
        .await
        .is_err(),
        "a certificate another authority signed is not trusted"
    );
}
