//! `k3s_agent`: a K3s agent on one host, joined to a server by URL and token (never a
//! hard-coded address), optionally registered as a backend of an OCI network load balancer.
//!
//! The load balancer backend is the node's private IP and `nlb_backend.port`; it is added
//! after the agent converges, read back on every refresh (`nlb_backend_present`, so a backend
//! removed behind Terraform's back plans an update that re-adds it), and removed on destroy
//! before the node is drained, so no traffic is sent to a node being emptied.

use super::k3s_server::node_block;
use super::node;
use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{int_between, Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, PlanRequest, Resource};
use async_trait::async_trait;
use k3s_sdk::k3s::{self, Role, Service};
use k3s_sdk::oci::CreateBackendDetails;
use k3s_sdk::ssh::Secret;
use std::time::Duration;

/// How long adding or removing a load balancer backend may take (work request included).
const NLB_WAIT: Duration = Duration::from_secs(300);

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
        .attribute(
            Attribute::computed("nlb_backend_name", Type::String)
                .describe("The node's backend in `nlb_backend`'s backend set: `<private IP>:<port>`."),
        )
        .attribute(
            Attribute::computed("nlb_backend_present", Type::Bool)
                .describe("Whether that backend is in the backend set, as read from OCI; a backend removed outside Terraform reads `false` and the plan re-adds it."),
        )
        .block(NestedBlock::single("nlb_backend", nlb));
        Schema::new(block)
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        shared::require_host_or_instance(config, diagnostics);
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
        *request.planned = plan_nlb(request.prior, request.planned);
        node::plan(
            request,
            desired,
            &["joined_server_url", "kubeconfig", "nlb_backend_name"],
        );
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics> {
        let value = converge(ctx, planned, node::Operation::Create).await?;
        sync_nlb(ctx, &Value::Null, value).await
    }

    async fn read(&self, ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        let Some((session, id, location)) = node::connect_located(ctx, current).await? else {
            return Ok(None);
        };
        let observed = node::observe(&session).await?;
        if observed.service != Some(Service::Agent) {
            return Ok(None);
        }
        let ready = node::ready(&session, current, &observed, api_access(current), None).await;
        let value = read_back(current, &observed, &id, ready);
        read_nlb(ctx, value, location.private_ip.as_deref())
            .await
            .map(Some)
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics> {
        let value = converge(ctx, planned, node::Operation::Update).await?;
        sync_nlb(ctx, prior, value).await
    }

    /// Removes the load balancer backend first (so no new traffic arrives), then drains the
    /// node and uninstalls K3s.
    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics> {
        if let (Some(nlb), Some(name)) = (
            NlbBackend::of(prior),
            prior.attr("nlb_backend_name").and_then(Value::as_str),
        ) {
            nlb.remove(ctx, name).await?;
        }
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

    /// Imports by `ssh://user@host:port` or by OCI instance OCID (`ocid1.instance...`, or
    /// `PROFILE/ocid1.instance...`): server URL and token come from the node's config.yaml or
    /// env file. `kubeconfig` and `nlb_backend` are not on the node and stay unset.
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

async fn converge(
    ctx: &Context,
    planned: &Value,
    operation: node::Operation,
) -> Result<Value, Diagnostics> {
    let (session, observed, id) = node::apply(
        ctx,
        planned,
        role(planned),
        Service::Agent,
        token(planned),
        operation,
    )
    .await?;
    let ready = node::ready(
        &session,
        planned,
        &observed,
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

/// The `nlb_backend` block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NlbBackend {
    nlb_id: String,
    backend_set: String,
    port: u16,
    profile: Option<String>,
}

impl NlbBackend {
    /// The block of a state or plan, when set and known.
    fn of(state: &Value) -> Option<NlbBackend> {
        let block = state.attr("nlb_backend").filter(|b| !b.is_null())?;
        let text = |name: &str| block.attr(name).and_then(Value::as_str).map(str::to_owned);
        Some(NlbBackend {
            nlb_id: text("network_load_balancer_id")?,
            backend_set: text("backend_set_name")?,
            port: block
                .attr("port")
                .and_then(Value::as_number)
                .and_then(|n| n.as_i64())
                .and_then(|p| u16::try_from(p).ok())?,
            profile: text("oci_profile"),
        })
    }

    /// The backend name of the node at `private_ip`.
    fn name(&self, private_ip: &str) -> String {
        CreateBackendDetails::ip(private_ip, self.port).backend_name()
    }

    fn client(&self, ctx: &Context) -> Result<k3s_sdk::oci::Client, Diagnostics> {
        let provider = ctx.provider::<ProviderConfig>()?;
        Ok(provider.oci.client(self.profile.as_deref())?.1)
    }

    /// Adds the node's backend (if missing) and waits for the work request; its name.
    async fn ensure(&self, ctx: &Context, private_ip: &str) -> Result<String, Diagnostics> {
        let details = CreateBackendDetails::ip(private_ip, self.port);
        self.client(ctx)?
            .network_load_balancer()
            .ensure_backend(&self.nlb_id, &self.backend_set, &details, NLB_WAIT)
            .await
            .map(|backend| backend.name)
            .map_err(|e| {
                node::failed(
                    &format!(
                        "Adding {} to backend set {} of {} failed",
                        details.backend_name(),
                        self.backend_set,
                        self.nlb_id
                    ),
                    e,
                )
            })
    }

    /// Removes backend `name` (if present) and waits for the work request.
    async fn remove(&self, ctx: &Context, name: &str) -> Result<(), Diagnostics> {
        self.client(ctx)?
            .network_load_balancer()
            .remove_backend(&self.nlb_id, &self.backend_set, name, NLB_WAIT)
            .await
            .map(|_| ())
            .map_err(|e| {
                node::failed(
                    &format!(
                        "Removing {name} from backend set {} of {} failed",
                        self.backend_set, self.nlb_id
                    ),
                    e,
                )
            })
    }

    /// Whether backend `name` is in the backend set.
    async fn contains(&self, ctx: &Context, name: &str) -> Result<bool, Diagnostics> {
        let backends = self
            .client(ctx)?
            .network_load_balancer()
            .list_backends(&self.nlb_id, &self.backend_set)
            .await
            .map_err(|e| {
                node::failed(
                    &format!(
                        "Cannot list backend set {} of {}",
                        self.backend_set, self.nlb_id
                    ),
                    e,
                )
            })?;
        Ok(backends.iter().any(|b| b.name == name))
    }
}

/// Plans the load balancer attributes: with `nlb_backend`, the backend is to be present; its
/// name is known when the host is an IP address or nothing it depends on changes.
fn plan_nlb(prior: &Value, planned: &Value) -> Value {
    let Some(block) = planned.attr("nlb_backend").filter(|b| !b.is_null()) else {
        return node::with(
            planned,
            [
                ("nlb_backend_name", Value::Null),
                ("nlb_backend_present", Value::Null),
            ],
        );
    };
    let port = block
        .attr("port")
        .and_then(Value::as_number)
        .and_then(|n| n.as_i64());
    let host_ip = planned
        .attr("host")
        .and_then(Value::as_str)
        .and_then(|h| h.parse::<std::net::IpAddr>().ok());
    let same = |name: &str| prior.attr(name) == planned.attr(name);
    let prior_name = prior
        .attr("nlb_backend_name")
        .filter(|n| n.as_str().is_some())
        .cloned();
    let prior_port = prior
        .attr("nlb_backend")
        .and_then(|b| b.attr("port"))
        .and_then(Value::as_number)
        .and_then(|n| n.as_i64());
    let name = match (host_ip, port) {
        (Some(ip), Some(port)) => Value::string(format!("{ip}:{port}")),
        _ => match prior_name {
            Some(name)
                if same("host")
                    && same("oci_instance_id")
                    && same("oci_profile")
                    && same("oci_address")
                    && prior_port == port =>
            {
                name
            }
            _ => Value::unknown(),
        },
    };
    node::with(
        planned,
        [
            ("nlb_backend_name", name),
            ("nlb_backend_present", Value::Bool(true)),
        ],
    )
}

/// After a create or update: removes the backend the prior state had when it is no longer
/// wanted (or moved), and makes sure the wanted one is there.
async fn sync_nlb(ctx: &Context, prior: &Value, value: Value) -> Result<Value, Diagnostics> {
    let wanted = NlbBackend::of(&value);
    let private_ip = match &wanted {
        Some(_) => {
            let provider = ctx.provider::<ProviderConfig>()?;
            match node::locate(&value, &provider).await? {
                node::Whereabouts::At(location) => location.private_ip,
                node::Whereabouts::Gone(why) => {
                    return Err(Diagnostics::from_error(
                        "The node's OCI instance is gone",
                        why,
                    ))
                }
            }
        }
        None => None,
    };
    let wanted_name = match (&wanted, &private_ip) {
        (Some(nlb), Some(ip)) => Some(nlb.name(ip)),
        (Some(_), None) => {
            return Err(Diagnostics::from_error(
                "nlb_backend needs the node's IP address",
                "`host` is a name, not an IP address: a load balancer backend is an IP address and port. Set `host` to the node's private IP, or use `oci_instance_id`.",
            ))
        }
        _ => None,
    };
    if let (Some(old), Some(old_name)) = (
        NlbBackend::of(prior),
        prior.attr("nlb_backend_name").and_then(Value::as_str),
    ) {
        let kept = wanted.as_ref().is_some_and(|w| {
            w.nlb_id == old.nlb_id
                && w.backend_set == old.backend_set
                && wanted_name.as_deref() == Some(old_name)
        });
        if !kept {
            old.remove(ctx, old_name).await?;
        }
    }
    let (name, present) = match (wanted, wanted_name) {
        (Some(nlb), Some(name)) => {
            let name = match private_ip.as_deref() {
                Some(ip) => nlb.ensure(ctx, ip).await?,
                None => name,
            };
            (Value::string(name), Value::Bool(true))
        }
        _ => (Value::Null, Value::Null),
    };
    Ok(node::with(
        &value,
        [("nlb_backend_name", name), ("nlb_backend_present", present)],
    ))
}

/// Reads the backend membership back (null without `nlb_backend`).
async fn read_nlb(
    ctx: &Context,
    value: Value,
    private_ip: Option<&str>,
) -> Result<Value, Diagnostics> {
    let Some(nlb) = NlbBackend::of(&value) else {
        return Ok(node::with(
            &value,
            [
                ("nlb_backend_name", Value::Null),
                ("nlb_backend_present", Value::Null),
            ],
        ));
    };
    let Some(name) = private_ip.map(|ip| nlb.name(ip)) else {
        return Ok(node::with(
            &value,
            [
                ("nlb_backend_name", Value::Null),
                ("nlb_backend_present", Value::Bool(false)),
            ],
        ));
    };
    let present = nlb.contains(ctx, &name).await?;
    Ok(node::with(
        &value,
        [
            ("nlb_backend_name", Value::string(name)),
            ("nlb_backend_present", Value::Bool(present)),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(host: Value, instance: Value, port: i64, name: Value) -> Value {
        Value::object([
            ("host", host),
            ("oci_instance_id", instance),
            ("oci_profile", Value::Null),
            ("oci_address", Value::string("private")),
            (
                "nlb_backend",
                Value::object([
                    (
                        "network_load_balancer_id",
                        Value::string("ocid1.networkloadbalancer.oc1.phx.x"),
                    ),
                    ("backend_set_name", Value::string("k3s-https")),
                    ("port", Value::int(port)),
                    ("oci_profile", Value::Null),
                ]),
            ),
            ("nlb_backend_name", name),
            ("nlb_backend_present", Value::Null),
        ])
    }

    #[test]
    fn backend_membership_is_planned_present_with_a_known_name_when_it_can_be() {
        let by_ip = plan_nlb(
            &Value::Null,
            &agent(
                Value::string("10.0.0.11"),
                Value::Null,
                443,
                Value::unknown(),
            ),
        );
        assert_eq!(
            by_ip.attr("nlb_backend_name"),
            Some(&Value::string("10.0.0.11:443"))
        );
        assert_eq!(by_ip.attr("nlb_backend_present"), Some(&Value::Bool(true)));

        let instance = Value::string("ocid1.instance.oc1.phx.a");
        let created = plan_nlb(
            &Value::Null,
            &agent(Value::Null, instance.clone(), 443, Value::unknown()),
        );
        assert!(created.attr("nlb_backend_name").unwrap().is_unknown());

        let prior = agent(
            Value::Null,
            instance.clone(),
            443,
            Value::string("10.0.0.12:443"),
        );
        let kept = plan_nlb(
            &prior,
            &agent(Value::Null, instance.clone(), 443, Value::Null),
        );
        assert_eq!(
            kept.attr("nlb_backend_name"),
            Some(&Value::string("10.0.0.12:443"))
        );
        let moved = plan_nlb(&prior, &agent(Value::Null, instance, 8443, Value::Null));
        assert!(moved.attr("nlb_backend_name").unwrap().is_unknown());

        let without = node::with(&prior, [("nlb_backend", Value::Null)]);
        let removed = plan_nlb(&prior, &without);
        assert_eq!(removed.attr("nlb_backend_present"), Some(&Value::Null));
        assert_eq!(NlbBackend::of(&without), None);
    }
}
