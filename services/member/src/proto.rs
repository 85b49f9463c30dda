//! Conversions between the member service's domain values and its protobuf messages, used by the
//! gRPC adapter and by the events the service publishes.

use jiceng_grpc::timestamp;
use jiceng_proto::member as pb;

use crate::domain::{
    Gender, Member, MemberStatus, StatusChange,
    activities::Activity,
    community::{Commitment, CommitmentState, Registration},
    points::{EntryKind, EntryState, LedgerEntry, PointsRule, Standing},
    transfers::{Transfer, TransferState},
};

/// A member as anyone but an admin who asked sees them: personal numbers masked.
pub(crate) fn masked_member_to_proto(member: &Member) -> pb::Member {
    pb::Member {
        id: member.id.clone(),
        name: member.name.clone(),
        gender: gender_to_proto(member.gender) as i32,
        birth_date: member.birth_date.clone().unwrap_or_default(),
        phone: member.phone_masked.clone().unwrap_or_default(),
        id_card_number: member.id_card_masked.clone().unwrap_or_default(),
        join_date: member.join_date.clone().unwrap_or_default(),
        status: status_to_proto(member.status) as i32,
        org_id: member.org_id.clone(),
        etag: jiceng_grpc::etag_of(member.version),
        create_time: Some(timestamp(member.created_at)),
        update_time: Some(timestamp(member.updated_at)),
    }
}

/// `None` for GENDER_UNSPECIFIED: a gender is optional.
pub(crate) fn gender_from_proto(value: i32) -> Result<Option<Gender>, &'static str> {
    match pb::Gender::try_from(value) {
        Ok(pb::Gender::Female) => Ok(Some(Gender::Female)),
        Ok(pb::Gender::Male) => Ok(Some(Gender::Male)),
        Ok(pb::Gender::Unspecified) => Ok(None),
        Err(_) => Err("must be a known gender"),
    }
}

fn gender_to_proto(gender: Option<Gender>) -> pb::Gender {
    match gender {
        Some(Gender::Female) => pb::Gender::Female,
        Some(Gender::Male) => pb::Gender::Male,
        None => pb::Gender::Unspecified,
    }
}

/// The one table between the protobuf enum and the domain's statuses.
const STATUSES: &[(pb::MemberStatus, MemberStatus)] = &[
    (pb::MemberStatus::Applicant, MemberStatus::Applicant),
    (pb::MemberStatus::Activist, MemberStatus::Activist),
    (
        pb::MemberStatus::DevelopmentTarget,
        MemberStatus::DevelopmentTarget,
    ),
    (pb::MemberStatus::Probationary, MemberStatus::Probationary),
    (pb::MemberStatus::Full, MemberStatus::Full),
    (
        pb::MemberStatus::TransferredOut,
        MemberStatus::TransferredOut,
    ),
    (pb::MemberStatus::Deceased, MemberStatus::Deceased),
    (pb::MemberStatus::Removed, MemberStatus::Removed),
];

pub(crate) fn status_from_proto(value: i32) -> Result<MemberStatus, &'static str> {
    STATUSES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, s)| *s)
        .ok_or("must be a known member status")
}

fn status_to_proto(status: MemberStatus) -> pb::MemberStatus {
    STATUSES
        .iter()
        .find(|(_, s)| *s == status)
        .map_or(pb::MemberStatus::Unspecified, |(p, _)| *p)
}

pub(crate) fn change_to_proto(change: &StatusChange) -> pb::StatusChange {
    pb::StatusChange {
        from_status: change
            .from
            .map_or(pb::MemberStatus::Unspecified, status_to_proto) as i32,
        to_status: status_to_proto(change.to) as i32,
        effective_date: change.effective_date.clone(),
        approving_org_id: change.approving_org_id.clone(),
        note: change.note.clone(),
        actor: change.actor.clone(),
        record_time: Some(timestamp(change.recorded_at)),
    }
}

/// The kind of an activity a caller records: those two only, never UNSPECIFIED.
pub(crate) fn activity_kind_from_proto(value: i32) -> Result<&'static str, &'static str> {
    match pb::ActivityKind::try_from(value) {
        Ok(pb::ActivityKind::OrgLife) => Ok("org_life"),
        Ok(pb::ActivityKind::Service) => Ok("service"),
        _ => Err("must be ORG_LIFE or SERVICE"),
    }
}

pub(crate) fn activity_to_proto(activity: &Activity) -> pb::Activity {
    pb::Activity {
        id: activity.id.clone(),
        kind: match activity.kind.as_str() {
            "org_life" => pb::ActivityKind::OrgLife,
            "service" => pb::ActivityKind::Service,
            _ => pb::ActivityKind::Unspecified,
        } as i32,
        title: activity.title.clone(),
        org_id: activity.org_id.clone(),
        held_on: activity.held_on.clone(),
        attendee_member_ids: activity.attendees.clone(),
        booking_id: activity.booking_id.clone().unwrap_or_default(),
        record_time: Some(timestamp(activity.recorded_at)),
    }
}

pub(crate) fn registration_to_proto(registration: &Registration) -> pb::CommunityRegistration {
    pb::CommunityRegistration {
        id: registration.id.clone(),
        member_id: registration.member_id.clone(),
        community_org_id: registration.community_org_id.clone(),
        register_time: Some(timestamp(registration.registered_at)),
        service_minutes: registration.service_minutes,
    }
}

pub(crate) fn commitment_to_proto(commitment: &Commitment) -> pb::Commitment {
    pb::Commitment {
        id: commitment.id.clone(),
        member_id: commitment.member_id.clone(),
        text: commitment.text.clone(),
        due_date: commitment.due_date.clone(),
        state: match commitment.state {
            CommitmentState::Open => pb::CommitmentState::Open,
            CommitmentState::Fulfilled => pb::CommitmentState::Fulfilled,
            CommitmentState::Confirmed => pb::CommitmentState::Confirmed,
        } as i32,
        evidence: commitment.evidence.clone(),
        confirmation_note: commitment.confirmation_note.clone(),
        publish_time: Some(timestamp(commitment.published_at)),
    }
}

pub(crate) fn transfer_to_proto(transfer: &Transfer) -> pb::Transfer {
    pb::Transfer {
        id: transfer.id.clone(),
        member_id: transfer.member_id.clone(),
        from_org_id: transfer.from_org_id.clone(),
        to_org_id: transfer.to_org_id.clone(),
        state: match transfer.state {
            TransferState::Pending => pb::TransferState::Pending,
            TransferState::Accepted => pb::TransferState::Accepted,
            TransferState::Rejected => pb::TransferState::Rejected,
        } as i32,
        reason: transfer.reason.clone(),
        decision_note: transfer.decision_note.clone(),
        requested_by: transfer.requested_by.clone(),
        decided_by: transfer.decided_by.clone(),
        request_time: Some(timestamp(transfer.requested_at)),
        decide_time: transfer.decided_at.map(timestamp),
    }
}

pub(crate) fn rule_to_proto(rule: &PointsRule) -> pb::PointsRule {
    pb::PointsRule {
        code: rule.code.clone(),
        version: rule.version,
        name: rule.name.clone(),
        points: rule.points,
        evidence_required: rule.evidence_required,
        approval_required: rule.approval_required,
        daily_cap: rule.daily_cap.unwrap_or_default(),
        monthly_cap: rule.monthly_cap.unwrap_or_default(),
        yearly_cap: rule.yearly_cap.unwrap_or_default(),
        valid_from: Some(timestamp(rule.valid_from)),
        valid_to: rule.valid_to.map(timestamp),
    }
}

pub(crate) fn entry_to_proto(entry: &LedgerEntry) -> pb::LedgerEntry {
    pb::LedgerEntry {
        id: entry.id.clone(),
        member_id: entry.member_id.clone(),
        kind: match entry.kind {
            EntryKind::Award => pb::EntryKind::Award,
            EntryKind::Redemption => pb::EntryKind::Redemption,
            EntryKind::Reversal => pb::EntryKind::Reversal,
        } as i32,
        amount: entry.amount,
        rule_code: entry.rule_code.clone().unwrap_or_default(),
        rule_version: entry.rule_version.unwrap_or_default(),
        reason: entry.reason.clone(),
        evidence: entry.evidence.clone(),
        source_event_id: entry.source_event_id.clone(),
        state: match entry.state {
            EntryState::Pending => pb::EntryState::Pending,
            EntryState::Approved => pb::EntryState::Approved,
            EntryState::Rejected => pb::EntryState::Rejected,
        } as i32,
        reverses_entry_id: entry.reverses.clone().unwrap_or_default(),
        year: i32::try_from(entry.year).unwrap_or_default(),
        create_time: Some(timestamp(entry.created_at)),
        actor: entry.actor.clone(),
    }
}

pub(crate) fn standing_to_proto(standing: &Standing) -> pb::LeaderboardEntry {
    pb::LeaderboardEntry {
        rank: standing.rank,
        member_id: standing.member_id.clone(),
        name: standing.name.clone(),
        balance: standing.balance,
    }
}
