//! `jiceng.org.v1.PositionService`: who holds which role in which unit.

use jiceng_auth::caller;
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
use jiceng_proto::org::{self as pb, position_service_server::PositionService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::{ADMINS, millis_of, mutation, visible_unit};
use crate::proto::positions::{position_to_proto, role_from_proto};
use crate::{
    domain::{
        RequestId, UnitId,
        positions::{Holder, NewPosition},
        text::{self, Person},
    },
    store::OrgStore,
};

#[derive(Clone, Debug)]
pub struct PositionApi {
    store: OrgStore,
}

impl PositionApi {
    pub fn new(store: OrgStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl PositionService for PositionApi {
    async fn appoint_position(
        &self,
        request: Request<pb::AppointPositionRequest>,
    ) -> Result<Response<pb::Position>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let unit_id = violations.check("unit_id", UnitId::parse(&req.unit_id));
        let role = violations.check("role", role_from_proto(req.role));
        let holder = match &req.holder {
            Some(pb::appoint_position_request::Holder::MemberId(id)) => violations
                .check("member_id", text::foreign_id(id))
                .map(Holder::Member),
            Some(pb::appoint_position_request::Holder::Person(p)) => violations
                .check("person", Person::parse(&p.name, &p.unit_name))
                .map(Holder::Person),
            None => {
                violations.add("holder", "name a member_id or a person");
                None
            }
        };
        let stationed = violations
            .check(
                "stationed_unit_name",
                Text::optional_label(100).check(&req.stationed_unit_name),
            )
            .map(|name| (!name.is_empty()).then_some(name));
        let term_start = violations
            .check("term_start", millis_of(req.term_start.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let term_end = violations.check("term_end", millis_of(req.term_end.as_ref()));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (
            Some(unit_id),
            Some(role),
            Some(holder),
            Some(stationed),
            Some(term_start),
            Some(term_end),
        ) = (unit_id, role, holder, stationed, term_start, term_end)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let new = NewPosition::new(unit_id, role, holder, stationed, term_start, term_end)
            .map_err(|(field, description)| invalid_field(field, description))?;
        visible_unit(&self.store, &caller, &new.unit_id).await?;
        let position = self
            .store
            .appoint(&mutation(&caller, request_id), &new, req.replace_current)
            .await?;
        Ok(Response::new(position_to_proto(&position)))
    }

    async fn end_position(
        &self,
        request: Request<pb::EndPositionRequest>,
    ) -> Result<Response<pb::Position>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let term_end = violations
            .check("term_end", millis_of(req.term_end.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let reason = violations.check("reason", Text::optional_label(200).check(&req.reason));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(term_end), Some(reason)) = (id, term_end, reason) else {
            return Err(Status::internal("validation fell through"));
        };
        let position = self.store.position(&id).await?;
        visible_unit(&self.store, &caller, &position.unit_id).await?;
        let position = self
            .store
            .end_position(&mutation(&caller, request_id), &id, term_end, &reason)
            .await?;
        Ok(Response::new(position_to_proto(&position)))
    }

    async fn list_positions(
        &self,
        request: Request<pb::ListPositionsRequest>,
    ) -> Result<Response<pb::ListPositionsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let unit_id = UnitId::parse(&req.unit_id).map_err(|e| invalid_field("unit_id", e))?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("positions|{}|{}", req.unit_id, req.include_ended),
        )?;
        visible_unit(&self.store, caller, &unit_id).await?;
        let positions = self
            .store
            .positions(&unit_id, req.include_ended, self.store.now())
            .await?;
        let (positions, next_page_token) = page.page_of(positions, |p| p.id.to_string());
        Ok(Response::new(pb::ListPositionsResponse {
            positions: positions.iter().map(position_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_current_holders(
        &self,
        request: Request<pb::ListCurrentHoldersRequest>,
    ) -> Result<Response<pb::ListCurrentHoldersResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let unit_id = violations.check("unit_id", UnitId::parse(&req.unit_id));
        let role = violations.check("role", role_from_proto(req.role));
        violations.into_result()?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("holders|{}|{}", req.unit_id, req.role),
        )?;
        let (Some(unit_id), Some(role)) = (unit_id, role) else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, caller, &unit_id).await?;
        let positions = self
            .store
            .current_holders(&unit_id, role, self.store.now())
            .await?;
        let (positions, next_page_token) = page.page_of(positions, |p| p.id.to_string());
        Ok(Response::new(pb::ListCurrentHoldersResponse {
            positions: positions.iter().map(position_to_proto).collect(),
            next_page_token,
        }))
    }
}
