//! Joint meetings with their decisions, and the three meetings of residential projects.

use super::{UnitId, positions::string_enum, text::Person};

/// Someone at a meeting.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Attendee {
    /// A unit, through its representative.
    Unit(String),
    Person(Person),
}

/// Who holds a joint meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unit(UnitId),
    Alliance(String),
}

/// The one problem a joint meeting takes up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    Text(String),
    /// A case of the grid service, by id: the grid service links back to the meeting.
    GridCase(String),
}

string_enum! {
    MeetingStatus {
        Scheduled => "scheduled",
        Held => "held",
    }
}

string_enum! {
    DecisionStatus {
        Open => "open",
        Done => "done",
        Dropped => "dropped",
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub meeting_id: String,
    pub text: String,
    pub owner_unit_id: UnitId,
    pub due_at: i64,
    pub status: DecisionStatus,
    pub note: String,
    pub closed_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JointMeeting {
    pub id: String,
    pub host: Host,
    pub title: String,
    pub topic: Topic,
    pub scheduled_at: i64,
    pub status: MeetingStatus,
    pub attendees: Vec<Attendee>,
    pub minutes: String,
    pub held_at: Option<i64>,
    pub decisions: Vec<Decision>,
}

string_enum! {
    /// The three meetings (三会) of a residential project, in their only order.
    ProjectStage {
        Hearing => "hearing",
        Coordination => "coordination",
        Evaluation => "evaluation",
    }
}

impl ProjectStage {
    pub fn next(self) -> Option<ProjectStage> {
        match self {
            Self::Hearing => Some(Self::Coordination),
            Self::Coordination => Some(Self::Evaluation),
            Self::Evaluation => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vote {
    pub in_favour: i64,
    pub against: i64,
    pub abstaining: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectMeeting {
    pub stage: ProjectStage,
    pub held_at: i64,
    pub attendees: Vec<Attendee>,
    pub opinions: Vec<String>,
    pub outcome: String,
    pub vote: Option<Vote>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub unit_id: UnitId,
    pub name: String,
    pub description: String,
    /// The stage whose meeting comes next; `None` once the evaluation is held.
    pub next_stage: Option<ProjectStage>,
    pub meetings: Vec<ProjectMeeting>,
    pub created_at: i64,
}

impl Project {
    /// Why `stage` cannot be held now, if it cannot: a stage is never skipped or repeated.
    pub fn refuses(&self, stage: ProjectStage) -> Option<String> {
        match self.next_stage {
            None => Some("the project has held all three meetings".into()),
            Some(next) if next == stage => None,
            Some(next) if stage < next => {
                Some(format!("the {} meeting was already held", stage.as_str()))
            }
            Some(next) => Some(format!(
                "the {} meeting must be held before the {}",
                next.as_str(),
                stage.as_str()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(next_stage: Option<ProjectStage>) -> Project {
        Project {
            id: "p".into(),
            unit_id: UnitId::new_v7(),
            name: "加装电梯".into(),
            description: String::new(),
            next_stage,
            meetings: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn stages_go_in_order_without_skips_or_repeats() {
        let fresh = project(Some(ProjectStage::Hearing));
        assert_eq!(fresh.refuses(ProjectStage::Hearing), None);
        assert!(
            fresh.refuses(ProjectStage::Coordination).is_some(),
            "no skipping"
        );
        let middle = project(Some(ProjectStage::Coordination));
        assert!(
            middle.refuses(ProjectStage::Hearing).is_some(),
            "no repeating"
        );
        assert!(project(None).refuses(ProjectStage::Evaluation).is_some());
        assert_eq!(
            ProjectStage::Hearing.next(),
            Some(ProjectStage::Coordination)
        );
        assert_eq!(ProjectStage::Evaluation.next(), None);
    }
}
