//! Appointments of people to roles in org units, with their terms.

use super::{UnitId, text::Person};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// A role in an org unit.
    PositionRole {
        Secretary => "secretary",
        DeputySecretary => "deputy_secretary",
        CommitteeMember => "committee_member",
        PartTimeCommitteeMember => "part_time_committee_member",
        GridLeader => "grid_leader",
    }
}

impl PositionRole {
    /// Roles held by one person at a time.
    pub fn has_one_holder(self) -> bool {
        matches!(self, Self::Secretary | Self::GridLeader)
    }
}

/// Who holds a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A member, by their id in the member service.
    Member(String),
    Person(Person),
}

/// An appointment about to be made, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPosition {
    pub unit_id: UnitId,
    pub role: PositionRole,
    pub holder: Holder,
    pub stationed_unit_name: Option<String>,
    pub term_start: i64,
    pub term_end: Option<i64>,
}

impl NewPosition {
    /// Checks the rules between fields: a part-time committee member names the stationed unit
    /// they come from, and a term ends after it starts.
    pub fn new(
        unit_id: UnitId,
        role: PositionRole,
        holder: Holder,
        stationed_unit_name: Option<String>,
        term_start: i64,
        term_end: Option<i64>,
    ) -> Result<Self, (&'static str, &'static str)> {
        if role == PositionRole::PartTimeCommitteeMember && stationed_unit_name.is_none() {
            return Err((
                "stationed_unit_name",
                "a part-time committee member comes from a stationed unit",
            ));
        }
        if term_end.is_some_and(|end| end <= term_start) {
            return Err(("term_end", "must be after term_start"));
        }
        Ok(Self {
            unit_id,
            role,
            holder,
            stationed_unit_name,
            term_start,
            term_end,
        })
    }
}

/// A term of a person in a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub id: String,
    pub unit_id: UnitId,
    pub role: PositionRole,
    pub holder: Holder,
    pub stationed_unit_name: Option<String>,
    pub term_start: i64,
    pub term_end: Option<i64>,
    pub end_reason: Option<String>,
    pub created_at: i64,
}

impl Position {
    pub fn is_current_at(&self, at: i64) -> bool {
        self.term_start <= at && self.term_end.is_none_or(|end| at < end)
    }

    /// True when this term shares any instant with `[start, end)` (`None`: open-ended).
    pub fn overlaps(&self, start: i64, end: Option<i64>) -> bool {
        let starts_before_other_ends = end.is_none_or(|end| self.term_start < end);
        let ends_after_other_starts = self.term_end.is_none_or(|own_end| start < own_end);
        starts_before_other_ends && ends_after_other_starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(start: i64, end: Option<i64>) -> Position {
        Position {
            id: "p".into(),
            unit_id: UnitId::new_v7(),
            role: PositionRole::Secretary,
            holder: Holder::Member("m".into()),
            stationed_unit_name: None,
            term_start: start,
            term_end: end,
            end_reason: None,
            created_at: 0,
        }
    }

    #[test]
    fn terms_are_half_open() {
        let closed = term(10, Some(20));
        assert!(closed.is_current_at(10) && closed.is_current_at(19) && !closed.is_current_at(20));
        assert!(
            closed.overlaps(19, None)
                && !closed.overlaps(20, None)
                && !closed.overlaps(0, Some(10))
        );
        assert!(term(10, None).overlaps(1_000, Some(2_000)));
    }

    #[test]
    fn part_time_members_name_their_stationed_unit() {
        let person = Holder::Person(Person {
            name: "王某".into(),
            unit_name: "某银行".into(),
        });
        let missing = NewPosition::new(
            UnitId::new_v7(),
            PositionRole::PartTimeCommitteeMember,
            person.clone(),
            None,
            0,
            None,
        );
        assert_eq!(missing.map_err(|e| e.0), Err("stationed_unit_name"));
        let backwards = NewPosition::new(
            UnitId::new_v7(),
            PositionRole::Secretary,
            person,
            None,
            10,
            Some(10),
        );
        assert_eq!(backwards.map_err(|e| e.0), Err("term_end"));
    }

    #[test]
    fn roles_round_trip() {
        for role in PositionRole::ALL {
            assert_eq!(PositionRole::parse(role.as_str()), Some(*role));
        }
    }
}
