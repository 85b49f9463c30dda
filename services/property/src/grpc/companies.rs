//! `jiceng.property.v1.PropertyService`: the companies and compounds of a subtree, and who
//! manages a compound when.

use jiceng_auth::caller;
use jiceng_grpc::{FieldViolations, millis_of, status::invalid_field, time_cursor_of};
use jiceng_proto::property::{self as pb, property_service_server::PropertyService};
use jiceng_values::{RequestId, mask_phone};
use tonic::{Request, Response, Status};

use super::PropertyApi;
use crate::{
    domain::{Certificate, CompanyDetails, CreditCode, StaffMember, Telephone, Term, Text, url},
    proto::companies::{company_to_proto, compound_to_proto},
    store::{NewCompany, NewCompound},
};

/// The terms a new compound is registered with: the history given in `compound.terms` (a
/// district bringing its records in: oldest first, each ending where the next begins, the last
/// running and its company `compound.company_id`), or one term of `compound.company_id` from
/// `now`. No term starts in the future: a hand-over to come is `ChangeManagingCompany`'s.
fn terms_from_proto(
    violations: &mut FieldViolations,
    compound: &pb::Compound,
    now: i64,
) -> Vec<Term> {
    if compound.terms.is_empty() {
        if compound.company_id.is_empty() {
            violations.add("compound.company_id", "must name the managing company");
        }
        return vec![Term::running(&compound.company_id, now)];
    }
    let mut terms: Vec<Term> = Vec::with_capacity(compound.terms.len());
    for (i, term) in compound.terms.iter().enumerate() {
        let field = |name: &str| format!("compound.terms[{i}].{name}");
        if term.company_id.is_empty() {
            violations.add(field("company_id"), "must name the managing company");
        }
        let start = violations
            .check(&field("start_time"), millis_of(term.start_time.as_ref()))
            .flatten();
        let end = violations
            .check(&field("end_time"), millis_of(term.end_time.as_ref()))
            .flatten();
        let Some(start) = start else {
            violations.add(field("start_time"), "is required");
            continue;
        };
        if start > now {
            violations.add(
                field("start_time"),
                "is in the future; record a hand-over to come with ChangeManagingCompany",
            );
        }
        if let Some(previous) = terms.last_mut() {
            if start <= previous.start_at {
                violations.add(
                    field("start_time"),
                    "must be after the previous term's start",
                );
            } else if previous.end_at.is_some_and(|end| end != start) {
                violations.add(
                    format!("compound.terms[{}].end_time", i - 1),
                    "must be the next term's start: a compound is never unmanaged",
                );
            }
            previous.end_at = Some(start);
        }
        let last = i + 1 == compound.terms.len();
        if last && end.is_some() {
            violations.add(field("end_time"), "must be unset: the last term runs");
        }
        terms.push(Term {
            company_id: term.company_id.clone(),
            start_at: start,
            end_at: end,
        });
    }
    if let Some(last) = terms.last()
        && !compound.company_id.is_empty()
        && compound.company_id != last.company_id
    {
        violations.add(
            "compound.company_id",
            "must be the last term's company, or unset",
        );
    }
    terms
}

impl PropertyApi {
    /// The company a request describes, checked: its name and credit code (when valid) and its
    /// details, the staff's phones sealed with the service's vault.
    fn company_from_proto(
        &self,
        violations: &mut FieldViolations,
        company: &pb::Company,
    ) -> (Option<String>, Option<CreditCode>, CompanyDetails) {
        let name = violations.check("company.name", Text::label(100).check(&company.name));
        let code = violations.check(
            "company.credit_code",
            CreditCode::parse(&company.credit_code),
        );
        let mut details = CompanyDetails::default();
        for (n, c) in company.certificates.iter().enumerate() {
            let field = |f: &str| format!("company.certificates[{n}].{f}");
            details.certificates.push(Certificate {
                kind: violations
                    .check(&field("kind"), Text::label(50).check(&c.kind))
                    .unwrap_or_default(),
                number: violations
                    .check(&field("number"), Text::label(64).check(&c.number))
                    .unwrap_or_default(),
                valid_until: violations
                    .check(&field("valid_until"), millis_of(c.valid_until.as_ref()))
                    .flatten(),
                document_url: if c.document_url.is_empty() {
                    String::new()
                } else {
                    violations
                        .check(&field("document_url"), url(&c.document_url))
                        .unwrap_or_default()
                },
            });
        }
        for (n, s) in company.staff.iter().enumerate() {
            let field = |f: &str| format!("company.staff[{n}].{f}");
            let phone = if s.phone.is_empty() {
                None
            } else {
                violations.check(
                    &field("phone"),
                    Telephone::parse(&s.phone).map(Telephone::into_inner),
                )
            };
            details.staff.push(StaffMember {
                role: violations
                    .check(&field("role"), Text::label(50).check(&s.role))
                    .unwrap_or_default(),
                name: violations
                    .check(&field("name"), Text::label(50).check(&s.name))
                    .unwrap_or_default(),
                phone_sealed: phone.as_deref().map(|p| self.vault.seal(p)),
                phone_masked: phone.as_deref().map(mask_phone).unwrap_or_default(),
            });
        }
        for (field, given, slot) in [
            (
                "company.supervision_hotline",
                &company.supervision_hotline,
                &mut details.supervision_hotline,
            ),
            (
                "company.repair_hotline",
                &company.repair_hotline,
                &mut details.repair_hotline,
            ),
        ] {
            *slot = violations
                .check(field, Telephone::parse(given).map(Telephone::into_inner))
                .unwrap_or_default();
        }
        details.service_procedures = violations
            .check(
                "company.service_procedures",
                Text::prose(10_000).check(&company.service_procedures),
            )
            .unwrap_or_default();
        details.discipline_rules = violations
            .check(
                "company.discipline_rules",
                Text::prose(10_000).check(&company.discipline_rules),
            )
            .unwrap_or_default();
        if company.publishers.len() > 50
            || company
                .publishers
                .iter()
                .any(|p| p.trim().is_empty() || p.len() > 128)
        {
            violations.add(
                "company.publishers",
                "at most 50 subjects of 1 to 128 characters",
            );
        }
        (name, code, details)
    }
}

#[tonic::async_trait]
impl PropertyService for PropertyApi {
    async fn create_company(
        &self,
        request: Request<pb::CreateCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let company = req.company.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let (name, code, details) = self.company_from_proto(&mut violations, &company);
        if company.org_id.is_empty() {
            violations.add(
                "company.org_id",
                "must name the town or street it registers with",
            );
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(name), Some(code)) = (name, code) else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &company.org_id).await?;
        let new = NewCompany {
            name,
            credit_code: code.as_str().to_owned(),
            org_path: self.org.path_of(&company.org_id).await?,
            org_id: company.org_id,
            details,
            publishers: company
                .publishers
                .iter()
                .map(|p| p.trim().to_owned())
                .collect(),
        };
        let (actor, request_id) = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let created = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move {
                    self.store
                        .create_company(actor, request_id, &new, self.store.now())
                        .await
                },
            )
            .await??;
        Ok(Response::new(company_to_proto(&created)))
    }

    async fn get_company(
        &self,
        request: Request<pb::GetCompanyRequest>,
    ) -> Result<Response<pb::Company>, Status> {
        caller(&request)?;
        let company = self.store.company(&request.get_ref().id).await?;
        Ok(Response::new(company_to_proto(&company)))
    }

    async fn list_companies(
        &self,
        request: Request<pb::ListCompaniesRequest>,
    ) -> Result<Response<pb::ListCompaniesResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        if req.org_id.is_empty() {
            return Err(invalid_field("org_id", "name the org subtree to list"));
        }
        let (page, mut listing) = self.page(
            req.page_size,
            &req.page_token,
            format!("companies|{}", req.org_id),
        )?;
        listing.subtree = Some(self.path_of(&req.org_id).await?);
        let mut companies = self.store.list_companies(&listing).await?;
        let next_page_token = page.finish(&mut companies, |c| time_cursor_of(c.created_at, &c.id));
        Ok(Response::new(pb::ListCompaniesResponse {
            companies: companies.iter().map(company_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_compound(
        &self,
        request: Request<pb::CreateCompoundRequest>,
    ) -> Result<Response<pb::Compound>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let compound = req.compound.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let name = violations.check("compound.name", Text::label(100).check(&compound.name));
        let address = violations
            .check(
                "compound.address",
                Text::label(200).check(&compound.address),
            )
            .unwrap_or_default();
        let owners_committee = violations
            .check(
                "compound.owners_committee",
                Text::prose(100).check(&compound.owners_committee),
            )
            .unwrap_or_default();
        let owners_chair = violations
            .check(
                "compound.owners_committee_chair",
                Text::prose(50).check(&compound.owners_committee_chair),
            )
            .unwrap_or_default();
        if compound.org_id.is_empty() {
            violations.add("compound.org_id", "must name the residential committee");
        }
        let now = self.store.now();
        let terms = terms_from_proto(&mut violations, &compound, now);
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(name) = name else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &compound.org_id).await?;
        let new = NewCompound {
            name,
            address,
            org_path: self.org.path_of(&compound.org_id).await?,
            org_id: compound.org_id,
            terms,
            owners_committee,
            owners_chair,
        };
        let (actor, request_id) = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let created = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move {
                    self.store
                        .create_compound(actor, request_id, &new, now)
                        .await
                },
            )
            .await??;
        Ok(Response::new(compound_to_proto(&created)))
    }

    async fn get_compound(
        &self,
        request: Request<pb::GetCompoundRequest>,
    ) -> Result<Response<pb::Compound>, Status> {
        caller(&request)?;
        let compound = self.store.compound(&request.get_ref().id).await?;
        Ok(Response::new(compound_to_proto(&compound)))
    }

    async fn list_compounds(
        &self,
        request: Request<pb::ListCompoundsRequest>,
    ) -> Result<Response<pb::ListCompoundsResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        if req.org_id.is_empty() == req.company_id.is_empty() {
            return Err(invalid_field(
                "org_id",
                "list by exactly one of an org subtree or a company",
            ));
        }
        let (page, mut listing) = self.page(
            req.page_size,
            &req.page_token,
            format!("compounds|{}|{}", req.org_id, req.company_id),
        )?;
        if req.company_id.is_empty() {
            listing.subtree = Some(self.path_of(&req.org_id).await?);
        } else {
            listing.company_id = Some(req.company_id);
        }
        let mut compounds = self.store.list_compounds(&listing).await?;
        let next_page_token = page.finish(&mut compounds, |c| time_cursor_of(c.created_at, &c.id));
        Ok(Response::new(pb::ListCompoundsResponse {
            compounds: compounds.iter().map(compound_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn change_managing_company(
        &self,
        request: Request<pb::ChangeManagingCompanyRequest>,
    ) -> Result<Response<pb::Compound>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let start = violations
            .check("start_time", millis_of(req.start_time.as_ref()))
            .flatten();
        if req.company_id.is_empty() {
            violations.add("company_id", "must name the new managing company");
        }
        violations.into_result()?;
        let compound = self
            .compound_administered_by(&caller, &req.compound_id)
            .await?;
        let changed = self
            .store
            .change_company(
                &compound.id,
                &req.company_id,
                start.unwrap_or_else(|| self.store.now()),
            )
            .await?;
        Ok(Response::new(compound_to_proto(&changed)))
    }
}
