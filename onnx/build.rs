//! Generates the ONNX protobuf types from the vendored `proto/onnx.proto` (ONNX 1.23,
//! proto2 syntax, so optional fields keep their presence on a load/save round trip).
//! protox parses the schema in pure Rust: no `protoc` is needed.

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let fds = protox::compile(["onnx.proto"], ["proto"]).expect("proto/onnx.proto must parse");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost code generation for onnx.proto");
}
