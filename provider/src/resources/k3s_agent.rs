//! `k3s_agent`: a K3s agent on one host, joined to a server by URL and token (never a hard-coded
//! address), optionally registered as a backend of an OCI network load balancer (see
//! [`crate::nlb_backend`]).

use crate::host_location::{locate, Whereabouts};
use crate::nlb_backend::NlbBackend;
use crate::node::lifecycle::{self, Operation, Reached, READY_WAIT};
use crate::node::private::NodePrivate;
use crate::node::versions::agent_refused;
use crate::node::{self, desired::desired, NodeModel};
use crate::provider::ProviderConfig;
use crate::validators;
use async_trait::async_trait;
use k3s_sdk::k3s::{self, K3sVersion, Observed, Role, Unit};
use k3s_sdk::oci::CreateBackendDetails;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::{
    field_name, Context, Diagnostics, Form, Known, MaybeUnknown, Models, Plan, Planned, Resource,
};

/// The `k3s_agent` resource type.
pub struct K3sAgent;

/// A K3s agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
#[tf(description = node::described(
    "A K3s agent on one host, joined to a server, installed and read back over SSH.",
))]
pub struct AgentModel<F: Form = Known> {
    /// What every node has.
    #[serde(rename = "$node")]
    pub node: NodeModel<F>,
    /// The server to join, e.g. `k3s_server.main.api_endpoint`.
    #[tf(validate = validators::https_url())]
    pub server_url: F::Of<String>,
    /// The join token, e.g. `k3s_server.main.join_token`.
    #[tf(sensitive)]
    pub token: F::Of<Secret>,
    /// An admin kubeconfig of the cluster, e.g. `k3s_server.main.kubeconfig`. With it, `node_ready`
    /// is read from the API and destroy drains the node and deletes its Node object before
    /// uninstalling; without it, destroy only uninstalls. The API is reached through the agent's
    /// own SSH connection, forwarded from the agent to the server address the kubeconfig names (so
    /// it must be reachable from the node, as it is for joining); the kubeconfig stays in the
    /// provider's memory and is never written to the agent.
    #[tf(sensitive)]
    pub kubeconfig: F::Of<Option<Secret>>,
    /// The server URL the agent is joined to, as read from its env file.
    #[tf(computed)]
    pub joined_server_url: F::Of<Option<String>>,
    /// The node's backend in `nlb_backend`'s backend set: `<private IP>:<port>`.
    #[tf(computed)]
    pub nlb_backend_name: F::Of<Option<String>>,
    /// Whether that backend is in the backend set, as read from OCI; a backend removed outside
    /// Terraform reads `false` and the plan re-adds it.
    #[tf(computed)]
    pub nlb_backend_present: F::Of<Option<bool>>,
    /// Load balancer membership.
    #[tf(block)]
    pub nlb_backend: F::Of<Option<NlbBackend>>,
}

impl Models for K3sAgent {
    type Model<F: Form> = AgentModel<F>;
}

#[async_trait]
impl Resource for K3sAgent {
    fn type_name(&self) -> &'static str {
        "k3s_agent"
    }

    async fn validate(&self, config: &AgentModel<Planned>, diagnostics: &mut Diagnostics) {
        node::checks::validate(&config.node, diagnostics);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        plan: &mut Plan<Self>,
        diagnostics: &mut Diagnostics,
    ) {
        node::plan::check_change(
            plan.prior.as_ref().map(|p| &p.node),
            &plan.planned.node,
            diagnostics,
        );
        if let (Ok(provider), Some(version), Some(url)) = (
            ctx.provider::<ProviderConfig>(),
            node::plan::planned_version(&plan.planned.node),
            plan.planned.server_url.known(),
        ) {
            if let Some(problem) = provider
                .servers
                .of(url)
                .and_then(|server| agent_refused(version, server))
            {
                diagnostics.error_at(
                    AttributePath::attribute(field_name!(NodeModel, version)),
                    "Agent newer than its server",
                    problem,
                );
            }
        }
        let planned = &mut plan.planned;
        if let MaybeUnknown::Known(url) = &planned.server_url {
            planned.joined_server_url = MaybeUnknown::Known(Some(url.clone()));
        }
        plan_nlb(plan.prior.as_ref(), planned);
        let files_known = node::plan::files_known(&planned.node)
            && !planned.server_url.is_unknown()
            && !planned.token.is_unknown();
        // An unknown server URL leaves the files' hashes unknown (`files_known`).
        let role = Role::Agent {
            server_url: planned.server_url.known().cloned().unwrap_or_default(),
        };
        let token = planned.token.known().cloned();
        let desired =
            node::plan::planned_desired(ctx, &planned.node, Some(role), token, diagnostics);
        node::plan::refine_service(&mut plan.planned.node);
        if let Some(desired) = desired {
            node::plan::refine_files(&mut plan.planned.node, &desired, files_known, diagnostics);
        }
        if let (Some(prior), true) = (plan.prior.clone(), plan.changes()) {
            node::plan::unknown_after_change(&mut plan.planned.node, &prior.node);
        }
    }

    async fn create(&self, ctx: &Context, planned: AgentModel) -> Result<AgentModel, Diagnostics> {
        let state = converge(ctx, planned, Operation::Create).await?;
        sync_nlb(ctx, None, state).await
    }

    async fn read(
        &self,
        ctx: &Context,
        current: AgentModel,
    ) -> Result<Option<AgentModel>, Diagnostics> {
        let (session, id, location) = match lifecycle::connect_for_read(ctx, &current.node).await? {
            Reached::Connected(session, id, location) => (session, id, location),
            Reached::Unreachable => return Ok(Some(current)),
            Reached::Gone => return Ok(None),
        };
        let observed = lifecycle::observe(&session).await?;
        if observed.unit != Some(Unit::Agent) {
            return Ok(None);
        }
        let name = observed.node_name(current.node.configured_node_name().as_deref());
        NodePrivate::remember_name(ctx, name);
        let ready = lifecycle::ready(
            &session,
            &current.node,
            &observed,
            api_access(&current),
            None,
        )
        .await;
        let state = read_back(current, &observed, &id, ready);
        read_nlb(ctx, state, location.private_ip.as_deref())
            .await
            .map(Some)
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: AgentModel,
        planned: AgentModel,
    ) -> Result<AgentModel, Diagnostics> {
        let planned_node = planned.node.clone();
        let mut state = converge(ctx, planned, Operation::Update).await?;
        node::plan::keep_after_update(&mut state.node, &prior.node, &planned_node);
        sync_nlb(ctx, Some(&prior), state).await
    }

    /// Removes the load balancer backend first (so no new traffic arrives), then drains the
    /// node and uninstalls K3s.
    async fn delete(&self, ctx: &Context, prior: AgentModel) -> Result<(), Diagnostics> {
        if let (Some(nlb), Some(name)) = (&prior.nlb_backend, &prior.nlb_backend_name) {
            nlb.remove(ctx, name).await?;
        }
        lifecycle::destroy(ctx, &prior.node, Unit::Agent, api_access(&prior)).await
    }

    /// Imports by `ssh://user@host:port` or by OCI instance OCID (`ocid1.instance...`, or
    /// `PROFILE/ocid1.instance...`): server URL and token come from the node's config.yaml or
    /// env file. `kubeconfig` and `nlb_backend` are not on the node and stay unset.
    async fn import(
        &self,
        ctx: &Context,
        id: &str,
        blank: AgentModel,
    ) -> Result<AgentModel, Diagnostics> {
        let imported = node::import::import(
            ctx,
            id,
            blank.node,
            Unit::Agent,
            super::k3s_server::resource_of,
        )
        .await?;
        let server_url = match imported.role {
            Role::Agent { server_url } => server_url,
            Role::Server { join, .. } => join.unwrap_or_default(),
        };
        Ok(AgentModel {
            node: imported.node,
            server_url,
            token: imported.token.unwrap_or_default(),
            ..blank
        })
    }
}

/// How the agent reaches the API: through the kubeconfig it was given, if any.
fn api_access(state: &AgentModel) -> Option<k3s::ApiAccess> {
    state.kubeconfig.clone().map(k3s::ApiAccess::Kubeconfig)
}

async fn converge(
    ctx: &Context,
    planned: AgentModel,
    operation: Operation,
) -> Result<AgentModel, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    // The server may have been created or upgraded earlier in this apply: check again. A
    // server outside this configuration is asked through the API, when there is a kubeconfig.
    let server = match provider.servers.of(&planned.server_url) {
        Some(known) => Some(known),
        None => running_server_version(ctx, planned.kubeconfig.as_ref()).await,
    };
    if let (Ok(version), Some(server)) = (planned.node.version.parse::<K3sVersion>(), server) {
        if let Some(problem) = agent_refused(version, server) {
            return Err(Diagnostics::from_error(
                "Agent newer than its server",
                format!("{}: {problem}", planned.node.shown()),
            ));
        }
    }
    let role = Role::Agent {
        server_url: planned.server_url.clone(),
    };
    let desired = desired(&planned.node, &provider, role, Some(planned.token.clone()))?;
    let touching = |id: &str| {
        let node = planned.node.with_id(id);
        operation.touching(
            ctx,
            &AgentModel {
                node,
                ..planned.clone()
            },
        );
    };
    let (session, observed, id) =
        lifecycle::apply(ctx, &planned.node, &desired, operation, &touching).await?;
    let ready = lifecycle::ready(
        &session,
        &planned.node,
        &observed,
        api_access(&planned),
        Some(READY_WAIT),
    )
    .await;
    Ok(read_back(planned, &observed, &id, ready))
}

/// The version the cluster's API server runs, asked from this machine with the agent's
/// kubeconfig; `None` without a kubeconfig or when the API does not say (the join itself then
/// reports a server it cannot reach). A kubeconfig this check cannot use (it takes inline
/// client certificates only) is a warning that the version is not checked.
async fn running_server_version(ctx: &Context, kubeconfig: Option<&Secret>) -> Option<K3sVersion> {
    let api = match k3s::DirectApi::from_kubeconfig(kubeconfig?, lifecycle::DIRECT_API_TIMEOUT) {
        Ok(api) => api,
        Err(e) => {
            ctx.warn(
                "The server's version is not checked before the agent joins",
                format!(
                    "{e}. The check reads the server's version with the agent's kubeconfig from \
                    this machine and needs inline client certificates, as in the cluster's admin \
                    kubeconfig (`k3s_server.main.kubeconfig`). The agent's `node_ready` and its \
                    drain on destroy do not depend on this check."
                ),
            );
            return None;
        }
    };
    match api.server_version().await {
        Ok(version) => version.parse().ok(),
        Err(e) => {
            tracing::debug!("server version not read: {e}");
            None
        }
    }
}

/// The agent's read-back: the common attributes, the server it is joined to, and whether its
/// Node is Ready (null without a kubeconfig to ask the API with).
fn read_back(
    mut state: AgentModel,
    observed: &Observed,
    id: &str,
    ready: Option<bool>,
) -> AgentModel {
    lifecycle::record(&mut state.node, observed, id);
    state.node.node_ready = ready;
    state.joined_server_url = observed.server_url.clone();
    if let Some(joined) = &observed.server_url {
        state.server_url = joined.clone();
    }
    state
}

/// Plans the load balancer attributes: with `nlb_backend`, the backend is to be present; its
/// name is known when the host is an IP address or nothing it depends on changes.
fn plan_nlb(prior: Option<&AgentModel>, planned: &mut AgentModel<Planned>) {
    /// The part of the block the backend's name depends on.
    #[derive(serde::Deserialize)]
    struct Port {
        port: Option<u16>,
    }
    let port = match &planned.nlb_backend {
        MaybeUnknown::Known(None) => {
            planned.nlb_backend_name = MaybeUnknown::Known(None);
            planned.nlb_backend_present = MaybeUnknown::Known(None);
            return;
        }
        // A block whose load balancer (say) is created in the same apply: still a block, and
        // its port may be known.
        MaybeUnknown::Unknown(partly) if !partly.value().is_unknown() => {
            partly.known_parts::<Port>().and_then(|p| p.port)
        }
        MaybeUnknown::Unknown(_) => {
            planned.nlb_backend_name = MaybeUnknown::unknown();
            planned.nlb_backend_present = MaybeUnknown::unknown();
            return;
        }
        MaybeUnknown::Known(Some(block)) => Some(block.port),
    };
    let host_ip = planned
        .node
        .host
        .value()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok());
    let node = &planned.node;
    let unmoved = prior.is_some_and(|p| {
        node.host == MaybeUnknown::Known(p.node.host.clone())
            && node.oci_instance_id == MaybeUnknown::Known(p.node.oci_instance_id.clone())
            && node.oci_profile == MaybeUnknown::Known(p.node.oci_profile.clone())
            && node.oci_address == MaybeUnknown::Known(p.node.oci_address)
            && port.is_some()
            && p.nlb_backend.as_ref().map(|b| b.port) == port
    });
    planned.nlb_backend_name = match (
        host_ip,
        port,
        prior.and_then(|p| p.nlb_backend_name.clone()),
    ) {
        (Some(ip), Some(port), _) => MaybeUnknown::Known(Some(
            CreateBackendDetails::ip(ip.to_string(), port).backend_name(),
        )),
        (_, _, Some(name)) if unmoved => MaybeUnknown::Known(Some(name)),
        _ => MaybeUnknown::unknown(),
    };
    planned.nlb_backend_present = MaybeUnknown::Known(Some(true));
}

/// After a create or update: removes the backend the prior state had when it is no longer
/// wanted (or moved), and makes sure the wanted one is there.
async fn sync_nlb(
    ctx: &Context,
    prior: Option<&AgentModel>,
    mut state: AgentModel,
) -> Result<AgentModel, Diagnostics> {
    let private_ip = match &state.nlb_backend {
        Some(_) => {
            let provider = ctx.provider::<ProviderConfig>()?;
            match locate(state.node.host_spec(), &provider.oci).await? {
                Whereabouts::At(location) => location.private_ip,
                Whereabouts::Gone(why) => {
                    return Err(Diagnostics::from_error(
                        "The node's OCI instance is gone",
                        why,
                    ))
                }
            }
        }
        None => None,
    };
    let wanted_name = match (&state.nlb_backend, &private_ip) {
        (Some(nlb), Some(ip)) => Some(nlb.name(ip)),
        (Some(_), None) => return Err(Diagnostics::from_error(
            "nlb_backend needs the node's IP address",
            "`host` is a name, not an IP address: a load balancer backend is an IP address and \
                    port. Set `host` to the node's private IP, or use `oci_instance_id`.",
        )),
        _ => None,
    };
    if let Some((old, old_name)) =
        prior.and_then(|p| Some((p.nlb_backend.as_ref()?, p.nlb_backend_name.as_ref()?)))
    {
        let kept = state
            .nlb_backend
            .as_ref()
            .is_some_and(|w| w.same_set(old) && wanted_name.as_ref() == Some(old_name));
        if !kept {
            old.remove(ctx, old_name).await?;
        }
    }
    (state.nlb_backend_name, state.nlb_backend_present) = match (&state.nlb_backend, wanted_name) {
        (Some(nlb), Some(name)) => {
            let name = match private_ip.as_deref() {
                Some(ip) => nlb.ensure(ctx, ip).await?,
                None => name,
            };
            (Some(name), Some(true))
        }
        _ => (None, None),
    };
    Ok(state)
}

/// Reads the backend membership back (null without `nlb_backend`).
async fn read_nlb(
    ctx: &Context,
    mut state: AgentModel,
    private_ip: Option<&str>,
) -> Result<AgentModel, Diagnostics> {
    let Some(nlb) = state.nlb_backend.clone() else {
        state.nlb_backend_name = None;
        state.nlb_backend_present = None;
        return Ok(state);
    };
    let Some(name) = private_ip.map(|ip| nlb.name(ip)) else {
        state.nlb_backend_name = None;
        state.nlb_backend_present = Some(false);
        return Ok(state);
    };
    state.nlb_backend_present = Some(nlb.contains(ctx, &name).await?);
    state.nlb_backend_name = Some(name);
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin_runtime::cty::Value;
    use tfplugin_runtime::model;

    /// An agent's state or plan with the load balancer attributes given and the rest blank.
    fn agent<F: Form>(host: Value, instance: Value, port: i64, name: Value) -> AgentModel<F> {
        let mut value = K3sAgent.schema().block.unset_value();
        if let Value::Object(attributes) = &mut value {
            attributes.insert("host".into(), host);
            attributes.insert("oci_instance_id".into(), instance);
            attributes.insert(
                "nlb_backend".into(),
                Value::object([
                    (
                        "network_load_balancer_id",
                        Value::string("ocid1.networkloadbalancer.oc1.phx.x"),
                    ),
                    ("backend_set_name", Value::string("k3s-https")),
                    ("port", Value::int(port)),
                    ("oci_profile", Value::Null),
                ]),
            );
            attributes.insert("nlb_backend_name".into(), name);
        }
        model::from_blank(&value).unwrap()
    }

    #[tokio::test]
    async fn a_kubeconfig_that_cannot_be_used_is_a_warning() {
        let ctx = Context::new(None, Default::default(), Vec::new());
        let garbled = Secret::new("clusters: [ {{ K10secret");
        assert_eq!(running_server_version(&ctx, Some(&garbled)).await, None);
        let warnings = ctx.take_warnings();
        assert_eq!(warnings.0.len(), 1, "{warnings:?}");
        assert_eq!(
            warnings.0[0].summary,
            "The server's version is not checked before the agent joins"
        );
        assert!(!format!("{warnings:?}").contains("K10secret"));
        // None given: nothing to say.
        assert_eq!(running_server_version(&ctx, None).await, None);
        assert!(ctx.take_warnings().is_empty());
    }

    fn planned_name(
        prior: Option<&AgentModel>,
        mut planned: AgentModel<Planned>,
    ) -> MaybeUnknown<Option<String>> {
        plan_nlb(prior, &mut planned);
        assert_eq!(planned.nlb_backend_present, MaybeUnknown::Known(Some(true)));
        planned.nlb_backend_name
    }

    #[test]
    fn backend_membership_is_planned_present_with_a_known_name_when_it_can_be() {
        let ip = Value::string("10.0.0.11");
        let by_ip = planned_name(None, agent(ip, Value::Null, 443, Value::unknown()));
        assert_eq!(by_ip, MaybeUnknown::Known(Some("10.0.0.11:443".into())));

        let instance = Value::string("ocid1.instance.oc1.phx.a");
        let created = planned_name(
            None,
            agent(Value::Null, instance.clone(), 443, Value::unknown()),
        );
        assert!(created.is_unknown());

        let prior: AgentModel = agent(
            Value::Null,
            instance.clone(),
            443,
            Value::string("10.0.0.12:443"),
        );
        let kept = planned_name(
            Some(&prior),
            agent(Value::Null, instance.clone(), 443, Value::Null),
        );
        assert_eq!(kept, MaybeUnknown::Known(Some("10.0.0.12:443".into())));
        let moved = planned_name(
            Some(&prior),
            agent(Value::Null, instance, 8443, Value::Null),
        );
        assert!(moved.is_unknown());

        // A load balancer created in the same apply: its OCID is unknown, the name is not.
        let mut partly: AgentModel<Planned> = agent(
            Value::string("10.0.0.11"),
            Value::Null,
            443,
            Value::unknown(),
        );
        if let MaybeUnknown::Known(Some(block)) = &partly.nlb_backend {
            let mut raw = model::to_value(block).unwrap();
            if let Value::Object(a) = &mut raw {
                a.insert("network_load_balancer_id".into(), Value::unknown());
            }
            partly.nlb_backend = model::from_value(&raw).unwrap();
        }
        assert!(partly.nlb_backend.is_unknown());
        assert_eq!(
            planned_name(None, partly),
            MaybeUnknown::Known(Some("10.0.0.11:443".into()))
        );

        let mut without: AgentModel<Planned> = agent(Value::Null, Value::Null, 443, Value::Null);
        without.nlb_backend = MaybeUnknown::Known(None);
        plan_nlb(Some(&prior), &mut without);
        assert_eq!(without.nlb_backend_present, MaybeUnknown::Known(None));
        assert_eq!(without.nlb_backend_name, MaybeUnknown::Known(None));
    }
}
