//! The Kubernetes API on the `kube` crate: a client made from a kubeconfig held as a
//! [`Secret`](crate::Secret) (never `$KUBECONFIG` or `~/.kube/config`) or, with the `ssh` feature,
//! reached through a server node over SSH, and the generic operations the layers above need on
//! objects of any kind: server-side apply under a named field manager, get, list and delete, with
//! kinds resolved through discovery once per group version.
//!
//! Objects are plain JSON values, as manifests are:
//!
//! ```no_run
//! # async fn demo(kubeconfig: k3s_sdk::Secret) -> Result<(), k3s_sdk::kubernetes::Error> {
//! use k3s_sdk::kubernetes::{ApiClient, ObjectRef};
//! let api = ApiClient::from_kubeconfig(&kubeconfig).await?;
//! let cm = serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "default"},
//!     "data": {"greeting": "hello"},
//! });
//! api.apply(&cm, "my-tool").await?;
//! let live = api.get(&ObjectRef::of(&cm)?).await?;
//! assert_eq!(live.unwrap()["data"]["greeting"], "hello");
//! # Ok(()) }
//! ```

mod client;
mod error;
mod object;
#[cfg(feature = "ssh")]
mod through_node;

pub use client::{ApiClient, Deletion, Propagation};
pub use error::{Error, Unanswered};
pub use object::{is_subset, ObjectRef};
