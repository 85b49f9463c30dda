//! `jiceng.events.v1.EventSinkService` for the grid service: when an org subtree moves, its
//! grids, cases and wishes take their new paths (so subtree lists and the escalation chain
//! follow the tree) and cached scope answers for it are dropped.

use jiceng_auth::{Role, caller};
use jiceng_proto::{
    cloudevents::cloud_event::Data,
    events::{DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService},
    org as org_pb,
};
use tonic::{Request, Response, Status};

use super::{GridApi, to_status};

/// The event types the grid service consumes.
pub const CONSUMED: &[&str] = &["jiceng.org.v1.unit.moved"];

#[tonic::async_trait]
impl EventSinkService for GridApi {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("event is required"))?;
        if event.r#type != "jiceng.org.v1.unit.moved" {
            return Ok(Response::new(DeliverResponse { duplicate: false }));
        }
        let moved: org_pb::UnitMovedEvent = match &event.data {
            Some(Data::ProtoData(any)) => prost::Message::decode(any.value.as_slice())
                .map_err(|_| Status::invalid_argument("event data does not decode"))?,
            _ => return Err(Status::invalid_argument("event data must be protobuf")),
        };
        self.org.scopes().invalidate_subtree(&moved.unit_id);
        let new_path = self.path_of(&moved.unit_id).await?;
        // Re-pathing to the path already stored changes nothing: a redelivery is harmless.
        self.store
            .repath(&moved.unit_id, &new_path)
            .await
            .map_err(to_status)?;
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}
