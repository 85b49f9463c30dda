//! `jiceng cluster smoke`: a short scenario against a deployed district, all in one trace:
//! create a smoke category, report a case twice, merge the duplicate (grid tells the reporter
//! through notify), wait for the notice in the caller's inbox, and reject the smoke case so
//! nothing is left open.

use std::time::{Duration, Instant};

use base64::Engine;
use jiceng_proto::{
    grid::{
        self as grid_pb, case_service_client::CaseServiceClient,
        grid_service_client::GridServiceClient,
    },
    notify::{ListInboxRequest, notify_service_client::NotifyServiceClient},
};
use tonic::{Code, Request, Status, metadata::MetadataValue, transport::Channel};

use crate::{ClusterError, GRPC_PORT, Release, forward::channel_to, is_ready, service_of};

/// The category smoke cases are filed under, so that nobody mistakes them for real reports.
pub const SMOKE_CATEGORY: &str = "jiceng.smoke";

/// What the smoke scenario did, for the operator to look up.
#[derive(Clone, Debug)]
pub struct SmokeReport {
    /// The W3C trace id every call of the scenario carried: search for it in the trace UI.
    pub trace_id: String,
    pub case_id: String,
    pub duplicate_case_id: String,
    pub notification_id: String,
    /// Each step and how long it took.
    pub steps: Vec<(&'static str, Duration)>,
}

/// Runs the scenario with `token` (a district or street admin's) and waits up to `wait` for
/// the notice.
pub async fn smoke(
    release: &Release,
    token: &str,
    org_id: Option<&str>,
    wait: Duration,
) -> Result<SmokeReport, ClusterError> {
    let org_id = match org_id {
        Some(id) => id.to_owned(),
        None => scope_org_of(token)?,
    };
    let trace = Trace::new(token)?;
    let deployments = release.deployments().await?;
    let channel_of = async |service: &str| -> Result<Channel, ClusterError> {
        let unavailable = |reason: &str| ClusterError::Service {
            service: service.to_owned(),
            reason: reason.to_owned(),
        };
        let deployment = deployments
            .iter()
            .find(|d| service_of(d) == service)
            .ok_or_else(|| unavailable("not deployed in this release"))?;
        let pods = release.pods_of(deployment).await?;
        let pod = pods
            .iter()
            .find(|p| is_ready(p))
            .and_then(|p| p.metadata.name.as_deref())
            .ok_or_else(|| unavailable("no ready pod"))?;
        channel_to(&release.pods(), pod, GRPC_PORT).await
    };
    let grid_channel = channel_of("grid").await?;
    let mut grids = GridServiceClient::new(grid_channel.clone());
    let mut cases = CaseServiceClient::new(grid_channel);
    let mut notify = NotifyServiceClient::new(channel_of("notify").await?);
    let mut steps = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |steps: &mut Vec<_>, step| {
        steps.push((step, clock.elapsed()));
        clock = Instant::now();
    };

    match grids
        .define_category(trace.request(grid_pb::DefineCategoryRequest {
            category: Some(smoke_category()),
        }))
        .await
    {
        Ok(_) => {}
        Err(status) if status.code() == Code::AlreadyExists => {}
        Err(status) => return Err(call("define the smoke category", status)),
    }
    lap(&mut steps, "create: smoke category");

    let mut reported = Vec::new();
    for attempt in 1..=2 {
        let case = cases
            .report_case(trace.request(grid_pb::ReportCaseRequest {
                category_code: SMOKE_CATEGORY.into(),
                description: format!("jiceng cluster smoke {} ({attempt}/2)", trace.trace_id),
                location: Some(grid_pb::LatLng {
                    latitude: 31.2304,
                    longitude: 121.4737,
                }),
                org_id: org_id.clone(),
                reporter_kind: grid_pb::ReporterKind::GridWorker as i32,
                request_id: format!("smoke-{}-{attempt}", trace.trace_id),
                ..Default::default()
            }))
            .await
            .map_err(|s| call("report a case", s))?
            .into_inner();
        reported.push(case.id);
    }
    lap(&mut steps, "report: two cases");

    let (case_id, duplicate_case_id) = (reported[0].clone(), reported[1].clone());
    cases
        .merge_case(trace.request(grid_pb::MergeCaseRequest {
            case_id: duplicate_case_id.clone(),
            original_case_id: case_id.clone(),
            note: "jiceng cluster smoke".into(),
            etag: String::new(),
            ..Default::default()
        }))
        .await
        .map_err(|s| call("merge the duplicate", s))?;
    lap(&mut steps, "merge: duplicate into the case");

    let deadline = Instant::now() + wait;
    let notification_id = loop {
        let inbox = notify
            .list_inbox(trace.request(ListInboxRequest {
                category: "grid.case.merged".into(),
                page_size: Some(100),
                ..Default::default()
            }))
            .await
            .map_err(|s| call("read the inbox", s))?
            .into_inner();
        let notice = inbox
            .items
            .into_iter()
            .filter_map(|item| item.notification)
            .find(|n| n.trace_id == trace.trace_id);
        if let Some(notice) = notice {
            break notice.id;
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Service {
                service: "notify".into(),
                reason: format!(
                    "no grid.case.merged notice of trace {} within {wait:?}",
                    trace.trace_id
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    lap(&mut steps, "notify: the notice is in the inbox");

    cases
        .reject_case(trace.request(grid_pb::RejectCaseRequest {
            case_id: case_id.clone(),
            note: "jiceng cluster smoke: not a real report".into(),
            etag: String::new(),
            ..Default::default()
        }))
        .await
        .map_err(|s| call("reject the smoke case", s))?;
    lap(&mut steps, "clean up: smoke case rejected");

    Ok(SmokeReport {
        trace_id: trace.trace_id,
        case_id,
        duplicate_case_id,
        notification_id,
        steps,
    })
}

fn call(step: &'static str, status: Status) -> ClusterError {
    ClusterError::Call {
        step,
        status: Box::new(status),
    }
}

fn smoke_category() -> grid_pb::Category {
    let limits = grid_pb::TimeLimits {
        accept_minutes: 60,
        dispatch_minutes: 60,
        handle_minutes: 60,
        verify_minutes: 60,
        overall_minutes: 240,
    };
    grid_pb::Category {
        code: SMOKE_CATEGORY.into(),
        name: "运维冒烟测试".into(),
        attributes: Vec::new(),
        default_handler_kind: "residential_committee".into(),
        clock: grid_pb::ClockKind::Calendar as i32,
        normal: Some(limits),
        urgent: None,
        critical: None,
    }
}

/// The org a token's authority is rooted at (its `scope_org` claim), read without checking the
/// signature: the services check it; here it only chooses where to report.
fn scope_org_of(token: &str) -> Result<String, ClusterError> {
    let invalid = |reason: &str| ClusterError::Service {
        service: "token".into(),
        reason: format!("{reason}; pass --org"),
    };
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| invalid("the JWT payload is not base64url"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("the JWT payload is not JSON"))?;
    claims["scope_org"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid("the token names no scope_org"))
}

/// The caller's side of one trace: every request carries the same trace id under a sampled
/// parent, so the services' spans of the scenario form one trace.
struct Trace {
    trace_id: String,
    traceparent: MetadataValue<tonic::metadata::Ascii>,
    authorization: MetadataValue<tonic::metadata::Ascii>,
}

impl Trace {
    fn new(token: &str) -> Result<Self, ClusterError> {
        let hex = |bytes: usize| -> String {
            (0..bytes)
                .map(|_| format!("{:02x}", fastrand::u8(..)))
                .collect()
        };
        let trace_id = hex(16);
        let traceparent = format!("00-{trace_id}-{}-01", hex(8));
        Ok(Self {
            traceparent: traceparent
                .parse()
                .map_err(|_| call("trace context", Status::internal("traceparent")))?,
            authorization: jiceng_grpc::bearer(token).map_err(|s| call("token", s))?,
            trace_id,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(Duration::from_secs(10));
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.authorization.clone());
        metadata.insert("traceparent", self.traceparent.clone());
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_org_comes_from_the_token_or_an_error_asks_for_org() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"ops","scope_org":"0190-root"}"#);
        assert_eq!(
            scope_org_of(&format!("h.{payload}.s")).expect("claim"),
            "0190-root"
        );
        let err = scope_org_of("not-a-token").expect_err("no payload");
        assert!(err.to_string().contains("--org"), "{err}");
    }
}
