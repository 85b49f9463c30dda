//! The case workflow of a grid issue (网格化管理): collect → file → dispatch → handle → report
//! back → verify → close → evaluate, with the steps that carry a time limit.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
