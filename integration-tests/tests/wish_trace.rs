//! A micro-wish fulfilled in the grid service is one trace to its effects: the grid's outbox
//! event, the one points entry the member service awards the claimer, and the one notification
//! notify publishes to the collecting committee's secretary all carry the fulfilling caller's
//! trace id.
//!
//! A file of its own because telemetry is installed once per process.

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
async fn a_fulfilled_wish_is_one_trace_to_its_points_and_its_notice() {
    let collector = OtlpReceiver::start().await;
    let telemetry = common::install_telemetry(&collector);
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
        })
        .await
        .expect("verify");
    centre
        .publish_wish(pb::PublishWishRequest {
            wish_id: wish.id.clone(),
        })
        .await
        .expect("publish");
    // The claimer's app propagates its trace context, as another system's client would.
    let channel =
        jiceng_grpc::channel(&platform.server.uri(), Duration::from_secs(5)).expect("channel");
    let mut claimant = WishServiceClient::with_interceptor(
        channel,
        Bearer::new(&bearer(&claimer, &[Role::Member], &street)),
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
        })
        .instrument(caller_span)
        .await
        .expect("fulfil");

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
    for _ in 0..400 {
        let entries = points.list_ledger(ledger()).await.expect("ledger");
        let notices = inbox
            .list_inbox(ListInboxRequest::default())
            .await
            .expect("inbox");
        if !entries.into_inner().entries.is_empty()
            && !wish_notices(notices.into_inner().items).is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Give a redelivery the time it would take, then count again: once each.
    tokio::time::sleep(Duration::from_millis(300)).await;
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
            names("member.store.award") >= 1 && names("notify.store.publish") >= 1
        })
        .await;
    let caller = spans
        .iter()
        .find(|s| s.name == "volunteer.fulfil")
        .expect("caller span");
    let trace_id = hex(&caller.trace_id);
    assert_eq!(notices[0].trace_id, trace_id, "the notice names the trace");
    let in_trace = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name.contains(name) && s.trace_id == caller.trace_id)
            .count()
    };
    for name in ["FulfilWish", "outbox.deliver", "member.store.award"] {
        assert!(
            in_trace(name) >= 1,
            "a {name} span in the caller's trace among {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }
    // One award in the caller's trace; the publications there are the committee's notice and
    // the claimer's own word of the points approved.
    assert_eq!(in_trace("member.store.award"), 1);
    assert_eq!(in_trace("notify.store.publish"), 2);
}
