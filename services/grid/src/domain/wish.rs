//! Micro-wishes (微心愿): collected → verified → published → claimed → fulfilled → followed up →
//! closed, one step at a time.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WishState {
    Collected,
    Verified,
    Published,
    Claimed,
    Fulfilled,
    FollowedUp,
    Closed,
}

impl WishState {
    pub const ALL: [WishState; 7] = [
        Self::Collected,
        Self::Verified,
        Self::Published,
        Self::Claimed,
        Self::Fulfilled,
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
    /// A member, with the fellow members of a group claim.
    Member {
        member_id: String,
        participants: Vec<String>,
    },
}

impl Claimant {
    /// The members whom fulfilling the wish credits.
    pub fn members(&self) -> Vec<String> {
        match self {
            Self::Org(_) => Vec::new(),
            Self::Member {
                member_id,
                participants,
            } => {
                let mut members = vec![member_id.clone()];
                for participant in participants {
                    if !members.contains(participant) {
                        members.push(participant.clone());
                    }
                }
                members
            }
        }
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
        let group = Claimant::Member {
            member_id: "a".into(),
            participants: vec!["b".into(), "a".into()],
        };
        assert_eq!(group.members(), ["a", "b"]);
    }
}
