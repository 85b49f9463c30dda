use std::sync::Arc;

use jiceng_proto::events::{
    DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService,
};
use tonic::{Request, Response, Status};

/// One `EventSinkService` for a process that hosts several consumers (`jiceng up`): gRPC routes
/// by service name, so a process serves the sink once and hands each event to every consumer
/// of its type.
#[derive(Clone, Default)]
pub struct SinkRouter {
    consumers: Vec<(Vec<String>, Arc<dyn EventSinkService>)>,
}

impl std::fmt::Debug for SinkRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkRouter")
            .field("consumers", &self.consumers.len())
            .finish()
    }
}

impl SinkRouter {
    /// Adds a consumer of the event types matching `event_types` (exact, or a prefix ending in `*`).
    pub fn add(&mut self, event_types: &[&str], consumer: Arc<dyn EventSinkService>) {
        self.consumers.push((
            event_types.iter().map(|t| t.to_string()).collect(),
            consumer,
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// Every event type some consumer here takes.
    pub fn event_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .consumers
            .iter()
            .flat_map(|(types, _)| types.clone())
            .collect();
        types.sort();
        types.dedup();
        types
    }
}

fn matches(patterns: &[String], event_type: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => pattern == event_type,
        })
}

#[tonic::async_trait]
impl EventSinkService for SinkRouter {
    /// Delivers to every consumer of the type; any failure fails the delivery, and the relay's
    /// retry is absorbed by the consumers that had succeeded (they deduplicate).
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        // Checked here as well as by each consumer: an event type nobody here takes would
        // otherwise be answered to any caller.
        jiceng_auth::caller(&request)?.require_any(&[jiceng_auth::Role::Service])?;
        let (metadata, extensions, message) = request.into_parts();
        let event_type = message
            .event
            .as_ref()
            .map(|e| e.r#type.clone())
            .unwrap_or_default();
        let mut duplicate = true;
        let mut consumed = false;
        for (patterns, consumer) in &self.consumers {
            if !matches(patterns, &event_type) {
                continue;
            }
            consumed = true;
            let forwarded =
                Request::from_parts(metadata.clone(), extensions.clone(), message.clone());
            duplicate &= consumer.deliver(forwarded).await?.into_inner().duplicate;
        }
        Ok(Response::new(DeliverResponse {
            duplicate: consumed && duplicate,
        }))
    }
}
