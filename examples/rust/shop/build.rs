//! Generates the example domain's messages (proto/examples/domains.proto,
//! module `shop::pb`) with protox — no protoc needed — and keeps their
//! descriptors, which the log projector uses to print events as JSON.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../../proto");
    let file = proto.join("examples/domains.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("domains.bin"), prost::Message::encode_to_vec(&fds))?;
    let mut config = prost_build::Config::new();
    // prost::Name for every message, with the type URLs of google.protobuf.Any.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    config.compile_fds(fds)?;
    Ok(())
}
