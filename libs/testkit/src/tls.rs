//! A certificate authority of a test's own and a server certificate it signs for `localhost`
//! and `127.0.0.1`: what a test's TLS servers (PostgreSQL, a webhook receiver) present, and what
//! their clients are told to trust.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// PEM texts of an authority and of the server certificate it signed, with the server's key.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    pub authority_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
}

impl TestCertificates {
    pub fn localhost() -> Self {
        let mut authority = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        authority
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jiceng test authority");
        let authority = CertifiedIssuer::self_signed(authority, KeyPair::generate().expect("key"))
            .expect("CA certificate");
        let server_key = KeyPair::generate().expect("key");
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &authority)
            .expect("server certificate");
        Self {
            authority_pem: authority.pem(),
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }
}
