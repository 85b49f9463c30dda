//! Conversions of the venues messages.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use crate::domain::{
    UnitId,
    venues::{Booker, Booking, BookingStatus, Venue},
};

pub(crate) fn venue_to_proto(venue: &Venue) -> pb::Venue {
    pb::Venue {
        id: venue.id.clone(),
        unit_id: venue.unit_id.to_string(),
        name: venue.name.clone(),
        capacity: i32::try_from(venue.capacity).unwrap_or(i32::MAX),
        facilities: venue.facilities.clone(),
        opening_hours: venue
            .opening_hours
            .iter()
            .map(|h| pb::OpeningHours {
                weekday: i32::from(h.weekday),
                open_minute: i32::from(h.open_minute),
                close_minute: i32::from(h.close_minute),
            })
            .collect(),
        bookable_by_unit_ids: venue.bookable_by.iter().map(UnitId::to_string).collect(),
        requires_confirmation: venue.requires_confirmation,
        create_time: Some(timestamp(venue.created_at)),
    }
}

pub(crate) fn booking_to_proto(booking: &Booking) -> pb::Booking {
    pb::Booking {
        id: booking.id.clone(),
        venue_id: booking.venue_id.clone(),
        booker: Some(match &booking.booker {
            Booker::Unit(unit) => pb::booking::Booker::UnitId(unit.to_string()),
            Booker::Member(member) => pb::booking::Booker::MemberId(member.clone()),
        }),
        title: booking.title.clone(),
        expected_attendees: i32::try_from(booking.expected_attendees).unwrap_or(i32::MAX),
        start_time: Some(timestamp(booking.start_at)),
        end_time: Some(timestamp(booking.end_at)),
        status: match booking.status {
            BookingStatus::Pending => pb::BookingStatus::Pending,
            BookingStatus::Confirmed => pb::BookingStatus::Confirmed,
            BookingStatus::Cancelled => pb::BookingStatus::Cancelled,
            BookingStatus::Completed => pb::BookingStatus::Completed,
        } as i32,
        cancel_reason: booking.cancel_reason.clone().unwrap_or_default(),
        attendance: booking.attendance.as_ref().map(|a| pb::Attendance {
            member_ids: a.member_ids.clone(),
            headcount: i32::try_from(a.headcount).unwrap_or(i32::MAX),
            note: a.note.clone(),
            record_time: Some(timestamp(a.recorded_at)),
        }),
        create_time: Some(timestamp(booking.created_at)),
    }
}
