//! "Is this org inside the caller's subtree?" for services other than org: answered from the
//! org service's ancestry, cached, and invalidated when a subtree moves.

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::org::{CheckScopeRequest, org_service_client::OrgServiceClient};
use tonic::{Request, Status, metadata::MetadataValue};

use crate::{Caller, Role};

/// Where ancestry comes from: the org service, over gRPC or in-process.
pub trait AncestryResolver: Send + Sync {
    /// The ids from the district root down to `org_id` itself; NOT_FOUND for an unknown unit.
    fn ancestor_ids(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, Status>> + Send;
}

/// Caches ancestry per unit. A move event drops every entry that runs through the moved unit;
/// a time limit bounds the staleness should an event ever be missed.
#[derive(Debug)]
pub struct ScopeCache<R> {
    resolver: R,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl<R: AncestryResolver> ScopeCache<R> {
    pub fn new(resolver: R, ttl: Duration, capacity: usize) -> Self {
        Self {
            resolver,
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// OK when `org_id` lies in the caller's subtree; PERMISSION_DENIED otherwise.
    pub async fn check(&self, caller: &Caller, org_id: &str) -> Result<(), Status> {
        let ancestors = self.ancestor_ids(org_id).await?;
        if caller.covers(&ancestors) {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "the org unit is outside the caller's scope",
            ))
        }
    }

    /// OK when the caller holds one of `roles` and their scope is the district root:
    /// district-wide rules, scans and imports reach every street, beyond any narrower scope.
    pub async fn require_whole_district(
        &self,
        caller: &Caller,
        roles: &[Role],
    ) -> Result<(), Status> {
        caller.require_any(roles)?;
        let chain = self
            .ancestor_ids(&caller.scope_org)
            .await
            .map_err(|status| match status.code() {
                tonic::Code::NotFound | tonic::Code::InvalidArgument => {
                    Status::permission_denied("the caller's scope org does not exist")
                }
                _ => status,
            })?;
        if chain.len() == 1 {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "only a caller whose scope is the whole district may do this",
            ))
        }
    }

    pub async fn ancestor_ids(&self, org_id: &str) -> Result<Vec<String>, Status> {
        if let Some(hit) = self.cached(org_id) {
            return Ok(hit);
        }
        let ancestors = self.resolver.ancestor_ids(org_id).await?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(org_id.to_owned(), (Instant::now(), ancestors.clone()));
        Ok(ancestors)
    }

    /// Forgets every unit whose chain runs through `unit_id`: call it when that unit moved.
    pub fn invalidate_subtree(&self, unit_id: &str) {
        self.lock()
            .retain(|_, (_, ancestors)| !ancestors.iter().any(|id| id == unit_id));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, org_id: &str) -> Option<Vec<String>> {
        let entries = self.lock();
        let (at, ancestors) = entries.get(org_id)?;
        (at.elapsed() < self.ttl).then(|| ancestors.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<String>)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ancestry from a remote org service, called with a service token and retried on UNAVAILABLE.
#[derive(Clone, Debug)]
pub struct RemoteAncestry {
    client: OrgServiceClient<TracedChannel>,
    bearer: MetadataValue<tonic::metadata::Ascii>,
    retry: RetryPolicy,
}

impl RemoteAncestry {
    pub fn new(channel: TracedChannel, service_token: &str) -> Result<Self, Status> {
        Ok(Self {
            client: OrgServiceClient::new(channel),
            bearer: jiceng_grpc::bearer(service_token)?,
            retry: RetryPolicy::default(),
        })
    }
}

impl AncestryResolver for RemoteAncestry {
    async fn ancestor_ids(&self, org_id: &str) -> Result<Vec<String>, Status> {
        with_retries(self.retry, || {
            let mut client = self.client.clone();
            let mut request = Request::new(CheckScopeRequest {
                scope_org_id: String::new(),
                org_id: org_id.to_owned(),
            });
            request
                .metadata_mut()
                .insert("authorization", self.bearer.clone());
            async move {
                client
                    .check_scope(request)
                    .await
                    .map(|r| r.into_inner().ancestor_ids)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Role;

    /// A tree root → street → committee, counting how often it is asked.
    #[derive(Default)]
    struct Tree {
        asked: AtomicUsize,
    }

    impl AncestryResolver for &Tree {
        async fn ancestor_ids(&self, org_id: &str) -> Result<Vec<String>, Status> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let chain = ["root", "street", "committee"];
            let end = chain
                .iter()
                .position(|id| *id == org_id)
                .ok_or_else(|| Status::not_found("no unit"))?;
            Ok(chain[..=end].iter().map(|s| s.to_string()).collect())
        }
    }

    fn admin_of(scope: &str) -> Caller {
        Caller {
            subject: "s".into(),
            district: "d".into(),
            scope_org: scope.into(),
            roles: vec![Role::StreetAdmin],
        }
    }

    #[tokio::test]
    async fn answers_are_cached_until_a_move_runs_through_them() {
        let tree = Tree::default();
        let cache = ScopeCache::new(&tree, Duration::from_secs(60), 100);
        cache
            .check(&admin_of("street"), "committee")
            .await
            .expect("inside");
        cache
            .check(&admin_of("street"), "committee")
            .await
            .expect("inside");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 1);
        let outside = cache
            .check(&admin_of("committee"), "street")
            .await
            .map_err(|s| s.code());
        assert_eq!(outside, Err(tonic::Code::PermissionDenied));
        cache.invalidate_subtree("street");
        assert!(cache.is_empty());
        cache
            .check(&admin_of("root"), "committee")
            .await
            .expect("inside");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 3);
    }
}
