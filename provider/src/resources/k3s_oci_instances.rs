//! Data source `k3s_oci_instances`: OCI compute instances in a compartment, filtered by tags,
//! across the provider's OCI profiles (tenancies).

use super::shared::{self, not_implemented};
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{one_of, Attribute, Block, Schema};
use crate::runtime::{Context, DataSource, Diagnostics};
use async_trait::async_trait;

/// The `k3s_oci_instances` data source type.
pub struct K3sOciInstances;

#[async_trait]
impl DataSource for K3sOciInstances {
    fn type_name(&self) -> &'static str {
        "k3s_oci_instances"
    }

    fn schema(&self) -> Schema {
        let instance = Type::object([
            ("id", Type::String),
            ("display_name", Type::String),
            ("profile", Type::String),
            ("compartment_id", Type::String),
            ("lifecycle_state", Type::String),
            ("private_ip", Type::String),
            ("public_ip", Type::String),
            ("freeform_tags", Type::map(Type::String)),
        ]);
        let block = Block::new("OCI compute instances by compartment and tags, across tenancies.")
            .attribute(
                Attribute::required("compartment_id", Type::String)
                    .validate(shared::ocid(&["compartment", "tenancy"]))
                    .describe("Compartment (or tenancy) to list."),
            )
            .attribute(
                Attribute::optional("profiles", Type::list(Type::String))
                    .describe("Provider `oci_profile` names to search. Defaults to all of them."),
            )
            .attribute(
                Attribute::optional("freeform_tags", Type::map(Type::String))
                    .describe("Only instances carrying all these free-form tags."),
            )
            .attribute(
                Attribute::optional("defined_tags", Type::map(Type::String)).describe(
                    "Only instances carrying all these defined tags, keyed `namespace.key`.",
                ),
            )
            .attribute(
                Attribute::optional("lifecycle_state", Type::String)
                    .validate(one_of(&[
                        "RUNNING",
                        "STOPPED",
                        "PROVISIONING",
                        "STARTING",
                        "STOPPING",
                        "TERMINATING",
                        "TERMINATED",
                    ]))
                    .describe("Only instances in this state. Defaults to `RUNNING`."),
            )
            .attribute(
                Attribute::computed("instances", Type::list(instance))
                    .describe("The instances found, with their addresses."),
            );
        Schema::new(block)
    }

    async fn read(&self, _ctx: &Context, _config: &Value) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "read"))
    }
}
