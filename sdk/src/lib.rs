//! The embeddable library under terraform-provider-k3s.
//!
//! It takes plain Linux hosts to a running K3s cluster with Argo CD bootstrapped, and reads the
//! live state back. It knows nothing about Terraform: any Rust tool can use it.
//!
//! The library is layered like this, each layer usable on its own:
//! - [`oci`]: OCI request signing, config files and typed API clients;
//! - [`ssh`]: connections to nodes, command execution, file transfer, privilege escalation,
//!   port forwarding;
//! - [`k3s`]: desired K3s configuration turned into files and services on a node;
//! - `argocd`: Argo CD installation and the root App-of-Apps.

pub mod k3s;
pub mod oci;
pub mod ssh;
