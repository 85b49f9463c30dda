//! The case workflow of a grid issue (网格化管理): collect → file → dispatch → handle → report
//! back → verify → close → evaluate, with the steps that carry a time limit; the case and what
//! happens to it (history, change requests, escalations); and the clock rules of its steps.

use std::collections::BTreeMap;

use super::{Point, calendar::WorkCalendar, category::Category};

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseState {
    /// Reported, waiting to be filed (立案) or rejected.
    Reported,
    /// Filed, waiting to be dispatched to a handling org.
    Accepted,
    Rejected,
    /// Sent to a handling org, not yet taken up.
    Dispatched,
    InProgress,
    /// The handler reported back with evidence; waiting to be verified on site.
    Handled,
    Verified,
    Closed,
    /// The reporter rated the outcome.
    Evaluated,
    /// Cannot be solved in time: on the books (挂账) with an explanation.
    Backlog,
    /// A duplicate of another open case, linked to it and worked there.
    Merged,
}

impl CaseState {
    pub const ALL: [CaseState; 11] = [
        Self::Reported,
        Self::Accepted,
        Self::Rejected,
        Self::Dispatched,
        Self::InProgress,
        Self::Handled,
        Self::Verified,
        Self::Closed,
        Self::Evaluated,
        Self::Backlog,
        Self::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Dispatched => "dispatched",
            Self::InProgress => "in_progress",
            Self::Handled => "handled",
            Self::Verified => "verified",
            Self::Closed => "closed",
            Self::Evaluated => "evaluated",
            Self::Backlog => "backlog",
            Self::Merged => "merged",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The timed step a case in this state is in, if any.
    pub fn step(self) -> Option<Step> {
        match self {
            Self::Reported => Some(Step::Accept),
            Self::Accepted => Some(Step::Dispatch),
            Self::Dispatched | Self::InProgress => Some(Step::Handle),
            Self::Handled => Some(Step::Verify),
            _ => None,
        }
    }

    /// Still to be worked on: counted as open, scanned for time limits.
    pub fn is_open(self) -> bool {
        self.step().is_some()
    }
}

/// A step with its own time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Accept,
    Dispatch,
    Handle,
    Verify,
}

impl Step {
    pub const ALL: [Step; 4] = [Self::Accept, Self::Dispatch, Self::Handle, Self::Verify];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Dispatch => "dispatch",
            Self::Handle => "handle",
            Self::Verify => "verify",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What someone does to a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Dispatch {
        handler_org_id: String,
    },
    Start,
    Handle,
    Verify {
        passed: bool,
    },
    Close,
    Evaluate {
        satisfaction: i64,
    },
    /// An approved request: the case goes back to be dispatched again (out of remit).
    Return,
    /// An approved request: the case goes on the books.
    Backlog,
    /// The case duplicates another open one and is worked there.
    Merge,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Dispatch { .. } => "dispatch",
            Self::Start => "start",
            Self::Handle => "handle",
            Self::Verify { passed: true } => "verify",
            Self::Verify { passed: false } => "fail_verification",
            Self::Close => "close",
            Self::Evaluate { .. } => "evaluate",
            Self::Return => "return",
            Self::Backlog => "backlog",
            Self::Merge => "merge",
        }
    }

    /// The state `action` leads to from `from`, or why it may not be taken.
    pub fn apply(&self, from: CaseState) -> Result<CaseState, String> {
        use CaseState as S;
        let to = match (self, from) {
            (Self::Accept, S::Reported) => S::Accepted,
            (Self::Reject, S::Reported) => S::Rejected,
            (Self::Dispatch { .. }, S::Accepted) => S::Dispatched,
            (Self::Start, S::Dispatched) => S::InProgress,
            (Self::Handle, S::Dispatched | S::InProgress) => S::Handled,
            (Self::Verify { passed: true }, S::Handled) => S::Verified,
            // A failed verification reopens the case with its handler.
            (Self::Verify { passed: false }, S::Handled) => S::InProgress,
            (Self::Close, S::Verified) => S::Closed,
            (Self::Evaluate { satisfaction }, S::Closed) => {
                if !(1..=5).contains(satisfaction) {
                    return Err("satisfaction must be 1 to 5".into());
                }
                S::Evaluated
            }
            (Self::Return, S::Dispatched | S::InProgress) => S::Accepted,
            (Self::Backlog, S::Dispatched | S::InProgress) => S::Backlog,
            (Self::Merge, open) if open.is_open() => S::Merged,
            _ => {
                return Err(format!(
                    "a case that is {} cannot be {}",
                    from.as_str(),
                    past_tense(self.name())
                ));
            }
        };
        Ok(to)
    }
}

fn past_tense(action: &str) -> &str {
    match action {
        "accept" => "accepted",
        "reject" => "rejected",
        "dispatch" => "dispatched",
        "start" => "started",
        "handle" => "reported handled",
        "verify" => "verified",
        "fail_verification" => "failed at verification",
        "close" => "closed",
        "evaluate" => "evaluated",
        "return" => "returned",
        "backlog" => "put on the backlog",
        "merge" => "merged",
        other => other,
    }
}

/// What a handler may ask the level above to approve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// Out of remit: send it back to be dispatched elsewhere. The clock stops while it waits.
    Return,
    /// More time for the current step.
    Extension,
    /// Stop the clock until a date.
    Deferral,
    /// Cannot be solved in time: put it on the books.
    Backlog,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Return => "return",
            Self::Extension => "extension",
            Self::Deferral => "deferral",
            Self::Backlog => "backlog",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Return, Self::Extension, Self::Deferral, Self::Backlog]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Who reported a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReporterKind {
    GridWorker,
    PartyRepresentative,
    Resident,
    /// Another government system, with its own id for the report.
    System,
}

impl ReporterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GridWorker => "grid_worker",
            Self::PartyRepresentative => "party_representative",
            Self::Resident => "resident",
            Self::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::GridWorker,
            Self::PartyRepresentative,
            Self::Resident,
            Self::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Where a change request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl RequestKind {
    /// Whether the step's clock stops while the request waits.
    pub fn stops_clock(self) -> bool {
        !matches!(self, Self::Extension)
    }
}

/// How urgent a case is: each tier has its own time limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    Normal,
    Urgent,
    Critical,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Urgent => "urgent",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Normal, Self::Urgent, Self::Critical]
            .into_iter()
            .find(|u| u.as_str() == text)
    }
}

/// A case as stored: what was reported, where it stands, and its clocks (epoch milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub id: String,
    pub category_code: String,
    pub urgency: Urgency,
    pub description: String,
    pub attributes: BTreeMap<String, String>,
    pub location: Option<Point>,
    pub address: String,
    pub grid_id: Option<String>,
    pub owner_org_id: String,
    pub org_path: String,
    pub reporter_kind: ReporterKind,
    pub reporter: String,
    /// How to reach the reporter, sealed, and its mask.
    pub contact_sealed: Option<String>,
    pub contact_masked: String,
    pub source: String,
    pub external_id: String,
    pub attachments: Vec<String>,
    pub state: CaseState,
    pub handler_org_id: String,
    pub handled_by: String,
    pub step_started_at: Option<i64>,
    pub step_due_at: Option<i64>,
    pub overall_due_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub escalation_level: i64,
    pub escalated_org_id: String,
    pub satisfaction: Option<i64>,
    pub evaluation: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    /// For a merged case: the case it duplicates.
    pub duplicate_of: Option<String>,
    /// When the last approved deferral ends: the clock stands still until then.
    pub deferred_until: Option<i64>,
}

impl Case {
    /// Past its step's or its overall time limit at `now`, while still open and its clock runs.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.state.is_open()
            && self.paused_at.is_none()
            && (self.step_due_at.is_some_and(|due| due < now)
                || self.overall_due_at.is_some_and(|due| due < now))
    }

    /// The ids of the owning org's chain, root first.
    /// The street or town the case belongs to, for metrics: the unit below the district root
    /// on its org path, or `district` for a case the district owns itself. Bounded by the
    /// district's streets and towns (36 in Pudong), as a metric attribute must be.
    pub fn street(&self) -> &str {
        street_of(&self.org_path)
    }

    pub fn chain(&self) -> Vec<&str> {
        self.org_path
            .split('/')
            .filter(|id| !id.is_empty())
            .collect()
    }

    /// Starts the clock of the step the case is now in (or stops it, when the state has none).
    pub fn start_step(&mut self, category: &Category, calendar: &WorkCalendar, now: i64) {
        let limits = category.limits(self.urgency);
        let step = self.state.step();
        self.step_started_at = step.map(|_| now);
        self.step_due_at = step
            .and_then(|step| limits.of(step))
            .map(|minutes| calendar.add(now, minutes, category.clock));
        self.paused_at = None;
        // A new step answers to the owning org again; the history keeps the climb.
        self.escalation_level = 0;
        self.escalated_org_id = self.owner_org_id.clone();
    }
}

/// One transition in a case's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    pub seq: i64,
    pub action: String,
    pub from_state: CaseState,
    pub to_state: CaseState,
    pub actor: String,
    pub note: String,
    pub evidence: Vec<String>,
    pub org_id: String,
    pub trace_id: String,
    pub at: i64,
}

/// What a case's handling org asked the level above for, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    pub id: String,
    pub case_id: String,
    pub kind: RequestKind,
    pub reason: String,
    /// For an extension: the minutes asked for, counted by the category's clock.
    pub minutes: Option<i64>,
    /// For a deferral: when the clock is to run again.
    pub until: Option<i64>,
    pub state: RequestState,
    pub requested_by: String,
    pub decided_by: String,
    pub decision_note: String,
    pub requested_at: i64,
}

/// The street or town of an org path `/root/street/…/`: its second unit, or `district` when
/// the path is the root's alone.
pub fn street_of(org_path: &str) -> &str {
    org_path
        .split('/')
        .filter(|id| !id.is_empty())
        .nth(1)
        .unwrap_or("district")
}

/// A case that climbed (or, at the top, was flagged again) for being overdue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    pub case_id: String,
    /// The case's street (see [`Case::street`]).
    pub street: String,
    pub step: Step,
    pub from_org_id: String,
    pub to_org_id: String,
    pub level: i64,
}

/// A change request decided: the case as it is afterwards, and the history's name for what
/// happened to it.
#[derive(Clone, Debug, PartialEq)]
pub struct DecidedChange {
    pub case: Case,
    /// `return`, `backlog`, `extend`, `defer` or (for any rejection) `decline`.
    pub action: &'static str,
}

/// What approving (or rejecting) `request` at `now` does to `case`, as loaded while the request
/// waits. An approved return sends the case back to be dispatched; a backlog entry puts it on
/// the books; an extension moves the step's deadline; a deferral keeps the clock stopped until
/// its date. A rejection restarts a stopped clock with the time that was left. The overall
/// limit moves with the step's. Deadlines count on `category`'s clock in `calendar`; an error
/// says why a return or backlog cannot be taken from the case's state.
pub fn decide_change(
    case: &Case,
    request: &ChangeRequest,
    approve: bool,
    category: &Category,
    calendar: &WorkCalendar,
    now: i64,
) -> Result<DecidedChange, String> {
    let mut case = case.clone();
    let from = case.state;
    let (stopped_at, step_due_before) = (case.paused_at, case.step_due_at);
    // When the clock runs again: now, or at the end of an approved deferral.
    let mut resumed_at = now;
    // The limit left when the clock stopped, counted on the category's clock.
    let left = |case: &Case| {
        case.step_due_at
            .map(|due| calendar.between(case.paused_at.unwrap_or(now), due, category.clock))
    };
    let action = match (approve, request.kind) {
        (true, RequestKind::Return) => {
            case.state = Action::Return.apply(from)?;
            case.handler_org_id.clear();
            case.handled_by.clear();
            case.start_step(category, calendar, now);
            "return"
        }
        (true, RequestKind::Backlog) => {
            case.state = Action::Backlog.apply(from)?;
            case.start_step(category, calendar, now);
            "backlog"
        }
        (true, RequestKind::Extension) => {
            let minutes = request.minutes.unwrap_or_default();
            case.step_due_at = case
                .step_due_at
                .map(|due| calendar.add(due, minutes, category.clock));
            "extend"
        }
        (true, RequestKind::Deferral) => {
            let resume = request.until.unwrap_or(now).max(now);
            resumed_at = resume;
            case.step_due_at = left(&case).map(|left| calendar.add(resume, left, category.clock));
            case.paused_at = None;
            case.deferred_until = (resume > now).then_some(resume);
            "defer"
        }
        (false, kind) => {
            if kind.stops_clock() {
                case.step_due_at = left(&case).map(|left| calendar.add(now, left, category.clock));
                case.paused_at = None;
            }
            "decline"
        }
    };
    // The overall limit moves with the step's: by the time the clock stood still, or by
    // an approved extension.
    let moved_by = if approve && request.kind == RequestKind::Extension {
        step_due_before
            .zip(case.step_due_at)
            .map_or(0, |(before, after)| after.saturating_sub(before))
    } else {
        stopped_at.map_or(0, |stopped| resumed_at.saturating_sub(stopped))
    };
    if moved_by > 0 {
        case.overall_due_at = case.overall_due_at.map(|due| due.saturating_add(moved_by));
    }
    Ok(DecidedChange { case, action })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{calendar::ClockKind, category::Limits};

    #[test]
    fn a_case_runs_its_course_and_reopens_on_failed_verification() {
        let mut state = CaseState::Reported;
        for action in [
            Action::Accept,
            Action::Dispatch {
                handler_org_id: "org".into(),
            },
            Action::Start,
            Action::Handle,
            Action::Verify { passed: false },
            Action::Handle,
            Action::Verify { passed: true },
            Action::Close,
            Action::Evaluate { satisfaction: 5 },
        ] {
            state = action.apply(state).expect("allowed");
        }
        assert_eq!(state, CaseState::Evaluated);
        assert!(!state.is_open());
    }

    #[test]
    fn illegal_moves_say_why() {
        let refused = Action::Close
            .apply(CaseState::Reported)
            .expect_err("illegal");
        assert_eq!(refused, "a case that is reported cannot be closed");
        assert!(
            Action::Evaluate { satisfaction: 6 }
                .apply(CaseState::Closed)
                .is_err()
        );
        assert!(Action::Return.apply(CaseState::Handled).is_err());
        assert_eq!(
            Action::Merge.apply(CaseState::InProgress),
            Ok(CaseState::Merged)
        );
        assert_eq!(
            Action::Merge.apply(CaseState::Closed).expect_err("closed"),
            "a case that is closed cannot be merged"
        );
    }

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    /// 2026-11-27, a Friday, at 16:00 Beijing.
    const FRIDAY_4PM: i64 = 1_795_737_600_000 - 8 * HOUR + 16 * HOUR;
    /// 2026-11-30, the Monday after, at 10:00 Beijing.
    const MONDAY_10AM: i64 = FRIDAY_4PM + 3 * DAY - 6 * HOUR;

    fn category(clock: ClockKind) -> Category {
        let limits = Limits {
            accept: 60,
            dispatch: 120,
            handle: 480,
            verify: 60,
            overall: 2_880,
        };
        Category {
            code: "roads.pothole".into(),
            name: "坑洼".into(),
            attributes: Vec::new(),
            default_handler_kind: "residential_committee".into(),
            clock,
            limits: [limits; 3],
        }
    }

    /// A case being handled by the street below the district, escalated once, its step due
    /// at `step_due` and its clock stopped at `paused_at`.
    fn handled_case(step_due: i64, paused_at: Option<i64>) -> Case {
        Case {
            id: "case-1".into(),
            category_code: "roads.pothole".into(),
            urgency: Urgency::Normal,
            description: "路面塌陷".into(),
            attributes: BTreeMap::new(),
            location: None,
            address: String::new(),
            grid_id: None,
            owner_org_id: "community".into(),
            org_path: "/district/street/community/".into(),
            reporter_kind: ReporterKind::GridWorker,
            reporter: "worker-1".into(),
            contact_sealed: None,
            contact_masked: String::new(),
            source: String::new(),
            external_id: String::new(),
            attachments: Vec::new(),
            state: CaseState::InProgress,
            handler_org_id: "street".into(),
            handled_by: "handler-1".into(),
            step_started_at: Some(step_due - 480 * MINUTE),
            step_due_at: Some(step_due),
            overall_due_at: Some(step_due + DAY),
            paused_at,
            escalation_level: 1,
            escalated_org_id: "street".into(),
            satisfaction: None,
            evaluation: String::new(),
            version: 7,
            created_at: step_due - 2 * DAY,
            updated_at: step_due - DAY,
            closed_at: None,
            duplicate_of: None,
            deferred_until: None,
        }
    }

    fn request(kind: RequestKind, minutes: Option<i64>, until: Option<i64>) -> ChangeRequest {
        ChangeRequest {
            id: "request-1".into(),
            case_id: "case-1".into(),
            kind,
            reason: "需协调".into(),
            minutes,
            until,
            state: RequestState::Pending,
            requested_by: "handler-1".into(),
            decided_by: String::new(),
            decision_note: String::new(),
            requested_at: 0,
        }
    }

    fn decide(
        case: &Case,
        request: &ChangeRequest,
        approve: bool,
        clock: ClockKind,
        now: i64,
    ) -> Result<DecidedChange, String> {
        decide_change(
            case,
            request,
            approve,
            &category(clock),
            &WorkCalendar::default(),
            now,
        )
    }

    #[test]
    fn an_approved_return_goes_back_to_be_dispatched_on_a_fresh_clock() {
        let stopped = FRIDAY_4PM - HOUR;
        let case = handled_case(FRIDAY_4PM + HOUR, Some(stopped));
        let now = FRIDAY_4PM;
        let decided = decide(
            &case,
            &request(RequestKind::Return, None, None),
            true,
            ClockKind::Calendar,
            now,
        )
        .expect("approved");
        assert_eq!(decided.action, "return");
        let after = decided.case;
        assert_eq!(after.state, CaseState::Accepted);
        assert_eq!(
            (after.handler_org_id.as_str(), after.handled_by.as_str()),
            ("", "")
        );
        // The dispatch step's two hours start now, answering to the owning org again.
        assert_eq!(after.step_started_at, Some(now));
        assert_eq!(after.step_due_at, Some(now + 120 * MINUTE));
        assert_eq!(after.paused_at, None);
        assert_eq!(after.escalation_level, 0);
        assert_eq!(after.escalated_org_id, "community");
        // The overall limit moved by the hour the clock stood still.
        assert_eq!(after.overall_due_at, Some(FRIDAY_4PM + HOUR + DAY + HOUR));
        // The version is the store's to bump.
        assert_eq!(after.version, case.version);
    }

    #[test]
    fn an_approved_backlog_entry_has_no_timed_step() {
        let stopped = FRIDAY_4PM - 2 * HOUR;
        let case = handled_case(FRIDAY_4PM, Some(stopped));
        let decided = decide(
            &case,
            &request(RequestKind::Backlog, None, None),
            true,
            ClockKind::Working,
            FRIDAY_4PM,
        )
        .expect("approved");
        assert_eq!(decided.action, "backlog");
        assert_eq!(decided.case.state, CaseState::Backlog);
        assert_eq!(decided.case.step_started_at, None);
        assert_eq!(decided.case.step_due_at, None);
        assert_eq!(decided.case.paused_at, None);
        assert_eq!(decided.case.handler_org_id, "street");
        assert_eq!(
            decided.case.overall_due_at,
            Some(FRIDAY_4PM + DAY + 2 * HOUR)
        );
    }

    #[test]
    fn a_case_no_longer_being_handled_cannot_be_returned_or_put_on_the_books() {
        let mut case = handled_case(FRIDAY_4PM, Some(FRIDAY_4PM - HOUR));
        case.state = CaseState::Handled;
        for (kind, refusal) in [
            (
                RequestKind::Return,
                "a case that is handled cannot be returned",
            ),
            (
                RequestKind::Backlog,
                "a case that is handled cannot be put on the backlog",
            ),
        ] {
            let refused = decide(
                &case,
                &request(kind, None, None),
                true,
                ClockKind::Calendar,
                FRIDAY_4PM,
            );
            assert_eq!(refused, Err(refusal.to_owned()));
        }
    }

    #[test]
    fn an_approved_extension_moves_both_deadlines_by_working_minutes() {
        // An extension leaves the clock running while it waits.
        let case = handled_case(FRIDAY_4PM, None);
        let decided = decide(
            &case,
            &request(RequestKind::Extension, Some(120), None),
            true,
            ClockKind::Working,
            FRIDAY_4PM - HOUR,
        )
        .expect("approved");
        assert_eq!(decided.action, "extend");
        // One working hour left on Friday, the second on Monday morning.
        assert_eq!(decided.case.step_due_at, Some(MONDAY_10AM));
        assert_eq!(
            decided.case.overall_due_at,
            Some(FRIDAY_4PM + DAY + (MONDAY_10AM - FRIDAY_4PM))
        );
        assert_eq!(decided.case.state, CaseState::InProgress);
        assert_eq!(decided.case.step_started_at, case.step_started_at);
    }

    #[test]
    fn an_approved_extension_on_the_calendar_clock_counts_every_hour() {
        let case = handled_case(FRIDAY_4PM, None);
        let decided = decide(
            &case,
            &request(RequestKind::Extension, Some(120), None),
            true,
            ClockKind::Calendar,
            FRIDAY_4PM - HOUR,
        )
        .expect("approved");
        assert_eq!(decided.case.step_due_at, Some(FRIDAY_4PM + 2 * HOUR));
        assert_eq!(
            decided.case.overall_due_at,
            Some(FRIDAY_4PM + DAY + 2 * HOUR)
        );
    }

    #[test]
    fn an_approved_deferral_restarts_the_clock_at_its_date_with_the_time_left() {
        // Stopped at 15:00 on Friday with the step due at 10:00 on Monday: three working
        // hours left (15:00 to 17:00, then 09:00 to 10:00).
        let stopped = FRIDAY_4PM - HOUR;
        let case = handled_case(MONDAY_10AM, Some(stopped));
        let tuesday_9am = MONDAY_10AM + DAY - HOUR;
        let decided = decide(
            &case,
            &request(RequestKind::Deferral, None, Some(tuesday_9am)),
            true,
            ClockKind::Working,
            FRIDAY_4PM,
        )
        .expect("approved");
        assert_eq!(decided.action, "defer");
        assert_eq!(decided.case.step_due_at, Some(tuesday_9am + 3 * HOUR));
        assert_eq!(decided.case.paused_at, None);
        assert_eq!(decided.case.deferred_until, Some(tuesday_9am));
        // The overall limit moved by all the time from the stop to the deferral's end.
        assert_eq!(
            decided.case.overall_due_at,
            Some(MONDAY_10AM + DAY + (tuesday_9am - stopped))
        );
    }

    #[test]
    fn a_deferral_decided_after_its_date_restarts_the_clock_now() {
        let stopped = FRIDAY_4PM - 2 * HOUR;
        let case = handled_case(FRIDAY_4PM + 6 * HOUR, Some(stopped));
        let now = FRIDAY_4PM;
        let decided = decide(
            &case,
            &request(RequestKind::Deferral, None, Some(now - HOUR)),
            true,
            ClockKind::Calendar,
            now,
        )
        .expect("approved");
        assert_eq!(decided.case.deferred_until, None);
        assert_eq!(decided.case.step_due_at, Some(now + 8 * HOUR));
        assert_eq!(
            decided.case.overall_due_at,
            Some(FRIDAY_4PM + 6 * HOUR + DAY + 2 * HOUR)
        );
    }

    #[test]
    fn a_rejection_restarts_a_stopped_clock_with_the_time_left() {
        // Stopped at 15:00 on Friday with two working hours left; rejected at 16:00, the
        // first hour runs out at 17:00 and the second on Monday morning.
        let stopped = FRIDAY_4PM - HOUR;
        let case = handled_case(FRIDAY_4PM + HOUR, Some(stopped));
        for kind in [
            RequestKind::Return,
            RequestKind::Deferral,
            RequestKind::Backlog,
        ] {
            let decided = decide(
                &case,
                &request(kind, None, Some(FRIDAY_4PM + DAY)),
                false,
                ClockKind::Working,
                FRIDAY_4PM,
            )
            .expect("rejected");
            assert_eq!(decided.action, "decline");
            assert_eq!(decided.case.state, CaseState::InProgress);
            assert_eq!(decided.case.handler_org_id, "street");
            assert_eq!(decided.case.step_due_at, Some(MONDAY_10AM));
            assert_eq!(decided.case.paused_at, None);
            assert_eq!(decided.case.deferred_until, None);
            assert_eq!(
                decided.case.overall_due_at,
                Some(FRIDAY_4PM + HOUR + DAY + HOUR)
            );
        }
    }

    #[test]
    fn a_rejected_extension_leaves_the_running_clock_alone() {
        let case = handled_case(FRIDAY_4PM, None);
        let decided = decide(
            &case,
            &request(RequestKind::Extension, Some(120), None),
            false,
            ClockKind::Working,
            FRIDAY_4PM - HOUR,
        )
        .expect("rejected");
        assert_eq!(decided.action, "decline");
        assert_eq!(decided.case, case);
    }

    #[test]
    fn a_step_without_a_deadline_keeps_none() {
        let mut case = handled_case(FRIDAY_4PM, Some(FRIDAY_4PM - HOUR));
        case.step_due_at = None;
        case.overall_due_at = None;
        let decided = decide(
            &case,
            &request(RequestKind::Deferral, None, Some(FRIDAY_4PM + DAY)),
            true,
            ClockKind::Working,
            FRIDAY_4PM,
        )
        .expect("approved");
        assert_eq!(decided.case.step_due_at, None);
        assert_eq!(decided.case.overall_due_at, None);
        assert_eq!(decided.case.deferred_until, Some(FRIDAY_4PM + DAY));
    }
}
