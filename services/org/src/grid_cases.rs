//! The grid service as the org service asks it: whether the case a joint meeting takes up exists.

use std::time::Duration;

use jiceng_auth::ServiceToken;
use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::grid::{GetCaseRequest, case_service_client::CaseServiceClient};
use tonic::{Code, Status};

/// A client of the grid service's `GetCase`, presenting the platform's internal token (which
/// sees every case of the district).
#[derive(Clone, Debug)]
pub struct GridCases {
    channel: TracedChannel,
    token: ServiceToken,
}

impl GridCases {
    /// Reaches the grid service at `uri`, presenting `token`.
    pub fn new(uri: &str, token: ServiceToken) -> Result<Self, Status> {
        Ok(Self {
            channel: jiceng_grpc::channel(uri, Duration::from_secs(10))?,
            token,
        })
    }

    /// Whether the grid service has a case `case_id`. An unreachable grid service is an error,
    /// not an answer.
    pub async fn exists(&self, case_id: &str) -> Result<bool, Status> {
        let found = with_retries(RetryPolicy::default(), || {
            let mut client = CaseServiceClient::new(self.channel.clone());
            let request = self.token.request(GetCaseRequest {
                id: case_id.to_owned(),
                reveal_reporter_contact: false,
                reveal_reason: String::new(),
            });
            async move { client.get_case(request?).await }
        })
        .await;
        match found {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(status),
        }
    }
}
