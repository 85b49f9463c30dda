//! The webhook channel: signed JSON POSTs to other government systems, over HTTPS (rustls, the
//! system's roots and a configured CA) or plain HTTP, only to the destinations the deployment
//! allows (see [`crate::egress`]), retried with exponential backoff and jitter, every attempt
//! recorded — as what happened in general terms, never the remote's own words, which would map
//! hosts and ports to whoever registered the URL. The POST continues the publishing trace.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use jiceng_db::now_millis;
use serde_json::json;
use sha2::Sha256;
use tracing::Instrument as _;

use crate::{
    domain::Attempt,
    egress::{PolicyResolver, WebhookPolicy, literal_address},
    store::{DueDelivery, NextStep, NotifyStore, StoreError},
};

/// What an attempt records when the policy refused its destination.
pub const REFUSED_BY_POLICY: &str = "destination not allowed by the webhook policy";

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: what the receiver recomputes.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A fresh signing secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    (0..32)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

#[derive(Clone, Debug)]
pub struct DispatchOptions {
    pub batch_size: i64,
    pub lease: Duration,
    pub idle_interval: Duration,
    pub request_timeout: Duration,
    /// Attempts before a delivery is given up as failed.
    pub max_attempts: i64,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Where webhooks may go; nowhere when empty.
    pub policy: Arc<WebhookPolicy>,
    /// A CA (PEM) trusted for HTTPS webhooks besides the system's roots: a government
    /// network's own CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            batch_size: 50,
            lease: Duration::from_secs(60),
            idle_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            policy: Arc::default(),
            ca_pem: None,
        }
    }
}

/// Why the webhook client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the webhook CA is not PEM certificates: {0}")]
    Ca(String),
    #[error("TLS for webhooks: {0}")]
    Tls(#[from] rustls::Error),
}

type WebhookClient = Client<HttpsConnector<HttpConnector<PolicyResolver>>, Full<Bytes>>;

/// An HTTP client that reaches only what `options.policy` allows, HTTPS with the system's
/// roots and `options.ca_pem`.
fn client(options: &DispatchOptions) -> Result<WebhookClient, ClientError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let mut roots = rustls::RootCertStore::empty();
    // An unreadable system store leaves the configured CA, which may be all a district uses.
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "a system CA certificate could not be loaded for webhooks");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(pem) = &options.ca_pem {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError::Ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(ClientError::Ca("no certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert)?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http =
        HttpConnector::new_with_resolver(PolicyResolver::new(Arc::clone(&options.policy)));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// What an attempt that got no response says: the kind of failure, not the remote's words.
fn failure_of(error: &hyper_util::client::legacy::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return "TLS handshake failed";
        }
        source = match cause.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                return REFUSED_BY_POLICY;
            }
            // An I/O error's `source` skips the error it wraps (TLS errors come so wrapped).
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// Sends due webhook deliveries.
#[derive(Debug)]
pub struct WebhookDispatcher {
    store: NotifyStore,
    client: WebhookClient,
    options: DispatchOptions,
}

impl WebhookDispatcher {
    pub fn new(store: NotifyStore, options: DispatchOptions) -> Result<Self, ClientError> {
        Ok(Self {
            store,
            client: client(&options)?,
            options,
        })
    }

    /// Dispatches until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pause = match self.dispatch_once().await {
                Ok(0) => self.options.idle_interval,
                Ok(_) => Duration::ZERO,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook dispatch round failed");
                    self.options.idle_interval * 5
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Sends one batch of due deliveries concurrently; returns how many it sent.
    pub async fn dispatch_once(&self) -> Result<usize, StoreError> {
        let now = self.store.now();
        let lease_until = now + self.options.lease.as_millis() as i64;
        let due = self
            .store
            .claim_deliveries(now, lease_until, self.options.batch_size)
            .await?;
        let count = due.len();
        let sent = futures::future::join_all(
            due.iter()
                .map(|delivery| async move { (delivery, self.post(delivery).await) }),
        )
        .await;
        for (delivery, attempt) in sent {
            let next = if (200..300).contains(&attempt.http_status) {
                NextStep::Delivered
            } else if delivery.attempts >= self.options.max_attempts {
                // Logged by `post`, inside the attempt's span.
                NextStep::Failed
            } else {
                NextStep::RetryAt(attempt.at + self.backoff(delivery.attempts).as_millis() as i64)
            };
            self.store.record_attempt(delivery, &attempt, next).await?;
        }
        Ok(count)
    }

    /// Exponential in the attempts so far, capped, with full jitter.
    fn backoff(&self, attempts: i64) -> Duration {
        let exp = self
            .options
            .initial_backoff
            .saturating_mul(1 << attempts.clamp(0, 20) as u32);
        exp.min(self.options.max_backoff)
            .mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    /// One attempt, in a span that continues the notification's trace. An attempt that fails
    /// (no answer, or an answer other than 2xx) is that span's error and is logged inside it, so
    /// that its WARN (or, on the last attempt, ERROR) line carries the trace.
    async fn post(&self, delivery: &DueDelivery) -> Attempt {
        let span = tracing::info_span!(
            "notify.webhook",
            notification.id = %delivery.notification.id,
            url = %delivery.url,
            attempt = delivery.attempts,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
        );
        if let Some(traceparent) = &delivery.traceparent {
            jiceng_telemetry::continue_trace(&span, traceparent);
        }
        let started = Instant::now();
        let at = self.store.now();
        let result = self.send(delivery, &span).instrument(span.clone()).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let outcome = match &result {
            Ok(status) if (200..300).contains(status) => "delivered",
            Ok(_) => "rejected",
            Err(_) => "unreachable",
        };
        attempt_metrics::record(outcome, started.elapsed());
        let failure = match &result {
            Ok(status) => {
                span.record("http.response.status_code", status);
                (!(200..300).contains(status)).then(|| format!("answered HTTP {status}"))
            }
            Err(error) => Some(error.clone()),
        };
        if let Some(failure) = failure {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", failure.as_str());
            let _entered = span.enter();
            let (id, url) = (&delivery.notification.id, &delivery.url);
            if delivery.attempts >= self.options.max_attempts {
                tracing::error!(notification.id = %id, %url, %failure, attempts = delivery.attempts,
                    "webhook delivery failed for good");
            } else {
                tracing::warn!(notification.id = %id, %url, %failure, attempts = delivery.attempts,
                    "webhook delivery failed, will retry");
            }
        }
        match result {
            Ok(status) => Attempt {
                at,
                http_status: i64::from(status),
                latency_ms,
                error: String::new(),
            },
            Err(error) => Attempt {
                at,
                http_status: 0,
                latency_ms,
                error,
            },
        }
    }

    async fn send(&self, delivery: &DueDelivery, span: &tracing::Span) -> Result<u16, String> {
        // The resolver checks names as they resolve; an address written in the URL is checked
        // here, against the policy as it stands now rather than when the URL was registered.
        let host = delivery
            .url
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_owned));
        let admitted = match host.as_deref() {
            Some(host) => {
                literal_address(host).is_none_or(|ip| self.options.policy.allows_address(false, ip))
            }
            None => false,
        };
        if !admitted {
            tracing::warn!(notification.id = %delivery.notification.id, url = %delivery.url, "webhook destination not allowed by the policy");
            return Err(REFUSED_BY_POLICY.to_owned());
        }
        let n = &delivery.notification;
        let body = json!({
            "id": n.id,
            "recipient": delivery.recipient,
            "category": n.category.as_str(),
            "priority": n.priority.as_str(),
            "title": n.title,
            "body": n.body,
            "link": n.link,
            "data": n.data,
            "source_event_id": n.source_event_id,
            "created_at_ms": n.created_at,
        })
        .to_string();
        // The receiver checks the timestamp against its own clock: the real time, whatever time
        // the platform is told it is.
        let timestamp = now_millis() / 1000;
        let mut request = http::Request::post(&delivery.url)
            .header("content-type", "application/json")
            .header("x-jiceng-timestamp", timestamp.to_string())
            .header(
                "x-jiceng-signature",
                signature(&delivery.secret, timestamp, body.as_bytes()),
            )
            .header("x-jiceng-notification-id", n.id.as_str());
        if let Some(traceparent) = jiceng_telemetry::traceparent_of(span) {
            request = request.header("traceparent", traceparent);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| "the URL cannot be requested".to_owned())?;
        let response =
            tokio::time::timeout(self.options.request_timeout, self.client.request(request))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|error| {
                    // Operators see the remote's words; the delivery status does not.
                    tracing::warn!(notification.id = %n.id, url = %delivery.url, error = %error, "webhook request failed");
                    failure_of(&error).to_owned()
                })?;
        let status = response.status().as_u16();
        // Read the body so the connection can be reused; its content does not matter.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
}

/// `jiceng.webhook.attempts` and `jiceng.webhook.duration`, by outcome: `delivered` (2xx),
/// `rejected` (any other answer) or `unreachable` (no answer: refused, timed out, not allowed
/// by the egress policy).
mod attempt_metrics {
    use std::time::Duration;

    use jiceng_telemetry::metrics::{Instruments, duration_histogram, meter, millis};
    use opentelemetry::{
        KeyValue,
        metrics::{Counter, Histogram},
    };

    struct AttemptInstruments {
        attempts: Counter<u64>,
        duration: Histogram<f64>,
    }

    static INSTRUMENTS: Instruments<AttemptInstruments> = Instruments::new(|| AttemptInstruments {
        attempts: meter()
            .u64_counter("jiceng.webhook.attempts")
            .with_description("Webhook delivery attempts, by outcome")
            .build(),
        duration: duration_histogram(
            "jiceng.webhook.duration",
            "How long a webhook took to answer, or to fail",
        ),
    });

    pub(super) fn record(outcome: &'static str, took: Duration) {
        let outcome = [KeyValue::new("outcome", outcome)];
        let instruments = INSTRUMENTS.get();
        instruments.attempts.add(1, &outcome);
        instruments.duration.record(millis(took), &outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipe() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with Python's hmac module.
        let sig = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(sig, signature("key", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature("other", 1_700_000_000, b"{}"));
        assert_eq!(new_secret().len(), 64);
    }
}
