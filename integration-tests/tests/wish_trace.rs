//! Each step of a micro-wish in the grid service is one trace to its effects: the fulfilling
//! caller's trace carries the grid's outbox event and the one notification notify publishes to
//! the collecting committee's secretary; the confirming admin's trace carries the one points
//! entry the member service awards the claimer, and the claimer's word of it.
//!
//! A test binary of its own because telemetry is installed once per process.

#[allow(dead_code)] // the helpers of the API suite this binary does not need
#[path = "api/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Platform;
use jiceng_auth::Role;
use jiceng_proto::{
    grid::{self as pb, wish_service_client::WishServiceClient},
    member::{self as member_pb, points_service_client::PointsServiceClient},
    notify::ListInboxRequest,
    org::UnitKind,
};
use jiceng_testkit::{Bearer, OtlpReceiver, TestDatabase, bearer};
use tracing::Instrument as _;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wish_step_is_one_trace_to_its_notice_and_its_points() {
    let collector = OtlpReceiver::start().await;
    let telemetry = collector.install_telemetry();
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let admin = || {
        Bearer::new(&bearer(
            "district",
            &[Role::DistrictAdmin],
            &platform.root_id,
        ))
    };
    let mut org = platform.admin().await;
    let street = common::create(
        &mut org,
        &platform.root_id,
        UnitKind::StreetWorkingCommittee,
        "陆家嘴街道党工委",
    )
    .await
    .id;
    let committee = common::create(
        &mut org,
        &street,
        UnitKind::ResidentialCommittee,
        "梅园一村居民区党总支",
    )
    .await
    .id;
    let (claimer, secretary) = common::wish_people(&platform, &street, &committee).await;

    let mut centre = platform.client_as(admin(), WishServiceClient::new).await;
    let wish = centre
        .collect_wish(pb::CollectWishRequest {
            title: "一台助听器".into(),
            beneficiary_name: "王小明".into(),
            org_id: committee.clone(),
            ..Default::default()
        })
        .await
        .expect("collect")
        .into_inner();
    centre
        .verify_wish(pb::VerifyWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("verify");
    centre
        .publish_wish(pb::PublishWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    // The claimer's and the centre's apps propagate their trace context, as another system's
    // client would.
    let channel =
        jiceng_grpc::channel(&platform.server.uri(), Duration::from_secs(5)).expect("channel");
    let mut claimant = WishServiceClient::with_interceptor(
        channel.clone(),
        Bearer::new(&bearer(&claimer, &[Role::Member], &street)),
    );
    let mut confirming = WishServiceClient::with_interceptor(
        channel,
        Bearer::new(&bearer("centre", &[Role::BranchAdmin], &committee)),
    );
    claimant
        .claim_wish(pb::ClaimWishRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .await
        .expect("claim");
    let caller_span = tracing::info_span!("volunteer.fulfil");
    claimant
        .fulfil_wish(pb::FulfilWishRequest {
            wish_id: wish.id.clone(),
            evidence_urls: vec!["https://files.example/gift.jpg".into()],
            ..Default::default()
        })
        .instrument(caller_span)
        .await
        .expect("fulfil");
    confirming
        .confirm_wish_fulfilment(pb::ConfirmWishFulfilmentRequest {
            wish_id: wish.id.clone(),
            ..Default::default()
        })
        .instrument(tracing::info_span!("centre.confirm"))
        .await
        .expect("confirm");

    let mut points = platform
        .client_as(
            Bearer::new(&bearer(&claimer, &[Role::Member], &street)),
            PointsServiceClient::new,
        )
        .await;
    let mut inbox = platform
        .notify_as(Bearer::new(&bearer(
            &secretary,
            &[Role::Member],
            &committee,
        )))
        .await;
    let ledger = || member_pb::ListLedgerRequest {
        member_id: claimer.clone(),
        ..Default::default()
    };
    let wish_notices = |items: Vec<jiceng_proto::notify::InboxItem>| {
        items
            .into_iter()
            .filter_map(|i| i.notification)
            .filter(|n| n.category == "grid.wish.fulfilled")
            .collect::<Vec<_>>()
    };
    // Once every delivery is done, the points and the notice are there, and a redelivery would
    // have shown: once each.
    platform.settle().await;
    let entries = points
        .list_ledger(ledger())
        .await
        .expect("ledger")
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let notices = wish_notices(
        inbox
            .list_inbox(ListInboxRequest::default())
            .await
            .expect("inbox")
            .into_inner()
            .items,
    );
    assert_eq!(notices.len(), 1, "{notices:?}");

    let flusher = std::sync::Arc::clone(&telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("flush");
    let spans = collector
        .wait_for(Duration::from_secs(10), |spans| {
            let names = |name: &str| spans.iter().filter(|s| s.name == name).count();
            // The appointment, the claim, the fulfilment and the points approved.
            names("member.store.award") >= 1 && names("notify.store.publish") >= 4
        })
        .await;
    let span_of = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("a {name} span"))
    };
    let (fulfilling, confirming) = (span_of("volunteer.fulfil"), span_of("centre.confirm"));
    assert_eq!(
        notices[0].trace_id,
        hex(&fulfilling.trace_id),
        "the notice names the fulfilment's trace"
    );
    let (fulfilling, confirming) = (&fulfilling.trace_id, &confirming.trace_id);
    let in_trace = |trace: &Vec<u8>, name: &str| {
        spans
            .iter()
            .filter(|s| s.name.contains(name) && s.trace_id == *trace)
            .count()
    };
    let names = || spans.iter().map(|s| &s.name).collect::<Vec<_>>();
    for (caller, name) in [
        (fulfilling, "FulfilWish"),
        (fulfilling, "outbox.deliver"),
        (confirming, "ConfirmWishFulfilment"),
        (confirming, "outbox.deliver"),
        (confirming, "member.store.award"),
    ] {
        assert!(
            in_trace(caller, name) >= 1,
            "a {name} span in the caller's trace among {:?}",
            names()
        );
    }
    // The fulfilment tells the committee and awards nothing; the confirmation awards once, and
    // its publication is the claimer's own word of the points approved.
    assert_eq!(in_trace(fulfilling, "member.store.award"), 0);
    assert_eq!(in_trace(fulfilling, "notify.store.publish"), 1);
    assert_eq!(in_trace(confirming, "member.store.award"), 1);
    assert_eq!(in_trace(confirming, "notify.store.publish"), 1);
}
