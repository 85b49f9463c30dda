//! `jiceng.grid.v1.WishService`: the collecting org's admins and grid workers collect, verify,
//! publish, follow up and close; any member claims a published wish for themself (naming fellow
//! members who are members of the district, each of whom accepts or declines), or an org's admin
//! for the org; the claimant fulfils it; an admin of the collecting org who is no claimant
//! confirms the fulfilment, and only that credits anyone. Published wishes are open to every
//! caller of the district, with the resident's details masked; the collecting org's admins may
//! reveal them.

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, millis_of, status::invalid_field};
use jiceng_proto::grid::{self as pb, wish_service_server::WishService};
use jiceng_values::{Phone, RequestId, Text, mask_name, mask_phone};
use tonic::{Request, Response, Status};

use super::{GridApi, time_cursor, time_cursor_of, urls};
use crate::{
    domain::wish::{Claimant, Wish, WishState},
    proto::wishes::masked_wish_to_proto,
    store::wishes::{NewWish, WishChange, WishFilter},
};

/// Admins and grid workers of the collecting org.
const COLLECTORS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::GridWorker,
];

impl GridApi {
    fn wish_to_proto(&self, wish: &Wish, reveal: bool) -> Result<pb::Wish, Status> {
        let mut proto = masked_wish_to_proto(wish);
        proto.unclaimed_past_date = wish.is_unclaimed_past_date(self.store.now());
        if reveal {
            let unreadable = |_| Status::internal("personal data cannot be opened");
            proto.beneficiary_name = self
                .vault
                .open(&wish.beneficiary_sealed)
                .map_err(unreadable)?;
            if let Some(sealed) = &wish.phone_sealed {
                proto.beneficiary_phone = self.vault.open(sealed).map_err(unreadable)?;
            }
        }
        Ok(proto)
    }

    /// A wish the caller may see: published (or past it) for anyone; before that, readers of
    /// the collecting org only.
    async fn visible_wish(&self, caller: &Caller, id: &str) -> Result<Wish, Status> {
        let wish = self.store.wish(id).await?;
        let public = !matches!(wish.state, WishState::Collected | WishState::Verified);
        if public || self.require_reader_of(caller, &wish.org_id).await.is_ok() {
            Ok(wish)
        } else {
            Err(Status::not_found(format!("wish {id} not found")))
        }
    }

    /// Refuses, by their place in the request, the fellow members a group claim names who are
    /// not active members of the district: credit goes to members only.
    async fn require_fellow_members(&self, named: &[String]) -> Result<(), Status> {
        if named.is_empty() {
            return Ok(());
        }
        let roll = jiceng_member_client::required(self.members.as_ref(), "wishes", "group claims")?;
        let mut refused = FieldViolations::new();
        for (index, entry) in roll.look_up(named).await?.iter().enumerate() {
            if !entry.as_ref().is_some_and(|member| member.active) {
                refused.add(
                    format!("participant_member_ids[{index}]"),
                    "is not an active member of the district",
                );
            }
        }
        refused.into_result()
    }

    /// A named fellow member of a wish's group claim accepts or declines being part of it.
    async fn answer_claim(
        &self,
        caller: &Caller,
        wish_id: &str,
        request_id: &str,
        accept: bool,
    ) -> Result<Response<pb::Wish>, Status> {
        let key = keyed(caller, request_id)?;
        caller.require_any(&[Role::Member])?;
        let wish = self.visible_wish(caller, wish_id).await?;
        let named = wish
            .claimant
            .as_ref()
            .is_some_and(|claim| claim.answered_by(&caller.subject, accept).is_some());
        if !named {
            return Err(Status::permission_denied(
                "only a fellow member named in the claim answers it",
            ));
        }
        let wish = self
            .store
            .answer_wish_claim(wish_id, &key, accept, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }

    /// Moves a wish the collecting org looks after.
    async fn collector_step(
        &self,
        caller: &Caller,
        id: &str,
        to: WishState,
        change: WishChange,
    ) -> Result<Response<pb::Wish>, Status> {
        let wish = self.visible_wish(caller, id).await?;
        caller.require_any(COLLECTORS)?;
        self.org.scopes().check(caller, &wish.org_id).await?;
        let wish = self
            .store
            .advance_wish(id, to, change, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }
}

/// A step's change, so far only who takes it and their idempotency key (checked): a retry that
/// repeats the key answers with the wish as it now stands.
fn keyed(caller: &Caller, request_id: &str) -> Result<WishChange, Status> {
    Ok(WishChange {
        actor: caller.subject.clone(),
        request_id: RequestId::parse_optional(request_id)
            .map_err(|e| invalid_field("request_id", e))?
            .map(|id| id.as_str().to_owned()),
        ..WishChange::default()
    })
}

#[tonic::async_trait]
impl WishService for GridApi {
    async fn collect_wish(
        &self,
        request: Request<pb::CollectWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let now = self.store.now();
        let mut violations = FieldViolations::new();
        let title = violations.check("title", Text::label(100).check(&req.title));
        let description = violations
            .check("description", Text::prose(1_000).check(&req.description))
            .unwrap_or_default();
        let beneficiary = violations.check(
            "beneficiary_name",
            Text::label(50).check(&req.beneficiary_name),
        );
        let beneficiary_phone = if req.beneficiary_phone.is_empty() {
            None
        } else {
            violations.check(
                "beneficiary_phone",
                Phone::parse(&req.beneficiary_phone).map(Phone::into_inner),
            )
        };
        let claim_by = violations
            .check("claim_by_time", millis_of(req.claim_by_time.as_ref()))
            .flatten();
        if claim_by.is_some_and(|by| by <= now || by > now + super::cases::MAX_HORIZON_MS) {
            violations.add("claim_by_time", "must be within the next year");
        }
        if req.org_id.is_empty() {
            violations.add("org_id", "must name the collecting org");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(title), Some(beneficiary)) = (title, beneficiary) else {
            return Err(Status::internal("validation fell through"));
        };
        caller.require_any(COLLECTORS)?;
        self.org.scopes().check(&caller, &req.org_id).await?;
        let actor = caller.subject.as_str();
        let new = NewWish {
            title,
            description,
            beneficiary_sealed: self.vault.seal(&beneficiary),
            beneficiary_masked: mask_name(&beneficiary),
            phone_sealed: beneficiary_phone.as_deref().map(|p| self.vault.seal(p)),
            phone_masked: beneficiary_phone
                .as_deref()
                .map(mask_phone)
                .unwrap_or_default(),
            org_path: self.path_of(&req.org_id).await?,
            org_id: req.org_id,
            claim_by,
        };
        let request_id = request_id.as_ref().map(RequestId::as_str);
        let wish = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move { self.store.collect_wish(actor, request_id, &new, now).await },
            )
            .await??;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }

    async fn get_wish(
        &self,
        request: Request<pb::GetWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let reason = jiceng_pii_audit::reason_of(req.reveal_beneficiary, &req.reveal_reason)?;
        let wish = self.visible_wish(&caller, &req.id).await?;
        let Some(reason) = reason else {
            return Ok(Response::new(self.wish_to_proto(&wish, false)?));
        };
        self.require_admin_of(&caller, &wish.org_id)
            .await
            .map_err(|_| {
                Status::permission_denied(
                    "only admins of the collecting org see the resident's details",
                )
            })?;
        // Read again with the record of who looked, why: no record, no reveal.
        let reveal = jiceng_pii_audit::Reveal {
            actor: &caller.subject,
            subject_kind: jiceng_pii_audit::WISH_BENEFICIARY,
            subject_id: &wish.id,
            record: format!("wishes/{}", wish.id),
            fields: &["beneficiary_name", "beneficiary_phone"],
            reason: &reason,
        };
        let wish = self
            .store
            .reveal_wish(&wish.id, &reveal, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, true)?))
    }

    async fn list_wishes(
        &self,
        request: Request<pb::ListWishesRequest>,
    ) -> Result<Response<pb::ListWishesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!(
                "wishes|{}|{}|{}",
                req.org_id, req.published, req.unclaimed_past_date
            ),
        )?;
        let now = self.store.now();
        let mut filter = WishFilter {
            unclaimed_at: req.unclaimed_past_date.then_some(now),
            state: req.published.then_some(WishState::Published),
            ..WishFilter::default()
        };
        if req.org_id.is_empty() {
            if !req.published {
                return Err(invalid_field(
                    "org_id",
                    "list an org subtree's wishes, or the published ones",
                ));
            }
        } else {
            self.require_reader_of(&caller, &req.org_id).await?;
            filter.subtree = Some(self.subtree_path(&req.org_id).await?);
        }
        let after = page.after.as_deref().map(time_cursor).transpose()?;
        let mut wishes = self
            .store
            .list_wishes(&filter, after, page.fetch_limit())
            .await?;
        let next_page_token = page.finish(&mut wishes, |w| time_cursor_of(w.created_at, &w.id));
        Ok(Response::new(pb::ListWishesResponse {
            wishes: wishes
                .iter()
                .map(|w| self.wish_to_proto(w, false))
                .collect::<Result<_, _>>()?,
            next_page_token,
        }))
    }

    async fn verify_wish(
        &self,
        request: Request<pb::VerifyWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let change = keyed(&caller, &req.request_id)?;
        self.collector_step(&caller, &req.wish_id, WishState::Verified, change)
            .await
    }

    async fn publish_wish(
        &self,
        request: Request<pb::PublishWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let change = keyed(&caller, &req.request_id)?;
        self.collector_step(&caller, &req.wish_id, WishState::Published, change)
            .await
    }

    async fn claim_wish(
        &self,
        request: Request<pb::ClaimWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut named = std::collections::BTreeSet::new();
        let valid = req.participant_member_ids.len() <= 20
            && req.participant_member_ids.iter().all(|id| {
                !id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_graphic())
                    && *id != caller.subject
                    && named.insert(id.as_str())
            });
        if !valid {
            return Err(invalid_field(
                "participant_member_ids",
                "a group claim names at most 20 other members, each once",
            ));
        }
        let claimant = if req.org_id.is_empty() {
            caller.require_any(&[Role::Member])?;
            Claimant::Member {
                member_id: caller.subject.clone(),
                participants: req.participant_member_ids,
                accepted: Vec::new(),
            }
        } else {
            if !req.participant_member_ids.is_empty() {
                return Err(invalid_field(
                    "participant_member_ids",
                    "an org claims alone; members name their fellow members",
                ));
            }
            self.require_admin_of(&caller, &req.org_id).await?;
            Claimant::Org(req.org_id)
        };
        self.visible_wish(&caller, &req.wish_id).await?;
        if let Claimant::Member { participants, .. } = &claimant {
            self.require_fellow_members(participants).await?;
        }
        let change = WishChange {
            claimant: Some(claimant),
            ..keyed(&caller, &req.request_id)?
        };
        let wish = self
            .store
            .advance_wish(&req.wish_id, WishState::Claimed, change, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }

    async fn fulfil_wish(
        &self,
        request: Request<pb::FulfilWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let evidence = urls(&mut violations, "evidence_urls", &req.evidence_urls);
        if evidence.is_empty() {
            violations.add("evidence_urls", "fulfilment is shown with evidence");
        }
        violations.into_result()?;
        let wish = self.visible_wish(&caller, &req.wish_id).await?;
        match &wish.claimant {
            Some(Claimant::Member { member_id, .. }) if *member_id == caller.subject => {}
            Some(Claimant::Org(org)) if self.require_admin_of(&caller, org).await.is_ok() => {}
            _ => {
                return Err(Status::permission_denied("the claimant fulfils the wish"));
            }
        }
        let change = WishChange {
            evidence,
            ..keyed(&caller, &req.request_id)?
        };
        let wish = self
            .store
            .advance_wish(&req.wish_id, WishState::Fulfilled, change, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }

    async fn accept_wish_claim(
        &self,
        request: Request<pb::AcceptWishClaimRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.answer_claim(&caller, &req.wish_id, &req.request_id, true)
            .await
    }

    async fn decline_wish_claim(
        &self,
        request: Request<pb::DeclineWishClaimRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.answer_claim(&caller, &req.wish_id, &req.request_id, false)
            .await
    }

    async fn confirm_wish_fulfilment(
        &self,
        request: Request<pb::ConfirmWishFulfilmentRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let id = req.wish_id;
        let wish = self.visible_wish(&caller, &id).await?;
        self.require_admin_of(&caller, &wish.org_id)
            .await
            .map_err(|_| {
                Status::permission_denied("an admin of the collecting org confirms a fulfilment")
            })?;
        // Points must be vouched for by someone who does not earn them.
        if wish
            .claimant
            .as_ref()
            .is_some_and(|claim| claim.names(&caller.subject))
        {
            return Err(Status::permission_denied(
                "a claimant cannot confirm their own fulfilment",
            ));
        }
        let change = WishChange {
            confirmed_by: caller.subject.clone(),
            ..keyed(&caller, &req.request_id)?
        };
        let wish = self
            .store
            .advance_wish(&id, WishState::Confirmed, change, self.store.now())
            .await?;
        Ok(Response::new(self.wish_to_proto(&wish, false)?))
    }

    async fn follow_up_wish(
        &self,
        request: Request<pb::FollowUpWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let note = Text::prose(1_000)
            .check(&req.note)
            .map_err(|e| invalid_field("note", e))?;
        if note.is_empty() {
            return Err(invalid_field(
                "note",
                "a follow-up says how the resident is",
            ));
        }
        let change = WishChange {
            note,
            ..keyed(&caller, &req.request_id)?
        };
        self.collector_step(&caller, &req.wish_id, WishState::FollowedUp, change)
            .await
    }

    async fn close_wish(
        &self,
        request: Request<pb::CloseWishRequest>,
    ) -> Result<Response<pb::Wish>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let change = keyed(&caller, &req.request_id)?;
        self.collector_step(&caller, &req.wish_id, WishState::Closed, change)
            .await
    }
}
