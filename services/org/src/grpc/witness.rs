//! `jiceng.org.v1.WitnessService`: the witnessed heads of the platform's transparency logs.
//! The platform's own services read and advance them; a whole-district admin reads them and,
//! after a restore the log cannot recover from, resets one.

use jiceng_auth::{Role, caller};
use jiceng_grpc::{FieldViolations, millis_of};
use jiceng_merkle::Hash;
use jiceng_proto::org::{self as pb, witness_service_server::WitnessService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::{mutation, require_whole_district_admin};
use crate::{
    domain::witness::{LogHead, LogName},
    proto::witness::witnessed_to_proto,
    store::OrgStore,
};

#[derive(Clone, Debug)]
pub struct WitnessApi {
    store: OrgStore,
}

impl WitnessApi {
    pub fn new(store: OrgStore) -> Self {
        Self { store }
    }
}

/// A size that is zero or more.
fn size(value: i64) -> Result<u64, &'static str> {
    u64::try_from(value).map_err(|_| "must not be negative")
}

fn hash(bytes: &[u8]) -> Result<Hash, &'static str> {
    Hash::try_from(bytes).map_err(|_| "must be 32 bytes")
}

#[tonic::async_trait]
impl WitnessService for WitnessApi {
    async fn get_witnessed_head(
        &self,
        request: Request<pb::GetWitnessedHeadRequest>,
    ) -> Result<Response<pb::WitnessedHead>, Status> {
        let caller = caller(&request)?.clone();
        if !caller.has(Role::Service) {
            require_whole_district_admin(&self.store, &caller).await?;
        }
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let log = violations.check("log", LogName::parse(&req.log));
        violations.into_result()?;
        let Some(log) = log else {
            return Err(Status::internal("validation fell through"));
        };
        let witnessed = self.store.witnessed_head(&log).await?;
        Ok(Response::new(witnessed_to_proto(witnessed)))
    }

    async fn witness_tree_head(
        &self,
        request: Request<pb::WitnessTreeHeadRequest>,
    ) -> Result<Response<pb::WitnessedHead>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let log = violations.check("log", LogName::parse(&req.log));
        let from_size = violations.check("from_size", size(req.from_size));
        let tree_size = violations.check("tree_size", size(req.tree_size));
        let root = violations.check("root_hash", hash(&req.root_hash));
        let timestamp_ms = violations
            .check("timestamp", millis_of(req.timestamp.as_ref()))
            .flatten();
        if req.timestamp.is_none() {
            violations.add("timestamp", "required");
        }
        if req.signature.is_empty() {
            violations.add("signature", "required");
        }
        let mut proof = Vec::with_capacity(req.consistency_proof.len());
        for (i, bytes) in req.consistency_proof.iter().enumerate() {
            if let Some(hash) = violations.check(&format!("consistency_proof[{i}]"), hash(bytes)) {
                proof.push(hash);
            }
        }
        violations.into_result()?;
        let (Some(log), Some(from_size), Some(size), Some(root), Some(timestamp_ms)) =
            (log, from_size, tree_size, root, timestamp_ms)
        else {
            return Err(Status::internal("validation fell through"));
        };
        let head = LogHead {
            size,
            root,
            timestamp_ms,
            signature: req.signature,
        };
        let witnessed = self.store.witness(&log, from_size, head, &proof).await?;
        Ok(Response::new(witnessed_to_proto(witnessed)))
    }

    async fn reset_witnessed_head(
        &self,
        request: Request<pb::ResetWitnessedHeadRequest>,
    ) -> Result<Response<pb::WitnessedHead>, Status> {
        let caller = caller(&request)?.clone();
        require_whole_district_admin(&self.store, &caller).await?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let log = violations.check("log", LogName::parse(&req.log));
        let reason = violations.check("reason", Text::label(200).check(&req.reason));
        let tree_size = violations.check("tree_size", size(req.tree_size));
        violations.into_result()?;
        let (Some(log), Some(reason), Some(tree_size)) = (log, reason, tree_size) else {
            return Err(Status::internal("validation fell through"));
        };
        let forgotten = self
            .store
            .reset_witness(&log, tree_size, &mutation(&caller, None), &reason)
            .await?;
        tracing::warn!(
            log = log.as_str(),
            tree_size,
            actor = %caller.subject,
            reason = %reason,
            "a transparency log's witnessed head was reset: the log continues from its restored head"
        );
        Ok(Response::new(witnessed_to_proto(forgotten)))
    }
}
