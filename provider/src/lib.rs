//! terraform-provider-k3s as a library: the plugin runtime and the resources it serves.
//!
//! - [`runtime`]: the Terraform plugin protocol v6 server: handshake, mutual TLS, gRPC
//!   services, cty values, schemas, the protocol's plan and apply rules. Knows nothing of K3s.
//! - [`resources`]: one file per resource and data source, calling `k3s-sdk`.
//!
//! The binary `terraform-provider-k3s` wires the two together.

pub mod resources;
pub mod runtime;
