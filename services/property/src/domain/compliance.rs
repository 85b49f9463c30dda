//! Disclosure schedules and compliance: how often an item is due, which periods a span of
//! months holds for each frequency, when each period's disclosure is due (Beijing time), and how
//! a compound stands for it.

use std::collections::BTreeMap;

use super::disclosure::Kind;

const DAY_MS: i64 = 86_400_000;
/// Beijing is UTC+8 all year.
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

/// How often an item is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Monthly,
    Quarterly,
    HalfYearly,
    Yearly,
    /// Disclosed when it changes: never due by the calendar.
    OnChange,
}

impl Frequency {
    pub const ALL: [Frequency; 5] = [
        Self::Monthly,
        Self::Quarterly,
        Self::HalfYearly,
        Self::Yearly,
        Self::OnChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::HalfYearly => "half_yearly",
            Self::Yearly => "yearly",
            Self::OnChange => "on_change",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// Months a period of this frequency spans.
    fn months(self) -> Option<u32> {
        match self {
            Self::Monthly => Some(1),
            Self::Quarterly => Some(3),
            Self::HalfYearly => Some(6),
            Self::Yearly => Some(12),
            Self::OnChange => None,
        }
    }
}

/// How often a kind is due for the compounds below an org, and for how long it stays shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub org_id: String,
    pub org_path: String,
    pub kind: Kind,
    pub frequency: Frequency,
    /// Days after a period ends by which its disclosure is due.
    pub due_days: i64,
    pub display_days: i64,
}

/// A month, counted from year 0 (so that months compare and step as integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(u32);

impl Month {
    /// `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let invalid = "must be a month as YYYY-MM";
        let (year, month) = text.trim().split_once('-').ok_or(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid);
        }
        let (Ok(year), Ok(month)) = (year.parse::<u32>(), month.parse::<u32>()) else {
            return Err(invalid);
        };
        if !(2000..=2100).contains(&year) || !(1..=12).contains(&month) {
            return Err(invalid);
        }
        Ok(Self(year * 12 + month - 1))
    }

    /// The month (Beijing time) that `at_ms` falls in.
    pub fn containing(at_ms: i64) -> Self {
        let days = (at_ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS);
        let (year, month, _) = jiceng_telemetry::civil_from_days(days);
        Self(u32::try_from(year).unwrap_or_default() * 12 + month - 1)
    }

    /// The month `months` before this one.
    pub fn back(self, months: u32) -> Self {
        Self(self.0.saturating_sub(months))
    }

    fn year(self) -> u32 {
        self.0 / 12
    }

    /// 1 to 12.
    fn month(self) -> u32 {
        self.0 % 12 + 1
    }

    /// Midnight in Beijing on the first day of this month, in epoch milliseconds.
    fn start_ms(self) -> i64 {
        days_from_civil(i64::from(self.year()), self.month(), 1) * DAY_MS - BEIJING_OFFSET_MS
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A period due by the calendar: its name (as disclosures name periods) and when it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuePeriod {
    pub period: String,
    /// Midnight in Beijing after the period's last day.
    pub ends_at: i64,
}

/// The periods of `frequency` whose last month lies from `first` to `last`, oldest first.
pub fn periods(frequency: Frequency, first: Month, last: Month) -> Vec<DuePeriod> {
    let Some(span) = frequency.months() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for month in first.0..=last.0 {
        let month = Month(month);
        if !month.month().is_multiple_of(span) {
            continue;
        }
        let (year, m) = (month.year(), month.month());
        let period = match frequency {
            Frequency::Monthly => format!("{year:04}-{m:02}"),
            Frequency::Quarterly => format!("{year:04}-Q{}", m / 3),
            Frequency::HalfYearly => format!("{year:04}-H{}", m / 6),
            _ => format!("{year:04}"),
        };
        out.push(DuePeriod {
            period,
            ends_at: Month(month.0 + 1).start_ms(),
        });
    }
    out
}

/// How a compound stands for a due item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    OnTime,
    /// Published after it was due, at this time.
    Late(i64),
    Missing,
}

impl Standing {
    /// From the first publication of the item (if any) and when it was due.
    pub fn of(first_published: Option<i64>, due_at: i64) -> Self {
        match first_published {
            Some(at) if at <= due_at => Self::OnTime,
            Some(at) => Self::Late(at),
            None => Self::Missing,
        }
    }
}

/// One item due for a compound: the disclosure of a kind for a period, the company that managed
/// the compound when the period ended, and how it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueItem {
    pub compound_id: String,
    pub company_id: String,
    pub kind: Kind,
    pub period: String,
    pub due_at: i64,
    pub standing: Standing,
}

/// A company's record in a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompanyRecord {
    pub due: u32,
    pub on_time: u32,
    pub late: u32,
    pub missing: u32,
}

impl CompanyRecord {
    /// Counts one due item that stands so.
    pub fn count(&mut self, standing: Standing) {
        self.due += 1;
        match standing {
            Standing::OnTime => self.on_time += 1,
            Standing::Late(_) => self.late += 1,
            Standing::Missing => self.missing += 1,
        }
    }

    /// On-time items over due ones; 1 when nothing was due.
    pub fn on_time_rate(&self) -> f64 {
        if self.due == 0 {
            1.0
        } else {
            f64::from(self.on_time) / f64::from(self.due)
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ComplianceReport {
    /// Late and missing items, by company, compound, kind and period.
    pub exceptions: Vec<DueItem>,
    pub companies: BTreeMap<String, CompanyRecord>,
    pub total: CompanyRecord,
}

impl ComplianceReport {
    /// Counts a due item for its company and in the total; a late or missing one is an
    /// exception.
    pub fn tally(&mut self, item: DueItem) {
        let record = self.companies.entry(item.company_id.clone()).or_default();
        for tally in [record, &mut self.total] {
            tally.count(item.standing);
        }
        if item.standing != Standing::OnTime {
            self.exceptions.push(item);
        }
    }

    /// Orders the exceptions by company, compound, kind and period.
    pub fn sort_exceptions(&mut self) {
        self.exceptions.sort_by(|a, b| {
            (&a.company_id, &a.compound_id, a.kind.as_str(), &a.period).cmp(&(
                &b.company_id,
                &b.compound_id,
                b.kind.as_str(),
                &b.period,
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        Month::parse(text).expect("month")
    }

    #[test]
    fn a_span_of_months_holds_the_periods_that_end_in_it() {
        let names = |f: Frequency| -> Vec<String> {
            periods(f, month("2026-02"), month("2026-12"))
                .into_iter()
                .map(|p| p.period)
                .collect()
        };
        assert_eq!(names(Frequency::Monthly).len(), 11);
        assert_eq!(
            names(Frequency::Quarterly),
            ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
        );
        assert_eq!(names(Frequency::HalfYearly), ["2026-H1", "2026-H2"]);
        assert_eq!(names(Frequency::Yearly), ["2026"]);
        assert!(names(Frequency::OnChange).is_empty());
        assert!(Month::parse("2026-13").is_err());
        // 2026-09-30 16:00 UTC is already October in Beijing.
        assert_eq!(Month::containing(1_790_784_000_000), month("2026-10"));
        assert_eq!(month("2026-02").back(3), month("2025-11"));
    }

    #[test]
    fn a_period_ends_at_beijing_midnight() {
        let q3 = &periods(Frequency::Quarterly, month("2026-09"), month("2026-09"))[0];
        // 2026-10-01 00:00 Beijing is 2026-09-30 16:00 UTC.
        assert_eq!(q3.ends_at, 1_790_784_000_000);
        let december = &periods(Frequency::Monthly, month("2026-12"), month("2026-12"))[0];
        assert_eq!(december.period, "2026-12");
        // 2027-01-01 00:00 Beijing.
        assert_eq!(december.ends_at, 1_798_732_800_000);
    }

    #[test]
    fn standing_follows_the_first_publication() {
        assert_eq!(Standing::of(Some(10), 10), Standing::OnTime);
        assert_eq!(Standing::of(Some(11), 10), Standing::Late(11));
        assert_eq!(Standing::of(None, 10), Standing::Missing);
    }

    fn item(company: &str, compound: &str, period: &str, standing: Standing) -> DueItem {
        DueItem {
            compound_id: compound.into(),
            company_id: company.into(),
            kind: Kind::FeeCollection,
            period: period.into(),
            due_at: 10,
            standing,
        }
    }

    #[test]
    fn a_report_tallies_by_company_and_keeps_the_exceptions() {
        assert_eq!(CompanyRecord::default().on_time_rate(), 1.0);
        let mut report = ComplianceReport::default();
        report.tally(item("p2", "c2", "2026-Q1", Standing::Missing));
        report.tally(item("p1", "c1", "2026-Q2", Standing::OnTime));
        report.tally(item("p1", "c1", "2026-Q1", Standing::Late(11)));
        report.tally(item("p1", "c1", "2026-Q3", Standing::OnTime));
        report.sort_exceptions();
        assert_eq!(
            report.companies["p1"],
            CompanyRecord {
                due: 3,
                on_time: 2,
                late: 1,
                missing: 0
            }
        );
        assert_eq!(
            report.total,
            CompanyRecord {
                due: 4,
                on_time: 2,
                late: 1,
                missing: 1
            }
        );
        assert_eq!(report.total.on_time_rate(), 0.5);
        let exceptions: Vec<(&str, &str)> = report
            .exceptions
            .iter()
            .map(|e| (e.company_id.as_str(), e.period.as_str()))
            .collect();
        assert_eq!(exceptions, [("p1", "2026-Q1"), ("p2", "2026-Q1")]);
    }
}
