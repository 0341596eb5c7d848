//! An agent's membership in an OCI network load balancer backend set (`nlb_backend`): the
//! block (model and schema), its plan rule, and adding, reading and removing the backend.
//!
//! The backend is the node's private IP and `nlb_backend.port`; it is added after the agent
//! converges, read back on every refresh (`nlb_backend_present`, so a backend removed behind
//! Terraform's back plans an update that re-adds it), and removed on destroy before the node is
//! drained, so no traffic is sent to a node being emptied.

use crate::provider::ProviderConfig;
use crate::validators;
use k3s_sdk::oci::CreateBackendDetails;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tfplugin_runtime::schema::{int_between, ModelSchema};
use tfplugin_runtime::{Context, Diagnostics};

/// How long adding or removing a load balancer backend may take (work request included).
const NLB_WAIT: Duration = Duration::from_secs(300);

/// Membership of this node in an OCI network load balancer backend set; removed before the node is
/// drained on destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ModelSchema)]
pub struct NlbBackend {
    /// The network load balancer.
    #[tf(validate = validators::ocid(&["networkloadbalancer"]))]
    pub network_load_balancer_id: String,
    /// The backend set to join.
    pub backend_set_name: String,
    /// The backend port on this node, e.g. 443.
    #[tf(validate = int_between(1, 65535))]
    pub port: u16,
    /// Which provider `oci_profile` to call OCI with. Defaults to the first.
    pub oci_profile: Option<String>,
}

impl NlbBackend {
    /// The backend name of the node at `private_ip`: `<ip>:<port>`.
    pub fn name(&self, private_ip: &str) -> String {
        CreateBackendDetails::ip(private_ip, self.port).backend_name()
    }

    /// Whether `other` is this backend set (wherever the node is).
    pub fn same_set(&self, other: &NlbBackend) -> bool {
        self.network_load_balancer_id == other.network_load_balancer_id
            && self.backend_set_name == other.backend_set_name
    }

    fn client(&self, ctx: &Context) -> Result<k3s_sdk::oci::Client, Diagnostics> {
        let provider = ctx.provider::<ProviderConfig>()?;
        Ok(provider.oci.client(self.oci_profile.as_deref())?.1)
    }

    /// Adds the node's backend (if missing) and waits for the work request; its name.
    pub async fn ensure(&self, ctx: &Context, private_ip: &str) -> Result<String, Diagnostics> {
        let details = CreateBackendDetails::ip(private_ip, self.port);
        self.client(ctx)?
            .network_load_balancer()
            .ensure_backend(
                &self.network_load_balancer_id,
                &self.backend_set_name,
                &details,
                NLB_WAIT,
            )
            .await
            .map(|backend| backend.name)
            .map_err(|e| {
                Diagnostics::from_error(
                    format!(
                        "Adding {} to backend set {} of {} failed",
                        details.backend_name(),
                        self.backend_set_name,
                        self.network_load_balancer_id
                    ),
                    e.to_string(),
                )
            })
    }

    /// Removes backend `name` (if present) and waits for the work request.
    pub async fn remove(&self, ctx: &Context, name: &str) -> Result<(), Diagnostics> {
        self.client(ctx)?
            .network_load_balancer()
            .remove_backend(
                &self.network_load_balancer_id,
                &self.backend_set_name,
                name,
                NLB_WAIT,
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                Diagnostics::from_error(
                    format!(
                        "Removing {name} from backend set {} of {} failed",
                        self.backend_set_name, self.network_load_balancer_id
                    ),
                    e.to_string(),
                )
            })
    }

    /// Whether backend `name` is in the backend set.
    pub async fn contains(&self, ctx: &Context, name: &str) -> Result<bool, Diagnostics> {
        let backends = self
            .client(ctx)?
            .network_load_balancer()
            .list_backends(&self.network_load_balancer_id, &self.backend_set_name)
            .await
            .map_err(|e| {
                Diagnostics::from_error(
                    format!(
                        "Cannot list backend set {} of {}",
                        self.backend_set_name, self.network_load_balancer_id
                    ),
                    e.to_string(),
                )
            })?;
        Ok(backends.iter().any(|b| b.name == name))
    }
}
