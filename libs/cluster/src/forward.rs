//! gRPC to a pod through the API server's port-forward: what an operator outside the
//! cluster's network (and its NetworkPolicies) can reach.

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::ClusterError;

/// A channel whose one connection is a port-forward stream to `pod`'s `port`.
pub(crate) async fn channel_to(
    pods: &Api<Pod>,
    pod: &str,
    port: u16,
) -> Result<Channel, ClusterError> {
    let unreachable = |reason: String| ClusterError::Service {
        service: pod.to_owned(),
        reason,
    };
    let mut forwarder = pods.portforward(pod, &[port]).await?;
    let stream = forwarder
        .take_stream(port)
        .ok_or_else(|| unreachable(format!("port-forward gave no stream for port {port}")))?;
    // The forward carries one connection: the channel must not dial a second time.
    let slot = Arc::new(Mutex::new(Some(stream)));
    let connector = tower::service_fn(move |_: Uri| {
        let stream = slot.lock().ok().and_then(|mut slot| slot.take());
        async move {
            stream
                .map(TokioIo::new)
                .ok_or_else(|| std::io::Error::other("the port-forward stream is already in use"))
        }
    });
    let channel = Endpoint::from_static("http://pod.port-forward")
        .connect_with_connector(connector)
        .await
        .map_err(|e| unreachable(format!("gRPC over port-forward: {e}")))?;
    tokio::spawn(async move {
        if let Err(err) = forwarder.join().await {
            tracing::debug!(error = %err, "port-forward ended");
        }
    });
    Ok(channel)
}
