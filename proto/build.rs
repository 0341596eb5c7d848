//! Compiles `proto/*.proto` into prost messages and tonic services.
//!
//! protox parses the files in pure Rust (it also ships the `google/protobuf/*` well-known
//! types), so building this crate never needs a system `protoc`.

use std::error::Error;

/// The protocol files, relative to the crate root.
const PROTOS: &[&str] = &[
    "proto/tfplugin6.proto",
    "proto/grpc_controller.proto",
    "proto/grpc_stdio.proto",
    "proto/grpc_broker.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    // `protox::Error` renders the offending file and position through its Display impl.
    let descriptors = protox::compile(PROTOS, ["proto"])?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Every RPC gets a default body returning `Unimplemented`, so a server implements only
        // what it supports; server streams are then `BoxStream<_>` instead of associated types.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
