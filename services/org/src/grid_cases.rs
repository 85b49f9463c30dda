//! The grid service as the org service asks it: whether the case a joint meeting takes up exists.

use std::time::Duration;

use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::grid::{GetCaseRequest, case_service_client::CaseServiceClient};
use tonic::{
    Code, Request, Status,
    metadata::{Ascii, MetadataValue},
};

/// A client of the grid service's `GetCase`, presenting the platform's service token (whose
/// district-wide scope sees every case).
#[derive(Clone, Debug)]
pub struct GridCases {
    channel: TracedChannel,
    bearer: MetadataValue<Ascii>,
}

impl GridCases {
    /// Reaches the grid service at `uri`, presenting `service_token`.
    pub fn new(uri: &str, service_token: &str) -> Result<Self, Status> {
        Ok(Self {
            channel: jiceng_grpc::channel(uri, Duration::from_secs(10))?,
            bearer: jiceng_grpc::bearer(service_token)?,
        })
    }

    /// Whether the grid service has a case `case_id`. An unreachable grid service is an error,
    /// not an answer.
    pub async fn exists(&self, case_id: &str) -> Result<bool, Status> {
        let found = with_retries(RetryPolicy::default(), || {
            let mut client = CaseServiceClient::new(self.channel.clone());
            let mut request = Request::new(GetCaseRequest {
                id: case_id.to_owned(),
                reveal_reporter_contact: false,
                reveal_reason: String::new(),
            });
            request
                .metadata_mut()
                .insert("authorization", self.bearer.clone());
            async move { client.get_case(request).await }
        })
        .await;
        match found {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(status),
        }
    }
}
