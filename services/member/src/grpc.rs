//! `jiceng.member.v1.MemberService`: authorisation, request validation and error mapping; the
//! conversions of its messages are in `crate::proto`.
//! Personal numbers are sealed before they reach the store and opened only to reveal them.

mod events;

pub use events::CONSUMED as CONSUMED_EVENTS;
pub(crate) mod points;

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{
    FieldViolations, PageRequest,
    status::{failed_precondition, invalid_field},
};
use jiceng_org_client::OrgDirectory;
use jiceng_proto::member::{self as pb, member_service_server::MemberService};
use jiceng_proto::org::{UnitKind, UnitStatus};
use jiceng_values::{RequestId, Text};
use tonic::{Request, Response, Status};

use crate::{
    PiiVault,
    domain::{Date, IdCard, Member, MemberStatus, Phone, transfers::receiver_refuses},
    proto::{
        activity_kind_from_proto, activity_to_proto, change_to_proto, commitment_to_proto,
        gender_from_proto, masked_member_to_proto, registration_to_proto, status_from_proto,
        transfer_to_proto,
    },
    store::{MemberStore, NewMember, StoreError, activities::NewActivity},
};

const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

#[derive(Clone, Debug)]
pub struct MemberApi {
    pub(crate) store: MemberStore,
    vault: PiiVault,
    pub(crate) org: OrgDirectory,
}

impl MemberApi {
    pub fn new(store: MemberStore, vault: PiiVault, org: OrgDirectory) -> Self {
        Self { store, vault, org }
    }

    /// Admins (and services) whose scope covers the member's org.
    pub(crate) async fn administers(&self, caller: &Caller, member: &Member) -> bool {
        caller.has_any(&[
            Role::DistrictAdmin,
            Role::StreetAdmin,
            Role::BranchAdmin,
            Role::Service,
        ]) && self
            .org
            .scopes()
            .check(caller, &member.org_id)
            .await
            .is_ok()
    }

    /// The member themself, or an admin of their org; others learn nothing, not even existence.
    pub(crate) async fn readable(&self, caller: &Caller, id: &str) -> Result<Member, Status> {
        let member = self.store.get(id).await?;
        if member.id == caller.subject || self.administers(caller, &member).await {
            Ok(member)
        } else {
            Err(Status::not_found(format!("member {id} not found")))
        }
    }

    /// The member themself, or an admin of their org: services read members but act for none.
    pub(crate) async fn acts_for(&self, caller: &Caller, id: &str) -> Result<Member, Status> {
        let member = self.readable(caller, id).await?;
        if member.id == caller.subject || caller.has_any(ADMINS) {
            Ok(member)
        } else {
            Err(Status::permission_denied(
                "only the member or an admin of their org does this",
            ))
        }
    }

    fn to_proto(&self, member: &Member, reveal: bool) -> Result<pb::Member, Status> {
        let mut proto = masked_member_to_proto(member);
        if reveal {
            let open = |sealed: &Option<String>| -> Result<String, Status> {
                sealed
                    .as_deref()
                    .map(|sealed| {
                        self.vault
                            .open(sealed)
                            .map_err(|_| Status::internal("personal data cannot be opened"))
                    })
                    .transpose()
                    .map(Option::unwrap_or_default)
            };
            proto.phone = open(&member.phone_sealed)?;
            proto.id_card_number = open(&member.id_card_sealed)?;
        }
        Ok(proto)
    }
}

fn optional<T>(
    violations: &mut FieldViolations,
    field: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, &'static str>,
) -> Option<T> {
    if text.is_empty() {
        None
    } else {
        violations.check(field, parse(text))
    }
}

#[tonic::async_trait]
impl MemberService for MemberApi {
    async fn create_member(
        &self,
        request: Request<pb::CreateMemberRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let name = violations
            .check("name", Text::label(50).check(&req.name))
            .unwrap_or_default();
        let gender = violations
            .check("gender", gender_from_proto(req.gender))
            .flatten();
        let birth_date = optional(&mut violations, "birth_date", &req.birth_date, Date::parse);
        let join_date = optional(&mut violations, "join_date", &req.join_date, Date::parse);
        let phone = optional(&mut violations, "phone", &req.phone, Phone::parse);
        let id_card = optional(
            &mut violations,
            "id_card_number",
            &req.id_card_number,
            IdCard::parse,
        );
        let status = if req.status == 0 {
            Some(MemberStatus::Applicant)
        } else {
            violations.check("status", status_from_proto(req.status))
        };
        if status.is_some_and(MemberStatus::is_final) {
            violations.add(
                "status",
                "a new member cannot start transferred out, deceased or removed",
            );
        }
        if uuid::Uuid::try_parse(&req.org_id).is_err() {
            violations.add("org_id", "must be a unit id");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(status) = status else {
            return Err(Status::internal("validation fell through"));
        };
        self.org.scopes().check(&caller, &req.org_id).await?;
        let actor = caller.subject.as_str();
        let new = NewMember {
            name,
            gender,
            birth_date,
            phone: phone.map(|p| (self.vault.seal(p.expose()), p.masked())),
            id_card: id_card.map(|id| {
                (
                    self.vault.seal(id.expose()),
                    id.masked(),
                    self.vault.index(id.expose()),
                )
            }),
            join_date,
            status,
            org_path: self.org.path_of(&req.org_id).await?,
            org_id: req.org_id,
        };
        let request_id = request_id.as_ref().map(RequestId::as_str);
        let member = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move { self.store.create(actor, request_id, &new).await },
            )
            .await??;
        Ok(Response::new(self.to_proto(&member, false)?))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let reason = jiceng_pii_audit::reason_of(req.reveal_personal_data, &req.reveal_reason)?;
        let member = self.readable(caller, &req.id).await?;
        let Some(reason) = reason else {
            return Ok(Response::new(self.to_proto(&member, false)?));
        };
        if !self.administers(caller, &member).await {
            return Err(Status::permission_denied(
                "only admins of the member's org see personal data in clear",
            ));
        }
        // Read again with the record of who looked, why: no record, no reveal.
        let reveal = jiceng_pii_audit::Reveal {
            actor: &caller.subject,
            subject_kind: jiceng_pii_audit::PERSON,
            subject_id: &member.id,
            record: format!("members/{}", member.id),
            fields: &["phone", "id_card_number"],
            reason: &reason,
        };
        let member = self
            .store
            .reveal(&member.id, &reveal, self.store.now())
            .await?;
        Ok(Response::new(self.to_proto(&member, true)?))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_any(&[
            Role::DistrictAdmin,
            Role::StreetAdmin,
            Role::BranchAdmin,
            Role::Service,
        ])?;
        let req = request.get_ref();
        if uuid::Uuid::try_parse(&req.org_id).is_err() {
            return Err(invalid_field("org_id", "must be a unit id"));
        }
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("members|{}", req.org_id),
        )?;
        self.org.scopes().check(caller, &req.org_id).await?;
        let after = page
            .after
            .as_deref()
            .map(|c| c.split_once('\u{1f}').unwrap_or((c, "")));
        let mut members = self
            .store
            .list(&req.org_id, after, page.fetch_limit())
            .await?;
        let next_page_token = page.finish(&mut members, |m| format!("{}\u{1f}{}", m.name, m.id));
        let members = members
            .iter()
            .map(|m| self.to_proto(m, false))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListMembersResponse {
            members,
            next_page_token,
        }))
    }

    async fn list_personal_data_reveals(
        &self,
        request: Request<jiceng_proto::audit::ListPersonalDataRevealsRequest>,
    ) -> Result<Response<jiceng_proto::audit::ListPersonalDataRevealsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let listed = jiceng_pii_audit::list_reveals(
            self.store.database(),
            self.org.scopes(),
            &caller,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(listed))
    }

    async fn find_member_by_id_card(
        &self,
        request: Request<pb::FindMemberByIdCardRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = caller(&request)?;
        caller.require_any(&[
            Role::DistrictAdmin,
            Role::StreetAdmin,
            Role::BranchAdmin,
            Role::Service,
        ])?;
        let id_card = IdCard::parse(&request.get_ref().id_card_number)
            .map_err(|e| invalid_field("id_card_number", e))?;
        let member = self
            .store
            .find_by_id_card(&self.vault.index(id_card.expose()))
            .await?;
        if !self.administers(caller, &member).await {
            return Err(Status::not_found(
                "no member with that ID-card number in the caller's scope",
            ));
        }
        Ok(Response::new(self.to_proto(&member, false)?))
    }

    async fn change_member_status(
        &self,
        request: Request<pb::ChangeMemberStatusRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let to = violations.check("status", status_from_proto(req.status));
        let date = violations.check("effective_date", Date::parse(&req.effective_date));
        if uuid::Uuid::try_parse(&req.approving_org_id).is_err() {
            violations.add("approving_org_id", "must be a unit id");
        }
        let note = violations
            .check("note", Text::prose(2_000).check(&req.note))
            .unwrap_or_default();
        let etag = violations
            .check("etag", jiceng_grpc::version_of(&req.etag))
            .flatten();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(to), Some(date)) = (to, date) else {
            return Err(Status::internal("validation fell through"));
        };
        let member = self.readable(&caller, &req.id).await?;
        if !self.administers(&caller, &member).await {
            return Err(Status::permission_denied(
                "only admins of the member's org change their status",
            ));
        }
        let member = self
            .store
            .change_status(
                (
                    caller.subject.as_str(),
                    request_id.as_ref().map(RequestId::as_str),
                ),
                &req.id,
                to,
                date,
                &req.approving_org_id,
                &note,
                etag,
            )
            .await?;
        Ok(Response::new(self.to_proto(&member, false)?))
    }

    async fn list_status_history(
        &self,
        request: Request<pb::ListStatusHistoryRequest>,
    ) -> Result<Response<pb::ListStatusHistoryResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("status-history|{}", req.id),
        )?;
        let member = self.readable(caller, &req.id).await?;
        let changes = self.store.history(&member.id).await?;
        // A member's history only grows: a change's place in it is its key.
        let numbered: Vec<_> = changes.iter().enumerate().collect();
        let (changes, next_page_token) = page.page_of(numbered, |(index, _)| index.to_string());
        Ok(Response::new(pb::ListStatusHistoryResponse {
            changes: changes
                .into_iter()
                .map(|(_, change)| change_to_proto(change))
                .collect(),
            next_page_token,
        }))
    }

    async fn register_in_community(
        &self,
        request: Request<pb::RegisterInCommunityRequest>,
    ) -> Result<Response<pb::CommunityRegistration>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        if uuid::Uuid::try_parse(&req.community_org_id).is_err() {
            return Err(invalid_field("community_org_id", "must be a unit id"));
        }
        let member = self.acts_for(&caller, &req.member_id).await?;
        let community = self.org.unit(&req.community_org_id).await?;
        let is_community = [
            UnitKind::ResidentialCommittee as i32,
            UnitKind::VillageCommittee as i32,
        ]
        .contains(&community.kind);
        if !is_community || community.status != UnitStatus::Active as i32 {
            return Err(failed_precondition(
                "COMMUNITY",
                &format!("units/{}", req.community_org_id),
                "members register with an active residential or village committee",
            ));
        }
        let registration = self
            .store
            .register_in_community(&member.id, &req.community_org_id)
            .await?;
        Ok(Response::new(registration_to_proto(&registration)))
    }

    async fn list_community_registrations(
        &self,
        request: Request<pb::ListCommunityRegistrationsRequest>,
    ) -> Result<Response<pb::ListCommunityRegistrationsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_any(ADMINS)?;
        let req = request.get_ref();
        let community = &req.community_org_id;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("registrations|{community}"),
        )?;
        self.org.scopes().check(caller, community).await?;
        let registrations = self.store.community_registrations(community).await?;
        let (registrations, next_page_token) = page.page_of(registrations, |r| r.id.to_string());
        Ok(Response::new(pb::ListCommunityRegistrationsResponse {
            registrations: registrations.iter().map(registration_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn log_service_hours(
        &self,
        request: Request<pb::LogServiceHoursRequest>,
    ) -> Result<Response<pb::CommunityRegistration>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        if !(1..=720).contains(&req.minutes) {
            violations.add("minutes", "must be 1 to 720");
        }
        let date = violations.check("service_date", Date::parse(&req.service_date));
        let description = violations
            .check("description", Text::prose(500).check(&req.description))
            .unwrap_or_default();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(date) = date else {
            return Err(Status::internal("validation fell through"));
        };
        let registration = self.store.registration(&req.registration_id).await?;
        // The community confirms the service it received.
        self.org
            .scopes()
            .check(&caller, &registration.community_org_id)
            .await?;
        let registration = self
            .store
            .log_service(
                &caller.subject,
                request_id.as_ref().map(RequestId::as_str),
                &registration.id,
                req.minutes,
                &date.to_string(),
                &description,
            )
            .await?;
        Ok(Response::new(registration_to_proto(&registration)))
    }

    async fn publish_commitment(
        &self,
        request: Request<pb::PublishCommitmentRequest>,
    ) -> Result<Response<pb::Commitment>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let text = violations
            .check("text", Text::required_prose(1_000).check(&req.text))
            .unwrap_or_default();
        let due = violations.check("due_date", Date::parse(&req.due_date));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(due) = due else {
            return Err(Status::internal("validation fell through"));
        };
        let member = self.acts_for(&caller, &req.member_id).await?;
        let commitment = self
            .store
            .publish_commitment(
                &caller.subject,
                request_id.as_ref().map(RequestId::as_str),
                &member.id,
                &text,
                &due.to_string(),
            )
            .await?;
        Ok(Response::new(commitment_to_proto(&commitment)))
    }

    async fn fulfil_commitment(
        &self,
        request: Request<pb::FulfilCommitmentRequest>,
    ) -> Result<Response<pb::Commitment>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        // A fulfilled pledge shows its evidence.
        let evidence = Text::required_prose(1_000)
            .check(&req.evidence)
            .map_err(|e| invalid_field("evidence", e))?;
        let request_id = RequestId::parse_optional(&req.request_id)
            .map_err(|e| invalid_field("request_id", e))?;
        let commitment = self.store.commitment(&req.id).await?;
        if commitment.member_id != caller.subject {
            return Err(Status::permission_denied(
                "members fulfil their own pledges",
            ));
        }
        let by = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let commitment = self.store.fulfil_commitment(&req.id, &evidence, by).await?;
        Ok(Response::new(commitment_to_proto(&commitment)))
    }

    async fn confirm_commitment(
        &self,
        request: Request<pb::ConfirmCommitmentRequest>,
    ) -> Result<Response<pb::Commitment>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let request_id = RequestId::parse_optional(&req.request_id)
            .map_err(|e| invalid_field("request_id", e))?;
        let commitment = self.store.commitment(&req.id).await?;
        let member = self.store.get(&commitment.member_id).await?;
        if !self.administers(&caller, &member).await {
            return Err(Status::permission_denied(
                "the member's branch confirms their pledges",
            ));
        }
        let commitment = self
            .store
            .confirm_commitment(
                &req.id,
                req.confirm,
                req.note.trim(),
                (
                    caller.subject.as_str(),
                    request_id.as_ref().map(RequestId::as_str),
                ),
            )
            .await?;
        Ok(Response::new(commitment_to_proto(&commitment)))
    }

    async fn list_overdue_commitments(
        &self,
        request: Request<pb::ListOverdueCommitmentsRequest>,
    ) -> Result<Response<pb::ListOverdueCommitmentsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_any(ADMINS)?;
        let req = request.get_ref();
        let org_id = &req.org_id;
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("overdue-commitments|{org_id}"),
        )?;
        self.org.scopes().check(caller, org_id).await?;
        let today = crate::domain::points::periods(self.store.now()).2;
        let commitments = self.store.overdue_commitments(org_id, &today).await?;
        let (commitments, next_page_token) = page.page_of(commitments, |c| c.id.to_string());
        Ok(Response::new(pb::ListOverdueCommitmentsResponse {
            commitments: commitments.iter().map(commitment_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn record_activity(
        &self,
        request: Request<pb::RecordActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let kind = violations.check("kind", activity_kind_from_proto(req.kind));
        let title = violations
            .check("title", Text::label(100).check(&req.title))
            .unwrap_or_default();
        let held_on = violations.check("held_on", Date::parse(&req.held_on));
        if uuid::Uuid::try_parse(&req.org_id).is_err() {
            violations.add("org_id", "must be a unit id");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(kind), Some(held_on)) = (kind, held_on) else {
            return Err(Status::internal("validation fell through"));
        };
        self.org.scopes().check(&caller, &req.org_id).await?;
        // Attendance is credited, so every attendee must be a member the recording admin
        // administers. An unknown id and one outside the scope are refused alike, so that the
        // answer does not tell which ids exist elsewhere.
        let mut outside = FieldViolations::new();
        for (index, id) in req.attendee_member_ids.iter().enumerate() {
            let administered = match self.store.get(id).await {
                Ok(member) => self.administers(&caller, &member).await,
                Err(StoreError::NotFound { .. }) => false,
                Err(err) => return Err(Status::from(err)),
            };
            if !administered {
                outside.add(
                    format!("attendee_member_ids[{index}]"),
                    "is not a member within the caller's scope",
                );
            }
        }
        outside.into_result()?;
        let new = NewActivity {
            kind,
            title,
            org_id: req.org_id,
            held_on: held_on.to_string(),
            attendees: req.attendee_member_ids,
            booking_id: None,
            request: request_id.map(|id| (caller.subject.clone(), id.as_str().to_owned())),
        };
        let (activity, _) = self.store.record_activity(&new).await?;
        Ok(Response::new(activity_to_proto(&activity)))
    }

    async fn list_member_activities(
        &self,
        request: Request<pb::ListMemberActivitiesRequest>,
    ) -> Result<Response<pb::ListMemberActivitiesResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("activities|{}", req.member_id),
        )?;
        let member = self.readable(caller, &req.member_id).await?;
        let activities = self.store.activities_of(&member.id).await?;
        let (activities, next_page_token) = page.page_of(activities, |a| a.id.to_string());
        Ok(Response::new(pb::ListMemberActivitiesResponse {
            activities: activities.iter().map(activity_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn request_transfer(
        &self,
        request: Request<pb::RequestTransferRequest>,
    ) -> Result<Response<pb::Transfer>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        if uuid::Uuid::try_parse(&req.to_org_id).is_err() {
            violations.add("to_org_id", "must be a unit id");
        }
        let reason = violations
            .check("reason", Text::prose(500).check(&req.reason))
            .unwrap_or_default();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let member = self.readable(&caller, &req.member_id).await?;
        if !self.administers(&caller, &member).await {
            return Err(Status::permission_denied(
                "only admins of the holding org transfer a member out",
            ));
        }
        // The receiving org must exist and may refuse; its admins accept or reject.
        let target = self.org.unit(&req.to_org_id).await?;
        if let Some(refusal) = receiver_refuses(target.status == UnitStatus::Active as i32) {
            return Err(failed_precondition(
                "DISSOLVED",
                &format!("units/{}", req.to_org_id),
                refusal,
            ));
        }
        let transfer = self
            .store
            .request_transfer(
                (
                    caller.subject.as_str(),
                    request_id.as_ref().map(RequestId::as_str),
                ),
                &member.id,
                &req.to_org_id,
                &reason,
            )
            .await?;
        Ok(Response::new(transfer_to_proto(&transfer)))
    }

    async fn decide_transfer(
        &self,
        request: Request<pb::DecideTransferRequest>,
    ) -> Result<Response<pb::Transfer>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let request_id = RequestId::parse_optional(&req.request_id)
            .map_err(|e| invalid_field("request_id", e))?;
        let transfer = self.store.transfer(&req.id).await?;
        self.org
            .scopes()
            .check(&caller, &transfer.to_org_id)
            .await?;
        let to_path = self.org.path_of(&transfer.to_org_id).await?;
        let (by, id, accept, note) = (
            (
                caller.subject.as_str(),
                request_id.as_ref().map(RequestId::as_str),
            ),
            req.id.as_str(),
            req.accept,
            req.note.trim(),
        );
        if req.accept {
            let target = self.org.unit(&transfer.to_org_id).await?;
            if target.status != UnitStatus::Active as i32 {
                return Err(failed_precondition(
                    "DISSOLVED",
                    &format!("units/{}", transfer.to_org_id),
                    "the receiving org was dissolved",
                ));
            }
        }
        let transfer = self
            .org
            .write_at_path(
                to_path,
                |path| path,
                |to_path| async move {
                    self.store
                        .decide_transfer(by, id, accept, note, &to_path)
                        .await
                },
            )
            .await??;
        Ok(Response::new(transfer_to_proto(&transfer)))
    }

    async fn list_transfers(
        &self,
        request: Request<pb::ListTransfersRequest>,
    ) -> Result<Response<pb::ListTransfersResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            format!("transfers|{:?}", req.subject),
        )?;
        let transfers = match &req.subject {
            Some(pb::list_transfers_request::Subject::MemberId(member_id)) => {
                let member = self.readable(caller, member_id).await?;
                self.store.transfers_of(&member.id).await?
            }
            Some(pb::list_transfers_request::Subject::PendingForOrgId(org_id)) => {
                caller.require_any(ADMINS)?;
                self.org.scopes().check(caller, org_id).await?;
                self.store.pending_transfers_to(org_id).await?
            }
            None => {
                return Err(invalid_field(
                    "subject",
                    "name a member_id or a pending_for_org_id",
                ));
            }
        };
        let (transfers, next_page_token) = page.page_of(transfers, |t| t.id.to_string());
        Ok(Response::new(pb::ListTransfersResponse {
            transfers: transfers.iter().map(transfer_to_proto).collect(),
            next_page_token,
        }))
    }
}
