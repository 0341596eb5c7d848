//! The test bed for terraform-provider-k3s: real Linux nodes, local stand-ins and a real
//! Terraform, used by the end-to-end tests, the benchmarks and the local sandbox demo.
//!
//! - [`testbed`]: boots Linux nodes (systemd + OpenSSH) in namespaces on this machine;
//! - [`artifacts`]: a local HTTP server for installers, binaries and manifests;
//! - [`terraform`]: runs a real Terraform against the freshly built provider.

pub mod argocd;
pub mod artifacts;
pub mod terraform;

pub mod testbed;

pub mod standin;

pub mod oci;
