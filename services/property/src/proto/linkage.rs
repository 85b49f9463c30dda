//! Conversions of `LinkageService`'s messages: three-party meetings and their decisions,
//! assessments, scores, rankings and orders.

use jiceng_grpc::timestamp;
use jiceng_proto::property as pb;

use crate::domain::linkage::{Assessment, Decision, DecisionState, Meeting, Order, Party, Score};

const PARTIES: [(pb::Party, Party); 3] = [
    (pb::Party::ResidentsCommittee, Party::ResidentsCommittee),
    (pb::Party::OwnersCommittee, Party::OwnersCommittee),
    (pb::Party::Company, Party::Company),
];

pub(crate) fn party_from_proto(value: i32) -> Option<Party> {
    PARTIES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, d)| *d)
}

fn party_to_proto(party: Party) -> i32 {
    PARTIES
        .iter()
        .find(|(_, d)| *d == party)
        .map_or(pb::Party::Unspecified, |(p, _)| *p) as i32
}

pub(crate) fn decision_to_proto(decision: &Decision) -> pb::LinkageDecision {
    pb::LinkageDecision {
        id: decision.id.clone(),
        meeting_id: decision.meeting_id.clone(),
        text: decision.text.clone(),
        owner: party_to_proto(decision.owner),
        due_time: decision.due_at.map(timestamp),
        state: match decision.state {
            DecisionState::Open => pb::DecisionState::Open,
            DecisionState::Done => pb::DecisionState::Done,
            DecisionState::Dropped => pb::DecisionState::Dropped,
        } as i32,
        follow_up: decision.follow_up.clone(),
    }
}

pub(crate) fn meeting_to_proto(meeting: &Meeting) -> pb::LinkageMeeting {
    pb::LinkageMeeting {
        id: meeting.id.clone(),
        compound_id: meeting.compound_id.clone(),
        title: meeting.title.clone(),
        agenda: meeting.agenda.clone(),
        scheduled_time: Some(timestamp(meeting.scheduled_at)),
        held_time: meeting.held_at.map(timestamp),
        attendees: meeting
            .attendees
            .iter()
            .map(|a| pb::Attendee {
                party: party_to_proto(a.party),
                name: a.name.clone(),
            })
            .collect(),
        minutes: meeting.minutes.clone(),
        decisions: meeting.decisions.iter().map(decision_to_proto).collect(),
    }
}

pub(crate) fn assessment_to_proto(assessment: &Assessment) -> pb::Assessment {
    pb::Assessment {
        id: assessment.id.clone(),
        org_id: assessment.org_id.clone(),
        period: assessment.period.clone(),
        criteria: assessment
            .criteria
            .iter()
            .map(|c| pb::Criterion {
                code: c.code.clone(),
                name: c.name.clone(),
                weight: i32::try_from(c.weight).unwrap_or(i32::MAX),
            })
            .collect(),
    }
}

pub(crate) fn score_to_proto(score: &Score) -> pb::CompanyScore {
    pb::CompanyScore {
        assessment_id: score.assessment_id.clone(),
        company_id: score.company_id.clone(),
        scores: score
            .scores
            .iter()
            .map(|(code, s)| (code.clone(), i32::try_from(*s).unwrap_or(i32::MAX)))
            .collect(),
        total: score.total as f64 / 100.0,
        comment: score.comment.clone(),
    }
}

pub(crate) fn order_to_proto(order: &Order) -> pb::Order {
    pb::Order {
        id: order.id.clone(),
        assessment_id: order.assessment_id.clone(),
        company_id: order.company_id.clone(),
        kind: if order.kind == "reward" {
            pb::OrderKind::Reward
        } else {
            pb::OrderKind::Rectification
        } as i32,
        text: order.text.clone(),
        due_time: order.due_at.map(timestamp),
        issue_time: Some(timestamp(order.issued_at)),
        issued_by: order.issued_by.clone(),
    }
}

/// An assessment's scores, best first, each with its rank in `ranks`.
pub(crate) fn ranking_to_proto(
    assessment: &Assessment,
    scores: &[Score],
    ranks: &[usize],
) -> pb::Ranking {
    pb::Ranking {
        assessment: Some(assessment_to_proto(assessment)),
        companies: scores
            .iter()
            .zip(ranks)
            .map(|(score, rank)| pb::RankedCompany {
                rank: i32::try_from(*rank).unwrap_or(i32::MAX),
                score: Some(score_to_proto(score)),
            })
            .collect(),
    }
}
