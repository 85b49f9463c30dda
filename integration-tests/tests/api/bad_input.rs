//! Bad input from another system, at every unary RPC of every service: random bytes and random
//! protobuf wire data (known and unknown field numbers, every wire type, invalid UTF-8, nested
//! garbage) as an admin sends them. No call may panic, hang or fail as INTERNAL/UNKNOWN; the
//! server stays healthy and the data already stored is unchanged. Text that PostgreSQL refuses
//! but SQLite takes (a NUL byte, say) is refused cleanly on both. Oversized messages are refused.
//!
//! Runs on SQLite, and on PostgreSQL when `JICENG_TEST_DATABASE_URL` is set.
//! `JICENG_FUZZ_INPUTS` sets the inputs per RPC (default 40), or `JICENG_FUZZ_PER_SERVICE` a
//! budget per service shared by its RPCs (the long run: 100000); `JICENG_FUZZ_SEED` repeats a
//! run.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    Platform,
    raw::{self, call},
};
use jiceng_auth::Role;
use jiceng_proto::org as pb;
use jiceng_testkit::{TestDatabase, bearer, on_both_backends};
use prost::Message;
use tonic::Code;

/// Random protobuf wire data: fields 1–20 (and a few far ones) of every wire type, with
/// varints at their edges, strings that are not UTF-8, and nested messages of the same.
fn random_message(rng: &mut fastrand::Rng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.usize(0..8) {
        let field = if rng.u8(..) < 240 {
            rng.u32(1..=20)
        } else {
            rng.u32(21..100_000)
        };
        match rng.u8(0..4) {
            0 => {
                prost::encoding::encode_key(field, prost::encoding::WireType::Varint, &mut out);
                let value = match rng.u8(0..4) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => i64::MIN as u64,
                    _ => rng.u64(0..1_000),
                };
                prost::encoding::encode_varint(value, &mut out);
            }
            1 => {
                prost::encoding::encode_key(
                    field,
                    prost::encoding::WireType::SixtyFourBit,
                    &mut out,
                );
                out.extend_from_slice(&rng.u64(..).to_le_bytes());
            }
            2 => {
                prost::encoding::encode_key(
                    field,
                    prost::encoding::WireType::ThirtyTwoBit,
                    &mut out,
                );
                out.extend_from_slice(&rng.u32(..).to_le_bytes());
            }
            _ => {
                let payload: Vec<u8> = match rng.u8(0..4) {
                    0 if depth < 3 => random_message(rng, depth + 1),
                    1 => "浦东新区".repeat(rng.usize(0..200)).into_bytes(),
                    2 => vec![0xff, 0xfe, 0x00, 0xc3],
                    _ => (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect(),
                };
                prost::encoding::encode_key(
                    field,
                    prost::encoding::WireType::LengthDelimited,
                    &mut out,
                );
                prost::encoding::encode_varint(payload.len() as u64, &mut out);
                out.extend_from_slice(&payload);
            }
        }
    }
    out
}

/// One input: random bytes, random wire data, or wire data cut short.
fn random_input(rng: &mut fastrand::Rng) -> Bytes {
    let bytes = match rng.u8(0..4) {
        0 => (0..rng.usize(0..256)).map(|_| rng.u8(..)).collect(),
        1 => {
            let mut message = random_message(rng, 0);
            message.truncate(rng.usize(0..=message.len()));
            message
        }
        _ => random_message(rng, 0),
    };
    Bytes::from(bytes)
}

/// The name of a call's outcome, after asserting that it failed cleanly: no INTERNAL from a
/// handler, no UNKNOWN (a panic), no UNAVAILABLE or DATA_LOSS.
fn clean_outcome(method: &str, input: &Bytes, outcome: &Result<Bytes, tonic::Status>) -> String {
    match outcome {
        Ok(_) => "Ok".to_owned(),
        // gRPC's own answer to bytes that are not the request message (its status-code
        // table: "error parsing request proto", INTERNAL), given before any handler runs.
        Err(status)
            if status.code() == Code::Internal
                && status
                    .message()
                    .starts_with("failed to decode Protobuf message") =>
        {
            "Internal (undecodable)".to_owned()
        }
        Err(status) => {
            assert!(
                !matches!(
                    status.code(),
                    Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
                ),
                "{method} failed on {input:?}: {status:?}"
            );
            format!("{:?}", status.code())
        }
    }
}

async fn snapshot(platform: &Platform) -> Vec<pb::Unit> {
    common::snapshot(&mut platform.admin().await, &platform.root_id).await
}

async fn random_input_to_every_rpc_fails_cleanly_and_damages_nothing(db: TestDatabase) {
    let platform = Platform::start_demo(db).await;
    let before = snapshot(&platform).await;
    let auth = bearer("fuzz-admin", &[Role::DistrictAdmin], &platform.root_id);
    let setting = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
    };
    let inputs = setting("JICENG_FUZZ_INPUTS").unwrap_or(40);
    // A budget per service instead: each of its RPCs gets an equal share.
    let per_service = setting("JICENG_FUZZ_PER_SERVICE");
    let seed = std::env::var("JICENG_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("JICENG_FUZZ_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let unary: Vec<raw::Method> = raw::methods()
        .into_iter()
        .filter(|method| !method.client_streaming && !method.server_streaming)
        .collect();
    let package = |method: &raw::Method| {
        method
            .service
            .rsplit_once('.')
            .map_or(String::new(), |(package, _)| package.to_owned())
    };
    let mut per_package = std::collections::BTreeMap::<String, usize>::new();
    for method in &unary {
        *per_package.entry(package(method)).or_default() += 1;
    }
    let inputs_for = |method: &raw::Method| match per_service {
        Some(budget) => budget.div_ceil(per_package[&package(method)]),
        None => inputs,
    };
    let mut sent = std::collections::BTreeMap::<String, usize>::new();
    let methods: Vec<(String, usize)> = unary
        .iter()
        .map(|method| {
            *sent.entry(package(method)).or_default() += inputs_for(method);
            (method.path.clone(), inputs_for(method))
        })
        .collect();
    assert!(
        methods.len() > 100,
        "every service's methods: {}",
        methods.len()
    );
    let channel = platform.channel().await;
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for (method, inputs) in &methods {
        for _ in 0..*inputs {
            let input = random_input(&mut rng);
            let outcome = tokio::time::timeout(
                Duration::from_secs(15),
                call(channel.clone(), &auth, method, input.clone()),
            )
            .await
            .unwrap_or_else(|_| panic!("{method} hung on {input:?}"));
            *codes
                .entry(clean_outcome(method, &input, &outcome))
                .or_default() += 1;
        }
    }
    println!(
        "{} inputs over {} unary RPCs ({sent:?} by package): {codes:?}",
        sent.values().sum::<usize>(),
        methods.len()
    );

    // Still serving, and what was stored before is as it was (units the fuzz may have added
    // aside: no input names an existing unit).
    let after = snapshot(&platform).await;
    for unit in &before {
        assert!(after.contains(unit), "unit {} changed or vanished", unit.id);
    }
    platform.stop().await;
}

/// Text that PostgreSQL cannot hold (a NUL byte) or compare with an id (not a UUID), in each of
/// the first string fields of every unary RPC: SQLite takes such text as it comes, PostgreSQL
/// refuses it, and on both the caller must hear a clean refusal rather than INTERNAL.
async fn text_the_database_refuses_is_a_clean_refusal_at_every_rpc(db: TestDatabase) {
    let platform = Platform::start_demo(db).await;
    let before = snapshot(&platform).await;
    let auth = bearer("fuzz-admin", &[Role::DistrictAdmin], &platform.root_id);
    let channel = platform.channel().await;
    let values = [
        "P\0".to_owned(),
        format!("{}\0", platform.root_id),
        "x".repeat(10_000),
    ];
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let unary = raw::methods()
        .into_iter()
        .filter(|method| !method.client_streaming && !method.server_streaming);
    for method in unary {
        for field in 1..=6 {
            for value in &values {
                let mut input = Vec::new();
                prost::encoding::string::encode(field, value, &mut input);
                let input = Bytes::from(input);
                let outcome = tokio::time::timeout(
                    Duration::from_secs(15),
                    call(channel.clone(), &auth, &method.path, input.clone()),
                )
                .await
                .unwrap_or_else(|_| panic!("{} hung on {input:?}", method.path));
                *codes
                    .entry(clean_outcome(&method.path, &input, &outcome))
                    .or_default() += 1;
            }
        }
    }
    println!("{codes:?}");
    let after = snapshot(&platform).await;
    for unit in &before {
        assert!(after.contains(unit), "unit {} changed or vanished", unit.id);
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_four_mebibytes_is_refused_before_it_is_read() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let auth = bearer("admin", &[Role::DistrictAdmin], &platform.root_id);
    let mut body = Vec::new();
    let name = "名".repeat(2 * 1024 * 1024);
    pb::CreateUnitRequest {
        parent_id: platform.root_id.clone(),
        name,
        ..Default::default()
    }
    .encode(&mut body)
    .expect("encode");
    assert!(body.len() > 4 * 1024 * 1024);
    let refused = call(
        platform.channel().await,
        &auth,
        "/jiceng.org.v1.OrgService/CreateUnit",
        Bytes::from(body),
    )
    .await
    .expect_err("too large");
    assert!(
        matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{refused:?}"
    );
    platform.stop().await;
}

on_both_backends!(
    random_input_to_every_rpc_fails_cleanly_and_damages_nothing,
    text_the_database_refuses_is_a_clean_refusal_at_every_rpc
);
