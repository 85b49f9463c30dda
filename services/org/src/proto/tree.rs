//! Conversions of the tree messages.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use super::kind_to_proto;
use crate::domain::{AuditRecord, KindRule};

pub(crate) fn rule_to_proto(rule: &KindRule) -> pb::KindRule {
    pb::KindRule {
        parent_kind: kind_to_proto(rule.parent) as i32,
        child_kind: kind_to_proto(rule.child) as i32,
        district_extension: rule.district_extension,
    }
}

pub(crate) fn audit_to_proto(record: &AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: record.id.clone(),
        time: Some(timestamp(record.at)),
        actor: record.actor.clone(),
        action: record.action.clone(),
        target_id: record.target_id.clone(),
        details: record.details.clone(),
        trace_id: record.trace_id.clone().unwrap_or_default(),
    }
}
