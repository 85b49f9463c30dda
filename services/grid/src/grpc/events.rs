//! `jiceng.events.v1.EventSinkService` for the grid service: when an org subtree moves, its
//! grids, cases and wishes take their new paths (so subtree lists and the escalation chain
//! follow the tree) and cached scope answers for it are dropped; a joint meeting scheduled about
//! a case joins that case's history.

use jiceng_auth::{Role, caller};
use jiceng_grpc::millis_of;
use jiceng_proto::{
    event_types,
    events::{DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService},
    org as org_pb,
};
use tonic::{Request, Response, Status};

use super::GridApi;
use crate::{domain::calendar::beijing_minute, store::StoreError};

use jiceng_proto::event_types::{MEETING_SCHEDULED, UNIT_MOVED};

/// The event types the grid service consumes.
pub const CONSUMED: &[&str] = &[UNIT_MOVED, MEETING_SCHEDULED];

impl GridApi {
    async fn unit_moved(&self, moved: org_pb::UnitMovedEvent) -> Result<bool, Status> {
        self.org
            .scopes()
            .invalidate_subtree(&moved.unit_id, moved.tree_generation);
        // The path now, not the one the event saw: events of two moves may come in either order.
        let new_path = self.org.current_path_of(&moved.unit_id).await?;
        // Re-pathing to the path already stored changes nothing: a redelivery is harmless.
        self.store.repath(&moved.unit_id, &new_path).await?;
        Ok(false)
    }

    /// A meeting about a case joins its history once; a meeting about anything else is no
    /// concern of the grid's.
    async fn meeting_scheduled(&self, meeting: org_pb::JointMeeting) -> Result<bool, Status> {
        let Some(org_pb::joint_meeting::Topic::GridCaseId(case_id)) = &meeting.topic else {
            return Ok(false);
        };
        let host = match &meeting.host {
            Some(org_pb::joint_meeting::Host::HostUnitId(unit)) => unit.clone(),
            _ => String::new(),
        };
        let when = millis_of(meeting.scheduled_time.as_ref())
            .ok()
            .flatten()
            .map(beijing_minute)
            .unwrap_or_default();
        let note = format!(
            "joint meeting “{}” scheduled for {when} (meeting {})",
            meeting.title, meeting.id
        );
        match self
            .store
            .record_meeting(case_id, &meeting.id, &host, &note, self.store.now())
            .await
        {
            Ok(first) => Ok(!first),
            // The org service checked the case when the meeting was scheduled; a case gone
            // since has no history to join, and retrying would not bring it back.
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(case = %case_id, meeting = %meeting.id, "meeting about an unknown case");
                Ok(false)
            }
            Err(err) => Err(Status::from(err)),
        }
    }
}

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
        let duplicate = match event.r#type.as_str() {
            UNIT_MOVED => self.unit_moved(event_types::data_of(&event)?).await?,
            MEETING_SCHEDULED => {
                self.meeting_scheduled(event_types::data_of(&event)?)
                    .await?
            }
            _ => false,
        };
        Ok(Response::new(DeliverResponse { duplicate }))
    }
}
