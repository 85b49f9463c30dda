//! `jiceng.property.v1.DisclosureService`: publishing disclosures to the transparency log,
//! reading them with the log's signed heads and proofs, disclosure schedules and compliance
//! reports.

use jiceng_auth::{Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, millis_of, status::invalid_field, time_cursor_of};
use jiceng_proto::property::{self as pb, disclosure_service_server::DisclosureService};
use jiceng_values::RequestId;
use tonic::{Request, Response, Status};

use super::PropertyApi;
use crate::{
    domain::{
        Text,
        compliance::{Month, Schedule},
        disclosure::{Content, Entry, FeeItem, FundSpending, Kind, Period, RevenueLine},
    },
    proto::disclosures::{
        compliance_report_to_proto, consistency_to_proto, disclosure_to_proto,
        frequency_from_proto, inclusion_to_proto, kind_from_proto, kind_to_proto,
        schedule_to_proto, signed_head_to_proto,
    },
};

/// Who reads a subtree's compliance: admins, grid workers and other services.
const READERS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::GridWorker,
    Role::Service,
];

/// The content a publication gives, trimmed, with its problems added to `violations`. It checks
/// the request, so it lives here rather than with the pure conversions in `crate::proto`.
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
                Text::prose(1_000).check(&given.correction_reason),
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
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
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
            .publish(
                request_id.as_ref().map(RequestId::as_str),
                entry,
                &compound.org_path,
            )
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
                kind_from_proto(value)
                    .map(Kind::as_str)
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
        Ok(Response::new(signed_head_to_proto(
            &head,
            self.store.log_id(),
            self.store.signer(),
        )))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let size = tree_size("tree_size", req.tree_size)?;
        let inclusion = self.store.inclusion(&req.disclosure_id, size).await?;
        Ok(Response::new(inclusion_to_proto(
            inclusion,
            self.store.log_id(),
            self.store.signer(),
        )))
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
        let req = request.get_ref();
        let org_id = &req.org_id;
        if org_id.is_empty() {
            return Err(invalid_field("org_id", "is required"));
        }
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("schedules|{org_id}"),
        )?;
        let path = self.path_of(org_id).await?;
        let schedules = self.store.schedules_over(&path).await?;
        let (schedules, next_page_token) =
            page.page_of(schedules, |s| format!("{}|{:?}", s.org_id, s.kind));
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: schedules.iter().map(schedule_to_proto).collect(),
            next_page_token,
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
        Ok(Response::new(compliance_report_to_proto(&report)))
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
        Ok(Response::new(consistency_to_proto(
            req.first_size,
            req.second_size,
            &proof,
        )))
    }
}

impl PropertyApi {
    /// The schedule a request sets, checked.
    async fn schedule_from_proto(&self, given: &pb::Schedule) -> Result<Schedule, Status> {
        let mut violations = FieldViolations::new();
        let kind = kind_from_proto(given.kind);
        if kind.is_none() {
            violations.add("schedule.kind", "must be a disclosure kind");
        }
        let frequency = frequency_from_proto(given.frequency);
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
