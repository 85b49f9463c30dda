//! The lists of 清单制 and their two-way claiming: needs posted by communities, resources offered
//! by units and members, and the projects that match one need with one resource.

/// Generates a state enum with its stored names.
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|s| s.as_str() == text)
            }
        }
    };
}

stored_enum!(
    /// Where a need stands.
    NeedState {
        Open => "open",
        /// An active project is meeting it.
        Matched => "matched",
        Met => "met",
        Withdrawn => "withdrawn",
    }
);

stored_enum!(
    /// Where a resource stands.
    ResourceState {
        Available => "available",
        /// Committed to an active project.
        Matched => "matched",
        Withdrawn => "withdrawn",
    }
);

stored_enum!(
    /// Where a project stands.
    ProjectState {
        /// One side proposed it; the other has yet to answer.
        Proposed => "proposed",
        Declined => "declined",
        Active => "active",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

stored_enum!(
    /// The two sides of a match.
    Side {
        /// The community with the need.
        Need => "need",
        /// The provider of the resource.
        Resource => "resource",
    }
);

/// Who offers a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    Org(String),
    Member(String),
}

/// A need posted by a community, under its org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub id: String,
    pub org_id: String,
    pub org_path: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub state: NeedState,
    pub posted_by: String,
    pub version: i64,
    pub created_at: i64,
}

impl Need {
    /// Whether the need may be matched with a resource: only an open need is; why not otherwise.
    pub fn matchable(&self) -> Result<(), String> {
        if self.state == NeedState::Open {
            Ok(())
        } else {
            Err(format!(
                "the need is {}: only an open need is matched",
                self.state.as_str()
            ))
        }
    }
}

/// A resource offered by a unit or a member, under the org it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: String,
    pub provider: Provider,
    pub org_id: String,
    pub org_path: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub state: ResourceState,
    pub offered_by: String,
    pub version: i64,
    pub created_at: i64,
}

impl Resource {
    /// Whether the resource may be matched with a need: only an available resource is; why not
    /// otherwise.
    pub fn matchable(&self) -> Result<(), String> {
        if self.state == ResourceState::Available {
            Ok(())
        } else {
            Err(format!(
                "the resource is {}: only an available resource is matched",
                self.state.as_str()
            ))
        }
    }
}

/// A project matching one need with one resource, under its need's org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub need_id: String,
    pub resource_id: String,
    pub org_id: String,
    pub org_path: String,
    pub provider: Provider,
    pub title: String,
    pub state: ProjectState,
    pub proposed_by_side: Side,
    pub proposed_by: String,
    pub proposal_note: String,
    pub answered_by: String,
    pub outcome: String,
    pub version: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// What someone does to a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectAction {
    Accept,
    Decline,
    Complete,
    Cancel,
}

impl ProjectAction {
    fn past_tense(self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Decline => "declined",
            Self::Complete => "completed",
            Self::Cancel => "cancelled",
        }
    }

    /// The state this action leads to from `from`, or why it may not be taken. A proposal is
    /// answered (accepted or declined) or withdrawn (cancelled); an active project ends
    /// completed or cancelled.
    pub fn apply(self, from: ProjectState) -> Result<ProjectState, String> {
        use ProjectState as S;
        match (self, from) {
            (Self::Accept, S::Proposed) => Ok(S::Active),
            (Self::Decline, S::Proposed) => Ok(S::Declined),
            (Self::Complete, S::Active) => Ok(S::Completed),
            (Self::Cancel, S::Proposed | S::Active) => Ok(S::Cancelled),
            _ => Err(format!(
                "a project that is {} cannot be {}",
                from.as_str(),
                self.past_tense()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_answered_then_ended() {
        let active = ProjectAction::Accept
            .apply(ProjectState::Proposed)
            .expect("accept");
        assert_eq!(
            ProjectAction::Complete.apply(active),
            Ok(ProjectState::Completed)
        );
        assert_eq!(
            ProjectAction::Accept
                .apply(ProjectState::Declined)
                .expect_err("answered"),
            "a project that is declined cannot be accepted"
        );
        assert!(
            ProjectAction::Complete
                .apply(ProjectState::Proposed)
                .is_err()
        );
        assert_eq!(
            ProjectAction::Cancel.apply(ProjectState::Proposed),
            Ok(ProjectState::Cancelled)
        );
        assert_eq!(Side::parse("resource"), Some(Side::Resource));
        assert_eq!(NeedState::parse("met"), Some(NeedState::Met));
    }

    #[test]
    fn only_open_needs_and_available_resources_are_matched() {
        let mut need = Need {
            id: "n".into(),
            org_id: "o".into(),
            org_path: "/o/".into(),
            title: "t".into(),
            description: String::new(),
            category: String::new(),
            state: NeedState::Open,
            posted_by: "a".into(),
            version: 1,
            created_at: 0,
        };
        assert_eq!(need.matchable(), Ok(()));
        need.state = NeedState::Matched;
        assert_eq!(
            need.matchable(),
            Err("the need is matched: only an open need is matched".into())
        );
        let mut resource = Resource {
            id: "r".into(),
            provider: Provider::Member("m".into()),
            org_id: "o".into(),
            org_path: "/o/".into(),
            title: "t".into(),
            description: String::new(),
            category: String::new(),
            state: ResourceState::Available,
            offered_by: "m".into(),
            version: 1,
            created_at: 0,
        };
        assert_eq!(resource.matchable(), Ok(()));
        resource.state = ResourceState::Withdrawn;
        assert_eq!(
            resource.matchable(),
            Err("the resource is withdrawn: only an available resource is matched".into())
        );
    }
}
