//! The transactional outbox: events written with the change, relayed over gRPC at least once, deduplicated by the consumer.
