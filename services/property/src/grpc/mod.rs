//! `jiceng.property.v1`: the gRPC adapter. It authorises each call, checks what the request
//! asks for, calls the store and maps its errors to statuses; the conversions of messages are
//! `crate::proto`'s.
//!
//! One module per gRPC service (`companies` for `PropertyService`, `disclosures`, `linkage`, and
//! `events` for the events it consumes); this one holds what they share: the API, scope checks,
//! paging and request ids.
//!
//! Town and district admins register the companies of their subtree; admins over a compound's
//! committee keep the compound; only a company's publishers publish, and only for the compounds
//! it manages; everyone in the district reads companies, disclosures, tree heads and proofs.

mod companies;
mod disclosures;
mod events;
mod linkage;

pub use events::CONSUMED as CONSUMED_EVENTS;

use jiceng_auth::{Caller, Role};
use jiceng_grpc::{PageRequest, time_cursor};
use jiceng_org_client::OrgDirectory;
use jiceng_pii::PiiVault;
use tonic::Status;

use crate::{
    domain::Compound,
    store::{Listing, PropertyStore},
};

/// Admins of an org subtree.
const ADMINS: &[Role] = &[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin];

/// The property service's API: one value serves `PropertyService`, `DisclosureService`,
/// `LinkageService` and the event sink.
#[derive(Clone, Debug)]
pub struct PropertyApi {
    store: PropertyStore,
    org: OrgDirectory,
    /// Seals the phones of companies' staff.
    vault: PiiVault,
}

impl PropertyApi {
    pub fn new(store: PropertyStore, org: OrgDirectory, vault: PiiVault) -> Self {
        Self { store, org, vault }
    }

    /// The org path of a subtree to list or to set a schedule at.
    async fn path_of(&self, org_id: &str) -> Result<String, Status> {
        Ok(self.org.path_of(org_id).await?.as_str().to_owned())
    }

    async fn require_admin_of(&self, caller: &Caller, org_id: &str) -> Result<(), Status> {
        caller.require_any(ADMINS)?;
        self.org.scopes().check(caller, org_id).await
    }

    /// A compound, when the caller is an admin over its committee.
    async fn compound_administered_by(
        &self,
        caller: &Caller,
        compound_id: &str,
    ) -> Result<Compound, Status> {
        let compound = self.store.compound(compound_id).await?;
        self.require_admin_of(caller, &compound.org_id).await?;
        Ok(compound)
    }

    fn page(
        &self,
        page_size: Option<i32>,
        page_token: &str,
        query: String,
    ) -> Result<(PageRequest, Listing), Status> {
        let page = PageRequest::parse(page_size, page_token, query)?;
        let listing = Listing {
            after: page.after.as_deref().map(time_cursor).transpose()?,
            limit: page.fetch_limit(),
            ..Listing::default()
        };
        Ok((page, listing))
    }
}
