//! Compiles the public API proto with protox (pure Rust, no protoc) and generates the tonic
//! server and client, plus the descriptor set that reflection and proto3 JSON printing use.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTO: &str = "proto/zoloz/verdict/v1/verdict_service.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile([PROTO], ["proto"])?;
    fs::write(out_dir.join("verdict_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // prost's codec, except that a request that does not decode is INVALID_ARGUMENT with
        // ErrorInfo and a BadRequest, not a bare INTERNAL (src/grpc/codec.rs).
        .codec_path("crate::grpc::codec::VerdictCodec")
        // Images can be megabytes: share the buffer instead of copying it into a Vec.
        .bytes(".zoloz.verdict.v1.Image.content")
        .bytes(".zoloz.verdict.v1.EvaluateVerificationResultRequest.response_body")
        // Image bytes and response bodies never reach Debug output; src/pb.rs writes theirs.
        .skip_debug([
            ".zoloz.verdict.v1.Image",
            ".zoloz.verdict.v1.EvaluateVerificationResultRequest",
        ])
        .compile_fds_with_config(fds, {
            let mut config = tonic_prost_build::Config::new();
            // `prost::Name` lets pb::to_json find each message's descriptor.
            config.enable_type_names();
            config
        })?;
    Ok(())
}
