//! `jiceng.org.v1.AllianceService`: regional platforms joining units and outside organisations.

use jiceng_auth::{Caller, caller};
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
use jiceng_proto::org::{self as pb, alliance_service_server::AllianceService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::{ADMINS, millis_of, mutation, visible_unit};
use crate::proto::alliances::{alliance_to_proto, kind_from_proto, member_to_proto};
use crate::{
    domain::{
        RequestId, UnitId,
        alliances::{Alliance, AllianceMemberRef, CreditCode},
        text,
    },
    store::OrgStore,
};

#[derive(Clone, Debug)]
pub struct AllianceApi {
    store: OrgStore,
}

impl AllianceApi {
    pub fn new(store: OrgStore) -> Self {
        Self { store }
    }

    /// The lead unit's admins manage an alliance.
    async fn require_lead_admin(&self, caller: &Caller, alliance: &Alliance) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        visible_unit(&self.store, caller, &alliance.lead_unit_id)
            .await
            .map(drop)
    }
}

#[tonic::async_trait]
impl AllianceService for AllianceApi {
    async fn create_alliance(
        &self,
        request: Request<pb::CreateAllianceRequest>,
    ) -> Result<Response<pb::Alliance>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let name = violations.check("name", text::name(&req.name));
        let kind = violations.check("kind", kind_from_proto(req.kind));
        let lead = violations.check("lead_unit_id", UnitId::parse(&req.lead_unit_id));
        let description = violations.check("description", text::prose(&req.description));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(name), Some(kind), Some(lead), Some(description)) =
            (name, kind, lead, description)
        else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, &caller, &lead).await?;
        let alliance = self
            .store
            .create_alliance(
                &mutation(&caller, request_id),
                &name,
                kind,
                &lead,
                &description,
            )
            .await?;
        Ok(Response::new(alliance_to_proto(&alliance)))
    }

    async fn get_alliance(
        &self,
        request: Request<pb::GetAllianceRequest>,
    ) -> Result<Response<pb::Alliance>, Status> {
        // Alliances join units across the tree: any caller in the district may read one.
        caller(&request)?;
        let id = text::foreign_id(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let alliance = self.store.alliance(&id).await?;
        Ok(Response::new(alliance_to_proto(&alliance)))
    }

    async fn list_alliances(
        &self,
        request: Request<pb::ListAlliancesRequest>,
    ) -> Result<Response<pb::ListAlliancesResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let unit_id = UnitId::parse(&req.unit_id).map_err(|e| invalid_field("unit_id", e))?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("alliances|{}", req.unit_id),
        )?;
        visible_unit(&self.store, caller, &unit_id).await?;
        let alliances = self.store.alliances_of(&unit_id).await?;
        let (alliances, next_page_token) = page.page_of(alliances, |a| a.id.to_string());
        Ok(Response::new(pb::ListAlliancesResponse {
            alliances: alliances.iter().map(alliance_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn add_alliance_member(
        &self,
        request: Request<pb::AddAllianceMemberRequest>,
    ) -> Result<Response<pb::AllianceMember>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let alliance_id = violations.check("alliance_id", text::foreign_id(&req.alliance_id));
        let member = match &req.member {
            Some(pb::add_alliance_member_request::Member::UnitId(id)) => violations
                .check("unit_id", UnitId::parse(id))
                .map(AllianceMemberRef::Unit),
            Some(pb::add_alliance_member_request::Member::Organisation(org)) => {
                let name = violations.check("organisation.name", text::name(&org.name));
                let code = violations.check(
                    "organisation.credit_code",
                    CreditCode::parse(&org.credit_code),
                );
                name.zip(code)
                    .map(|(name, credit_code)| AllianceMemberRef::Organisation {
                        name,
                        credit_code,
                    })
            }
            None => {
                violations.add("member", "name a unit_id or an organisation");
                None
            }
        };
        let joined_at = violations
            .check("join_time", millis_of(req.join_time.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(alliance_id), Some(member), Some(joined_at)) = (alliance_id, member, joined_at)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let alliance = self.store.alliance(&alliance_id).await?;
        self.require_lead_admin(&caller, &alliance).await?;
        let member = self
            .store
            .join_alliance(
                &mutation(&caller, request_id),
                &alliance_id,
                &member,
                joined_at,
            )
            .await?;
        Ok(Response::new(member_to_proto(&member)))
    }

    async fn remove_alliance_member(
        &self,
        request: Request<pb::RemoveAllianceMemberRequest>,
    ) -> Result<Response<pb::AllianceMember>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", text::foreign_id(&req.id));
        let left_at = violations
            .check("leave_time", millis_of(req.leave_time.as_ref()))
            .map(|t| t.unwrap_or_else(|| self.store.now()));
        let reason = violations.check("reason", Text::optional_label(200).check(&req.reason));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(left_at), Some(reason)) = (id, left_at, reason) else {
            return Err(Status::internal("validation fell through"));
        };
        let member = self.store.alliance_member(&id).await?;
        let alliance = self.store.alliance(&member.alliance_id).await?;
        self.require_lead_admin(&caller, &alliance).await?;
        let member = self
            .store
            .leave_alliance(&mutation(&caller, request_id), &id, left_at, &reason)
            .await?;
        Ok(Response::new(member_to_proto(&member)))
    }

    async fn list_alliance_members(
        &self,
        request: Request<pb::ListAllianceMembersRequest>,
    ) -> Result<Response<pb::ListAllianceMembersResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let id = text::foreign_id(&req.alliance_id).map_err(|e| invalid_field("alliance_id", e))?;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("alliance-members|{}|{}", req.alliance_id, req.include_past),
        )?;
        self.store.alliance(&id).await?;
        let members = self.store.alliance_members(&id, req.include_past).await?;
        let (members, next_page_token) = page.page_of(members, |m| m.id.to_string());
        Ok(Response::new(pb::ListAllianceMembersResponse {
            members: members.iter().map(member_to_proto).collect(),
            next_page_token,
        }))
    }
}
