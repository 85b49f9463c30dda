//! Conversions of `DisclosureService`'s messages: disclosures and their contents, the log's
//! signed heads and proofs, schedules and compliance reports.

use jiceng_grpc::timestamp;
use jiceng_merkle::{Hash, LogSigner};
use jiceng_proto::property as pb;

use crate::domain::{
    compliance::{CompanyRecord, ComplianceReport, DueItem, Frequency, Schedule, Standing},
    disclosure::{Content, Disclosure, Kind},
    log::{Consistency, Inclusion, SignedHead},
};

const KINDS: [(pb::DisclosureKind, Kind); 6] = [
    (pb::DisclosureKind::FeeStandard, Kind::FeeStandard),
    (pb::DisclosureKind::FeeCollection, Kind::FeeCollection),
    (pb::DisclosureKind::PublicRevenue, Kind::PublicRevenue),
    (pb::DisclosureKind::MaintenanceFund, Kind::MaintenanceFund),
    (pb::DisclosureKind::Document, Kind::Document),
    (pb::DisclosureKind::Hotlines, Kind::Hotlines),
];

pub(crate) fn kind_from_proto(value: i32) -> Option<Kind> {
    KINDS
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, k)| *k)
}

pub(crate) fn kind_to_proto(kind: Kind) -> pb::DisclosureKind {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(pb::DisclosureKind::Unspecified, |(p, _)| *p)
}

const FREQUENCIES: [(pb::Frequency, Frequency); 5] = [
    (pb::Frequency::Monthly, Frequency::Monthly),
    (pb::Frequency::Quarterly, Frequency::Quarterly),
    (pb::Frequency::HalfYearly, Frequency::HalfYearly),
    (pb::Frequency::Yearly, Frequency::Yearly),
    (pb::Frequency::OnChange, Frequency::OnChange),
];

pub(crate) fn frequency_from_proto(value: i32) -> Option<Frequency> {
    FREQUENCIES
        .iter()
        .find(|(p, _)| *p as i32 == value)
        .map(|(_, f)| *f)
}

fn frequency_to_proto(frequency: Frequency) -> pb::Frequency {
    FREQUENCIES
        .iter()
        .find(|(_, f)| *f == frequency)
        .map_or(pb::Frequency::Unspecified, |(p, _)| *p)
}

pub(crate) fn schedule_to_proto(schedule: &Schedule) -> pb::Schedule {
    pb::Schedule {
        org_id: schedule.org_id.clone(),
        kind: kind_to_proto(schedule.kind) as i32,
        frequency: frequency_to_proto(schedule.frequency) as i32,
        due_days: i32::try_from(schedule.due_days).unwrap_or(i32::MAX),
        display_days: i32::try_from(schedule.display_days).unwrap_or(i32::MAX),
    }
}

fn content_to_proto(content: &Content) -> pb::disclosure::Content {
    use pb::disclosure::Content as C;
    match content {
        Content::FeeStandard { items } => C::FeeStandard(pb::FeeStandard {
            items: items
                .iter()
                .map(|i| pb::fee_standard::Item {
                    category: i.category.clone(),
                    fen_per_unit_month: i.fen_per_unit_month,
                })
                .collect(),
        }),
        Content::FeeCollection {
            billed_fen,
            collected_fen,
            households_billed,
            households_paid,
        } => C::FeeCollection(pb::FeeCollection {
            billed_fen: *billed_fen,
            collected_fen: *collected_fen,
            households_billed: i32::try_from(*households_billed).unwrap_or(i32::MAX),
            households_paid: i32::try_from(*households_paid).unwrap_or(i32::MAX),
        }),
        Content::PublicRevenue { lines, balance_fen } => C::PublicRevenue(pb::PublicRevenue {
            lines: lines
                .iter()
                .map(|l| pb::public_revenue::Line {
                    source: l.source.clone(),
                    income_fen: l.income_fen,
                    expense_fen: l.expense_fen,
                })
                .collect(),
            balance_fen: *balance_fen,
        }),
        Content::MaintenanceFund {
            opening_fen,
            income_fen,
            spending,
            closing_fen,
        } => C::MaintenanceFund(pb::MaintenanceFund {
            opening_fen: *opening_fen,
            income_fen: *income_fen,
            spending: spending
                .iter()
                .map(|s| pb::maintenance_fund::Spending {
                    project: s.project.clone(),
                    amount_fen: s.amount_fen,
                    approved_by: s.approved_by.clone(),
                    approval_url: s.approval_url.clone(),
                })
                .collect(),
            closing_fen: *closing_fen,
        }),
        Content::Document {
            title,
            number,
            valid_until,
            url,
        } => C::Document(pb::Document {
            title: title.clone(),
            number: number.clone(),
            valid_until: valid_until.map(timestamp),
            url: url.clone(),
        }),
        Content::Hotlines {
            supervision,
            repair,
        } => C::Hotlines(pb::Hotlines {
            supervision: supervision.clone(),
            repair: repair.clone(),
        }),
    }
}

pub(crate) fn disclosure_to_proto(disclosure: &Disclosure) -> pb::Disclosure {
    let entry = &disclosure.entry;
    pb::Disclosure {
        id: entry.id.clone(),
        compound_id: entry.compound_id.clone(),
        company_id: entry.company_id.clone(),
        kind: kind_to_proto(entry.content.kind()) as i32,
        period: entry.period.as_str().to_owned(),
        content: Some(content_to_proto(&entry.content)),
        supersedes_id: entry.supersedes_id.clone().unwrap_or_default(),
        correction_reason: entry.correction_reason.clone().unwrap_or_default(),
        superseded_by_id: disclosure.superseded_by.clone().unwrap_or_default(),
        published_by: entry.published_by.clone(),
        publish_time: Some(timestamp(entry.published_at)),
        leaf_index: i64::try_from(disclosure.leaf_index).unwrap_or(i64::MAX),
    }
}

fn bytes(hash: &Hash) -> Vec<u8> {
    hash.to_vec()
}

/// A signed head as the log `log_id` publishes it, with the key that checks its signature.
pub(crate) fn signed_head_to_proto(
    signed: &SignedHead,
    log_id: &str,
    signer: &LogSigner,
) -> pb::SignedTreeHead {
    pb::SignedTreeHead {
        log_id: log_id.to_owned(),
        tree_size: i64::try_from(signed.head.size).unwrap_or(i64::MAX),
        root_hash: bytes(&signed.head.root),
        timestamp: Some(timestamp(
            i64::try_from(signed.head.timestamp_ms).unwrap_or(i64::MAX),
        )),
        signature: signed.signature.clone(),
        key_id: bytes(&signer.key_id()),
        public_key: signer.public_key().to_vec(),
    }
}

pub(crate) fn inclusion_to_proto(
    inclusion: Inclusion,
    log_id: &str,
    signer: &LogSigner,
) -> pb::InclusionProof {
    pb::InclusionProof {
        entry: inclusion.entry_bytes,
        leaf_index: i64::try_from(inclusion.leaf_index).unwrap_or(i64::MAX),
        audit_path: inclusion.path.iter().map(bytes).collect(),
        tree_head: Some(signed_head_to_proto(&inclusion.head, log_id, signer)),
    }
}

/// The proof between the two sizes asked for, which it echoes.
pub(crate) fn consistency_to_proto(
    first_size: i64,
    second_size: i64,
    proof: &Consistency,
) -> pb::ConsistencyProof {
    pb::ConsistencyProof {
        first_size,
        second_size,
        first_root_hash: bytes(&proof.first_root),
        second_root_hash: bytes(&proof.second_root),
        proof: proof.proof.iter().map(bytes).collect(),
    }
}

pub(crate) fn due_item_to_proto(item: &DueItem) -> pb::DueItem {
    pb::DueItem {
        compound_id: item.compound_id.clone(),
        company_id: item.company_id.clone(),
        kind: kind_to_proto(item.kind) as i32,
        period: item.period.clone(),
        due_time: Some(timestamp(item.due_at)),
        standing: match item.standing {
            Standing::OnTime => pb::Standing::OnTime,
            Standing::Late(_) => pb::Standing::Late,
            Standing::Missing => pb::Standing::Missing,
        } as i32,
        publish_time: match item.standing {
            Standing::Late(at) => Some(timestamp(at)),
            _ => None,
        },
    }
}

/// A tally without its company: the report names it where it lists companies.
fn record_to_proto(record: &CompanyRecord) -> pb::CompanyCompliance {
    pb::CompanyCompliance {
        company_id: String::new(),
        due: i32::try_from(record.due).unwrap_or(i32::MAX),
        on_time: i32::try_from(record.on_time).unwrap_or(i32::MAX),
        late: i32::try_from(record.late).unwrap_or(i32::MAX),
        missing: i32::try_from(record.missing).unwrap_or(i32::MAX),
        on_time_rate: record.on_time_rate(),
    }
}

pub(crate) fn compliance_report_to_proto(report: &ComplianceReport) -> pb::ComplianceReport {
    pb::ComplianceReport {
        exceptions: report.exceptions.iter().map(due_item_to_proto).collect(),
        companies: report
            .companies
            .iter()
            .map(|(company_id, record)| pb::CompanyCompliance {
                company_id: company_id.clone(),
                ..record_to_proto(record)
            })
            .collect(),
        due: i32::try_from(report.total.due).unwrap_or(i32::MAX),
        on_time: i32::try_from(report.total.on_time).unwrap_or(i32::MAX),
        on_time_rate: report.total.on_time_rate(),
    }
}
