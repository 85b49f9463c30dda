//! Generated protobuf and gRPC types for every jiceng API, with the descriptor set for reflection.

/// The encoded `FileDescriptorSet` of every jiceng proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/jiceng_descriptor.bin"));

// The module tree mirrors the proto packages because generated code refers across packages
// with `super::` paths.
#[allow(
    missing_docs,
    clippy::all,
    unused_qualifications,
    missing_debug_implementations
)]
pub mod io {
    pub mod cloudevents {
        pub mod v1 {
            tonic::include_proto!("io.cloudevents.v1");
        }
    }
}

/// `google.rpc`: the error model (`Status` and its standard details) the HTTP/JSON transcoding
/// answers with.
#[allow(
    missing_docs,
    clippy::all,
    unused_qualifications,
    missing_debug_implementations
)]
pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub mod event_types;

#[allow(
    missing_docs,
    clippy::all,
    unused_qualifications,
    missing_debug_implementations
)]
pub mod jiceng {
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("jiceng.audit.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("jiceng.events.v1");
        }
    }
    pub mod grid {
        pub mod v1 {
            tonic::include_proto!("jiceng.grid.v1");
        }
    }
    pub mod member {
        pub mod v1 {
            tonic::include_proto!("jiceng.member.v1");
        }
    }
    pub mod notify {
        pub mod v1 {
            tonic::include_proto!("jiceng.notify.v1");
        }
    }
    pub mod org {
        pub mod v1 {
            tonic::include_proto!("jiceng.org.v1");
        }
    }
    pub mod property {
        pub mod v1 {
            tonic::include_proto!("jiceng.property.v1");
        }
    }
}

/// The CNCF CloudEvents protobuf binding: the envelope of every event between services.
pub use io::cloudevents::v1 as cloudevents;
/// `jiceng.audit.v1`: records of personal data revealed in clear.
pub use jiceng::audit::v1 as audit;
/// `jiceng.events.v1`: the sink every event consumer serves.
pub use jiceng::events::v1 as events;
/// `jiceng.grid.v1`: grids, categories and the case workflow.
pub use jiceng::grid::v1 as grid;
/// `jiceng.member.v1`: party members and their development pipeline.
pub use jiceng::member::v1 as member;
/// `jiceng.notify.v1`: notifications, inboxes and live streams.
pub use jiceng::notify::v1 as notify;
/// `jiceng.org.v1`: the organisation tree.
pub use jiceng::org::v1 as org;
/// `jiceng.property.v1`: property companies, compounds and disclosures in a transparency log.
pub use jiceng::property::v1 as property;
