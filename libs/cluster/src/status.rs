//! `jiceng cluster status`: each service's rollout and health, as an operator reads it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{ClusterError, GRPC_PORT, Release, forward::channel_to, is_ready, service_of};

/// How long a health check through the port-forward may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Container states that mean a pod will not come up by itself.
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
    "RunContainerError",
];

/// What the gRPC health service of one of a service's pods answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Serving,
    /// Up, but not ready to serve (its database does not answer, or it is shutting down).
    NotServing,
    /// No pod is running to ask.
    NoRunningPod,
    /// The pod could not be asked: the port-forward or the call failed.
    Unreachable(String),
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Serving => f.write_str("SERVING"),
            Health::NotServing => f.write_str("NOT_SERVING"),
            Health::NoRunningPod => f.write_str("NO_POD"),
            Health::Unreachable(_) => f.write_str("UNREACHABLE"),
        }
    }
}

/// One service's rollout, from its Deployment and pods.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub service: String,
    pub deployment: String,
    pub image: String,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    /// Container restarts summed over the service's pods.
    pub restarts: i32,
    pub age: Option<Duration>,
    pub health: Health,
    /// What keeps pods from serving, one line each (e.g. a crash loop and its last exit).
    pub problems: Vec<String>,
}

impl Rollout {
    /// Every replica is up to date and ready, and the service says it serves.
    pub fn is_healthy(&self) -> bool {
        self.ready >= self.desired && self.updated >= self.desired && self.health == Health::Serving
    }
}

/// Reads every service's rollout of `release` and asks one running pod of each for its health.
pub async fn status(release: &Release) -> Result<Vec<Rollout>, ClusterError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut rollouts = Vec::new();
    for deployment in release.deployments().await? {
        let pods = release.pods_of(&deployment).await?;
        let health = health_of(release, &pods).await;
        rollouts.push(rollout(&deployment, &pods, health, now));
    }
    Ok(rollouts)
}

fn rollout(deployment: &Deployment, pods: &[Pod], health: Health, now: Duration) -> Rollout {
    let spec = deployment.spec.as_ref();
    let state = deployment.status.as_ref();
    let image = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|pod| pod.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let created = deployment
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second());
    let mut restarts = 0;
    let mut problems = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for container in pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            restarts += container.restart_count;
            let waiting = container
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if let Some(reason) = waiting.filter(|r| STUCK_REASONS.contains(r)) {
                let last_exit = container
                    .last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| {
                        format!(
                            " (last exit {}{})",
                            t.exit_code,
                            t.reason
                                .as_deref()
                                .map(|r| format!(", {r}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                problems.push(format!(
                    "pod {name}: {reason}, {} restarts{last_exit}",
                    container.restart_count
                ));
            }
        }
    }
    if let Health::Unreachable(reason) = &health {
        problems.push(format!("health: {reason}"));
    }
    Rollout {
        service: service_of(deployment).to_owned(),
        deployment: deployment.metadata.name.clone().unwrap_or_default(),
        image,
        desired: spec.and_then(|s| s.replicas).unwrap_or(1),
        ready: state.and_then(|s| s.ready_replicas).unwrap_or(0),
        updated: state.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: state.and_then(|s| s.available_replicas).unwrap_or(0),
        restarts,
        age: created.map(|secs| now.saturating_sub(Duration::from_secs(secs.max(0) as u64))),
        health,
        problems,
    }
}

fn is_running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Asks a running pod (a ready one if there is one) through the port-forward.
async fn health_of(release: &Release, pods: &[Pod]) -> Health {
    let mut running: Vec<_> = pods.iter().filter(|p| is_running(p)).collect();
    running.sort_by_key(|pod| !is_ready(pod));
    let Some(name) = running.first().and_then(|p| p.metadata.name.as_deref()) else {
        return Health::NoRunningPod;
    };
    let ask = async {
        let channel = channel_to(&release.pods(), name, GRPC_PORT).await?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| ClusterError::Call {
                step: "grpc.health.v1.Health/Check",
                status: Box::new(status),
            })
    };
    match tokio::time::timeout(HEALTH_TIMEOUT, ask).await {
        Err(_) => Health::Unreachable(format!("pod {name}: no answer in {HEALTH_TIMEOUT:?}")),
        Ok(Err(err)) => Health::Unreachable(format!("pod {name}: {err}")),
        Ok(Ok(response)) => match response.into_inner().status() {
            ServingStatus::Serving => Health::Serving,
            _ => Health::NotServing,
        },
    }
}

/// The table `jiceng cluster status` prints, problems under the service they belong to.
pub fn render_status(rollouts: &[Rollout]) -> String {
    let mut out = format!(
        "{:<10} {:<7} {:<10} {:<9} {:<8} {:<7} {:<12} {}\n",
        "SERVICE", "READY", "UP-TO-DATE", "AVAILABLE", "RESTARTS", "AGE", "HEALTH", "IMAGE"
    );
    for r in rollouts {
        out.push_str(&format!(
            "{:<10} {:<7} {:<10} {:<9} {:<8} {:<7} {:<12} {}\n",
            r.service,
            format!("{}/{}", r.ready, r.desired),
            r.updated,
            r.available,
            r.restarts,
            r.age.map(human_age).unwrap_or_else(|| "-".into()),
            r.health.to_string(),
            r.image
        ));
        for problem in &r.problems {
            out.push_str(&format!("  ! {problem}\n"));
        }
    }
    out
}

/// kubectl's style of age: the two largest units.
pub fn human_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(Duration::from_secs(42)), "42s");
        assert_eq!(human_age(Duration::from_secs(5 * 60 + 3)), "5m3s");
        assert_eq!(human_age(Duration::from_secs(2 * 3600 + 15 * 60)), "2h15m");
        assert_eq!(
            human_age(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
    }
}
