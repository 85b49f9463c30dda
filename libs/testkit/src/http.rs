use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::TestCertificates;

/// One request an [`HttpReceiver`] received, and the status it answered.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 endpoint for webhook tests: it answers with scripted statuses (then 200)
/// and records every request; over TLS too, with a certificate of the test's own authority.
#[derive(Debug)]
pub struct HttpReceiver {
    pub addr: std::net::SocketAddr,
    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` over TLS.
    base: String,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    _task: tokio::task::JoinHandle<()>,
}

type Requests = Arc<Mutex<Vec<ReceivedRequest>>>;

impl HttpReceiver {
    pub async fn start(statuses: Vec<u16>) -> Self {
        let (listener, addr) = crate::bind_local().await;
        let requests = Requests::default();
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            while let Ok((stream, _)) = listener.accept().await {
                answer(stream, &mut statuses, &recorded).await;
            }
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            requests,
            _task: task,
        }
    }

    /// A receiver over TLS, and the PEM of the authority its certificate comes from.
    pub async fn start_tls(statuses: Vec<u16>) -> (Self, String) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
        let certificates = TestCertificates::localhost();
        let chain =
            vec![CertificateDer::from_pem_slice(certificates.server_pem.as_bytes()).expect("cert")];
        let key =
            PrivateKeyDer::from_pem_slice(certificates.server_key_pem.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (listener, addr) = crate::bind_local().await;
        let requests = Requests::default();
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            while let Ok((stream, _)) = listener.accept().await {
                // A client that does not trust the authority ends its handshake: nothing to record.
                if let Ok(stream) = acceptor.accept(stream).await {
                    answer(stream, &mut statuses, &recorded).await;
                }
            }
        });
        let receiver = Self {
            addr,
            base: format!("https://localhost:{}", addr.port()),
            requests,
            _task: task,
        };
        (receiver, certificates.authority_pem)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until `count` requests arrived or the timeout passed; returns what arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let arrived = crate::eventually(timeout, || async move {
            let requests = self.requests();
            (requests.len() >= count).then_some(requests)
        })
        .await;
        arrived.unwrap_or_else(|| self.requests())
    }
}

/// Reads one request from `stream`, records it and answers it with the next scripted status:
/// recorded before it is answered, so a client that has its answer finds its request in
/// [`HttpReceiver::requests`] (a test asserts what arrived without waiting for the recording).
async fn answer(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    statuses: &mut impl Iterator<Item = u16>,
    recorded: &Requests,
) {
    let Some(mut request) = read_request(&mut stream).await else {
        return;
    };
    request.status = statuses.next().unwrap_or(200);
    let response = format!(
        "HTTP/1.1 {} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        request.status
    );
    recorded
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(request);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut (impl AsyncRead + Unpin)) -> Option<ReceivedRequest> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(ReceivedRequest {
        method,
        path,
        headers,
        body,
        status: 0,
    })
}
