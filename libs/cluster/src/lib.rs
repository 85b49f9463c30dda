//! Operators' view of a deployed district through the Kubernetes API: each service's rollout,
//! its gRPC health through the API server's port-forward, and a smoke scenario whose trace an
//! operator can open.

mod forward;
mod smoke;
mod status;

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use kube::{Api, Client, api::ListParams};

pub use smoke::{SmokeReport, smoke};
pub use status::{Health, Rollout, human_age, render_status, status};

/// The port every jiceng service serves gRPC on in the chart.
pub const GRPC_PORT: u16 = 50051;

/// What went wrong talking to the cluster or the district's services.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(
        "no jiceng release {release:?} in namespace {namespace:?} (no Deployment labelled for it)"
    )]
    NoRelease { namespace: String, release: String },
    #[error("{service}: {reason}")]
    Service { service: String, reason: String },
    #[error("{step}: {status}")]
    Call {
        step: &'static str,
        status: Box<tonic::Status>,
    },
}

/// One jiceng release in one namespace: the unit an operator looks at.
#[derive(Clone)]
pub struct Release {
    client: Client,
    namespace: String,
    name: String,
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Release")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Release {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The release's Deployments (one per service), found by the chart's labels.
    async fn deployments(&self) -> Result<Vec<Deployment>, ClusterError> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector = format!(
            "app.kubernetes.io/part-of=jiceng,app.kubernetes.io/instance={}",
            self.name
        );
        let mut deployments = api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
        if deployments.is_empty() {
            return Err(ClusterError::NoRelease {
                namespace: self.namespace.clone(),
                release: self.name.clone(),
            });
        }
        deployments.sort_by_key(|d| service_of(d).to_owned());
        Ok(deployments)
    }

    /// The pods a Deployment selects.
    async fn pods_of(&self, deployment: &Deployment) -> Result<Vec<Pod>, ClusterError> {
        let selector = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.selector.match_labels.as_ref())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let mut pods = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

/// The jiceng service a Deployment runs: the chart's component label.
fn service_of(deployment: &Deployment) -> &str {
    deployment
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get("app.kubernetes.io/component"))
        .map_or("?", String::as_str)
}

/// The pod's Ready condition holds: it passed its readiness probe.
fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}
