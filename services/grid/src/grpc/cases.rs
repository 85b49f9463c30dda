//! `jiceng.grid.v1.CaseService`: who may report, move, verify, evaluate and read cases.
//!
//! The owning org's admins (and the levels above, whose scope covers it) file, dispatch, verify
//! and close; the handling org's admins and grid workers take the case up, report back and ask
//! for changes; the level above the handling org decides those requests; the reporter rates
//! the outcome. Grid workers and party representatives report in the grids they are stationed
//! in; another system reports with the integration role, as a SYSTEM reporter, and its own id for
//! the report.

use std::collections::BTreeMap;

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{
    FieldViolations, PageRequest, millis_of,
    status::{failed_precondition, invalid_field},
};
use jiceng_proto::{
    grid::{self as pb, case_service_server::CaseService},
    org::UnitStatus,
};
use jiceng_values::{Phone, RequestId, Text, mask_phone};
use tonic::{Request, Response, Status};

use super::{ADMINS, GridApi, time_cursor, time_cursor_of, urls};
use crate::{
    domain::{
        Point,
        case::{Action, Case, ReporterKind, RequestKind},
        category::category_code,
    },
    proto::{
        cases::{
            CASE_STATES, CHANGE_KINDS, REPORTER_KINDS, URGENCIES, case_to_proto,
            escalation_to_proto, history_event_to_proto, request_to_proto, state_to_proto,
        },
        from_proto,
    },
    store::cases::{ActionDetail, CaseFilter, NewCase},
};

/// How far ahead a deferral may run: a year.
pub(crate) const MAX_HORIZON_MS: i64 = 366 * 86_400_000;

/// Duplicates are looked for within 100 m and 72 hours unless the caller says otherwise.
const DEFAULT_RADIUS_M: i32 = 100;
const MAX_RADIUS_M: i32 = 5_000;
const DEFAULT_WINDOW_H: i32 = 72;
const MAX_WINDOW_H: i32 = 720;
/// At most this many duplicate candidates, the nearest.
const MAX_CANDIDATES: usize = 50;

/// Admins and grid workers: who works cases.
const WORKERS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::GridWorker,
];

fn note(violations: &mut FieldViolations, field: &str, given: &str) -> String {
    violations
        .check(field, Text::prose(1_000).check(given))
        .unwrap_or_default()
}

impl GridApi {
    /// A case the caller may see: its reporter, or someone whose scope covers its owning or
    /// handling org. Others learn nothing, not even that it exists.
    async fn visible_case(&self, caller: &Caller, id: &str) -> Result<Case, Status> {
        let case = self.store.case(id).await?;
        if case.reporter == caller.subject || self.covers_case(caller, &case).await {
            Ok(case)
        } else {
            Err(Status::not_found(format!("case {id} not found")))
        }
    }

    async fn covers_case(&self, caller: &Caller, case: &Case) -> bool {
        self.require_reader_of(caller, &case.owner_org_id)
            .await
            .is_ok()
            || (!case.handler_org_id.is_empty()
                && self
                    .require_reader_of(caller, &case.handler_org_id)
                    .await
                    .is_ok())
    }

    /// Admins whose scope covers the owning org: they file, dispatch, verify and close.
    async fn owner_side(&self, caller: &Caller, id: &str) -> Result<Case, Status> {
        let case = self.visible_case(caller, id).await?;
        caller.require_any(ADMINS)?;
        self.org.scopes().check(caller, &case.owner_org_id).await?;
        Ok(case)
    }

    /// The handling org's admins and grid workers: they take the case up and report back.
    async fn handler_side(&self, caller: &Caller, id: &str) -> Result<Case, Status> {
        let case = self.visible_case(caller, id).await?;
        caller.require_any(WORKERS)?;
        if case.handler_org_id.is_empty() {
            return Err(failed_precondition(
                "CASE_STATE",
                &format!("cases/{id}"),
                "the case has not been dispatched to a handling org",
            ));
        }
        self.org
            .scopes()
            .check(caller, &case.handler_org_id)
            .await?;
        Ok(case)
    }

    /// A step that carries only a note (required, with `reason_required` saying why, when
    /// given): the owning org's admins take it, or the handling org's for `Start`.
    #[allow(clippy::too_many_arguments)]
    async fn noted_step(
        &self,
        caller: &Caller,
        case_id: &str,
        request_id: &str,
        note_text: &str,
        etag: &str,
        action: Action,
        reason_required: Option<&str>,
    ) -> Result<Response<pb::Case>, Status> {
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", note_text);
        if let Some(reason) = reason_required.filter(|_| note.is_empty()) {
            violations.add("note", reason);
        }
        violations.into_result()?;
        if action == Action::Start {
            self.handler_side(caller, case_id).await?;
        } else {
            self.owner_side(caller, case_id).await?;
        }
        let detail = ActionDetail {
            note,
            expected_version: jiceng_grpc::version_in("etag", etag)?,
            ..ActionDetail::default()
        };
        self.act(caller, case_id, request_id, action, detail).await
    }

    /// Takes the step, once for a retry that repeats its `request_id`.
    async fn act(
        &self,
        caller: &Caller,
        case_id: &str,
        request_id: &str,
        action: Action,
        mut detail: ActionDetail,
    ) -> Result<Response<pb::Case>, Status> {
        detail.request_id = RequestId::parse_optional(request_id)
            .map_err(|e| invalid_field("request_id", e))?
            .map(|id| id.as_str().to_owned());
        let case = self
            .store
            .act(case_id, &caller.subject, &action, &detail, self.store.now())
            .await?;
        Ok(Response::new(case_to_proto(&case)))
    }

    /// Whether the caller may report as `kind`: grid workers and party representatives in a
    /// grid they are stationed in (or admins of the org), another government system within the
    /// scope its `integration` token is given.
    async fn may_report_in(
        &self,
        caller: &Caller,
        kind: ReporterKind,
        grid_id: Option<&str>,
        org_id: &str,
    ) -> Result<(), Status> {
        match kind {
            ReporterKind::GridWorker | ReporterKind::PartyRepresentative => {
                let stationed = match grid_id {
                    Some(grid) => self.store.is_staff(grid, &caller.subject).await?,
                    None => false,
                };
                let admin =
                    caller.has_any(ADMINS) && self.org.scopes().check(caller, org_id).await.is_ok();
                if stationed || admin {
                    Ok(())
                } else {
                    Err(Status::permission_denied(
                        "grid workers and party representatives report in the grids they are stationed in",
                    ))
                }
            }
            ReporterKind::Resident => Ok(()),
            // Another government system handing a case over, named by its own id.
            ReporterKind::System => {
                caller.require_any(&[Role::Integration])?;
                self.org.scopes().check(caller, org_id).await
            }
        }
    }
}

#[tonic::async_trait]
impl CaseService for GridApi {
    async fn report_case(
        &self,
        request: Request<pb::ReportCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let category = violations.check("category_code", category_code(&req.category_code));
        let urgency = if req.urgency == 0 {
            Some(crate::domain::case::Urgency::Normal)
        } else {
            from_proto(URGENCIES, req.urgency)
        };
        if urgency.is_none() {
            violations.add("urgency", "is unknown");
        }
        let description =
            violations.check("description", Text::label(2_000).check(&req.description));
        let address = note(&mut violations, "address", &req.address);
        let location = req
            .location
            .as_ref()
            .and_then(|p| violations.check("location", Point::new(p.latitude, p.longitude)));
        let reporter_kind = from_proto(REPORTER_KINDS, req.reporter_kind);
        if reporter_kind.is_none() {
            violations.add("reporter_kind", "must say who reports");
        }
        let system = reporter_kind == Some(ReporterKind::System);
        if system && (req.source.is_empty() || req.external_id.is_empty()) {
            violations.add(
                "external_id",
                "another system reports with its name and its id for the report",
            );
        }
        if !system && (!req.source.is_empty() || !req.external_id.is_empty()) {
            violations.add(
                "external_id",
                "only another system's report carries an external id",
            );
        }
        for (field, value) in [("source", &req.source), ("external_id", &req.external_id)] {
            if value.len() > 128 || value.chars().any(char::is_control) {
                violations.add(field, "must be at most 128 characters");
            }
        }
        if req.grid_id.is_empty() == req.org_id.is_empty() {
            violations.add(
                "grid_id",
                "name either the grid it was found in or the org it is reported to",
            );
        }
        let attachments = urls(&mut violations, "attachment_urls", &req.attachment_urls);
        let contact = if req.reporter_contact.is_empty() {
            None
        } else {
            violations.check(
                "reporter_contact",
                Phone::parse(&req.reporter_contact).map(Phone::into_inner),
            )
        };
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(category_code), Some(urgency), Some(description), Some(reporter_kind)) =
            (category, urgency, description, reporter_kind)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let category = self.store.category(&category_code).await?;
        let attributes: BTreeMap<String, String> = req.attributes.into_iter().collect();
        let mut violations = FieldViolations::new();
        for (code, problem) in category.check_values(&attributes) {
            violations.add(format!("attributes[{code}]"), problem);
        }
        violations.into_result()?;
        let (grid_id, owner_org_id) = if req.grid_id.is_empty() {
            (None, req.org_id)
        } else {
            let grid = self.store.grid(&req.grid_id).await?;
            (Some(grid.id), grid.org_id)
        };
        self.may_report_in(&caller, reporter_kind, grid_id.as_deref(), &owner_org_id)
            .await?;
        let org_path = self.path_of(&owner_org_id).await?;
        let new = NewCase {
            category_code,
            urgency,
            description,
            attributes,
            location,
            address,
            grid_id,
            owner_org_id,
            org_path,
            reporter_kind,
            reporter: caller.subject.clone(),
            contact: contact.map(|number| (self.vault.seal(&number), mask_phone(&number))),
            source: req.source,
            external_id: req.external_id,
            attachments,
        };
        let request_id = request_id.as_ref().map(RequestId::as_str);
        let now = self.store.now();
        let case = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move { self.store.report(request_id, &new, now).await },
            )
            .await??;
        // A retry answers with the case its first call reported, stamped then: counted once.
        if case.created_at == now {
            crate::metrics::case_reported(case.street());
        }
        Ok(Response::new(case_to_proto(&case)))
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let reason = jiceng_pii_audit::reason_of(req.reveal_reporter_contact, &req.reveal_reason)?;
        let case = self.visible_case(&caller, &req.id).await?;
        let Some(reason) = reason else {
            return Ok(Response::new(case_to_proto(&case)));
        };
        self.require_admin_of(&caller, &case.owner_org_id)
            .await
            .map_err(|_| {
                Status::permission_denied(
                    "only admins of the owning org see the reporter's contact",
                )
            })?;
        // Read again with the record of who looked, why: no record, no reveal.
        let reveal = jiceng_pii_audit::Reveal {
            actor: &caller.subject,
            subject_kind: jiceng_pii_audit::PERSON,
            subject_id: &case.reporter,
            record: format!("cases/{}", case.id),
            fields: &["reporter_contact"],
            reason: &reason,
        };
        let case = self
            .store
            .reveal_case(&case.id, &reveal, self.store.now())
            .await?;
        let mut proto = case_to_proto(&case);
        if let Some(sealed) = &case.contact_sealed {
            proto.reporter_contact = self
                .vault
                .open(sealed)
                .map_err(|_| Status::internal("personal data cannot be opened"))?;
        }
        Ok(Response::new(proto))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let chosen = [!req.org_id.is_empty(), !req.grid_id.is_empty(), req.mine]
            .iter()
            .filter(|c| **c)
            .count();
        if chosen != 1 {
            return Err(invalid_field(
                "org_id",
                "list by exactly one of an org subtree, a grid, or your own reports",
            ));
        }
        let state = if req.state == 0 {
            None
        } else {
            Some(
                from_proto(CASE_STATES, req.state)
                    .ok_or_else(|| invalid_field("state", "is unknown"))?,
            )
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!(
                "cases|{}|{}|{}|{}|{}",
                req.org_id, req.grid_id, req.mine, req.state, req.overdue
            ),
        )?;
        let now = self.store.now();
        let mut filter = CaseFilter {
            state,
            overdue_at: req.overdue.then_some(now),
            ..CaseFilter::default()
        };
        if !req.org_id.is_empty() {
            self.require_reader_of(&caller, &req.org_id).await?;
            filter.subtree = Some(self.subtree_path(&req.org_id).await?);
        } else if !req.grid_id.is_empty() {
            // The grid's cases are for readers of its org: being stationed in a grid (a party
            // representative may be any member) does not open other people's reports.
            let grid = self.visible_grid(&caller, &req.grid_id).await?;
            self.require_reader_of(&caller, &grid.org_id).await?;
            filter.grid_id = Some(grid.id);
        } else {
            filter.reporter = Some(caller.subject.clone());
        }
        let after = page.after.as_deref().map(time_cursor).transpose()?;
        let mut cases = self
            .store
            .list_cases(&filter, after, page.fetch_limit())
            .await?;
        let next_page_token = page.finish(&mut cases, |c| time_cursor_of(c.created_at, &c.id));
        Ok(Response::new(pb::ListCasesResponse {
            cases: cases.iter().map(case_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn count_cases(
        &self,
        request: Request<pb::CountCasesRequest>,
    ) -> Result<Response<pb::CountCasesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let org_id = &request.get_ref().org_id;
        self.require_reader_of(&caller, org_id).await?;
        let path = self.subtree_path(org_id).await?;
        let (counts, overdue) = self.store.count_cases(&path, self.store.now()).await?;
        Ok(Response::new(pb::CountCasesResponse {
            counts: counts
                .into_iter()
                .map(|(state, count)| pb::StateCount {
                    state: state_to_proto(state) as i32,
                    count,
                })
                .collect(),
            overdue,
        }))
    }

    async fn list_case_history(
        &self,
        request: Request<pb::ListCaseHistoryRequest>,
    ) -> Result<Response<pb::ListCaseHistoryResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("case-history|{}", req.case_id),
        )?;
        let case = self.visible_case(&caller, &req.case_id).await?;
        let history = self.store.history(&case.id).await?;
        // A case's history only grows: a step's place in it is its key.
        let numbered: Vec<_> = history.iter().enumerate().collect();
        let (events, next_page_token) = page.page_of(numbered, |(index, _)| index.to_string());
        Ok(Response::new(pb::ListCaseHistoryResponse {
            events: events
                .into_iter()
                .map(|(_, event)| history_event_to_proto(event))
                .collect(),
            next_page_token,
        }))
    }

    async fn accept_case(
        &self,
        request: Request<pb::AcceptCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.noted_step(
            &caller,
            &req.case_id,
            &req.request_id,
            &req.note,
            &req.etag,
            Action::Accept,
            None,
        )
        .await
    }

    async fn reject_case(
        &self,
        request: Request<pb::RejectCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.noted_step(
            &caller,
            &req.case_id,
            &req.request_id,
            &req.note,
            &req.etag,
            Action::Reject,
            Some("a rejection gives its reason"),
        )
        .await
    }

    async fn dispatch_case(
        &self,
        request: Request<pb::DispatchCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", &req.note);
        if req.handler_org_id.is_empty() {
            violations.add("handler_org_id", "must name the handling org");
        }
        violations.into_result()?;
        self.owner_side(&caller, &req.case_id).await?;
        let handler = self.org.unit(&req.handler_org_id).await?;
        if handler.status != UnitStatus::Active as i32 {
            return Err(failed_precondition(
                "DISSOLVED",
                &format!("units/{}", req.handler_org_id),
                "cases are dispatched to active orgs",
            ));
        }
        let detail = ActionDetail {
            note,
            expected_version: jiceng_grpc::version_in("etag", &req.etag)?,
            ..ActionDetail::default()
        };
        let action = Action::Dispatch {
            handler_org_id: req.handler_org_id,
        };
        self.act(&caller, &req.case_id, &req.request_id, action, detail)
            .await
    }

    async fn start_case(
        &self,
        request: Request<pb::StartCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.noted_step(
            &caller,
            &req.case_id,
            &req.request_id,
            &req.note,
            &req.etag,
            Action::Start,
            None,
        )
        .await
    }

    async fn report_handled(
        &self,
        request: Request<pb::ReportHandledRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", &req.note);
        let evidence = urls(&mut violations, "evidence_urls", &req.evidence_urls);
        if note.is_empty() && evidence.is_empty() {
            violations.add("evidence_urls", "reporting back takes a note or evidence");
        }
        violations.into_result()?;
        self.handler_side(&caller, &req.case_id).await?;
        let detail = ActionDetail {
            note,
            evidence,
            expected_version: jiceng_grpc::version_in("etag", &req.etag)?,
            ..ActionDetail::default()
        };
        self.act(
            &caller,
            &req.case_id,
            &req.request_id,
            Action::Handle,
            detail,
        )
        .await
    }

    async fn verify_case(
        &self,
        request: Request<pb::VerifyCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", &req.note);
        if !req.passed && note.is_empty() {
            violations.add("note", "a failed verification says what is still wrong");
        }
        violations.into_result()?;
        self.owner_side(&caller, &req.case_id).await?;
        let detail = ActionDetail {
            note,
            expected_version: jiceng_grpc::version_in("etag", &req.etag)?,
            ..ActionDetail::default()
        };
        let action = Action::Verify { passed: req.passed };
        self.act(&caller, &req.case_id, &req.request_id, action, detail)
            .await
    }

    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.noted_step(
            &caller,
            &req.case_id,
            &req.request_id,
            &req.note,
            &req.etag,
            Action::Close,
            None,
        )
        .await
    }

    async fn evaluate_case(
        &self,
        request: Request<pb::EvaluateCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let comment = note(&mut violations, "comment", &req.comment);
        if !(1..=5).contains(&req.satisfaction) {
            violations.add("satisfaction", "must be 1 to 5");
        }
        violations.into_result()?;
        let case = self.visible_case(&caller, &req.case_id).await?;
        if case.reporter != caller.subject {
            return Err(Status::permission_denied("the reporter rates the outcome"));
        }
        let detail = ActionDetail {
            comment,
            ..ActionDetail::default()
        };
        let action = Action::Evaluate {
            satisfaction: i64::from(req.satisfaction),
        };
        self.act(&caller, &req.case_id, &req.request_id, action, detail)
            .await
    }

    async fn request_change(
        &self,
        request: Request<pb::RequestChangeRequest>,
    ) -> Result<Response<pb::ChangeRequest>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let reason = note(&mut violations, "reason", &req.reason);
        if reason.is_empty() {
            violations.add("reason", "a request gives its reason");
        }
        let kind = from_proto(CHANGE_KINDS, req.kind);
        if kind.is_none() {
            violations.add("kind", "must be return, extension, deferral or backlog");
        }
        let now = self.store.now();
        let minutes = (kind == Some(RequestKind::Extension)).then_some(req.extension_minutes);
        if minutes.is_some_and(|m| !(1..=525_600).contains(&m)) {
            violations.add("extension_minutes", "must be 1 to 525,600");
        }
        let until = violations
            .check("defer_until", millis_of(req.defer_until.as_ref()))
            .flatten();
        if kind == Some(RequestKind::Deferral)
            && until.is_none_or(|until| until <= now || until > now + MAX_HORIZON_MS)
        {
            violations.add(
                "defer_until",
                "a deferral runs until a time within the next year",
            );
        }
        violations.into_result()?;
        let Some(kind) = kind else {
            return Err(Status::internal("validation fell through"));
        };
        self.handler_side(&caller, &req.case_id).await?;
        let until = (kind == RequestKind::Deferral).then_some(until).flatten();
        let request = self
            .store
            .request_change(
                &req.case_id,
                &caller.subject,
                kind,
                &reason,
                minutes,
                until,
                now,
            )
            .await?;
        Ok(Response::new(request_to_proto(&request)))
    }

    async fn decide_change(
        &self,
        request: Request<pb::DecideChangeRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", &req.note);
        violations.into_result()?;
        let case = self.visible_case(&caller, &req.case_id).await?;
        caller.require_any(ADMINS)?;
        // The level above the handling org decides; a handler does not approve their own request.
        let chain = self.org.scopes().ancestor_ids(&case.handler_org_id).await?;
        let above = chain
            .len()
            .checked_sub(2)
            .map(|at| chain[at].clone())
            .ok_or_else(|| {
                failed_precondition(
                    "NO_LEVEL_ABOVE",
                    &format!("cases/{}", case.id),
                    "the handling org has no level above to decide",
                )
            })?;
        self.org.scopes().check(&caller, &above).await?;
        let waiting = self.store.pending_change(&case.id).await?.ok_or_else(|| {
            Status::not_found(format!("no change request of case {} waits", case.id))
        })?;
        if waiting.requested_by == caller.subject {
            return Err(Status::permission_denied(
                "a request is decided by someone other than who asked",
            ));
        }
        if !req.change_request_id.is_empty() && req.change_request_id != waiting.id {
            return Err(failed_precondition(
                "CHANGE_REQUEST",
                &format!("cases/{}", case.id),
                "the request waiting now is not the one decided; read it again",
            ));
        }
        let case = self
            .store
            .decide_change(
                &case.id,
                &caller.subject,
                req.approve,
                &note,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(case_to_proto(&case)))
    }

    async fn scan_overdue(
        &self,
        request: Request<pb::ScanOverdueRequest>,
    ) -> Result<Response<pb::ScanOverdueResponse>, Status> {
        self.org
            .scopes()
            .require_whole_district(caller(&request)?, &[Role::DistrictAdmin])
            .await?;
        let escalations = crate::escalate_overdue(&self.store, self.store.now()).await?;
        Ok(Response::new(pb::ScanOverdueResponse {
            escalations: escalations.iter().map(escalation_to_proto).collect(),
        }))
    }

    async fn list_duplicate_candidates(
        &self,
        request: Request<pb::ListDuplicateCandidatesRequest>,
    ) -> Result<Response<pb::ListDuplicateCandidatesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let radius = req.radius_meters.unwrap_or(DEFAULT_RADIUS_M);
        if !(1..=MAX_RADIUS_M).contains(&radius) {
            violations.add("radius_meters", format!("must be 1 to {MAX_RADIUS_M}"));
        }
        let window = req.window_hours.unwrap_or(DEFAULT_WINDOW_H);
        if !(1..=MAX_WINDOW_H).contains(&window) {
            violations.add("window_hours", format!("must be 1 to {MAX_WINDOW_H}"));
        }
        violations.into_result()?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("duplicates|{}|{radius}|{window}", req.case_id),
        )?;
        let case = self.visible_case(&caller, &req.case_id).await?;
        self.require_reader_of(&caller, &case.owner_org_id).await?;
        let found = self
            .store
            .duplicate_candidates(
                &case,
                f64::from(radius),
                i64::from(window) * 3_600_000,
                MAX_CANDIDATES,
            )
            .await?;
        let mut candidates = Vec::with_capacity(found.len());
        for (candidate, distance) in found {
            // A neighbouring org's case near the border is listed only to those who may read it.
            if self.covers_case(&caller, &candidate).await {
                candidates.push(pb::DuplicateCandidate {
                    candidate: Some(case_to_proto(&candidate)),
                    distance_meters: distance,
                });
            }
        }
        let (candidates, next_page_token) = page.page_of(candidates, |c| {
            c.candidate
                .as_ref()
                .map(|case| case.id.clone())
                .unwrap_or_default()
        });
        Ok(Response::new(pb::ListDuplicateCandidatesResponse {
            candidates,
            next_page_token,
        }))
    }

    async fn merge_case(
        &self,
        request: Request<pb::MergeCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = note(&mut violations, "note", &req.note);
        if req.original_case_id.is_empty() {
            violations.add("original_case_id", "must name the case this one duplicates");
        }
        violations.into_result()?;
        self.owner_side(&caller, &req.case_id).await?;
        self.owner_side(&caller, &req.original_case_id).await?;
        let detail = ActionDetail {
            note,
            expected_version: jiceng_grpc::version_in("etag", &req.etag)?,
            request_id: RequestId::parse_optional(&req.request_id)
                .map_err(|e| invalid_field("request_id", e))?
                .map(|id| id.as_str().to_owned()),
            ..ActionDetail::default()
        };
        let (duplicate, _) = self
            .store
            .merge(
                &req.case_id,
                &req.original_case_id,
                &caller.subject,
                &detail,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(case_to_proto(&duplicate)))
    }
}
