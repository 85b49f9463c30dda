//! `jiceng.events.v1.EventSinkService` for the member service: the org service's attendance
//! records become activities (and, when a district defines the rule `activity.attend`, points);
//! micro-wishes whose fulfilment the collecting org confirmed earn the claiming member and the
//! fellow members who accepted points under `wish.fulfilled`, when the district defines it;
//! moved subtrees invalidate the scope cache.

use jiceng_auth::{Role, caller};
use jiceng_proto::{
    event_types,
    events::{DeliverRequest, DeliverResponse, event_sink_service_server::EventSinkService},
    grid as grid_pb, org as org_pb,
};
use tonic::{Request, Response, Status};

use super::MemberApi;
use crate::{
    domain::points::periods,
    store::{StoreError, activities::NewActivity, ledger::NewEntry},
};

/// The event types the member service consumes.
pub const CONSUMED: &[&str] = &[
    event_types::WISH_CONFIRMED,
    event_types::ATTENDANCE_RECORDED,
    event_types::UNIT_MOVED,
];

/// The rule that, when a district defines it, rewards attending a booked activity.
const ATTENDANCE_RULE: &str = "activity.attend";

/// The rule that, when a district defines it, rewards fulfilling a micro-wish.
const WISH_RULE: &str = "wish.fulfilled";

#[tonic::async_trait]
impl EventSinkService for MemberApi {
    async fn deliver(
        &self,
        request: Request<DeliverRequest>,
    ) -> Result<Response<DeliverResponse>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("event is required"))?;
        match event.r#type.as_str() {
            event_types::UNIT_MOVED => {
                let moved: org_pb::UnitMovedEvent = event_types::data_of(&event)?;
                self.org
                    .scopes()
                    .invalidate_subtree(&moved.unit_id, moved.tree_generation);
                // Members below the moved unit take its path now (not the one the event saw:
                // events of two moves may come in either order).
                let new_path = self.org.current_path_of(&moved.unit_id).await?;
                self.store.repath_members(&moved.unit_id, &new_path).await?;
                Ok(Response::new(DeliverResponse { duplicate: false }))
            }
            event_types::ATTENDANCE_RECORDED => {
                let booking: org_pb::Booking = event_types::data_of(&event)?;
                let Some(attendance) = booking.attendance else {
                    return Err(Status::invalid_argument("no attendance in the booking"));
                };
                let org_id = match booking.booker {
                    Some(org_pb::booking::Booker::UnitId(unit)) => unit,
                    _ => booking.venue_id.clone(),
                };
                let held_at = booking
                    .start_time
                    .map_or_else(|| self.store.now(), |t| t.seconds * 1000);
                let new = NewActivity {
                    kind: "org_life",
                    title: booking.title.clone(),
                    org_id,
                    held_on: periods(held_at).2,
                    attendees: attendance.member_ids,
                    booking_id: Some(booking.id.clone()),
                    request: None,
                };
                let (_, added) = self.store.record_activity(&new).await?;
                for member in &added {
                    let entry = NewEntry {
                        id: format!("attendance:{}:{member}", booking.id),
                        member_id: member.clone(),
                        reason: format!("参加活动：{}", booking.title),
                        evidence: format!("bookings/{}", booking.id),
                        source_event_id: event.id.clone(),
                        actor: event.source.clone(),
                    };
                    match self
                        .store
                        .award(&entry, ATTENDANCE_RULE, self.store.now())
                        .await
                    {
                        Ok(_)
                        | Err(StoreError::NotFound { .. })
                        | Err(StoreError::Precondition { .. }) => {}
                        Err(err) => return Err(Status::from(err)),
                    }
                }
                Ok(Response::new(DeliverResponse {
                    duplicate: added.is_empty(),
                }))
            }
            event_types::WISH_CONFIRMED => {
                let wish: grid_pb::Wish = event_types::data_of(&event)?;
                // Named fellow members who have not accepted are not credited.
                let mut members = vec![wish.claimant_member_id.clone()];
                members.extend(wish.accepted_member_ids.iter().cloned());
                members.retain(|m| !m.is_empty());
                members.sort();
                members.dedup();
                // One entry per member and wish: a redelivered event replays the same ids.
                for member in &members {
                    let entry = NewEntry {
                        id: format!("wish:{}:{member}", wish.id),
                        member_id: member.clone(),
                        reason: format!("认领并实现微心愿：{}", wish.title),
                        evidence: format!("wishes/{}", wish.id),
                        source_event_id: event.id.clone(),
                        actor: event.source.clone(),
                    };
                    match self.store.award(&entry, WISH_RULE, self.store.now()).await {
                        Ok(_)
                        | Err(StoreError::NotFound { .. })
                        | Err(StoreError::Precondition { .. }) => {}
                        Err(err) => return Err(Status::from(err)),
                    }
                }
                Ok(Response::new(DeliverResponse { duplicate: false }))
            }
            _ => Ok(Response::new(DeliverResponse { duplicate: false })),
        }
    }
}
