//! Conversions of the meetings messages.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use super::positions::person_to_proto;
use crate::domain::meetings::{
    Attendee, Decision, DecisionStatus, Host, JointMeeting, MeetingStatus, Project, ProjectStage,
    Topic,
};

const STAGES: &[(pb::ProjectStage, ProjectStage)] = &[
    (pb::ProjectStage::Hearing, ProjectStage::Hearing),
    (pb::ProjectStage::Coordination, ProjectStage::Coordination),
    (pb::ProjectStage::Evaluation, ProjectStage::Evaluation),
];

pub(crate) fn stage_from_proto(value: i32) -> Result<ProjectStage, &'static str> {
    STAGES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, s)| *s)
        .ok_or("must be HEARING, COORDINATION or EVALUATION")
}

pub(crate) fn stage_to_proto(stage: ProjectStage) -> pb::ProjectStage {
    STAGES
        .iter()
        .find(|(_, s)| *s == stage)
        .map_or(pb::ProjectStage::Unspecified, |(p, _)| *p)
}

pub(crate) fn attendee_to_proto(attendee: &Attendee) -> pb::Attendee {
    pb::Attendee {
        attendee: Some(match attendee {
            Attendee::Unit(id) => pb::attendee::Attendee::UnitId(id.clone()),
            Attendee::Person(person) => pb::attendee::Attendee::Person(person_to_proto(person)),
        }),
    }
}

pub(crate) fn decision_to_proto(decision: &Decision) -> pb::Decision {
    pb::Decision {
        id: decision.id.clone(),
        meeting_id: decision.meeting_id.clone(),
        text: decision.text.clone(),
        owner_unit_id: decision.owner_unit_id.to_string(),
        due_time: Some(timestamp(decision.due_at)),
        status: match decision.status {
            DecisionStatus::Open => pb::DecisionStatus::Open,
            DecisionStatus::Done => pb::DecisionStatus::Done,
            DecisionStatus::Dropped => pb::DecisionStatus::Dropped,
        } as i32,
        note: decision.note.clone(),
        close_time: decision.closed_at.map(timestamp),
    }
}

pub(crate) fn meeting_to_proto(meeting: &JointMeeting) -> pb::JointMeeting {
    pb::JointMeeting {
        id: meeting.id.clone(),
        host: Some(match &meeting.host {
            Host::Unit(unit) => pb::joint_meeting::Host::HostUnitId(unit.to_string()),
            Host::Alliance(alliance) => pb::joint_meeting::Host::HostAllianceId(alliance.clone()),
        }),
        title: meeting.title.clone(),
        topic: Some(match &meeting.topic {
            Topic::Text(text) => pb::joint_meeting::Topic::TopicText(text.clone()),
            Topic::GridCase(case) => pb::joint_meeting::Topic::GridCaseId(case.clone()),
        }),
        scheduled_time: Some(timestamp(meeting.scheduled_at)),
        status: match meeting.status {
            MeetingStatus::Scheduled => pb::MeetingStatus::Scheduled,
            MeetingStatus::Held => pb::MeetingStatus::Held,
        } as i32,
        attendees: meeting.attendees.iter().map(attendee_to_proto).collect(),
        minutes: meeting.minutes.clone(),
        held_time: meeting.held_at.map(timestamp),
        decisions: meeting.decisions.iter().map(decision_to_proto).collect(),
    }
}

pub(crate) fn project_to_proto(project: &Project) -> pb::Project {
    pb::Project {
        id: project.id.clone(),
        unit_id: project.unit_id.to_string(),
        name: project.name.clone(),
        description: project.description.clone(),
        next_stage: project
            .next_stage
            .map_or(pb::ProjectStage::Unspecified, stage_to_proto) as i32,
        completed: project.next_stage.is_none(),
        meetings: project
            .meetings
            .iter()
            .map(|m| pb::ProjectMeeting {
                stage: stage_to_proto(m.stage) as i32,
                held_time: Some(timestamp(m.held_at)),
                attendees: m.attendees.iter().map(attendee_to_proto).collect(),
                opinions: m.opinions.clone(),
                outcome: m.outcome.clone(),
                vote: m.vote.map(|v| pb::Vote {
                    in_favour: i32::try_from(v.in_favour).unwrap_or(i32::MAX),
                    against: i32::try_from(v.against).unwrap_or(i32::MAX),
                    abstaining: i32::try_from(v.abstaining).unwrap_or(i32::MAX),
                }),
            })
            .collect(),
        create_time: Some(timestamp(project.created_at)),
    }
}
