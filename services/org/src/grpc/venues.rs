//! `jiceng.org.v1.VenueService`: shared venues, bookings and attendance records. Attendance is
//! credited (an activity, points under `activity.attend`), so the members it names must belong
//! to the booking unit's subtree or to the recording admin's scope, as the member service says.

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
use jiceng_member_client::MemberRoll;
use jiceng_proto::org::{self as pb, venue_service_server::VenueService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::{ADMINS, millis_of, mutation, scope_unit, visible_unit};
use crate::proto::venues::{booking_to_proto, venue_to_proto};
use crate::{
    domain::{
        RequestId, UnitId, text,
        venues::{Attendance, Booker, Booking, NewBooking, NewVenue, OpeningHours, Venue},
    },
    store::OrgStore,
};

/// The longest booking: a day.
const MAX_BOOKING_MS: i64 = 86_400_000;

#[derive(Clone, Debug)]
pub struct VenueApi {
    store: OrgStore,
    /// Where attendees are looked up; without it, attendance names no members.
    members: Option<MemberRoll>,
}

impl VenueApi {
    pub fn new(store: OrgStore, members: Option<MemberRoll>) -> Self {
        Self { store, members }
    }

    /// Refuses, by their place in the request, the attendees who are not active members held
    /// in the booking unit's subtree or (for an admin) in the caller's scope. An unknown id and
    /// one held elsewhere are refused alike, so the answer does not tell which ids exist.
    async fn require_creditable(
        &self,
        caller: &Caller,
        booking: &Booking,
        attendees: &[String],
    ) -> Result<(), Status> {
        if attendees.is_empty() {
            return Ok(());
        }
        let roll = jiceng_member_client::required(
            self.members.as_ref(),
            "bookings",
            "attendance records naming members",
        )?;
        let booking_unit = match &booking.booker {
            Booker::Unit(unit) => Some(unit.to_string()),
            Booker::Member(_) => None,
        };
        let caller_scope = caller.has_any(ADMINS).then_some(caller.scope_org.as_str());
        let mut holding_units = std::collections::HashMap::new();
        let mut refused = FieldViolations::new();
        for (index, entry) in roll.look_up(attendees).await?.into_iter().enumerate() {
            let mut creditable = false;
            if let Some(member) = entry.filter(|m| m.active) {
                if !holding_units.contains_key(&member.org_id) {
                    let unit = match UnitId::parse(&member.org_id) {
                        Ok(id) => self.store.get(&id).await.ok(),
                        Err(_) => None,
                    };
                    holding_units.insert(member.org_id.clone(), unit);
                }
                if let Some(Some(unit)) = holding_units.get(&member.org_id) {
                    creditable = booking_unit.as_deref().is_some_and(|b| unit.is_within(b))
                        || caller_scope.is_some_and(|scope| unit.is_within(scope));
                }
            }
            if !creditable {
                refused.add(
                    format!("member_ids[{index}]"),
                    "is not a member of the booking unit or within the caller's scope",
                );
            }
        }
        refused.into_result()
    }

    /// PERMISSION_DENIED unless the caller administers the venue's unit.
    async fn require_venue_admin(&self, caller: &Caller, venue: &Venue) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        visible_unit(&self.store, caller, &venue.unit_id)
            .await
            .map(drop)
    }

    /// The venue's admins, and whoever made the booking, may change it.
    async fn require_booking_party(
        &self,
        caller: &Caller,
        booking: &Booking,
    ) -> Result<(), Status> {
        let by_booker = match &booking.booker {
            Booker::Member(member) => *member == caller.subject,
            Booker::Unit(unit) => {
                caller.has_any(ADMINS) && visible_unit(&self.store, caller, unit).await.is_ok()
            }
        };
        if by_booker {
            return Ok(());
        }
        let venue = self.store.venue(&booking.venue_id).await?;
        self.require_venue_admin(caller, &venue).await
    }
}

#[tonic::async_trait]
impl VenueService for VenueApi {
    async fn create_venue(
        &self,
        request: Request<pb::CreateVenueRequest>,
    ) -> Result<Response<pb::Venue>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let unit_id = violations.check("unit_id", UnitId::parse(&req.unit_id));
        let name = violations.check("name", text::name(&req.name));
        if !(1..=10_000).contains(&req.capacity) {
            violations.add("capacity", "must be 1 to 10,000");
        }
        let facilities: Vec<String> = req
            .facilities
            .iter()
            .filter_map(|f| violations.check("facilities", text::name(f)))
            .collect();
        let hours: Vec<OpeningHours> = req
            .opening_hours
            .iter()
            .filter_map(|h| {
                violations.check(
                    "opening_hours",
                    OpeningHours::parse(h.weekday, h.open_minute, h.close_minute),
                )
            })
            .collect();
        let bookable_by: Vec<UnitId> = req
            .bookable_by_unit_ids
            .iter()
            .filter_map(|id| violations.check("bookable_by_unit_ids", UnitId::parse(id)))
            .collect();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(unit_id), Some(name)) = (unit_id, name) else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, &caller, &unit_id).await?;
        let new = NewVenue {
            unit_id,
            name,
            capacity: i64::from(req.capacity),
            facilities,
            opening_hours: hours,
            bookable_by,
            requires_confirmation: req.requires_confirmation,
        };
        let venue = self
            .store
            .create_venue(&mutation(&caller, request_id), &new)
            .await?;
        Ok(Response::new(venue_to_proto(&venue)))
    }

    async fn get_venue(
        &self,
        request: Request<pb::GetVenueRequest>,
    ) -> Result<Response<pb::Venue>, Status> {
        caller(&request)?;
        let id = text::foreign_id(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let venue = self.store.venue(&id).await?;
        Ok(Response::new(venue_to_proto(&venue)))
    }

    async fn list_venues(
        &self,
        request: Request<pb::ListVenuesRequest>,
    ) -> Result<Response<pb::ListVenuesResponse>, Status> {
        // Venues are shared across the district: any caller may look at any unit's venues.
        caller(&request)?;
        let req = request.get_ref();
        let unit_id = UnitId::parse(&req.unit_id).map_err(|e| invalid_field("unit_id", e))?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("venues|{}", req.unit_id),
        )?;
        let unit = self.store.get(&unit_id).await?;
        let venues = self.store.venues_in(&unit).await?;
        let (venues, next_page_token) = page.page_of(venues, |v| v.id.to_string());
        Ok(Response::new(pb::ListVenuesResponse {
            venues: venues.iter().map(venue_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_booking(
        &self,
        request: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let venue_id = violations.check("venue_id", text::foreign_id(&req.venue_id));
        let title = violations.check("title", text::name(&req.title));
        if !(1..=10_000).contains(&req.expected_attendees) {
            violations.add("expected_attendees", "must be 1 to 10,000");
        }
        let start = violations
            .check("start_time", millis_of(req.start_time.as_ref()))
            .flatten();
        let end = violations
            .check("end_time", millis_of(req.end_time.as_ref()))
            .flatten();
        match (start, end) {
            (Some(start), Some(end)) if end <= start => {
                violations.add("end_time", "must be after start_time")
            }
            (Some(start), Some(end)) if end - start > MAX_BOOKING_MS => {
                violations.add("end_time", "a booking lasts at most a day")
            }
            (Some(_), Some(_)) => {}
            _ => violations.add("start_time", "start_time and end_time are required"),
        }
        let booker_unit = if req.unit_id.is_empty() {
            None
        } else {
            violations.check("unit_id", UnitId::parse(&req.unit_id))
        };
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(venue_id), Some(title), Some(start_at), Some(end_at)) =
            (venue_id, title, start, end)
        else {
            return Err(Status::internal("validation fell through"));
        };
        // A unit books through its admins; a member books as themself, from their own scope.
        let (booker, booking_unit) = match booker_unit {
            Some(unit) => {
                caller.require_any(ADMINS)?;
                let unit = visible_unit(&self.store, &caller, &unit).await?;
                (Booker::Unit(unit.id.clone()), unit)
            }
            None => {
                caller.require_any(&[Role::Member])?;
                (
                    Booker::Member(caller.subject.clone()),
                    scope_unit(&self.store, &caller).await?,
                )
            }
        };
        let venue = self.store.venue(&venue_id).await?;
        if !venue.bookable_by.is_empty()
            && !venue
                .bookable_by
                .iter()
                .any(|b| booking_unit.is_within(b.as_str()))
        {
            return Err(Status::permission_denied(
                "the venue cannot be booked from the caller's unit",
            ));
        }
        let new = NewBooking {
            venue_id,
            booker,
            title,
            expected_attendees: i64::from(req.expected_attendees),
            start_at,
            end_at,
        };
        let booking = self
            .store
            .book(&mutation(&caller, request_id), &new, self.store.now())
            .await?;
        Ok(Response::new(booking_to_proto(&booking)))
    }

    async fn confirm_booking(
        &self,
        request: Request<pb::ConfirmBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(id) = id else {
            return Err(Status::internal("validation fell through"));
        };
        let booking = self.store.booking(&id).await?;
        let venue = self.store.venue(&booking.venue_id).await?;
        self.require_venue_admin(&caller, &venue).await?;
        let booking = self
            .store
            .confirm_booking(&mutation(&caller, request_id), &id)
            .await?;
        Ok(Response::new(booking_to_proto(&booking)))
    }

    async fn cancel_booking(
        &self,
        request: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let reason = violations.check("reason", Text::label(200).check(&req.reason));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(reason)) = (id, reason) else {
            return Err(Status::internal("validation fell through"));
        };
        let booking = self.store.booking(&id).await?;
        self.require_booking_party(&caller, &booking).await?;
        let booking = self
            .store
            .cancel_booking(&mutation(&caller, request_id), &id, &reason)
            .await?;
        Ok(Response::new(booking_to_proto(&booking)))
    }

    async fn record_attendance(
        &self,
        request: Request<pb::RecordAttendanceRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let mut member_ids: Vec<String> = req
            .member_ids
            .iter()
            .filter_map(|m| violations.check("member_ids", text::foreign_id(m)))
            .collect();
        member_ids.sort();
        member_ids.dedup();
        if req.headcount < 0 || (req.headcount as usize) < member_ids.len() {
            violations.add("headcount", "counts everyone present, members included");
        }
        let note = violations.check("note", text::prose(&req.note));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(note)) = (id, note) else {
            return Err(Status::internal("validation fell through"));
        };
        let booking = self.store.booking(&id).await?;
        self.require_booking_party(&caller, &booking).await?;
        self.require_creditable(&caller, &booking, &req.member_ids)
            .await?;
        let now = self.store.now();
        let attendance = Attendance {
            member_ids,
            headcount: i64::from(req.headcount),
            note,
            recorded_at: now,
        };
        let booking = self
            .store
            .record_attendance(&mutation(&caller, request_id), &id, attendance, now)
            .await?;
        Ok(Response::new(booking_to_proto(&booking)))
    }

    async fn list_bookings(
        &self,
        request: Request<pb::ListBookingsRequest>,
    ) -> Result<Response<pb::ListBookingsResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let venue_id = violations.check("venue_id", text::foreign_id(&req.venue_id));
        let from = violations
            .check("from_time", millis_of(req.from_time.as_ref()))
            .map(|t| t.unwrap_or(i64::MIN));
        let to = violations
            .check("to_time", millis_of(req.to_time.as_ref()))
            .map(|t| t.unwrap_or(i64::MAX));
        violations.into_result()?;
        let (Some(venue_id), Some(from), Some(to)) = (venue_id, from, to) else {
            return Err(Status::internal("validation fell through"));
        };
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("bookings|{}|{from}|{to}", req.venue_id),
        )?;
        self.store.venue(&venue_id).await?;
        let bookings = self.store.bookings(&venue_id, from, to).await?;
        let (bookings, next_page_token) = page.page_of(bookings, |b| b.id.to_string());
        Ok(Response::new(pb::ListBookingsResponse {
            bookings: bookings.iter().map(booking_to_proto).collect(),
            next_page_token,
        }))
    }
}
