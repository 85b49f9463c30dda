//! Micro-wishes (微心愿): collected → verified → published → claimed → fulfilled → confirmed →
//! followed up → closed, one step at a time.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WishState {
    Collected,
    Verified,
    Published,
    Claimed,
    Fulfilled,
    /// The collecting org confirmed the fulfilment: the claimants are credited.
    Confirmed,
    FollowedUp,
    Closed,
}

impl WishState {
    pub const ALL: [WishState; 8] = [
        Self::Collected,
        Self::Verified,
        Self::Published,
        Self::Claimed,
        Self::Fulfilled,
        Self::Confirmed,
        Self::FollowedUp,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Collected => "collected",
            Self::Verified => "verified",
            Self::Published => "published",
            Self::Claimed => "claimed",
            Self::Fulfilled => "fulfilled",
            Self::Confirmed => "confirmed",
            Self::FollowedUp => "followed_up",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The state a wish moves to from this one, when it may move to `to`; or why not.
    pub fn advance(self, to: WishState) -> Result<WishState, String> {
        let next = Self::ALL
            .iter()
            .position(|s| *s == self)
            .and_then(|at| Self::ALL.get(at + 1));
        if next == Some(&to) {
            Ok(to)
        } else {
            Err(format!(
                "a wish that is {} cannot become {}",
                self.as_str().replace('_', " "),
                to.as_str().replace('_', " ")
            ))
        }
    }
}

/// Who claimed a wish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimant {
    Org(String),
    /// A member, with the fellow members named in a group claim and those of them who have
    /// accepted.
    Member {
        member_id: String,
        participants: Vec<String>,
        accepted: Vec<String>,
    },
}

/// A wish's claim spelt out: the claiming org, the claiming member, the named fellow members and
/// those of them who accepted, each empty where it does not apply (no claim yet included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimParts {
    pub org_id: String,
    pub member_id: String,
    pub participants: Vec<String>,
    pub accepted: Vec<String>,
}

impl ClaimParts {
    pub fn of(claim: Option<&Claimant>) -> Self {
        match claim {
            Some(Claimant::Org(org)) => Self {
                org_id: org.clone(),
                ..Self::default()
            },
            Some(Claimant::Member {
                member_id,
                participants,
                accepted,
            }) => Self {
                member_id: member_id.clone(),
                participants: participants.clone(),
                accepted: accepted.clone(),
                ..Self::default()
            },
            None => Self::default(),
        }
    }
}

impl Claimant {
    /// The members whom a confirmed fulfilment credits: the claiming member and the fellow
    /// members who accepted, each once.
    pub fn credited(&self) -> Vec<String> {
        match self {
            Self::Org(_) => Vec::new(),
            Self::Member {
                member_id,
                participants,
                accepted,
            } => {
                let mut members = vec![member_id.clone()];
                for participant in participants {
                    if accepted.contains(participant) && !members.contains(participant) {
                        members.push(participant.clone());
                    }
                }
                members
            }
        }
    }

    /// Whether `member` is among the claimants: the claiming member or a named fellow.
    pub fn names(&self, member: &str) -> bool {
        match self {
            Self::Org(_) => false,
            Self::Member {
                member_id,
                participants,
                ..
            } => member_id == member || participants.iter().any(|p| p == member),
        }
    }

    /// The claim after the named fellow `member` accepts (`true`) or declines and leaves it;
    /// `None` when `member` is not named in it.
    pub fn answered_by(&self, member: &str, accept: bool) -> Option<Self> {
        let Self::Member {
            member_id,
            participants,
            accepted,
        } = self
        else {
            return None;
        };
        if !participants.iter().any(|p| p == member) {
            return None;
        }
        let mut participants = participants.clone();
        let mut accepted: Vec<String> = accepted.iter().filter(|a| *a != member).cloned().collect();
        if accept {
            accepted.push(member.to_owned());
        } else {
            participants.retain(|p| p != member);
        }
        Some(Self::Member {
            member_id: member_id.clone(),
            participants,
            accepted,
        })
    }
}

/// A micro-wish: the resident's details sealed (to reveal) and masked (to show), where it
/// stands, and who claimed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wish {
    pub id: String,
    pub title: String,
    pub description: String,
    pub beneficiary_sealed: String,
    pub beneficiary_masked: String,
    pub phone_sealed: Option<String>,
    pub phone_masked: String,
    pub org_id: String,
    pub org_path: String,
    pub state: WishState,
    pub claimant: Option<Claimant>,
    pub evidence: Vec<String>,
    pub follow_up_note: String,
    pub claim_by: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub fulfilled_at: Option<i64>,
    pub confirmed_at: Option<i64>,
}

impl Wish {
    /// Still unclaimed after its date, at `now`.
    pub fn is_unclaimed_past_date(&self, now: i64) -> bool {
        self.claimant.is_none() && self.claim_by.is_some_and(|by| by < now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wish_moves_one_step_at_a_time() {
        assert_eq!(
            WishState::Published.advance(WishState::Claimed),
            Ok(WishState::Claimed)
        );
        assert_eq!(
            WishState::Collected.advance(WishState::Claimed),
            Err("a wish that is collected cannot become claimed".into())
        );
        assert!(WishState::Closed.advance(WishState::Collected).is_err());
    }

    #[test]
    fn only_fellows_who_accept_are_credited() {
        let group = Claimant::Member {
            member_id: "a".into(),
            participants: vec!["b".into(), "c".into()],
            accepted: Vec::new(),
        };
        assert_eq!(group.credited(), ["a"]);
        assert!(group.names("c") && !group.names("d"));
        let b_accepts = group.answered_by("b", true).expect("b is named");
        assert_eq!(b_accepts.credited(), ["a", "b"]);
        assert_eq!(b_accepts.answered_by("b", true), Some(b_accepts.clone()));
        let c_declines = b_accepts.answered_by("c", false).expect("c is named");
        assert!(!c_declines.names("c"));
        assert_eq!(c_declines.credited(), ["a", "b"]);
        assert_eq!(group.answered_by("d", true), None);
        assert_eq!(Claimant::Org("o".into()).answered_by("a", true), None);
    }
}
