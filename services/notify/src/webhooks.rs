//! The webhook channel: signed JSON POSTs to other government systems, retried with exponential
//! backoff and jitter, every attempt recorded. The POST continues the publishing trace.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use jiceng_db::now_millis;
use serde_json::json;
use sha2::Sha256;
use tracing::Instrument as _;

use crate::store::{Attempt, DueDelivery, NextStep, NotifyStore, StoreError};

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
        }
    }
}

/// Sends due webhook deliveries.
#[derive(Debug)]
pub struct WebhookDispatcher {
    store: NotifyStore,
    client: Client<HttpConnector, Full<Bytes>>,
    options: DispatchOptions,
}

impl WebhookDispatcher {
    pub fn new(store: NotifyStore, options: DispatchOptions) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            store,
            client,
            options,
        }
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
        let now = now_millis();
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
                tracing::error!(notification.id = %delivery.notification.id, url = %delivery.url, "webhook delivery failed for good");
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

    async fn post(&self, delivery: &DueDelivery) -> Attempt {
        let span = tracing::info_span!("notify.webhook", notification.id = %delivery.notification.id, url = %delivery.url, attempt = delivery.attempts);
        if let Some(traceparent) = &delivery.traceparent {
            jiceng_telemetry::continue_trace(&span, traceparent);
        }
        let started = Instant::now();
        let at = now_millis();
        let result = self.send(delivery, &span).instrument(span.clone()).await;
        let latency_ms = started.elapsed().as_millis() as i64;
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
            .map_err(|e| format!("bad request: {e}"))?;
        let response =
            tokio::time::timeout(self.options.request_timeout, self.client.request(request))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        // Read the body so the connection can be reused; its content does not matter.
        let _ = response.into_body().collect().await;
        Ok(status)
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
