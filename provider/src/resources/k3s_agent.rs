//! `k3s_agent`: a K3s agent on one host, joined to a server by URL and token (never a
//! hard-coded address), optionally registered as a backend of an OCI network load balancer.

use super::k3s_server::node_block;
use super::node;
use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{int_between, Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, PlanRequest, Resource};
use async_trait::async_trait;
use k3s_sdk::k3s::{self, Role, Service};
use k3s_sdk::ssh::Secret;

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
            Attribute::optional("kubeconfig", Type::String)
                .sensitive()
                .describe("An admin kubeconfig of the cluster, e.g. `k3s_server.main.kubeconfig`. With it, `node_ready` is read from the API and destroy drains the node and deletes its Node object before uninstalling; without it, destroy only uninstalls. It is used by `k3s kubectl` on the agent itself (the API must be reachable from the node, as it is for joining), through a private temporary file."),
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
        if config.attr("nlb_backend").is_some_and(|b| !b.is_null()) {
            diagnostics.warning(
                "nlb_backend is not applied yet",
                "This version accepts the block but does not register the node with the load balancer; that arrives with the OCI support.",
            );
        }
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        request: PlanRequest<'_>,
        _diagnostics: &mut Diagnostics,
    ) {
        if request.planned.is_null() {
            return;
        }
        let desired = ctx.provider::<ProviderConfig>().ok().and_then(|p| {
            node::desired(
                request.planned,
                &p,
                role(request.planned),
                Service::Agent,
                token(request.planned),
            )
            .ok()
        });
        if let Some(url) = request
            .planned
            .attr("server_url")
            .filter(|u| u.as_str().is_some())
            .cloned()
        {
            *request.planned = node::with(request.planned, [("joined_server_url", url)]);
        }
        node::plan(request, desired, &["joined_server_url", "kubeconfig"]);
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics> {
        converge(ctx, planned, "Installing the K3s agent failed").await
    }

    async fn read(&self, ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        let Some((session, id)) = node::connect_for_read(ctx, current).await? else {
            return Ok(None);
        };
        let observed = node::observe(&session).await?;
        if observed.service != Some(Service::Agent) {
            return Ok(None);
        }
        let ready = node::ready(&session, current, api_access(current), None).await;
        Ok(Some(read_back(current, &observed, &id, ready)))
    }

    async fn update(
        &self,
        ctx: &Context,
        _prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics> {
        converge(ctx, planned, "Updating the K3s agent failed").await
    }

    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics> {
        let kubeconfig = prior
            .attr("kubeconfig")
            .and_then(Value::as_str)
            .map(Secret::new);
        node::destroy(
            ctx,
            prior,
            Service::Agent,
            node::ClusterApi::Kubeconfig(kubeconfig),
        )
        .await
    }

    /// Imports by `ssh://user@host:port`: server URL and token come from the node's config.yaml
    /// or env file. `kubeconfig` is not on the node and stays unset.
    async fn import(&self, ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        Ok(node::import(ctx, id, &self.schema().block, Service::Agent)
            .await?
            .state)
    }
}

fn role(state: &Value) -> Role {
    Role::Agent {
        server_url: state
            .attr("server_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn token(state: &Value) -> Option<Secret> {
    state.attr("token").and_then(Value::as_str).map(Secret::new)
}

/// How the agent reaches the API: through the kubeconfig it was given, if any.
fn api_access(state: &Value) -> Option<k3s::ApiAccess> {
    state
        .attr("kubeconfig")
        .and_then(Value::as_str)
        .map(|k| k3s::ApiAccess::Kubeconfig(Secret::new(k)))
}

async fn converge(ctx: &Context, planned: &Value, failure: &str) -> Result<Value, Diagnostics> {
    let (session, observed, id) = node::apply(
        ctx,
        planned,
        role(planned),
        Service::Agent,
        token(planned),
        failure,
    )
    .await?;
    let ready = node::ready(
        &session,
        planned,
        api_access(planned),
        Some(node::READY_WAIT),
    )
    .await;
    Ok(read_back(planned, &observed, &id, ready))
}

/// The agent's read-back: the common attributes, the server it is joined to, and whether its
/// Node is Ready (null without a kubeconfig to ask the API with).
fn read_back(state: &Value, observed: &k3s::Observed, id: &str, ready: Option<bool>) -> Value {
    let value = node::observed_attributes(state, observed, id);
    let value = node::with(
        &value,
        [("node_ready", ready.map(Value::Bool).unwrap_or(Value::Null))],
    );
    let joined = observed
        .server_url
        .clone()
        .map(Value::String)
        .unwrap_or(Value::Null);
    node::with(
        &value,
        [
            ("joined_server_url", joined.clone()),
            (
                "server_url",
                if joined.is_null() {
                    state.attr("server_url").cloned().unwrap_or(Value::Null)
                } else {
                    joined
                },
            ),
        ],
    )
}
