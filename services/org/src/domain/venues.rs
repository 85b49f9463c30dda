//! Venues of service centres and stations, and their bookings.

use super::{UnitId, positions::string_enum};

/// Beijing time is UTC+8 all year: opening hours are read in it.
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// When a venue is open on one weekday, in minutes after midnight Beijing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpeningHours {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    pub open_minute: u16,
    pub close_minute: u16,
}

impl OpeningHours {
    pub fn parse(weekday: i32, open_minute: i32, close_minute: i32) -> Result<Self, &'static str> {
        let weekday = u8::try_from(weekday)
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or("weekday must be 1 (Monday) to 7 (Sunday)")?;
        let minute = |m: i32| u16::try_from(m).ok().filter(|m| *m <= 24 * 60);
        match (minute(open_minute), minute(close_minute)) {
            (Some(open), Some(close)) if open < close => Ok(Self {
                weekday,
                open_minute: open,
                close_minute: close,
            }),
            _ => Err("open_minute and close_minute must be 0 to 1440 with open before close"),
        }
    }
}

/// A shared venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Venue {
    pub id: String,
    pub unit_id: UnitId,
    pub name: String,
    pub capacity: i64,
    pub facilities: Vec<String>,
    /// Open at any time when empty.
    pub opening_hours: Vec<OpeningHours>,
    /// Units whose subtrees may book; the whole district when empty.
    pub bookable_by: Vec<UnitId>,
    pub requires_confirmation: bool,
    pub created_at: i64,
}

impl Venue {
    /// True when `[start, end)` lies within one opening period of one day, Beijing time.
    pub fn is_open_for(&self, start: i64, end: i64) -> bool {
        if self.opening_hours.is_empty() {
            return true;
        }
        let local_start = start + BEIJING_OFFSET_MS;
        let local_end = end + BEIJING_OFFSET_MS;
        let day = local_start.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday (weekday 4).
        let weekday = ((day + 3).rem_euclid(7) + 1) as u8;
        let minute = |t: i64| (t - day * DAY_MS) as f64 / 60_000.0;
        let (from, to) = (minute(local_start), minute(local_end));
        self.opening_hours.iter().any(|h| {
            h.weekday == weekday
                && f64::from(h.open_minute) <= from
                && to <= f64::from(h.close_minute)
        })
    }
}

/// A venue about to be created, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewVenue {
    pub unit_id: UnitId,
    pub name: String,
    pub capacity: i64,
    pub facilities: Vec<String>,
    pub opening_hours: Vec<OpeningHours>,
    pub bookable_by: Vec<UnitId>,
    pub requires_confirmation: bool,
}

/// Who booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Booker {
    Unit(UnitId),
    /// A member, by their token subject.
    Member(String),
}

string_enum! {
    /// Where a booking stands.
    BookingStatus {
        Pending => "pending",
        Confirmed => "confirmed",
        Cancelled => "cancelled",
        Completed => "completed",
    }
}

impl BookingStatus {
    /// Bookings in these states hold their slot.
    pub fn holds_slot(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed | Self::Completed)
    }
}

/// Who came to a booked use of a venue (活动留痕).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attendance {
    pub member_ids: Vec<String>,
    pub headcount: i64,
    pub note: String,
    pub recorded_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub id: String,
    pub venue_id: String,
    pub booker: Booker,
    pub title: String,
    pub expected_attendees: i64,
    pub start_at: i64,
    pub end_at: i64,
    pub status: BookingStatus,
    pub cancel_reason: Option<String>,
    pub attendance: Option<Attendance>,
    pub created_at: i64,
}

/// A booking about to be made, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBooking {
    pub venue_id: String,
    pub booker: Booker,
    pub title: String,
    pub expected_attendees: i64,
    pub start_at: i64,
    pub end_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue(hours: Vec<OpeningHours>) -> Venue {
        Venue {
            id: "v".into(),
            unit_id: UnitId::new_v7(),
            name: "多功能厅".into(),
            capacity: 80,
            facilities: vec![],
            opening_hours: hours,
            bookable_by: vec![],
            requires_confirmation: false,
            created_at: 0,
        }
    }

    /// 2026-11-30 is a Monday; 09:00 Beijing time is 01:00 UTC.
    const MONDAY_9AM: i64 = 1_796_000_400_000;

    #[test]
    fn opening_hours_are_read_in_beijing_time() {
        let monday = OpeningHours::parse(1, 8 * 60, 17 * 60).expect("valid");
        let open = venue(vec![monday]);
        assert!(open.is_open_for(MONDAY_9AM, MONDAY_9AM + 2 * 3_600_000));
        assert!(
            !open.is_open_for(MONDAY_9AM, MONDAY_9AM + 9 * 3_600_000),
            "runs past closing"
        );
        assert!(
            !open.is_open_for(MONDAY_9AM + DAY_MS, MONDAY_9AM + DAY_MS + 3_600_000),
            "Tuesday"
        );
        assert!(venue(vec![]).is_open_for(0, 1));
    }

    #[test]
    fn opening_hours_are_validated() {
        assert!(OpeningHours::parse(0, 0, 60).is_err());
        assert!(OpeningHours::parse(8, 0, 60).is_err());
        assert!(OpeningHours::parse(1, 600, 600).is_err());
        assert!(OpeningHours::parse(7, 0, 1440).is_ok());
    }
}
