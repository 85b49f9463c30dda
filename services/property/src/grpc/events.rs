//! `jiceng.events.v1.EventSinkService` for the property service: when an org subtree moves,
//! its companies, compounds, schedules, assessments and disclosures take their new paths (so
//! subtree lists and compliance reports follow the tree) and cached scope answers are dropped.

use jiceng_auth::{Role, caller};
use jiceng_proto::{
    event_types,
    events::{DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService},
    org as org_pb,
};
use tonic::{Request, Response, Status};

use super::PropertyApi;

use jiceng_proto::event_types::UNIT_MOVED;

/// The event types the property service consumes.
pub const CONSUMED: &[&str] = &[UNIT_MOVED];

impl PropertyApi {
    async fn unit_moved(&self, moved: org_pb::UnitMovedEvent) -> Result<(), Status> {
        self.org
            .scopes()
            .invalidate_subtree(&moved.unit_id, moved.tree_generation);
        // The path now, not the one the event saw: events of two moves may come in either order.
        let new_path = self.org.current_path_of(&moved.unit_id).await?;
        self.store.repath(&moved.unit_id, &new_path).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl EventSinkService for PropertyApi {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("event is required"))?;
        if event.r#type == UNIT_MOVED {
            let moved: org_pb::UnitMovedEvent = event_types::data_of(&event)?;
            self.unit_moved(moved).await?;
        }
        // Re-pathing is idempotent: a redelivery is no duplicate to report.
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}
