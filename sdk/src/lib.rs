//! The embeddable library under terraform-provider-k3s.
//!
//! It takes plain Linux hosts to a running K3s cluster and reads the live state back. It knows
//! nothing about Terraform: any Rust tool can use it.
//!
//! The library is layered like this, each layer usable on its own and behind a cargo feature
//! of the same name (all on by default):
//! - [`oci`] (feature `oci`): OCI request signing, config files and typed API clients;
//! - [`ssh`] (feature `ssh`): connections to nodes, command execution, file transfer,
//!   privilege escalation, port forwarding;
//! - [`k3s`] (feature `k3s`, which needs `ssh` and `kubernetes`): desired K3s configuration
//!   turned into files and services on a node, read back for drift; a node's Node object read,
//!   drained and deleted through the API.
//!
//! - [`kubernetes`] (feature `kubernetes`): a Kubernetes API client on the `kube` crate, from
//!   a kubeconfig, and with `ssh` also through a server node over SSH (without `ssh` it builds
//!   without the SSH stack);
//! - [`argocd`] (feature `argocd`): Argo CD installed at a pinned version with server-side
//!   apply, its repositories and root App-of-Apps Application seeded, its live state read.
//!
//! Always there: [`Secret`], the type every layer holds secrets in, and [`home`], `~/` in paths.
//!
//! An embedder who only signs OCI requests builds without the SSH stack:
//! `k3s-sdk = { version = "…", default-features = false, features = ["oci"] }`.
//!
//! Names do not clash between layers, so both can be imported at once:
//!
//! ```
//! use k3s_sdk::k3s::Unit; // the systemd unit K3s runs as
//! use k3s_sdk::oci::Service; // an OCI API (its endpoint name)
//!
//! assert_eq!(Unit::Server.name(), "k3s");
//! assert_eq!(Service::Iaas.api_version(), "/20160918");
//! ```

pub mod home;
mod secret;

pub use secret::Secret;

#[cfg(feature = "argocd")]
pub mod argocd;
#[cfg(feature = "k3s")]
pub mod k3s;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
#[cfg(feature = "oci")]
pub mod oci;
#[cfg(feature = "ssh")]
pub mod ssh;
