//! Conversions between the property service's values and its protobuf messages, used by the
//! gRPC adapter and by the events the service publishes. One module per gRPC service, like
//! `grpc/`. Checking what a request asks for is the adapter's; these only map.

pub(crate) mod companies;
pub(crate) mod disclosures;
pub(crate) mod linkage;
