//! Conversions of the wish messages.

use jiceng_grpc::timestamp;
use jiceng_proto::grid as pb;

use super::to_proto;
use crate::domain::wish::{ClaimParts, Wish, WishState};

const WISH_STATES: &[(pb::WishState, WishState)] = &[
    (pb::WishState::Collected, WishState::Collected),
    (pb::WishState::Verified, WishState::Verified),
    (pb::WishState::Published, WishState::Published),
    (pb::WishState::Claimed, WishState::Claimed),
    (pb::WishState::Fulfilled, WishState::Fulfilled),
    (pb::WishState::Confirmed, WishState::Confirmed),
    (pb::WishState::FollowedUp, WishState::FollowedUp),
    (pb::WishState::Closed, WishState::Closed),
];

/// A wish as the district sees it: the resident's details masked.
pub(crate) fn masked_wish_to_proto(wish: &Wish) -> pb::Wish {
    let claim = ClaimParts::of(wish.claimant.as_ref());
    pb::Wish {
        id: wish.id.clone(),
        title: wish.title.clone(),
        description: wish.description.clone(),
        beneficiary_name: wish.beneficiary_masked.clone(),
        beneficiary_phone: wish.phone_masked.clone(),
        org_id: wish.org_id.clone(),
        state: to_proto(WISH_STATES, wish.state, pb::WishState::Unspecified) as i32,
        claimant_org_id: claim.org_id,
        claimant_member_id: claim.member_id,
        participant_member_ids: claim.participants,
        accepted_member_ids: claim.accepted,
        evidence_urls: wish.evidence.clone(),
        follow_up_note: wish.follow_up_note.clone(),
        claim_by_time: wish.claim_by.map(timestamp),
        unclaimed_past_date: false,
        create_time: Some(timestamp(wish.created_at)),
        update_time: Some(timestamp(wish.updated_at)),
        fulfil_time: wish.fulfilled_at.map(timestamp),
        confirm_time: wish.confirmed_at.map(timestamp),
    }
}
