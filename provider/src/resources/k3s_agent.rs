//! `k3s_agent`: a K3s agent on one host, joined to a server by URL and token (never a
//! hard-coded address), optionally registered as a backend of an OCI network load balancer.

use super::k3s_server::node_block;
use super::shared::{self, not_implemented};
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{int_between, Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, Resource};
use async_trait::async_trait;

/// The `k3s_agent` resource type.
pub struct K3sAgent;

#[async_trait]
impl Resource for K3sAgent {
    fn type_name(&self) -> &'static str {
        "k3s_agent"
    }

    fn schema(&self) -> Schema {
        let nlb = Block::new("Membership of this node in an OCI network load balancer backend set; removed before the node is drained on destroy.")
            .attribute(Attribute::required("network_load_balancer_id", Type::String).validate(shared::ocid(&["networkloadbalancer"])).describe("The network load balancer."))
            .attribute(Attribute::required("backend_set_name", Type::String).describe("The backend set to join."))
            .attribute(Attribute::required("port", Type::Number).validate(int_between(1, 65535)).describe("The backend port on this node, e.g. 443."))
            .attribute(Attribute::optional("oci_profile", Type::String).describe("Which provider `oci_profile` to call OCI with. Defaults to the first."));
        let block = node_block(
            "A K3s agent on one host, joined to a server, installed and read back over SSH.",
        )
        .attribute(
            Attribute::required("server_url", Type::String)
                .validate(shared::http_url())
                .describe("The server to join, e.g. `k3s_server.main.api_endpoint`."),
        )
        .attribute(
            Attribute::required("token", Type::String)
                .sensitive()
                .describe("The join token, e.g. `k3s_server.main.join_token`."),
        )
        .attribute(
            Attribute::computed("joined_server_url", Type::String)
                .describe("The server URL the agent is joined to, as read from its env file."),
        )
        .block(NestedBlock::single("nlb_backend", nlb));
        Schema::new(block)
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        shared::require_host_or_instance(config, diagnostics);
    }

    async fn create(&self, _ctx: &Context, _planned: &Value) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "create"))
    }

    async fn read(&self, _ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        Ok(Some(current.clone()))
    }

    async fn update(
        &self,
        _ctx: &Context,
        _prior: &Value,
        _planned: &Value,
    ) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "update"))
    }

    async fn delete(&self, _ctx: &Context, _prior: &Value) -> Result<(), Diagnostics> {
        Err(not_implemented(self.type_name(), "delete"))
    }
}
