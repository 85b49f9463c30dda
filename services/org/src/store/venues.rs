//! Venues and bookings. A booking takes its venue's lock before it looks for conflicts, so two
//! requests for the same slot are decided one after the other: exactly one wins.

use jiceng_db::{LockMode, Target, Tx, lock_key};
use serde_json::json;

use super::{
    Mutation, OrgStore, Result, StoreError, audit, claim_request, decode_json, fetch_unit,
    json_text, precondition,
};
use crate::{
    domain::{
        Unit, UnitId, subtree_range,
        venues::{Attendance, Booker, Booking, BookingStatus, NewBooking, NewVenue, Venue},
    },
    events,
};

const VENUE_COLUMNS: &str = "id, unit_id, name, capacity, facilities, opening_hours, bookable_by, \
    requires_confirmation, created_at";

/// A row of [`VENUE_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct VenueRow {
    id: String,
    unit_id: String,
    name: String,
    capacity: i64,
    facilities: String,
    opening_hours: String,
    bookable_by: String,
    /// 0 or 1.
    requires_confirmation: i64,
    created_at: i64,
}

impl TryFrom<VenueRow> for Venue {
    type Error = sqlx::Error;

    fn try_from(row: VenueRow) -> std::result::Result<Self, sqlx::Error> {
        let bookable: Vec<String> = decode_json(&row.bookable_by, "bookable_by")?;
        Ok(Venue {
            id: row.id,
            unit_id: UnitId::from_stored(row.unit_id)
                .map_err(|_| sqlx::Error::Decode("invalid venue unit".into()))?,
            name: row.name,
            capacity: row.capacity,
            facilities: decode_json(&row.facilities, "facilities")?,
            opening_hours: decode_json(&row.opening_hours, "opening_hours")?,
            bookable_by: bookable
                .into_iter()
                .map(|id| {
                    UnitId::from_stored(id)
                        .map_err(|_| sqlx::Error::Decode("invalid bookable unit".into()))
                })
                .collect::<std::result::Result<_, _>>()?,
            requires_confirmation: row.requires_confirmation != 0,
            created_at: row.created_at,
        })
    }
}

const BOOKING_COLUMNS: &str = "id, venue_id, booker_unit_id, booker_member_id, title, expected_attendees, \
    start_at, end_at, status, cancel_reason, attendance, created_at";

/// A row of [`BOOKING_COLUMNS`]: its fields are that constant's columns.
#[derive(sqlx::FromRow)]
struct BookingRow {
    id: String,
    venue_id: String,
    booker_unit_id: Option<String>,
    booker_member_id: Option<String>,
    title: String,
    expected_attendees: i64,
    start_at: i64,
    end_at: i64,
    status: String,
    cancel_reason: Option<String>,
    attendance: Option<String>,
    created_at: i64,
}

impl TryFrom<BookingRow> for Booking {
    type Error = sqlx::Error;

    fn try_from(row: BookingRow) -> std::result::Result<Self, sqlx::Error> {
        let corrupt =
            |what: &str| sqlx::Error::Decode(format!("invalid {what} in org_bookings").into());
        let booker = match (row.booker_unit_id, row.booker_member_id) {
            (Some(unit), _) => {
                Booker::Unit(UnitId::from_stored(unit).map_err(|_| corrupt("booker unit"))?)
            }
            (None, Some(member)) => Booker::Member(member),
            (None, None) => return Err(corrupt("booker")),
        };
        Ok(Booking {
            id: row.id,
            venue_id: row.venue_id,
            booker,
            title: row.title,
            expected_attendees: row.expected_attendees,
            start_at: row.start_at,
            end_at: row.end_at,
            status: BookingStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            cancel_reason: row.cancel_reason,
            attendance: row
                .attendance
                .map(|a| decode_json(&a, "attendance"))
                .transpose()?,
            created_at: row.created_at,
        })
    }
}

impl OrgStore {
    pub async fn create_venue(&self, mutation: &Mutation, new: &NewVenue) -> Result<Venue> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "CreateVenue", Target::New(&id)).await?
        {
            let venue = fetch_venue(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(venue);
        }
        let unit = fetch_unit(&mut tx, new.unit_id.as_str()).await?;
        if !unit.is_active() {
            return Err(precondition(
                "DISSOLVED",
                format_args!("units/{}", unit.id),
                "the unit is dissolved",
            ));
        }
        for bookable in &new.bookable_by {
            fetch_unit(&mut tx, bookable.as_str()).await?;
        }
        let bookable: Vec<&str> = new.bookable_by.iter().map(UnitId::as_str).collect();
        sqlx::query(
            "INSERT INTO org_venues (id, unit_id, name, capacity, facilities, opening_hours, bookable_by,
                 requires_confirmation, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(new.unit_id.as_str())
        .bind(&new.name)
        .bind(new.capacity)
        .bind(json_text(&new.facilities))
        .bind(json_text(&new.opening_hours))
        .bind(json_text(&bookable))
        .bind(i64::from(new.requires_confirmation))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            mutation,
            "CreateVenue",
            &new.unit_id,
            json!({ "venue_id": id, "name": new.name }),
        )
        .await?;
        let venue = fetch_venue(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(venue)
    }

    pub async fn venue(&self, id: &str) -> Result<Venue> {
        let mut tx = self.db.begin().await?;
        let venue = fetch_venue(&mut tx, id).await?;
        tx.commit().await?;
        Ok(venue)
    }

    /// The venues of every unit in `root`'s subtree.
    pub async fn venues_in(&self, root: &Unit) -> Result<Vec<Venue>> {
        let (lo, hi) = subtree_range(&root.path);
        let columns = VENUE_COLUMNS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM org_venues v JOIN org_units u ON u.id = v.unit_id
             WHERE u.path >= $1 AND u.path < $2 ORDER BY u.path, v.name, v.id"
        );
        let rows = sqlx::query_as::<_, VenueRow>(sqlx::AssertSqlSafe(sql))
            .bind(lo)
            .bind(hi)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(Venue::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Books a slot. Refused when it is not ahead of `now`, falls outside opening hours, exceeds
    /// the capacity, or overlaps a booking that holds its slot.
    #[tracing::instrument(name = "org.store.book", skip_all, fields(venue.id = %new.venue_id))]
    pub async fn book(&self, mutation: &Mutation, new: &NewBooking, now: i64) -> Result<Booking> {
        let mut tx = self.db.begin_write().await?;
        self.db
            .lock(
                &mut tx,
                lock_key(&format!("venue:{}", new.venue_id)),
                LockMode::Exclusive,
            )
            .await?;
        let id = uuid::Uuid::now_v7().to_string();
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, "CreateBooking", Target::New(&id)).await?
        {
            let booking = fetch_booking(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(booking);
        }
        let venue = fetch_venue(&mut tx, &new.venue_id).await?;
        let subject = format!("venues/{}", venue.id);
        if new.start_at <= now {
            return Err(precondition(
                "PAST",
                &subject,
                "bookings are made ahead of time",
            ));
        }
        if !venue.is_open_for(new.start_at, new.end_at) {
            return Err(precondition(
                "CLOSED",
                &subject,
                "the venue is closed for part of that time",
            ));
        }
        if new.expected_attendees > venue.capacity {
            return Err(precondition(
                "CAPACITY",
                &subject,
                format!("the venue holds {} people", venue.capacity),
            ));
        }
        let clash: Option<String> = sqlx::query_scalar(
            "SELECT id FROM org_bookings
             WHERE venue_id = $1 AND status IN ('pending', 'confirmed', 'completed')
               AND start_at < $3 AND $2 < end_at
             LIMIT 1",
        )
        .bind(&venue.id)
        .bind(new.start_at)
        .bind(new.end_at)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = clash {
            return Err(precondition(
                "SLOT_TAKEN",
                &subject,
                format!("the slot overlaps booking {other}"),
            ));
        }
        let status = if venue.requires_confirmation {
            BookingStatus::Pending
        } else {
            BookingStatus::Confirmed
        };
        let (booker_unit, booker_member) = match &new.booker {
            Booker::Unit(unit) => (Some(unit.to_string()), None),
            Booker::Member(member) => (None, Some(member.clone())),
        };
        sqlx::query(
            "INSERT INTO org_bookings (id, venue_id, booker_unit_id, booker_member_id, title,
                 expected_attendees, start_at, end_at, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(&venue.id)
        .bind(booker_unit)
        .bind(booker_member)
        .bind(&new.title)
        .bind(new.expected_attendees)
        .bind(new.start_at)
        .bind(new.end_at)
        .bind(status.as_str())
        .bind(self.db.now())
        .execute(&mut *tx)
        .await?;
        let booking = fetch_booking(&mut tx, &id).await?;
        audit(
            &mut tx,
            now,
            mutation,
            "CreateBooking",
            &venue.unit_id,
            json!({ "booking_id": id, "venue_id": venue.id }),
        )
        .await?;
        if status == BookingStatus::Confirmed {
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                events::booking(events::BOOKING_CONFIRMED, &booking),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(booking)
    }

    pub async fn booking(&self, id: &str) -> Result<Booking> {
        let mut tx = self.db.begin().await?;
        let booking = fetch_booking(&mut tx, id).await?;
        tx.commit().await?;
        Ok(booking)
    }

    pub async fn confirm_booking(&self, mutation: &Mutation, id: &str) -> Result<Booking> {
        self.change_booking(mutation, id, "ConfirmBooking", |booking| {
            match booking.status {
                BookingStatus::Pending => Ok((
                    BookingStatus::Confirmed,
                    None,
                    None,
                    Some(events::BOOKING_CONFIRMED),
                )),
                other => Err(format!("a {} booking cannot be confirmed", other.as_str())),
            }
        })
        .await
    }

    pub async fn cancel_booking(
        &self,
        mutation: &Mutation,
        id: &str,
        reason: &str,
    ) -> Result<Booking> {
        self.change_booking(mutation, id, "CancelBooking", |booking| {
            match booking.status {
                BookingStatus::Pending | BookingStatus::Confirmed => Ok((
                    BookingStatus::Cancelled,
                    Some(reason.to_owned()),
                    None,
                    Some(events::BOOKING_CANCELLED),
                )),
                other => Err(format!("a {} booking cannot be cancelled", other.as_str())),
            }
        })
        .await
    }

    /// Records who came. Only a confirmed booking whose time has begun by `now` takes one.
    pub async fn record_attendance(
        &self,
        mutation: &Mutation,
        id: &str,
        attendance: Attendance,
        now: i64,
    ) -> Result<Booking> {
        self.change_booking(mutation, id, "RecordAttendance", |booking| {
            match booking.status {
                BookingStatus::Confirmed if booking.start_at <= now => Ok((
                    BookingStatus::Completed,
                    None,
                    Some(attendance),
                    Some(events::ATTENDANCE_RECORDED),
                )),
                BookingStatus::Confirmed => {
                    Err("attendance is recorded once the booked time has begun".into())
                }
                other => Err(format!("a {} booking takes no attendance", other.as_str())),
            }
        })
        .await
    }

    /// Moves a booking to the state `next` decides from the current one, with its event, in one
    /// transaction.
    async fn change_booking(
        &self,
        mutation: &Mutation,
        id: &str,
        action: &str,
        next: impl FnOnce(
            &Booking,
        ) -> std::result::Result<
            (
                BookingStatus,
                Option<String>,
                Option<Attendance>,
                Option<&'static str>,
            ),
            String,
        >,
    ) -> Result<Booking> {
        let now = self.db.now();
        let mut tx = self.db.begin_write().await?;
        if let Some(replay) =
            claim_request(&mut tx, now, mutation, action, Target::Existing(id)).await?
        {
            let booking = fetch_booking(&mut tx, &replay.resource_id).await?;
            tx.commit().await?;
            return Ok(booking);
        }
        let booking = fetch_booking(&mut tx, id).await?;
        let (status, reason, attendance, event) = next(&booking).map_err(|description| {
            precondition("BOOKING_STATE", format_args!("bookings/{id}"), description)
        })?;
        sqlx::query(
            "UPDATE org_bookings SET status = $1,
                 cancel_reason = COALESCE($2, cancel_reason), attendance = COALESCE($3, attendance)
             WHERE id = $4 AND status = $5",
        )
        .bind(status.as_str())
        .bind(reason.clone())
        .bind(attendance.as_ref().map(json_text))
        .bind(id)
        .bind(booking.status.as_str())
        .execute(&mut *tx)
        .await?;
        let booking = fetch_booking(&mut tx, id).await?;
        audit(
            &mut tx,
            now,
            mutation,
            action,
            format!("bookings/{id}"),
            json!({ "status": status.as_str(), "reason": reason }),
        )
        .await?;
        if let Some(event_type) = event {
            jiceng_outbox::enqueue(
                &mut tx,
                &self.event_source,
                events::booking(event_type, &booking),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(booking)
    }

    /// A venue's bookings overlapping `[from, to)`, by start time.
    pub async fn bookings(&self, venue_id: &str, from: i64, to: i64) -> Result<Vec<Booking>> {
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM org_bookings
             WHERE venue_id = $1 AND start_at < $3 AND $2 < end_at ORDER BY start_at, id"
        );
        let rows = sqlx::query_as::<_, BookingRow>(sqlx::AssertSqlSafe(sql))
            .bind(venue_id)
            .bind(from)
            .bind(to)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(Booking::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }
}

async fn fetch_venue(tx: &mut Tx, id: &str) -> Result<Venue> {
    let row = sqlx::query_as::<_, VenueRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {VENUE_COLUMNS} FROM org_venues WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(Venue::try_from(row)?),
        None => Err(StoreError::not_found("venue", id)),
    }
}

async fn fetch_booking(tx: &mut Tx, id: &str) -> Result<Booking> {
    let row = sqlx::query_as::<_, BookingRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM org_bookings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(Booking::try_from(row)?),
        None => Err(StoreError::not_found("booking", id)),
    }
}
