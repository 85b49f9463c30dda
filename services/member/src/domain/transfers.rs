//! Transfers of a member's organisational relation to another org, which that org's admins
//! accept or reject.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    Pending,
    Accepted,
    Rejected,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Why a member may not be transferred to a unit: only an active unit has admins to accept
/// them, so a dissolved one refuses. `None`: the unit may receive.
pub fn receiver_refuses(receiver_active: bool) -> Option<&'static str> {
    (!receiver_active).then_some("the receiving org is dissolved")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: String,
    pub member_id: String,
    pub from_org_id: String,
    pub to_org_id: String,
    pub state: TransferState,
    pub reason: String,
    pub decision_note: String,
    pub requested_by: String,
    pub decided_by: String,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_unit_receives_members() {
        assert_eq!(receiver_refuses(true), None);
        assert!(receiver_refuses(false).is_some());
    }
}
