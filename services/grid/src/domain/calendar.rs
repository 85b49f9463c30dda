//! The district's working calendar: time limits in working hours count only the hours of working
//! days, in Beijing time. Weekends rest and weekdays work unless the district says otherwise
//! (public holidays, and the weekend days worked in their place, 调休).

use std::collections::BTreeMap;

use jiceng_telemetry::civil_from_days;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Beijing is UTC+8 all year.
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;
/// The working day, in minutes after Beijing midnight: 09:00 to 17:00.
pub const WORKDAY_START_MINUTE: i64 = 9 * 60;
pub const WORKDAY_END_MINUTE: i64 = 17 * 60;

/// How a time limit is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    /// Every hour counts.
    Calendar,
    /// Only the working hours of working days count.
    Working,
}

impl ClockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calendar => "calendar",
            Self::Working => "working",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Calendar, Self::Working]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A time as people in the district read it: `YYYY-MM-DD HH:MM`, Beijing time.
pub fn beijing_minute(at_ms: i64) -> String {
    let local = at_ms + BEIJING_OFFSET_MS;
    let (year, month, day) = civil_from_days(local.div_euclid(DAY_MS));
    let minute = local.rem_euclid(DAY_MS) / MINUTE_MS;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minute / 60,
        minute % 60
    )
}

/// A day as `YYYY-MM-DD` (Beijing), checked to be a real date.
pub fn day_key(text: &str) -> Result<String, &'static str> {
    let invalid = "must be a date as YYYY-MM-DD";
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(invalid);
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(invalid);
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>())
    else {
        return Err(invalid);
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(invalid),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(invalid);
    }
    Ok(text.to_owned())
}

/// The days that differ from the rule "Monday to Friday work": `true` for a weekend day worked,
/// `false` for a weekday off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    overrides: BTreeMap<String, bool>,
}

impl WorkCalendar {
    pub fn new(overrides: BTreeMap<String, bool>) -> Self {
        Self { overrides }
    }

    fn is_working_day(&self, day: i64) -> bool {
        let (year, month, date) = civil_from_days(day);
        let key = format!("{year:04}-{month:02}-{date:02}");
        if let Some(working) = self.overrides.get(&key) {
            return *working;
        }
        // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
        (day + 3).rem_euclid(7) < 5
    }

    /// The moment `minutes` of time counted by `clock` have passed after `start` (epoch ms);
    /// `i64::MAX` when the calendar has no room for them.
    pub fn add(&self, start: i64, minutes: i64, clock: ClockKind) -> i64 {
        if start == i64::MAX {
            return i64::MAX;
        }
        if clock == ClockKind::Calendar {
            return start.saturating_add(minutes.saturating_mul(MINUTE_MS));
        }
        let local = start.saturating_add(BEIJING_OFFSET_MS);
        let first = local.div_euclid(DAY_MS);
        let mut at = local.rem_euclid(DAY_MS) / MINUTE_MS;
        let mut left = minutes;
        // Ten years hold every limit a category may set (a year of minutes, in working
        // minutes about four years); a calendar with no room in ten years cannot be met.
        for day in first..=first + 366 * 10 {
            if self.is_working_day(day) {
                let from = at.max(WORKDAY_START_MINUTE);
                if from < WORKDAY_END_MINUTE {
                    let available = WORKDAY_END_MINUTE - from;
                    if left <= available {
                        return day * DAY_MS + (from + left) * MINUTE_MS - BEIJING_OFFSET_MS;
                    }
                    left -= available;
                }
            }
            at = 0;
        }
        i64::MAX
    }

    /// The minutes counted by `clock` from `start` to `end` (0 when `end` is not after `start`).
    pub fn between(&self, start: i64, end: i64, clock: ClockKind) -> i64 {
        if end <= start {
            return 0;
        }
        if clock == ClockKind::Calendar {
            return end.saturating_sub(start) / MINUTE_MS;
        }
        // Deadlines lie within years of each other; an unreachable one counts as ten years.
        let end = end.min(start.saturating_add(3_660 * DAY_MS));
        let (start, end) = (start + BEIJING_OFFSET_MS, end + BEIJING_OFFSET_MS);
        let (first, last) = (start.div_euclid(DAY_MS), end.div_euclid(DAY_MS));
        (first..=last)
            .filter(|day| self.is_working_day(*day))
            .map(|day| {
                let open = day * DAY_MS + WORKDAY_START_MINUTE * MINUTE_MS;
                let close = day * DAY_MS + WORKDAY_END_MINUTE * MINUTE_MS;
                (close.min(end) - open.max(start)).max(0) / MINUTE_MS
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-27 (a Friday) at 16:00 Beijing.
    const FRIDAY_4PM: i64 = 1_795_737_600_000 - 8 * 3_600_000 + 16 * 3_600_000;

    #[test]
    fn working_hours_skip_nights_and_weekends() {
        let calendar = WorkCalendar::default();
        // One hour left on Friday, the second hour on Monday morning.
        let due = calendar.add(FRIDAY_4PM, 120, ClockKind::Working);
        assert_eq!(due, FRIDAY_4PM + 3 * DAY_MS - 6 * 3_600_000);
        assert_eq!(calendar.between(FRIDAY_4PM, due, ClockKind::Working), 120);
        assert_eq!(
            calendar.add(FRIDAY_4PM, 120, ClockKind::Calendar),
            FRIDAY_4PM + 2 * 3_600_000
        );
    }

    #[test]
    fn holidays_and_worked_weekends_follow_the_district() {
        // Monday off, Saturday worked.
        let calendar = WorkCalendar::new(BTreeMap::from([
            ("2026-11-30".to_owned(), false),
            ("2026-11-28".to_owned(), true),
        ]));
        let due = calendar.add(FRIDAY_4PM, 120, ClockKind::Working);
        // Saturday 10:00.
        assert_eq!(due, FRIDAY_4PM + DAY_MS - 6 * 3_600_000);
        let tuesday = WorkCalendar::new(BTreeMap::from([("2026-11-30".to_owned(), false)])).add(
            FRIDAY_4PM,
            120,
            ClockKind::Working,
        );
        assert_eq!(tuesday, FRIDAY_4PM + 4 * DAY_MS - 6 * 3_600_000);
    }

    #[test]
    fn the_longest_limits_stay_in_range() {
        let calendar = WorkCalendar::default();
        let due = calendar.add(FRIDAY_4PM, 525_600, ClockKind::Working);
        assert!(due < FRIDAY_4PM + 5 * 366 * DAY_MS, "{due}");
        assert_eq!(
            calendar.between(FRIDAY_4PM, due, ClockKind::Working),
            525_600
        );
        assert_eq!(calendar.add(i64::MAX, 60, ClockKind::Working), i64::MAX);
        assert_eq!(
            calendar.add(i64::MAX - 1, 60, ClockKind::Calendar),
            i64::MAX
        );
    }

    #[test]
    fn days_are_real_dates() {
        assert!(day_key("2028-02-29").is_ok());
        // 2026-11-30 02:00 UTC is 10:00 in Beijing.
        assert_eq!(beijing_minute(1_796_004_000_000), "2026-11-30 10:00");
        assert!(day_key("2026-02-29").is_err());
        assert!(day_key("2026-1-01").is_err());
    }
}
