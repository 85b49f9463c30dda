//! "Is this org inside the caller's subtree?" for services other than org: answered from the
//! org service's ancestry, cached, and kept current on every replica by the tree's generation.
//!
//! Every answer is stamped with the org tree's generation it was read at. A watcher asks the org
//! service for the generation of the tree's last move every [`WATCH_INTERVAL`]; a cached answer
//! is used only while the last confirmation is younger than [`MAX_STALENESS`] and no move has
//! committed since the answer was read. So a move is seen by every replica within
//! `MAX_STALENESS` whichever replica its event reaches, and a replica that cannot confirm
//! (org unreachable, watcher not running) asks the org service instead of trusting its copy.

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::org::{
    CheckScopeRequest, GetTreeGenerationRequest, org_service_client::OrgServiceClient,
};
use tonic::{Status, transport::Channel};

use crate::{Caller, Role, ServiceToken};

/// How long a call for a unit's ancestry may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a replica asks the org service where its tree stands.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// How old the last confirmation may be for cached answers to be used: the bound on how long a
/// replica may act on ancestry a move has changed. Three watch intervals, so one slow or lost
/// answer does not send every request to the org service.
pub const MAX_STALENESS: Duration = Duration::from_millis(1_500);

/// A unit's ancestry as the org service answered it, and the tree generation it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestry {
    /// The ids from the district root down to the unit itself.
    pub ids: Vec<String>,
    pub generation: i64,
}

/// Where ancestry comes from: the org service, over gRPC or in-process.
pub trait AncestryResolver: Send + Sync {
    /// The unit's ancestry now; NOT_FOUND for an unknown unit.
    fn ancestry(&self, org_id: &str) -> impl Future<Output = Result<Ancestry, Status>> + Send;

    /// The generation the tree's last move committed at.
    fn paths_generation(&self) -> impl Future<Output = Result<i64, Status>> + Send;
}

/// The newest word from the org service on its last move, and when it was asked for.
#[derive(Clone, Copy, Debug)]
struct Confirmation {
    paths_generation: i64,
    asked_at: Instant,
}

/// Caches ancestry per unit, trusted only as far as the tree's generation confirms it.
#[derive(Debug)]
pub struct ScopeCache<R> {
    resolver: R,
    capacity: usize,
    max_staleness: Duration,
    entries: Mutex<HashMap<String, Ancestry>>,
    confirmed: Mutex<Option<Confirmation>>,
}

impl<R: AncestryResolver> ScopeCache<R> {
    pub fn new(resolver: R, capacity: usize) -> Self {
        Self {
            resolver,
            capacity,
            max_staleness: MAX_STALENESS,
            entries: Mutex::new(HashMap::new()),
            confirmed: Mutex::new(None),
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
        if caller.is_platform() {
            return Ok(());
        }
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
        Ok(self.ancestry(org_id).await?.ids)
    }

    /// The unit's ancestry: the cached one while it is confirmed current, else the org
    /// service's.
    pub async fn ancestry(&self, org_id: &str) -> Result<Ancestry, Status> {
        if let Some(hit) = self.cached(org_id) {
            cache_metrics::lookup(true);
            return Ok(hit);
        }
        cache_metrics::lookup(false);
        self.refresh(org_id).await
    }

    /// The unit's ancestry from the org service, whatever is cached: for a write that found
    /// the path it was given older than a move its database already applied.
    pub async fn refresh(&self, org_id: &str) -> Result<Ancestry, Status> {
        let ancestry = self.resolver.ancestry(org_id).await?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        let newer = entries
            .get(org_id)
            .is_none_or(|kept| kept.generation <= ancestry.generation);
        if newer {
            entries.insert(org_id.to_owned(), ancestry.clone());
        }
        Ok(ancestry)
    }

    /// Forgets every unit whose chain runs through `unit_id`, and every answer read before
    /// `generation`: call it when that unit moved at that generation.
    pub fn invalidate_subtree(&self, unit_id: &str, generation: i64) {
        let dropped = {
            let mut entries = self.lock();
            let before = entries.len();
            entries.retain(|_, ancestry| {
                ancestry.generation >= generation && !ancestry.ids.iter().any(|id| id == unit_id)
            });
            before - entries.len()
        };
        cache_metrics::invalidated(dropped);
        let mut confirmed = lock(&self.confirmed);
        if let Some(confirmed) = confirmed.as_mut() {
            confirmed.paths_generation = confirmed.paths_generation.max(generation);
        }
    }

    /// Asks the org service where its tree stands every `interval` until `stopped` completes,
    /// dropping answers a move has overtaken. Cached answers are used only while this runs.
    pub async fn watch(&self, interval: Duration, stopped: impl Future<Output = ()>) {
        tokio::pin!(stopped);
        let mut failing = false;
        loop {
            let asked_at = Instant::now();
            let answer = tokio::select! {
                () = &mut stopped => return,
                answer = tokio::time::timeout(self.max_staleness, self.resolver.paths_generation()) => answer,
            };
            match answer {
                Ok(Ok(paths_generation)) => {
                    if failing {
                        tracing::info!("the org tree's generation is confirmed again");
                        failing = false;
                    }
                    self.confirm(paths_generation, asked_at);
                }
                Ok(Err(status)) if !failing => {
                    failing = true;
                    tracing::warn!(code = ?status.code(), message = status.message(),
                        "cannot confirm the org tree's generation: scope checks go to the org service");
                }
                Err(_) if !failing => {
                    failing = true;
                    tracing::warn!(
                        "the org service did not say its tree's generation in time: scope checks go to it"
                    );
                }
                _ => {}
            }
            tokio::select! {
                () = &mut stopped => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Records the org service's answer, asked at `asked_at`, and drops what it overtook.
    fn confirm(&self, paths_generation: i64, asked_at: Instant) {
        {
            let mut confirmed = lock(&self.confirmed);
            let paths_generation = confirmed.map_or(paths_generation, |kept| {
                kept.paths_generation.max(paths_generation)
            });
            if confirmed.is_none_or(|kept| kept.asked_at <= asked_at) {
                *confirmed = Some(Confirmation {
                    paths_generation,
                    asked_at,
                });
            }
        }
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, ancestry| ancestry.generation >= paths_generation);
        cache_metrics::invalidated(before - entries.len());
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, org_id: &str) -> Option<Ancestry> {
        let confirmed = (*lock(&self.confirmed))?;
        if confirmed.asked_at.elapsed() >= self.max_staleness {
            return None;
        }
        self.lock()
            .get(org_id)
            .filter(|ancestry| ancestry.generation >= confirmed.paths_generation)
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ancestry>> {
        lock(&self.entries)
    }
}

/// `jiceng.cache.lookups` (by result, hit or miss) and `jiceng.cache.invalidations` (answers
/// dropped because the tree moved through them) of the scope cache.
mod cache_metrics {
    use jiceng_telemetry::metrics::{Instruments, meter};
    use opentelemetry::{KeyValue, metrics::Counter};

    struct CacheInstruments {
        lookups: Counter<u64>,
        invalidations: Counter<u64>,
    }

    static INSTRUMENTS: Instruments<CacheInstruments> = Instruments::new(|| CacheInstruments {
        lookups: meter()
            .u64_counter("jiceng.cache.lookups")
            .with_description("Lookups of a cache, by result: hit or miss")
            .build(),
        invalidations: meter()
            .u64_counter("jiceng.cache.invalidations")
            .with_description("Cached answers dropped because what they answered changed")
            .build(),
    });

    const CACHE: &str = "jiceng.cache";

    pub(super) fn lookup(hit: bool) {
        INSTRUMENTS.get().lookups.add(
            1,
            &[
                KeyValue::new(CACHE, "scope"),
                KeyValue::new("result", if hit { "hit" } else { "miss" }),
            ],
        );
    }

    /// Also with none dropped, so that the series exists from the start and a rate over it
    /// reads zero rather than nothing.
    pub(super) fn invalidated(entries: usize) {
        INSTRUMENTS
            .get()
            .invalidations
            .add(entries as u64, &[KeyValue::new(CACHE, "scope")]);
    }
}

/// A panic while holding one of these locks leaves a value that is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Ancestry from a remote org service, called with the platform's internal token and retried
/// on UNAVAILABLE.
#[derive(Clone, Debug)]
pub struct RemoteAncestry {
    client: OrgServiceClient<TracedChannel>,
    /// The watcher's polls, kept out of traces.
    poller: OrgServiceClient<Channel>,
    token: ServiceToken,
    retry: RetryPolicy,
}

impl RemoteAncestry {
    /// Asks the org service at `uri`, presenting `token`.
    pub fn new(uri: &str, token: ServiceToken) -> Result<Self, Status> {
        Ok(Self {
            client: OrgServiceClient::new(jiceng_grpc::channel(uri, REQUEST_TIMEOUT)?),
            poller: OrgServiceClient::new(jiceng_grpc::housekeeping_channel(uri, MAX_STALENESS)?),
            token,
            retry: RetryPolicy::default(),
        })
    }
}

impl AncestryResolver for RemoteAncestry {
    async fn ancestry(&self, org_id: &str) -> Result<Ancestry, Status> {
        with_retries(self.retry, || {
            let mut client = self.client.clone();
            let request = self.token.request(CheckScopeRequest {
                scope_org_id: String::new(),
                org_id: org_id.to_owned(),
            });
            async move {
                let answer = client.check_scope(request?).await?.into_inner();
                Ok(Ancestry {
                    ids: answer.ancestor_ids,
                    generation: answer.tree_generation,
                })
            }
        })
        .await
    }

    async fn paths_generation(&self) -> Result<i64, Status> {
        // No retries: the next round of the watcher is the retry.
        let mut client = self.poller.clone();
        Ok(client
            .get_tree_generation(self.token.request(GetTreeGenerationRequest {})?)
            .await?
            .into_inner()
            .paths_generation)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use super::*;
    use crate::Role;

    /// A tree root → street → committee at a generation a test sets, counting how often it is
    /// asked for ancestry.
    #[derive(Default)]
    struct Tree {
        asked: AtomicUsize,
        generation: AtomicI64,
    }

    impl AncestryResolver for &Tree {
        async fn ancestry(&self, org_id: &str) -> Result<Ancestry, Status> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let chain = ["root", "street", "committee"];
            let end = chain
                .iter()
                .position(|id| *id == org_id)
                .ok_or_else(|| Status::not_found("no unit"))?;
            Ok(Ancestry {
                ids: chain[..=end].iter().map(|s| s.to_string()).collect(),
                generation: self.generation.load(Ordering::SeqCst),
            })
        }

        async fn paths_generation(&self) -> Result<i64, Status> {
            Ok(self.generation.load(Ordering::SeqCst))
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
    async fn answers_are_cached_while_confirmed_and_dropped_when_a_move_runs_through_them() {
        let tree = Tree::default();
        let cache = ScopeCache::new(&tree, 100);
        // Nothing confirmed yet: every answer comes from the authority.
        cache
            .check(&admin_of("street"), "committee")
            .await
            .expect("inside");
        cache
            .check(&admin_of("street"), "committee")
            .await
            .expect("inside");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 2);

        cache.confirm(0, Instant::now());
        cache
            .check(&admin_of("street"), "committee")
            .await
            .expect("inside");
        assert_eq!(
            tree.asked.load(Ordering::SeqCst),
            2,
            "confirmed: served from the cache"
        );
        let outside = cache
            .check(&admin_of("committee"), "street")
            .await
            .map_err(|s| s.code());
        assert_eq!(outside, Err(tonic::Code::PermissionDenied));

        // The move's event reached this replica.
        tree.generation.store(7, Ordering::SeqCst);
        cache.invalidate_subtree("street", 7);
        assert!(cache.is_empty());
        cache
            .check(&admin_of("root"), "committee")
            .await
            .expect("inside");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_move_whose_event_went_to_another_replica_is_seen_at_the_next_confirmation() {
        let tree = Tree::default();
        let cache = ScopeCache::new(&tree, 100);
        cache.confirm(0, Instant::now());
        cache.ancestry("committee").await.expect("ancestry");
        cache.ancestry("committee").await.expect("ancestry");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 1);
        tree.generation.store(3, Ordering::SeqCst);
        cache.confirm(3, Instant::now());
        let fresh = cache.ancestry("committee").await.expect("ancestry");
        assert_eq!(fresh.generation, 3);
        assert_eq!(tree.asked.load(Ordering::SeqCst), 2);
        // A confirmation asked before a newer one lowers nothing.
        cache.confirm(0, Instant::now() - Duration::from_millis(100));
        cache.ancestry("committee").await.expect("ancestry");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_old_confirmation_sends_every_answer_to_the_authority() {
        let tree = Tree::default();
        let cache = ScopeCache::new(&tree, 100);
        cache.confirm(0, Instant::now() - MAX_STALENESS);
        cache.ancestry("street").await.expect("ancestry");
        cache.ancestry("street").await.expect("ancestry");
        assert_eq!(tree.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_watcher_confirms_and_stops_when_asked() {
        let tree = Tree::default();
        let cache = ScopeCache::new(&tree, 100);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let watch = cache.watch(Duration::from_millis(10), async {
            let _ = stopped.await;
        });
        let probe = async {
            for _ in 0..100 {
                if lock(&cache.confirmed).is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cache.ancestry("street").await.expect("ancestry");
            cache.ancestry("street").await.expect("ancestry");
            let _ = stop.send(());
        };
        tokio::join!(watch, probe);
        assert_eq!(tree.asked.load(Ordering::SeqCst), 1);
    }
}
