//! Who is calling: JWT bearer verification, claims and roles, and the org-subtree scope check.
//!
//! Every RPC but health and reflection requires `authorization: Bearer <jwt>`. The token names a
//! subject, the district, the org unit the caller's authority is rooted at (`scope_org`) and
//! roles. An admin acts only inside the subtree of their scope org; everything else is denied.
//! The platform's own services call each other with internal tokens ([`ServiceToken`]) that no
//! outside identity provider can issue.

mod internal;
mod scope;
mod token;

pub use internal::{INTERNAL_AUDIENCE, INTERNAL_TOKEN_TTL, InternalKey, ServiceToken};
pub use scope::{
    Ancestry, AncestryResolver, MAX_STALENESS, RemoteAncestry, ScopeCache, WATCH_INTERVAL,
};
pub use token::{
    AuthInterceptor, Authenticator, Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyConfig, KeyError,
    TokenIssuer,
};

use tonic::{Request, Status};

/// What a caller may do. Unknown role names in a token grant nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Administers the whole district below its scope org (normally the district root).
    DistrictAdmin,
    /// Administers a street's or town's subtree.
    StreetAdmin,
    /// Administers a branch's subtree.
    BranchAdmin,
    /// Works in a grid: reads the tree, reports and handles cases.
    GridWorker,
    /// A party member acting for themself.
    Member,
    /// One of the platform's own services, acting for the whole district. Only internal tokens,
    /// signed with the key the services alone hold, carry it; an outside token naming it gains
    /// nothing by it.
    Service,
    /// Another government system (a 12345 hotline, a city-management platform) calling machine
    /// to machine, within the scope its token is given.
    Integration,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::DistrictAdmin,
        Role::StreetAdmin,
        Role::BranchAdmin,
        Role::GridWorker,
        Role::Member,
        Role::Service,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::DistrictAdmin => "district_admin",
            Role::StreetAdmin => "street_admin",
            Role::BranchAdmin => "branch_admin",
            Role::GridWorker => "grid_worker",
            Role::Member => "member",
            Role::Service => "service",
            Role::Integration => "integration",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Admin roles may change the tree inside their scope.
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Role::DistrictAdmin | Role::StreetAdmin | Role::BranchAdmin
        )
    }
}

/// The verified identity of the caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub district: String,
    pub scope_org: String,
    pub roles: Vec<Role>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has(*role))
    }

    /// PERMISSION_DENIED unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Status> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "the caller's roles do not allow this",
            ))
        }
    }

    /// True when a unit whose chain from the root is `ancestor_ids` (ending with the unit
    /// itself) lies inside the caller's subtree. The platform's services cover the district.
    pub fn covers(&self, ancestor_ids: &[String]) -> bool {
        self.is_platform() || ancestor_ids.contains(&self.scope_org)
    }

    /// One of the platform's own services, verified by an internal token: it has no scope org
    /// and acts on the whole district.
    pub fn is_platform(&self) -> bool {
        self.has(Role::Service)
    }
}

/// The caller that [`AuthInterceptor`] attached to the request.
pub fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}
