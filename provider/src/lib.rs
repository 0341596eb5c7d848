//! terraform-provider-k3s as a library: the provider and the resources it serves, on the
//! plugin runtime (`tfplugin-runtime`, which knows nothing of K3s) and the SDK (`k3s-sdk`,
//! which knows nothing of Terraform).
//!
//! - [`provider`]: the provider block (model, schema, what `configure` makes of it);
//! - [`resources`]: one file per resource and data source, and the list of them;
//! - what the resources share, each module one job: [`lifecycle`] (the apply paths, private state,
//!   failure diagnostics), [`ssh_target`] (SSH settings to a target), [`host_location`] (an address
//!   or an OCI instance), [`node`] (the attributes and lifecycle every K3s node has),
//!   [`nlb_backend`], [`kubeconfig`], [`oci_profiles`], [`validators`].
//!
//! The binary `terraform-provider-k3s` serves [`provider::K3sProvider`].

pub mod cluster_access;
pub mod host_location;
pub mod kubeconfig;
pub mod lifecycle;
pub mod nlb_backend;
pub mod node;
pub mod oci_profiles;
pub mod provider;
pub mod resources;
pub mod ssh_target;
pub mod validators;
