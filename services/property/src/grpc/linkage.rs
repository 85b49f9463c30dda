//! `jiceng.property.v1.LinkageService`: who keeps a compound's three-party meetings (admins over
//! its committee), who follows decisions up (those admins, or the company's publishers for the
//! company's own), and who assesses (admins of the assessing town).

use std::collections::BTreeMap;

use jiceng_auth::caller;
use jiceng_grpc::{FieldViolations, PageRequest, millis_of, status::invalid_field};
use jiceng_proto::property::{self as pb, linkage_service_server::LinkageService};
use jiceng_values::RequestId;
use tonic::{Request, Response, Status};

use super::PropertyApi;
use crate::{
    domain::{
        Text,
        disclosure::Period,
        linkage::{
            Assessment, Attendee, Criterion, DecisionState, Meeting, Party, criteria_problem,
            missing_parties, ranks,
        },
    },
    proto::linkage::{
        assessment_to_proto, decision_to_proto, meeting_to_proto, order_to_proto, party_from_proto,
        ranking_to_proto, score_to_proto,
    },
    store::linkage::{NewDecision, OrdersOf},
};

impl PropertyApi {
    /// A meeting, when the caller is an admin over its compound's committee.
    async fn meeting_admin(
        &self,
        caller: &jiceng_auth::Caller,
        meeting: &Meeting,
    ) -> Result<(), Status> {
        self.compound_administered_by(caller, &meeting.compound_id)
            .await
            .map(drop)
    }

    /// An assessment, when the caller is an admin of the assessing org.
    async fn assessor(
        &self,
        caller: &jiceng_auth::Caller,
        assessment_id: &str,
    ) -> Result<Assessment, Status> {
        let assessment = self.store.assessment(assessment_id).await?;
        self.require_admin_of(caller, &assessment.org_id).await?;
        Ok(assessment)
    }
}

#[tonic::async_trait]
impl LinkageService for PropertyApi {
    async fn schedule_linkage_meeting(
        &self,
        request: Request<pb::ScheduleLinkageMeetingRequest>,
    ) -> Result<Response<pb::LinkageMeeting>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let title = violations.check("title", Text::label(100).check(&req.title));
        let agenda = violations
            .check("agenda", Text::prose(5_000).check(&req.agenda))
            .unwrap_or_default();
        let scheduled = violations
            .check("scheduled_time", millis_of(req.scheduled_time.as_ref()))
            .flatten();
        if req.scheduled_time.is_none() {
            violations.add("scheduled_time", "is required");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(title), Some(scheduled)) = (title, scheduled) else {
            return Err(Status::internal("validation fell through"));
        };
        let compound = self
            .compound_administered_by(&caller, &req.compound_id)
            .await?;
        let meeting = self
            .store
            .schedule_meeting(
                &compound.id,
                &title,
                &agenda,
                scheduled,
                (&caller.subject, request_id.as_ref().map(RequestId::as_str)),
                self.store.now(),
            )
            .await?;
        Ok(Response::new(meeting_to_proto(&meeting)))
    }

    async fn record_linkage_meeting(
        &self,
        request: Request<pb::RecordLinkageMeetingRequest>,
    ) -> Result<Response<pb::LinkageMeeting>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let held = violations
            .check("held_time", millis_of(req.held_time.as_ref()))
            .flatten();
        let minutes = violations
            .check("minutes", Text::prose(20_000).check(&req.minutes))
            .unwrap_or_default();
        let mut attendees = Vec::new();
        for (n, a) in req.attendees.iter().enumerate() {
            let party = party_from_proto(a.party);
            if party.is_none() {
                violations.add(
                    format!("attendees[{n}].party"),
                    "must be one of the three parties",
                );
            }
            let name = violations.check(
                &format!("attendees[{n}].name"),
                Text::label(50).check(&a.name),
            );
            if let (Some(party), Some(name)) = (party, name) {
                attendees.push(Attendee { party, name });
            }
        }
        let missing = missing_parties(&attendees);
        if !missing.is_empty() {
            violations.add(
                "attendees",
                format!(
                    "a three-party meeting has all three parties; missing: {}",
                    missing
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let mut decisions = Vec::new();
        for (n, d) in req.decisions.iter().enumerate() {
            let text = violations.check(
                &format!("decisions[{n}].text"),
                Text::label(500).check(&d.text),
            );
            let owner = party_from_proto(d.owner);
            if owner.is_none() {
                violations.add(
                    format!("decisions[{n}].owner"),
                    "must be one of the three parties",
                );
            }
            let due_at = violations
                .check(
                    &format!("decisions[{n}].due_time"),
                    millis_of(d.due_time.as_ref()),
                )
                .flatten();
            if let (Some(text), Some(owner)) = (text, owner) {
                decisions.push(NewDecision {
                    text,
                    owner,
                    due_at,
                });
            }
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let meeting = self.store.meeting(&req.meeting_id).await?;
        self.meeting_admin(&caller, &meeting).await?;
        let recorded = self
            .store
            .record_meeting(
                &meeting.id,
                held.unwrap_or_else(|| self.store.now()),
                &attendees,
                &minutes,
                &decisions,
                (
                    caller.subject.as_str(),
                    request_id.as_ref().map(RequestId::as_str),
                ),
            )
            .await?;
        Ok(Response::new(meeting_to_proto(&recorded)))
    }

    async fn list_linkage_meetings(
        &self,
        request: Request<pb::ListLinkageMeetingsRequest>,
    ) -> Result<Response<pb::ListLinkageMeetingsResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let compound_id = &req.compound_id;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("linkage-meetings|{compound_id}"),
        )?;
        self.store.compound(compound_id).await?;
        let meetings = self.store.meetings(compound_id).await?;
        let (meetings, next_page_token) = page.page_of(meetings, |m| m.id.to_string());
        Ok(Response::new(pb::ListLinkageMeetingsResponse {
            meetings: meetings.iter().map(meeting_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn follow_up_decision(
        &self,
        request: Request<pb::FollowUpDecisionRequest>,
    ) -> Result<Response<pb::LinkageDecision>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let note = violations
            .check("note", Text::prose(2_000).check(&req.note))
            .unwrap_or_default();
        let state = if req.state == pb::DecisionState::Done as i32 {
            Some(DecisionState::Done)
        } else if req.state == pb::DecisionState::Dropped as i32 {
            Some(DecisionState::Dropped)
        } else {
            violations.add("state", "must be DONE or DROPPED");
            None
        };
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(state) = state else {
            return Err(Status::internal("validation fell through"));
        };
        let meeting = self.store.meeting_of_decision(&req.decision_id).await?;
        let decision = meeting
            .decisions
            .iter()
            .find(|d| d.id == req.decision_id)
            .ok_or_else(|| Status::not_found(format!("decision {} not found", req.decision_id)))?;
        let admin = self.meeting_admin(&caller, &meeting).await.is_ok();
        // The company reports its own decisions done; dropping one is the admins' call.
        let company_side = if state == DecisionState::Done && decision.owner == Party::Company {
            let compound = self.store.compound(&meeting.compound_id).await?;
            let company = self.store.company(&compound.company_id).await?;
            company.publishers.contains(&caller.subject)
        } else {
            false
        };
        if !(admin || company_side) {
            return Err(Status::permission_denied(
                "admins over the compound follow decisions up; the company reports its own done",
            ));
        }
        let by = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let decision = self
            .store
            .follow_up(&req.decision_id, state, &note, by)
            .await?;
        Ok(Response::new(decision_to_proto(&decision)))
    }

    async fn define_assessment(
        &self,
        request: Request<pb::DefineAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let caller = caller(&request)?.clone();
        let given = request.into_inner().assessment.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let period = violations.check("assessment.period", Period::parse(&given.period));
        let criteria: Vec<Criterion> = given
            .criteria
            .iter()
            .enumerate()
            .map(|(n, c)| Criterion {
                code: violations
                    .check(
                        &format!("assessment.criteria[{n}].code"),
                        Text::label(40).check(&c.code),
                    )
                    .unwrap_or_default(),
                name: violations
                    .check(
                        &format!("assessment.criteria[{n}].name"),
                        Text::label(100).check(&c.name),
                    )
                    .unwrap_or_default(),
                weight: i64::from(c.weight),
            })
            .collect();
        if let Some(problem) = criteria_problem(&criteria) {
            violations.add("assessment.criteria", problem);
        }
        if given.org_id.is_empty() {
            violations.add(
                "assessment.org_id",
                "must name the assessing town or street",
            );
        }
        violations.into_result()?;
        let Some(period) = period else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &given.org_id).await?;
        let assessment = self
            .store
            .define_assessment(
                &given.org_id,
                &self.path_of(&given.org_id).await?,
                period.as_str(),
                &criteria,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(assessment_to_proto(&assessment)))
    }

    async fn score_company(
        &self,
        request: Request<pb::ScoreCompanyRequest>,
    ) -> Result<Response<pb::CompanyScore>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let comment = violations
            .check("comment", Text::prose(2_000).check(&req.comment))
            .unwrap_or_default();
        violations.into_result()?;
        self.assessor(&caller, &req.assessment_id).await?;
        let scores: BTreeMap<String, i64> = req
            .scores
            .iter()
            .map(|(code, score)| (code.clone(), i64::from(*score)))
            .collect();
        let score = self
            .store
            .score(
                &req.assessment_id,
                &req.company_id,
                &scores,
                &comment,
                &caller.subject,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(score_to_proto(&score)))
    }

    async fn get_ranking(
        &self,
        request: Request<pb::GetRankingRequest>,
    ) -> Result<Response<pb::Ranking>, Status> {
        caller(&request)?;
        let id = &request.get_ref().assessment_id;
        let assessment = self.store.assessment(id).await?;
        let scores = self.store.ranking(id).await?;
        let totals: Vec<i64> = scores.iter().map(|s| s.total).collect();
        Ok(Response::new(ranking_to_proto(
            &assessment,
            &scores,
            &ranks(&totals),
        )))
    }

    async fn issue_order(
        &self,
        request: Request<pb::IssueOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let text = violations.check("text", Text::label(2_000).check(&req.text));
        let due_at = violations
            .check("due_time", millis_of(req.due_time.as_ref()))
            .flatten();
        let kind = if req.kind == pb::OrderKind::Reward as i32 {
            Some("reward")
        } else if req.kind == pb::OrderKind::Rectification as i32 {
            if due_at.is_none() {
                violations.add("due_time", "a rectification order sets a date");
            }
            Some("rectification")
        } else {
            violations.add("kind", "must be REWARD or RECTIFICATION");
            None
        };
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(text), Some(kind)) = (text, kind) else {
            return Err(Status::internal("validation fell through"));
        };
        self.assessor(&caller, &req.assessment_id).await?;
        let order = self
            .store
            .issue_order(
                &req.assessment_id,
                &req.company_id,
                kind,
                &text,
                due_at,
                (&caller.subject, request_id.as_ref().map(RequestId::as_str)),
                self.store.now(),
            )
            .await?;
        Ok(Response::new(order_to_proto(&order)))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let of = match (req.company_id.is_empty(), req.assessment_id.is_empty()) {
            (false, true) => OrdersOf::Company(&req.company_id),
            (true, false) => OrdersOf::Assessment(&req.assessment_id),
            _ => {
                return Err(invalid_field(
                    "company_id",
                    "list by exactly one of a company or an assessment",
                ));
            }
        };
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("orders|{}|{}", req.company_id, req.assessment_id),
        )?;
        let orders = self.store.orders(of).await?;
        let (orders, next_page_token) = page.page_of(orders, |o| o.id.to_string());
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.iter().map(order_to_proto).collect(),
            next_page_token,
        }))
    }
}
