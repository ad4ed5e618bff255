fn main() {
    let proto_dir = "../proto";
    let proto = "../proto/kelpie/agent/v1/agent.proto";
    println!("cargo:rerun-if-changed={}", proto);
    prost_build::Config::new()
        .compile_protos(&[proto], &[proto_dir])
        .expect("compiling agent.proto (needs protoc from the protobuf-compiler package)");
}
