//! `jiceng.property.v1`: authorisation, protobuf conversion and error mapping for
//! `PropertyService` and `DisclosureService` (here) and `LinkageService` (`grpc/linkage.rs`).
//!
//! Town and district admins register the companies of their subtree; admins over a compound's
//! committee keep the compound; only a company's publishers publish, and only for the compounds
//! it manages; everyone in the district reads companies, disclosures, tree heads and proofs.

mod events;
mod linkage;

pub use events::CONSUMED as CONSUMED_EVENTS;

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{
    FieldViolations, PageRequest, millis_of, status::invalid_field, time_cursor, time_cursor_of,
    timestamp,
};
use jiceng_merkle::Hash;
use jiceng_org_client::OrgDirectory;
use jiceng_pii::{PiiVault, mask_phone};
use jiceng_proto::property::{
    self as pb, disclosure_service_server::DisclosureService,
    property_service_server::PropertyService,
};
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        Certificate, CompanyDetails, CreditCode, StaffMember,
        compliance::{Frequency, Month, Schedule, Standing},
        disclosure::{Content, Entry, FeeItem, FundSpending, Kind, Period, RevenueLine},
        label, prose, telephone, url,
    },
    store::{
        Company, Compound, Listing, NewCompany, NewCompound, PropertyStore, Term,
        compliance::DueItem,
        log::{Disclosure, SignedHead},
    },
};

/// Admins of an org subtree.
const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

/// Who reads a subtree's compliance: admins, grid workers and other services.
const READERS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::GridWorker,
    Role::Service,
];

const FREQUENCIES: [(pb::Frequency, Frequency); 5] = [
    (pb::Frequency::Monthly, Frequency::Monthly),
    (pb::Frequency::Quarterly, Frequency::Quarterly),
    (pb::Frequency::HalfYearly, Frequency::HalfYearly),
    (pb::Frequency::Yearly, Frequency::Yearly),
    (pb::Frequency::OnChange, Frequency::OnChange),
];

fn schedule_to_proto(schedule: &Schedule) -> pb::Schedule {
    pb::Schedule {
        org_id: schedule.org_id.clone(),
        kind: kind_to_proto(schedule.kind) as i32,
        frequency: FREQUENCIES
            .iter()
            .find(|(_, f)| *f == schedule.frequency)
            .map_or(pb::Frequency::Unspecified, |(p, _)| *p) as i32,
        due_days: i32::try_from(schedule.due_days).unwrap_or(i32::MAX),
        display_days: i32::try_from(schedule.display_days).unwrap_or(i32::MAX),
    }
}

#[derive(Clone, Debug)]
pub struct PropertyApi {
    store: PropertyStore,
    org: OrgDirectory,
    /// Seals the phones of companies' staff.
    vault: PiiVault,
}

fn request_id(violations: &mut FieldViolations, given: &str) -> Option<String> {
    if given.len() > 128 {
        violations.add("request_id", "must be at most 128 characters");
    }
    (!given.is_empty()).then(|| given.to_owned())
}

const KINDS: [(pb::DisclosureKind, Kind); 6] = [
    (pb::DisclosureKind::FeeStandard, Kind::FeeStandard),
    (pb::DisclosureKind::FeeCollection, Kind::FeeCollection),
    (pb::DisclosureKind::PublicRevenue, Kind::PublicRevenue),
    (pb::DisclosureKind::MaintenanceFund, Kind::MaintenanceFund),
    (pb::DisclosureKind::Document, Kind::Document),
    (pb::DisclosureKind::Hotlines, Kind::Hotlines),
];

fn kind_to_proto(kind: Kind) -> pb::DisclosureKind {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(pb::DisclosureKind::Unspecified, |(p, _)| *p)
}

fn company_to_proto(company: &Company) -> pb::Company {
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

fn compound_to_proto(compound: &Compound) -> pb::Compound {
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

fn content_from_proto(
    violations: &mut FieldViolations,
    content: Option<&pb::disclosure::Content>,
) -> Option<Content> {
    use pb::disclosure::Content as C;
    let content = match content? {
        C::FeeStandard(fees) => Content::FeeStandard {
            items: fees
                .items
                .iter()
                .map(|i| FeeItem {
                    category: i.category.trim().to_owned(),
                    fen_per_unit_month: i.fen_per_unit_month,
                })
                .collect(),
        },
        C::FeeCollection(c) => Content::FeeCollection {
            billed_fen: c.billed_fen,
            collected_fen: c.collected_fen,
            households_billed: i64::from(c.households_billed),
            households_paid: i64::from(c.households_paid),
        },
        C::PublicRevenue(r) => Content::PublicRevenue {
            lines: r
                .lines
                .iter()
                .map(|l| RevenueLine {
                    source: l.source.trim().to_owned(),
                    income_fen: l.income_fen,
                    expense_fen: l.expense_fen,
                })
                .collect(),
            balance_fen: r.balance_fen,
        },
        C::MaintenanceFund(f) => Content::MaintenanceFund {
            opening_fen: f.opening_fen,
            income_fen: f.income_fen,
            spending: f
                .spending
                .iter()
                .map(|s| FundSpending {
                    project: s.project.trim().to_owned(),
                    amount_fen: s.amount_fen,
                    approved_by: s.approved_by.trim().to_owned(),
                    approval_url: s.approval_url.trim().to_owned(),
                })
                .collect(),
            closing_fen: f.closing_fen,
        },
        C::Document(d) => Content::Document {
            title: d.title.trim().to_owned(),
            number: d.number.trim().to_owned(),
            valid_until: violations
                .check("valid_until", millis_of(d.valid_until.as_ref()))
                .flatten(),
            url: d.url.trim().to_owned(),
        },
        C::Hotlines(h) => Content::Hotlines {
            supervision: h.supervision.trim().to_owned(),
            repair: h.repair.trim().to_owned(),
        },
    };
    for (field, problem) in content.problems() {
        violations.add(format!("disclosure.content.{field}"), problem);
    }
    Some(content)
}

fn disclosure_to_proto(disclosure: &Disclosure) -> pb::Disclosure {
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

impl PropertyApi {
    pub fn new(store: PropertyStore, org: OrgDirectory, vault: PiiVault) -> Self {
        Self { store, org, vault }
    }

    fn head_to_proto(&self, signed: &SignedHead) -> pb::SignedTreeHead {
        let signer = self.store.signer();
        pb::SignedTreeHead {
            log_id: self.store.log_id().to_owned(),
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

    /// The org path of a subtree to list or to set a schedule at.
    async fn path_of(&self, org_id: &str) -> Result<String, Status> {
        Ok(self.org.path_of(org_id).await?.as_str().to_owned())
    }

    async fn require_admin_of(&self, caller: &Caller, org_id: &str) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        self.org.scopes().check(caller, org_id).await
    }

    /// A compound, when the caller is an admin over its committee.
    async fn compound_administered_by(
        &self,
        caller: &Caller,
        compound_id: &str,
    ) -> Result<Compound, Status> {
        let compound = self.store.compound(compound_id).await?;
        self.require_admin_of(caller, &compound.org_id).await?;
        Ok(compound)
    }

    fn page(
        &self,
        page_size: Option<i32>,
        page_token: &str,
        query: String,
    ) -> Result<(PageRequest, Listing), Status> {
        let page = PageRequest::parse(page_size, page_token, query)?;
        let listing = Listing {
            after: page.after.as_deref().map(time_cursor).transpose()?,
            limit: page.fetch_limit(),
            ..Listing::default()
        };
        Ok((page, listing))
    }

    fn company_from_proto(
        &self,
        violations: &mut FieldViolations,
        company: &pb::Company,
    ) -> (Option<String>, Option<CreditCode>, CompanyDetails) {
        let name = violations.check("company.name", label(&company.name, 100));
        let code = violations.check(
            "company.credit_code",
            CreditCode::parse(&company.credit_code),
        );
        let mut details = CompanyDetails::default();
        for (n, c) in company.certificates.iter().enumerate() {
            let field = |f: &str| format!("company.certificates[{n}].{f}");
            details.certificates.push(Certificate {
                kind: violations
                    .check(&field("kind"), label(&c.kind, 50))
                    .unwrap_or_default(),
                number: violations
                    .check(&field("number"), label(&c.number, 64))
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
                violations.check(&field("phone"), telephone(&s.phone))
            };
            details.staff.push(StaffMember {
                role: violations
                    .check(&field("role"), label(&s.role, 50))
                    .unwrap_or_default(),
                name: violations
                    .check(&field("name"), label(&s.name, 50))
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
                .check(field, telephone(given))
                .unwrap_or_default();
        }
        details.service_procedures = violations
            .check(
                "company.service_procedures",
                prose(&company.service_procedures, 10_000),
            )
            .unwrap_or_default();
        details.discipline_rules = violations
            .check(
                "company.discipline_rules",
                prose(&company.discipline_rules, 10_000),
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
        let request_id = request_id(&mut violations, &req.request_id);
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
        let (actor, request_id) = (caller.subject.as_str(), request_id.as_deref());
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
        let name = violations.check("compound.name", label(&compound.name, 100));
        let address = violations
            .check("compound.address", label(&compound.address, 200))
            .unwrap_or_default();
        let owners_committee = violations
            .check(
                "compound.owners_committee",
                prose(&compound.owners_committee, 100),
            )
            .unwrap_or_default();
        let owners_chair = violations
            .check(
                "compound.owners_committee_chair",
                prose(&compound.owners_committee_chair, 50),
            )
            .unwrap_or_default();
        if compound.org_id.is_empty() {
            violations.add("compound.org_id", "must name the residential committee");
        }
        let now = self.store.now();
        let terms = terms_from_proto(&mut violations, &compound, now);
        let request_id = request_id(&mut violations, &req.request_id);
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
        let (actor, request_id) = (caller.subject.as_str(), request_id.as_deref());
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

#[tonic::async_trait]
impl DisclosureService for PropertyApi {
    async fn publish_disclosure(
        &self,
        request: Request<pb::PublishDisclosureRequest>,
    ) -> Result<Response<pb::Disclosure>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let given = req.disclosure.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let period = violations.check("disclosure.period", Period::parse(&given.period));
        let content = content_from_proto(&mut violations, given.content.as_ref());
        match &content {
            None => violations.add("disclosure.content", "is required"),
            Some(content)
                if given.kind != 0 && given.kind != kind_to_proto(content.kind()) as i32 =>
            {
                violations.add("disclosure.kind", "must be the kind of the content");
            }
            Some(_) => {}
        }
        let correction = !given.supersedes_id.is_empty();
        let reason = violations
            .check(
                "disclosure.correction_reason",
                prose(&given.correction_reason, 1_000),
            )
            .unwrap_or_default();
        if correction && reason.is_empty() {
            violations.add(
                "disclosure.correction_reason",
                "a correction gives its reason",
            );
        }
        if !correction && !reason.is_empty() {
            violations.add(
                "disclosure.supersedes_id",
                "a reason corrects a disclosure: name it",
            );
        }
        if given.compound_id.is_empty() {
            violations.add("disclosure.compound_id", "is required");
        }
        let request_id = request_id(&mut violations, &req.request_id);
        violations.into_result()?;
        let (Some(period), Some(content)) = (period, content) else {
            return Err(Status::internal("validation fell through"));
        };
        let compound = self.store.compound(&given.compound_id).await?;
        let company = self.store.company(&compound.company_id).await?;
        if !company.publishers.contains(&caller.subject) {
            return Err(Status::permission_denied(
                "only the managing company's publishers publish for a compound",
            ));
        }
        let entry = Entry {
            id: uuid::Uuid::now_v7().to_string(),
            compound_id: compound.id.clone(),
            company_id: company.id,
            period,
            content,
            supersedes_id: correction.then_some(given.supersedes_id),
            correction_reason: correction.then_some(reason),
            published_by: caller.subject.clone(),
            published_at: self.store.now(),
        };
        let disclosure = self
            .store
            .publish(request_id.as_deref(), entry, &compound.org_path)
            .await?;
        Ok(Response::new(disclosure_to_proto(&disclosure)))
    }

    async fn get_disclosure(
        &self,
        request: Request<pb::GetDisclosureRequest>,
    ) -> Result<Response<pb::Disclosure>, Status> {
        caller(&request)?;
        let disclosure = self.store.disclosure(&request.get_ref().id).await?;
        Ok(Response::new(disclosure_to_proto(&disclosure)))
    }

    async fn list_disclosures(
        &self,
        request: Request<pb::ListDisclosuresRequest>,
    ) -> Result<Response<pb::ListDisclosuresResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        if req.org_id.is_empty() == req.compound_id.is_empty() {
            return Err(invalid_field(
                "compound_id",
                "list by exactly one of a compound or an org subtree",
            ));
        }
        let kind = match req.kind {
            0 => None,
            value => Some(
                KINDS
                    .iter()
                    .find(|(p, _)| *p as i32 == value)
                    .map(|(_, k)| k.as_str())
                    .ok_or_else(|| invalid_field("kind", "is unknown"))?,
            ),
        };
        let (page, mut listing) = self.page(
            req.page_size,
            &req.page_token,
            format!(
                "disclosures|{}|{}|{}",
                req.compound_id, req.org_id, req.kind
            ),
        )?;
        listing.kind = kind;
        if req.compound_id.is_empty() {
            listing.subtree = Some(self.path_of(&req.org_id).await?);
        } else {
            listing.compound_id = Some(req.compound_id);
        }
        let mut disclosures = self.store.list_disclosures(&listing).await?;
        let next_page_token = page.finish(&mut disclosures, |d| {
            time_cursor_of(d.entry.published_at, &d.entry.id)
        });
        Ok(Response::new(pb::ListDisclosuresResponse {
            disclosures: disclosures.iter().map(disclosure_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_signed_tree_head(
        &self,
        request: Request<pb::GetSignedTreeHeadRequest>,
    ) -> Result<Response<pb::SignedTreeHead>, Status> {
        caller(&request)?;
        // The empty log's head, size 0, is a head like any other.
        let size = match request.get_ref().tree_size {
            Some(0) => Some(0),
            given => tree_size("tree_size", given)?,
        };
        let head = self.store.tree_head(size).await?;
        Ok(Response::new(self.head_to_proto(&head)))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let size = tree_size("tree_size", req.tree_size)?;
        let inclusion = self.store.inclusion(&req.disclosure_id, size).await?;
        Ok(Response::new(pb::InclusionProof {
            entry: inclusion.entry_bytes,
            leaf_index: i64::try_from(inclusion.leaf_index).unwrap_or(i64::MAX),
            audit_path: inclusion.path.iter().map(bytes).collect(),
            tree_head: Some(self.head_to_proto(&inclusion.head)),
        }))
    }

    async fn set_schedule(
        &self,
        request: Request<pb::SetScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        let caller = caller(&request)?.clone();
        let given = request.into_inner().schedule.unwrap_or_default();
        let schedule = self.schedule_from_proto(&given).await?;
        self.require_admin_of(&caller, &schedule.org_id).await?;
        let path = self.org.path_of(&schedule.org_id).await?;
        let saved = self
            .org
            .write_at_path(
                (schedule, path),
                |(_, path)| path,
                |(schedule, path)| async move {
                    let schedule = Schedule {
                        org_path: path.as_str().to_owned(),
                        ..schedule
                    };
                    self.store.set_schedule(&schedule, path.generation()).await
                },
            )
            .await??;
        Ok(Response::new(schedule_to_proto(&saved)))
    }

    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        caller(&request)?;
        let org_id = &request.get_ref().org_id;
        if org_id.is_empty() {
            return Err(invalid_field("org_id", "is required"));
        }
        let path = self.path_of(org_id).await?;
        let schedules = self.store.schedules_over(&path).await?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: schedules.iter().map(schedule_to_proto).collect(),
        }))
    }

    async fn get_compliance_report(
        &self,
        request: Request<pb::GetComplianceReportRequest>,
    ) -> Result<Response<pb::ComplianceReport>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let first = violations.check("first_month", Month::parse(&req.first_month));
        let last = violations.check("last_month", Month::parse(&req.last_month));
        if first.zip(last).is_some_and(|(f, l)| f > l) {
            violations.add("last_month", "must not be before first_month");
        }
        let as_of = violations
            .check("as_of_time", millis_of(req.as_of_time.as_ref()))
            .flatten();
        violations.into_result()?;
        let (Some(first), Some(last)) = (first, last) else {
            return Err(Status::internal("validation fell through"));
        };
        caller.require_any(READERS)?;
        self.org.scopes().check(&caller, &req.org_id).await?;
        let path = self.path_of(&req.org_id).await?;
        let report = self
            .store
            .compliance(
                &path,
                first,
                last,
                as_of.unwrap_or_else(|| self.store.now()),
            )
            .await?;
        let rate = |r: &crate::store::compliance::CompanyRecord| pb::CompanyCompliance {
            company_id: String::new(),
            due: i32::try_from(r.due).unwrap_or(i32::MAX),
            on_time: i32::try_from(r.on_time).unwrap_or(i32::MAX),
            late: i32::try_from(r.late).unwrap_or(i32::MAX),
            missing: i32::try_from(r.missing).unwrap_or(i32::MAX),
            on_time_rate: r.on_time_rate(),
        };
        Ok(Response::new(pb::ComplianceReport {
            exceptions: report.exceptions.iter().map(due_item_to_proto).collect(),
            companies: report
                .companies
                .iter()
                .map(|(company_id, record)| pb::CompanyCompliance {
                    company_id: company_id.clone(),
                    ..rate(record)
                })
                .collect(),
            due: i32::try_from(report.total.due).unwrap_or(i32::MAX),
            on_time: i32::try_from(report.total.on_time).unwrap_or(i32::MAX),
            on_time_rate: report.total.on_time_rate(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let first = tree_size("first_size", Some(req.first_size))?.unwrap_or_default();
        let second = tree_size("second_size", Some(req.second_size))?.unwrap_or_default();
        if first == 0 || first > second {
            return Err(invalid_field(
                "first_size",
                "must be at least 1 and at most second_size",
            ));
        }
        let proof = self.store.consistency(first, second).await?;
        Ok(Response::new(pb::ConsistencyProof {
            first_size: req.first_size,
            second_size: req.second_size,
            first_root_hash: bytes(&proof.first_root),
            second_root_hash: bytes(&proof.second_root),
            proof: proof.proof.iter().map(bytes).collect(),
        }))
    }
}

impl PropertyApi {
    /// The schedule a request sets, checked.
    async fn schedule_from_proto(&self, given: &pb::Schedule) -> Result<Schedule, Status> {
        let mut violations = FieldViolations::new();
        let kind = KINDS
            .iter()
            .find(|(p, _)| *p as i32 == given.kind)
            .map(|(_, k)| *k);
        if kind.is_none() {
            violations.add("schedule.kind", "must be a disclosure kind");
        }
        let frequency = FREQUENCIES
            .iter()
            .find(|(p, _)| *p as i32 == given.frequency)
            .map(|(_, f)| *f);
        if frequency.is_none() {
            violations.add("schedule.frequency", "must be a frequency");
        }
        if !(0..=366).contains(&given.due_days) {
            violations.add("schedule.due_days", "must be 0 to 366");
        }
        if !(1..=3_660).contains(&given.display_days) {
            violations.add("schedule.display_days", "must be 1 to 3,660");
        }
        if given.org_id.is_empty() {
            violations.add(
                "schedule.org_id",
                "must name the org whose compounds it covers",
            );
        }
        violations.into_result()?;
        let (Some(kind), Some(frequency)) = (kind, frequency) else {
            return Err(Status::internal("validation fell through"));
        };
        Ok(Schedule {
            org_id: given.org_id.clone(),
            // Set from the org service's answer when the schedule is written.
            org_path: String::new(),
            kind,
            frequency,
            due_days: i64::from(given.due_days),
            display_days: i64::from(given.display_days),
        })
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

/// A requested tree size: positive, when given.
fn tree_size(field: &str, given: Option<i64>) -> Result<Option<u64>, Status> {
    given
        .map(|size| {
            u64::try_from(size)
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| invalid_field(field, "must be a positive tree size"))
        })
        .transpose()
}
