//! `jiceng.org.v1.WitnessService`'s messages: witnessed heads.

use jiceng_grpc::timestamp;
use jiceng_proto::org as pb;

use crate::domain::witness::WitnessedHead;

pub(crate) fn witnessed_to_proto(witnessed: WitnessedHead) -> pb::WitnessedHead {
    pb::WitnessedHead {
        log: witnessed.log.as_str().to_owned(),
        tree_size: i64::try_from(witnessed.head.size).unwrap_or(i64::MAX),
        root_hash: witnessed.head.root.to_vec(),
        timestamp: Some(timestamp(witnessed.head.timestamp_ms)),
        signature: witnessed.head.signature,
        witnessed_at: Some(timestamp(witnessed.witnessed_at)),
    }
}
