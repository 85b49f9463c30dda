//! Dual registration with residential communities, the service logged there, and the
//! commitments members publish.

/// A member's registration with a community other than the org that holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub member_id: String,
    pub community_org_id: String,
    pub registered_at: i64,
    /// Minutes of service logged under this registration, in all.
    pub service_minutes: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitmentState {
    Open,
    Fulfilled,
    Confirmed,
}

impl CommitmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Fulfilled => "fulfilled",
            Self::Confirmed => "confirmed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Fulfilled, Self::Confirmed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub id: String,
    pub member_id: String,
    pub text: String,
    pub due_date: String,
    pub state: CommitmentState,
    pub evidence: String,
    pub confirmation_note: String,
    pub published_at: i64,
}
