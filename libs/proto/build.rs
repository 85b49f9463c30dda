//! Compiles every `.proto` under the workspace's `proto/` with a vendored `protoc`, so that a
//! fresh machine needs no protobuf toolchain, and writes the descriptor set used for reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos = [
        "io/cloudevents/v1/cloudevents.proto",
        // google.rpc.Status with its standard details: the error body of the HTTP/JSON
        // transcoding, read from the descriptor set.
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
        "jiceng/events/v1/events.proto",
        "jiceng/audit/v1/audit.proto",
        "jiceng/org/v1/org.proto",
        "jiceng/org/v1/positions.proto",
        "jiceng/org/v1/alliances.proto",
        "jiceng/org/v1/meetings.proto",
        "jiceng/org/v1/venues.proto",
        "jiceng/org/v1/witness.proto",
        "jiceng/notify/v1/notify.proto",
        "jiceng/member/v1/member.proto",
        "jiceng/grid/v1/grid.proto",
        "jiceng/grid/v1/cases.proto",
        "jiceng/grid/v1/wishes.proto",
        "jiceng/grid/v1/projects.proto",
        "jiceng/property/v1/property.proto",
        "jiceng/property/v1/disclosures.proto",
        "jiceng/property/v1/linkage.proto",
    ]
    .map(|p| root.join(p));

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` gives event payloads their `type.googleapis.com/…` URL for `Any`.
    config.enable_type_names();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("jiceng_descriptor.bin"))
        .compile_with_config(config, &protos, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
