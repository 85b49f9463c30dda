//! Regional party-building platforms (区域化党建): alliances of units and outside organisations.

use super::{UnitId, positions::string_enum};

string_enum! {
    AllianceKind {
        StreetBlock => "street_block",
        Building => "building",
        ServiceCentreNetwork => "service_centre_network",
        PromotionAssociation => "promotion_association",
    }
}

pub use jiceng_values::CreditCode;

/// A member of an alliance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllianceMemberRef {
    Unit(UnitId),
    Organisation {
        name: String,
        credit_code: CreditCode,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alliance {
    pub id: String,
    pub name: String,
    pub kind: AllianceKind,
    pub lead_unit_id: UnitId,
    pub description: String,
    pub current_member_count: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllianceMember {
    pub id: String,
    pub alliance_id: String,
    pub member: AllianceMemberRef,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub leave_reason: Option<String>,
}
