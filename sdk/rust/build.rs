//! Generates the wire types and gRPC services of proto/evented/evented.proto
//! (module `evented::pb`) with protox, a protobuf compiler in Rust: no
//! protoc needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let file = proto.join("evented/evented.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto])?;
    let mut config = prost_build::Config::new();
    // prost::Name for every message, with the type URLs of google.protobuf.Any.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure().compile_fds_with_config(fds, config)?;
    Ok(())
}
