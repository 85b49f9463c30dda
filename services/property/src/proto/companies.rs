//! Conversions of `PropertyService`'s messages: companies and compounds.

use jiceng_grpc::timestamp;
use jiceng_proto::property as pb;

use crate::domain::{Company, Compound};

pub(crate) fn company_to_proto(company: &Company) -> pb::Company {
    let details = &company.details;
    pb::Company {
        id: company.id.clone(),
        name: company.name.clone(),
        credit_code: company.credit_code.clone(),
        org_id: company.org_id.clone(),
        certificates: details
            .certificates
            .iter()
            .map(|c| pb::Certificate {
                kind: c.kind.clone(),
                number: c.number.clone(),
                valid_until: c.valid_until.map(timestamp),
                document_url: c.document_url.clone(),
            })
            .collect(),
        staff: details
            .staff
            .iter()
            .map(|s| pb::StaffMember {
                role: s.role.clone(),
                name: s.name.clone(),
                phone: s.phone_masked.clone(),
            })
            .collect(),
        supervision_hotline: details.supervision_hotline.clone(),
        repair_hotline: details.repair_hotline.clone(),
        service_procedures: details.service_procedures.clone(),
        discipline_rules: details.discipline_rules.clone(),
        publishers: company.publishers.clone(),
        create_time: Some(timestamp(company.created_at)),
    }
}

pub(crate) fn compound_to_proto(compound: &Compound) -> pb::Compound {
    pb::Compound {
        id: compound.id.clone(),
        name: compound.name.clone(),
        address: compound.address.clone(),
        org_id: compound.org_id.clone(),
        company_id: compound.company_id.clone(),
        owners_committee: compound.owners_committee.clone(),
        owners_committee_chair: compound.owners_chair.clone(),
        terms: compound
            .terms
            .iter()
            .map(|t| pb::ManagementTerm {
                company_id: t.company_id.clone(),
                start_time: Some(timestamp(t.start_at)),
                end_time: t.end_at.map(timestamp),
            })
            .collect(),
        create_time: Some(timestamp(compound.created_at)),
    }
}
