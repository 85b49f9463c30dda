//! `jiceng.org.v1.MeetingService`: joint meetings and decisions, and the three meetings of
//! residential projects.

use jiceng_auth::{Caller, caller};
use jiceng_grpc::{
    FieldViolations, PageRequest,
    status::{failed_precondition, invalid_field},
};
use jiceng_proto::org::{self as pb, meeting_service_server::MeetingService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::{ADMINS, millis_of, mutation, scope_unit, visible_unit};
use crate::proto::meetings::{
    decision_to_proto, meeting_to_proto, project_to_proto, stage_from_proto,
};
use crate::{
    domain::{
        RequestId, UnitId,
        meetings::{Attendee, DecisionStatus, Host, Topic, Vote},
        text::{self, Person},
    },
    grid_cases::GridCases,
    store::{NewMeeting, NewProjectMeeting, OrgStore},
};

#[derive(Clone, Debug)]
pub struct MeetingApi {
    store: OrgStore,
    /// Where a meeting's grid case is checked; unset when this deployment has no grid service.
    grid_cases: Option<GridCases>,
}

impl MeetingApi {
    pub fn new(store: OrgStore, grid_cases: Option<GridCases>) -> Self {
        Self { store, grid_cases }
    }

    /// A meeting may take up only a grid case that exists.
    async fn require_grid_case(&self, case_id: &str) -> Result<(), Status> {
        let Some(grid_cases) = &self.grid_cases else {
            return Err(failed_precondition(
                "GRID_UNAVAILABLE",
                "meetings",
                "this deployment has no grid service to take a case from",
            ));
        };
        if grid_cases.exists(case_id).await? {
            Ok(())
        } else {
            Err(Status::not_found(format!("grid case {case_id} not found")))
        }
    }

    /// The unit whose subtree a host's meetings belong to: the host unit, or the alliance's lead.
    async fn host_unit(&self, host: &Host) -> Result<UnitId, Status> {
        match host {
            Host::Unit(unit) => Ok(unit.clone()),
            Host::Alliance(id) => Ok(self.store.alliance(id).await?.lead_unit_id),
        }
    }

    /// Admins of the host run its meetings.
    async fn require_host_admin(&self, caller: &Caller, host: &Host) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        let unit = self.host_unit(host).await?;
        visible_unit(&self.store, caller, &unit).await.map(drop)
    }
}

fn attendees_from_proto(
    violations: &mut FieldViolations,
    attendees: &[pb::Attendee],
) -> Vec<Attendee> {
    attendees
        .iter()
        .filter_map(|a| match &a.attendee {
            Some(pb::attendee::Attendee::UnitId(id)) => violations
                .check("attendees", UnitId::parse(id))
                .map(|u| Attendee::Unit(u.to_string())),
            Some(pb::attendee::Attendee::Person(p)) => violations
                .check("attendees", Person::parse(&p.name, &p.unit_name))
                .map(Attendee::Person),
            None => {
                violations.add("attendees", "each attendee is a unit_id or a person");
                None
            }
        })
        .collect()
}

#[tonic::async_trait]
impl MeetingService for MeetingApi {
    async fn schedule_joint_meeting(
        &self,
        request: Request<pb::ScheduleJointMeetingRequest>,
    ) -> Result<Response<pb::JointMeeting>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let host = match &req.host {
            Some(pb::schedule_joint_meeting_request::Host::HostUnitId(id)) => violations
                .check("host_unit_id", UnitId::parse(id))
                .map(Host::Unit),
            Some(pb::schedule_joint_meeting_request::Host::HostAllianceId(id)) => violations
                .check("host_alliance_id", text::foreign_id(id))
                .map(Host::Alliance),
            None => {
                violations.add("host", "name a host_unit_id or a host_alliance_id");
                None
            }
        };
        let title = violations.check("title", text::name(&req.title));
        let topic = match &req.topic {
            Some(pb::schedule_joint_meeting_request::Topic::TopicText(t)) => violations
                .check("topic_text", Text::required_prose(2000).check(t))
                .map(Topic::Text),
            Some(pb::schedule_joint_meeting_request::Topic::GridCaseId(id)) => violations
                .check("grid_case_id", text::foreign_id(id))
                .map(Topic::GridCase),
            None => {
                violations.add(
                    "topic",
                    "a joint meeting takes up one topic: topic_text or grid_case_id",
                );
                None
            }
        };
        let scheduled_at = violations
            .check("scheduled_time", millis_of(req.scheduled_time.as_ref()))
            .flatten();
        if req.scheduled_time.is_none() {
            violations.add("scheduled_time", "is required");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(host), Some(title), Some(topic), Some(scheduled_at)) =
            (host, title, topic, scheduled_at)
        else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_host_admin(&caller, &host).await?;
        if let Topic::GridCase(case_id) = &topic {
            self.require_grid_case(case_id).await?;
        }
        let meeting = self
            .store
            .schedule_meeting(
                &mutation(&caller, request_id),
                &NewMeeting {
                    host,
                    title,
                    topic,
                    scheduled_at,
                },
            )
            .await?;
        Ok(Response::new(meeting_to_proto(&meeting)))
    }

    async fn record_joint_meeting(
        &self,
        request: Request<pb::RecordJointMeetingRequest>,
    ) -> Result<Response<pb::JointMeeting>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let attendees = attendees_from_proto(&mut violations, &req.attendees);
        let minutes = violations.check("minutes", text::prose(&req.minutes));
        let held_at = violations
            .check("held_time", millis_of(req.held_time.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(minutes), Some(held_at)) = (id, minutes, held_at) else {
            return Err(Status::internal("validation fell through"));
        };
        let meeting = self.store.meeting(&id).await?;
        self.require_host_admin(&caller, &meeting.host).await?;
        let meeting = self
            .store
            .record_meeting(
                &mutation(&caller, request_id),
                &id,
                &attendees,
                &minutes,
                held_at,
            )
            .await?;
        Ok(Response::new(meeting_to_proto(&meeting)))
    }

    async fn get_joint_meeting(
        &self,
        request: Request<pb::GetJointMeetingRequest>,
    ) -> Result<Response<pb::JointMeeting>, Status> {
        let caller = caller(&request)?;
        let id = text::foreign_id(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let meeting = self.store.meeting(&id).await?;
        let host = self.host_unit(&meeting.host).await?;
        visible_unit(&self.store, caller, &host).await?;
        Ok(Response::new(meeting_to_proto(&meeting)))
    }

    async fn add_decision(
        &self,
        request: Request<pb::AddDecisionRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let meeting_id = violations.check("meeting_id", text::foreign_id(&req.meeting_id));
        let text_value = violations.check("text", Text::required_prose(2000).check(&req.text));
        let owner = violations.check("owner_unit_id", UnitId::parse(&req.owner_unit_id));
        let due_at = violations
            .check("due_time", millis_of(req.due_time.as_ref()))
            .flatten();
        if req.due_time.is_none() {
            violations.add("due_time", "is required");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(meeting_id), Some(text_value), Some(owner), Some(due_at)) =
            (meeting_id, text_value, owner, due_at)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let meeting = self.store.meeting(&meeting_id).await?;
        self.require_host_admin(&caller, &meeting.host).await?;
        let decision = self
            .store
            .add_decision(
                &mutation(&caller, request_id),
                &meeting_id,
                &text_value,
                &owner,
                due_at,
            )
            .await?;
        Ok(Response::new(decision_to_proto(&decision)))
    }

    async fn update_decision_status(
        &self,
        request: Request<pb::UpdateDecisionStatusRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let status = match pb::DecisionStatus::try_from(req.status) {
            Ok(pb::DecisionStatus::Done) => Some(DecisionStatus::Done),
            Ok(pb::DecisionStatus::Dropped) => Some(DecisionStatus::Dropped),
            _ => {
                violations.add("status", "must be DONE or DROPPED");
                None
            }
        };
        let note = violations.check("note", text::prose(&req.note));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(status), Some(note)) = (id, status, note) else {
            return Err(Status::internal("validation fell through"));
        };
        let decision = self.store.decision(&id).await?;
        // The owner's admins report on it; so do the admins of the meeting's host.
        if visible_unit(&self.store, &caller, &decision.owner_unit_id)
            .await
            .is_err()
        {
            let meeting = self.store.meeting(&decision.meeting_id).await?;
            self.require_host_admin(&caller, &meeting.host).await?;
        }
        let decision = self
            .store
            .close_decision(&mutation(&caller, request_id), &id, status, &note)
            .await?;
        Ok(Response::new(decision_to_proto(&decision)))
    }

    async fn list_overdue_decisions(
        &self,
        request: Request<pb::ListOverdueDecisionsRequest>,
    ) -> Result<Response<pb::ListOverdueDecisionsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("overdue-decisions|{}", caller.scope_org),
        )?;
        let scope = scope_unit(&self.store, caller).await?;
        let decisions = self
            .store
            .overdue_decisions(&scope, self.store.now())
            .await?;
        let (decisions, next_page_token) = page.page_of(decisions, |d| d.id.to_string());
        Ok(Response::new(pb::ListOverdueDecisionsResponse {
            decisions: decisions.iter().map(decision_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let unit_id = violations.check("unit_id", UnitId::parse(&req.unit_id));
        let name = violations.check("name", text::name(&req.name));
        let description = violations.check("description", text::prose(&req.description));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(unit_id), Some(name), Some(description)) = (unit_id, name, description) else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, &caller, &unit_id).await?;
        let project = self
            .store
            .create_project(
                &mutation(&caller, request_id),
                &unit_id,
                &name,
                &description,
            )
            .await?;
        Ok(Response::new(project_to_proto(&project)))
    }

    async fn record_project_meeting(
        &self,
        request: Request<pb::RecordProjectMeetingRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("project_id", text::foreign_id(&req.project_id));
        let stage = violations.check("stage", stage_from_proto(req.stage));
        let held_at = violations
            .check("held_time", millis_of(req.held_time.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let attendees = attendees_from_proto(&mut violations, &req.attendees);
        let opinions: Vec<String> = req
            .opinions
            .iter()
            .filter_map(|o| violations.check("opinions", Text::required_prose(2000).check(o)))
            .collect();
        let outcome = violations.check("outcome", Text::required_prose(2000).check(&req.outcome));
        let vote = req.vote.map(|v| {
            if v.in_favour < 0 || v.against < 0 || v.abstaining < 0 {
                violations.add("vote", "counts must not be negative");
            }
            Vote {
                in_favour: i64::from(v.in_favour),
                against: i64::from(v.against),
                abstaining: i64::from(v.abstaining),
            }
        });
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(stage), Some(held_at), Some(outcome)) = (id, stage, held_at, outcome)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let project = self.store.project(&id).await?;
        visible_unit(&self.store, &caller, &project.unit_id).await?;
        let meeting = NewProjectMeeting {
            stage,
            held_at,
            attendees,
            opinions,
            outcome,
            vote,
        };
        let project = self
            .store
            .record_project_meeting(&mutation(&caller, request_id), &id, &meeting)
            .await?;
        Ok(Response::new(project_to_proto(&project)))
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?;
        let id = text::foreign_id(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let project = self.store.project(&id).await?;
        visible_unit(&self.store, caller, &project.unit_id).await?;
        Ok(Response::new(project_to_proto(&project)))
    }
}
