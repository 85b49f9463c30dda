//! A typed client of the org service for the other services: role holders, units, alliances and a cached scope check.

use std::{sync::Arc, time::Duration};

use jiceng_auth::{RemoteAncestry, ScopeCache};
use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::org::{
    GetAllianceRequest, GetUnitRequest, ListCurrentHoldersRequest, Unit,
    alliance_service_client::AllianceServiceClient, org_service_client::OrgServiceClient,
    position::Holder, position_service_client::PositionServiceClient,
};
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
};

/// What other services ask of the org service: who holds a role now, a unit, an alliance's lead,
/// and whether a unit lies in a caller's scope (cached, invalidated by moves).
#[derive(Clone, Debug)]
pub struct OrgDirectory {
    channel: TracedChannel,
    bearer: MetadataValue<Ascii>,
    scopes: Arc<ScopeCache<RemoteAncestry>>,
}

impl OrgDirectory {
    /// Reaches the org service at `uri`, presenting `service_token`.
    pub fn new(uri: &str, service_token: &str) -> Result<Self, Status> {
        let channel = jiceng_grpc::channel(uri, Duration::from_secs(10))?;
        let bearer = jiceng_grpc::bearer(service_token)?;
        let remote = RemoteAncestry::new(channel.clone(), service_token)?;
        Ok(Self {
            channel,
            bearer,
            scopes: Arc::new(ScopeCache::new(remote, Duration::from_secs(300), 100_000)),
        })
    }

    pub fn scopes(&self) -> &ScopeCache<RemoteAncestry> {
        &self.scopes
    }

    /// The materialised path `/root/…/unit/` of a unit, from its ancestry (cached): what the
    /// services store beside their rows, so that a subtree is one index range.
    pub async fn path_of(&self, unit_id: &str) -> Result<String, Status> {
        Ok(format!(
            "/{}/",
            self.scopes.ancestor_ids(unit_id).await?.join("/")
        ))
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    /// The members holding `role` in `unit` now. Holders who are not members have no inbox.
    pub async fn holders(&self, unit_id: &str, role: i32) -> Result<Vec<String>, Status> {
        let positions = with_retries(RetryPolicy::default(), || {
            let mut client = PositionServiceClient::new(self.channel.clone());
            let request = self.request(ListCurrentHoldersRequest {
                unit_id: unit_id.to_owned(),
                role,
            });
            async move { client.list_current_holders(request).await }
        })
        .await?
        .into_inner()
        .positions;
        Ok(positions
            .into_iter()
            .filter_map(|p| match p.holder {
                Some(Holder::MemberId(member)) => Some(member),
                _ => None,
            })
            .collect())
    }

    /// The lead unit of an alliance.
    pub async fn alliance_lead(&self, alliance_id: &str) -> Result<String, Status> {
        let alliance = with_retries(RetryPolicy::default(), || {
            let mut client = AllianceServiceClient::new(self.channel.clone());
            let request = self.request(GetAllianceRequest {
                id: alliance_id.to_owned(),
            });
            async move { client.get_alliance(request).await }
        })
        .await?;
        Ok(alliance.into_inner().lead_unit_id)
    }

    /// A unit as the org service has it.
    pub async fn unit(&self, unit_id: &str) -> Result<Unit, Status> {
        let unit = with_retries(RetryPolicy::default(), || {
            let mut client = OrgServiceClient::new(self.channel.clone());
            let request = self.request(GetUnitRequest {
                id: unit_id.to_owned(),
            });
            async move { client.get_unit(request).await }
        })
        .await?;
        Ok(unit.into_inner())
    }

    /// A unit's display name.
    pub async fn unit_name(&self, unit_id: &str) -> Result<String, Status> {
        Ok(self.unit(unit_id).await?.name)
    }
}
