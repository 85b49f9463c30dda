//! A typed client of the org service for the other services: role holders, units, alliances, a cached scope check and the org paths they store.

pub mod paths;

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use futures::{StreamExt as _, stream};
use jiceng_db::{Database, StoreError};

use jiceng_auth::{RemoteAncestry, ScopeCache, ServiceToken, WATCH_INTERVAL};
use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::org::{
    GetAllianceRequest, GetUnitRequest, GetWitnessedHeadRequest, ListCurrentHoldersRequest, Unit,
    WitnessTreeHeadRequest, WitnessedHead, alliance_service_client::AllianceServiceClient,
    org_service_client::OrgServiceClient, position::Holder,
    position_service_client::PositionServiceClient, witness_service_client::WitnessServiceClient,
};
use tonic::Status;

pub use paths::{OrgPath, PathHolder, Repaired};

/// How many units a reconciliation asks the org service about at once.
const RECONCILE_CONCURRENCY: usize = 8;

/// Why a reconciliation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the org service: {0}")]
    Org(Status),
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What other services ask of the org service: who holds a role now, a unit, an alliance's lead,
/// and whether a unit lies in a caller's scope (cached while the org tree's generation confirms
/// it: see [`jiceng_auth::ScopeCache`]).
#[derive(Clone, Debug)]
pub struct OrgDirectory {
    channel: TracedChannel,
    token: ServiceToken,
    scopes: Arc<ScopeCache<RemoteAncestry>>,
}

impl OrgDirectory {
    /// Reaches the org service at `uri`, presenting `token`.
    pub fn new(uri: &str, token: ServiceToken) -> Result<Self, Status> {
        let channel = jiceng_grpc::channel(uri, Duration::from_secs(10))?;
        let remote = RemoteAncestry::new(uri, token.clone())?;
        Ok(Self {
            channel,
            token,
            scopes: Arc::new(ScopeCache::new(remote, 100_000)),
        })
    }

    pub fn scopes(&self) -> &ScopeCache<RemoteAncestry> {
        &self.scopes
    }

    /// Keeps the scope cache confirmed against the org tree's generation until `stopped`
    /// completes; without it every scope check and path asks the org service.
    pub async fn watch_tree(&self, stopped: impl Future<Output = ()>) {
        self.scopes.watch(WATCH_INTERVAL, stopped).await;
    }

    /// The materialised path `/root/…/unit/` of a unit, from its ancestry (cached while
    /// confirmed): what the services store beside their rows, so that a subtree is one range.
    pub async fn path_of(&self, unit_id: &str) -> Result<OrgPath, Status> {
        let ancestry = self.scopes.ancestry(unit_id).await?;
        Ok(OrgPath::from_ancestry(&ancestry.ids, ancestry.generation))
    }

    /// The unit's path as the org service has it now, whatever is cached.
    pub async fn current_path_of(&self, unit_id: &str) -> Result<OrgPath, Status> {
        let ancestry = self.scopes.refresh(unit_id).await?;
        Ok(OrgPath::from_ancestry(&ancestry.ids, ancestry.generation))
    }

    /// Runs `write` of `new`, which holds an org path at `org_path(new)`; when the write finds
    /// that path older than a move its database already applied, once more with the path the
    /// org service has now. An outer error is the org service's; the inner result the write's.
    pub async fn write_at_path<N: Clone, T, W: Future<Output = Result<T, StoreError>>>(
        &self,
        mut new: N,
        org_path: impl Fn(&mut N) -> &mut OrgPath,
        write: impl Fn(N) -> W,
    ) -> Result<Result<T, StoreError>, Status> {
        match write(new.clone()).await {
            Err(StoreError::OrgPathMoved(_)) => {
                let path = org_path(&mut new);
                *path = self.current_path_of(path.unit_id()).await?;
                Ok(write(new).await)
            }
            written => Ok(written),
        }
    }

    /// Compares the org paths stored in `db` (where `holders` say) with the org service's
    /// tree and gives every row that differs its unit's path now (see [`paths::reconcile`]).
    /// A unit the org service does not know is left as it is, with a warning.
    pub async fn reconcile(
        &self,
        db: &Database,
        holders: &[PathHolder],
    ) -> Result<Vec<Repaired>, ReconcileError> {
        let stored = paths::stored_paths(db, holders).await?;
        let units: Vec<String> = stored.keys().cloned().collect();
        let answers: Vec<(String, Result<OrgPath, Status>)> = stream::iter(units)
            .map(|unit| async move {
                let answer = self.current_path_of(&unit).await;
                (unit, answer)
            })
            .buffer_unordered(RECONCILE_CONCURRENCY)
            .collect()
            .await;
        let mut differing = BTreeMap::new();
        for (unit, answer) in answers {
            match answer {
                Ok(path) => {
                    if stored[&unit].iter().any(|kept| kept != path.as_str()) {
                        differing.insert(unit, path);
                    }
                }
                Err(status) if status.code() == tonic::Code::NotFound => {
                    tracing::warn!(unit, "rows name a unit the org service does not know");
                }
                Err(status) => return Err(ReconcileError::Org(status)),
            }
        }
        Ok(paths::reconcile(db, holders, &differing).await?)
    }

    /// Runs [`OrgDirectory::reconcile`] once every `interval` across all replicas of a
    /// service (each wakes five times as often and the first to claim the round runs it) until
    /// `stopped` completes. Rows put right mean an event was lost or a write raced a move: a
    /// warning says which.
    pub async fn reconcile_every(
        &self,
        db: &Database,
        holders: &[PathHolder],
        interval: Duration,
        stopped: impl Future<Output = ()>,
    ) {
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => return,
                () = tokio::time::sleep(interval / 5) => {}
            }
            match paths::claim_reconciliation(db, jiceng_db::now_millis(), interval_ms).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim the reconciliation of org paths");
                    continue;
                }
            }
            match self.reconcile(db, holders).await {
                Ok(repaired) => {
                    for Repaired { table, rows } in repaired.iter().filter(|r| r.rows > 0) {
                        tracing::warn!(
                            table,
                            rows,
                            "stored org paths differed from the org tree and were put right"
                        );
                    }
                }
                Err(err) => tracing::warn!(error = %err, "org paths could not be reconciled"),
            }
        }
    }

    /// The members holding `role` in `unit` now. Holders who are not members have no inbox.
    pub async fn holders(&self, unit_id: &str, role: i32) -> Result<Vec<String>, Status> {
        let positions = with_retries(RetryPolicy::default(), || {
            let mut client = PositionServiceClient::new(self.channel.clone());
            // A role's holders in one unit are a handful: the default page holds them all.
            let request = self.token.request(ListCurrentHoldersRequest {
                unit_id: unit_id.to_owned(),
                role,
                ..Default::default()
            });
            async move { client.list_current_holders(request?).await }
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
            let request = self.token.request(GetAllianceRequest {
                id: alliance_id.to_owned(),
            });
            async move { client.get_alliance(request?).await }
        })
        .await?;
        Ok(alliance.into_inner().lead_unit_id)
    }

    /// A unit as the org service has it.
    pub async fn unit(&self, unit_id: &str) -> Result<Unit, Status> {
        let unit = with_retries(RetryPolicy::default(), || {
            let mut client = OrgServiceClient::new(self.channel.clone());
            let request = self.token.request(GetUnitRequest {
                id: unit_id.to_owned(),
            });
            async move { client.get_unit(request?).await }
        })
        .await?;
        Ok(unit.into_inner())
    }

    /// A unit's display name.
    pub async fn unit_name(&self, unit_id: &str) -> Result<String, Status> {
        Ok(self.unit(unit_id).await?.name)
    }

    /// The size and root of the head the org service witnesses for the transparency log
    /// `log`; `None` while it witnesses none.
    pub async fn witnessed_head(&self, log: &str) -> Result<Option<(u64, Hash)>, Status> {
        let witnessed = with_retries(RetryPolicy::default(), || {
            let mut client = WitnessServiceClient::new(self.channel.clone());
            let request = self.token.request(GetWitnessedHeadRequest {
                log: log.to_owned(),
            });
            async move { client.get_witnessed_head(request?).await }
        })
        .await;
        match witnessed {
            Ok(head) => size_and_root(&head.into_inner()).map(Some),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Asks the org service to witness `head`, a larger head of its log proven from the one of
    /// `head.from_size` (see `WitnessTreeHead`), and returns the size and root witnessed
    /// afterwards; ABORTED when another replica advanced it first, FAILED_PRECONDITION when
    /// the proof fails.
    pub async fn witness_tree_head(&self, head: HeadToWitness<'_>) -> Result<(u64, Hash), Status> {
        let request = WitnessTreeHeadRequest {
            log: head.log.to_owned(),
            from_size: i64::try_from(head.from_size).unwrap_or(i64::MAX),
            tree_size: i64::try_from(head.size).unwrap_or(i64::MAX),
            root_hash: head.root.to_vec(),
            timestamp: Some(jiceng_grpc::timestamp(
                i64::try_from(head.timestamp_ms).unwrap_or(i64::MAX),
            )),
            signature: head.signature.to_vec(),
            consistency_proof: head.proof.iter().map(|hash| hash.to_vec()).collect(),
        };
        let witnessed = with_retries(RetryPolicy::default(), || {
            let mut client = WitnessServiceClient::new(self.channel.clone());
            let request = self.token.request(request.clone());
            async move { client.witness_tree_head(request?).await }
        })
        .await?;
        size_and_root(&witnessed.into_inner())
    }
}

/// A hash of a transparency log: 32 bytes.
pub type Hash = [u8; 32];

/// A log's signed head to hand to the witness, with the consistency proof from the head it
/// witnesses now (`from_size`; empty from 0).
#[derive(Clone, Copy, Debug)]
pub struct HeadToWitness<'a> {
    pub log: &'a str,
    pub from_size: u64,
    pub size: u64,
    pub root: &'a Hash,
    pub timestamp_ms: u64,
    pub signature: &'a [u8],
    pub proof: &'a [Hash],
}

fn size_and_root(head: &WitnessedHead) -> Result<(u64, Hash), Status> {
    let size = u64::try_from(head.tree_size)
        .map_err(|_| Status::internal("the witness answered a negative size"))?;
    let root = Hash::try_from(head.root_hash.as_slice())
        .map_err(|_| Status::internal("the witness answered a malformed root"))?;
    Ok((size, root))
}
