//! The member service as the other services ask it: whether members a caller names exist, are
//! still members, and which org holds each, before anything credits them.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _, stream};
use jiceng_auth::ServiceToken;
use jiceng_grpc::{RetryPolicy, TracedChannel, with_retries};
use jiceng_proto::member::{
    GetMemberRequest, MemberStatus, member_service_client::MemberServiceClient,
};
use tonic::{Code, Status};

/// How many lookups run at once: a list of a hundred attendees answers in a few round trips
/// without one caller taking over the member service.
const CONCURRENT_LOOKUPS: usize = 8;

/// A member as another service needs to know them: no personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollEntry {
    pub member_id: String,
    /// The unit that holds the member's organisational relation.
    pub org_id: String,
    /// Still a member of the district: not transferred out, deceased or removed.
    pub active: bool,
}

/// A client of the member service's `GetMember`, presenting the platform's internal token
/// (which sees every member of the district, masked).
#[derive(Clone, Debug)]
pub struct MemberRoll {
    channel: TracedChannel,
    token: ServiceToken,
}

/// The member service a call needs, or FAILED_PRECONDITION saying that `what` needs it and
/// this deployment does not give it.
pub fn required<'a>(
    roll: Option<&'a MemberRoll>,
    subject: &str,
    what: &str,
) -> Result<&'a MemberRoll, Status> {
    roll.ok_or_else(|| {
        jiceng_grpc::status::failed_precondition(
            "MEMBER_SERVICE_UNCONFIGURED",
            subject,
            format!("{what} need the member service, which this deployment does not give"),
        )
    })
}

impl MemberRoll {
    /// Reaches the member service at `uri`, presenting `token`.
    pub fn new(uri: &str, token: ServiceToken) -> Result<Self, Status> {
        Ok(Self {
            channel: jiceng_grpc::channel(uri, Duration::from_secs(10))?,
            token,
        })
    }

    /// Each of `member_ids` as the member service knows it, in order: `None` for an id that is
    /// no member. An unreachable member service is an error, not an answer.
    pub async fn look_up(&self, member_ids: &[String]) -> Result<Vec<Option<RollEntry>>, Status> {
        // Each lookup owns what it uses, so the stream is `Send` for any caller's future.
        let lookups: Vec<_> = member_ids
            .iter()
            .map(|id| {
                let (roll, id) = (self.clone(), id.clone());
                async move { roll.entry(&id).await }
            })
            .collect();
        stream::iter(lookups)
            .buffered(CONCURRENT_LOOKUPS)
            .try_collect()
            .await
    }

    async fn entry(&self, member_id: &str) -> Result<Option<RollEntry>, Status> {
        let found = with_retries(RetryPolicy::default(), || {
            let mut client = MemberServiceClient::new(self.channel.clone());
            let request = self.token.request(GetMemberRequest {
                id: member_id.to_owned(),
                reveal_personal_data: false,
                reveal_reason: String::new(),
            });
            async move { client.get_member(request?).await }
        })
        .await;
        match found {
            Ok(member) => {
                let member = member.into_inner();
                let active = !matches!(
                    MemberStatus::try_from(member.status),
                    Ok(MemberStatus::TransferredOut
                        | MemberStatus::Deceased
                        | MemberStatus::Removed
                        | MemberStatus::Unspecified)
                        | Err(_)
                );
                Ok(Some(RollEntry {
                    member_id: member.id,
                    org_id: member.org_id,
                    active,
                }))
            }
            // An id that is not a member id at all is as unknown as one nobody holds.
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                Ok(None)
            }
            Err(status) => Err(status),
        }
    }
}
