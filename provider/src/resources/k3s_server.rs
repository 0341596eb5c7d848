//! `k3s_server`: K3s running as a server on one host: OS preparation, `config.yaml`,
//! `registries.yaml`, the token, the service; outputs the API endpoint, the observed join token
//! and the kubeconfig parts, and reads all of it back for drift.
//!
//! A token left unset is generated at create and kept in private state (never in a plain
//! attribute); the token the server actually uses is read back as `join_token`.

use crate::kubeconfig;
use crate::lifecycle::PrivateState;
use crate::node::import::host_of_id;
use crate::node::lifecycle::{self, failed, Operation, Reached, READY_WAIT};
use crate::node::private::NodePrivate;
use crate::node::versions::ServerVersions;
use crate::node::{self, desired::desired, NodeModel};
use crate::provider::ProviderConfig;
use crate::validators;
use async_trait::async_trait;
use k3s_sdk::k3s::{self, ApiAccess, Observed, Role, Unit};
use k3s_sdk::ssh::Session;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::{
    Context, Diagnostics, Form, Known, MaybeUnknown, Models, Plan, Planned, Resource,
};

/// The `k3s_server` resource type.
pub struct K3sServer;

/// A K3s server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
#[tf(description = node::described("A K3s server on one host, installed and read back over SSH."))]
pub struct ServerModel<F: Form = Known> {
    /// What every node has.
    #[serde(rename = "$node")]
    pub node: NodeModel<F>,
    /// Start a new cluster with embedded etcd (`cluster-init`).
    #[tf(default = false, requires_replace)]
    pub cluster_init: F::Of<bool>,
    /// Join the cluster of this server (`https://host:6443`) instead of starting one.
    #[tf(validate = validators::https_url(), requires_replace)]
    pub server_url: F::Of<Option<String>>,
    /// Join token to start the cluster with (or to join `server_url`). Generated when omitted.
    #[tf(sensitive, requires_replace)]
    pub token: F::Of<Option<Secret>>,
    /// The API server URL written into the kubeconfig, e.g. a load balancer's. Defaults to
    /// `https://<host>:6443`.
    #[tf(optional, computed, stable, validate = validators::https_url())]
    pub api_endpoint: F::Of<Option<String>>,
    /// The token agents and servers join with, as read from the server (`K10…` form).
    #[tf(computed, stable, sensitive)]
    pub join_token: F::Of<Option<Secret>>,
    /// A kubeconfig for the cluster pointing at `api_endpoint`.
    #[tf(computed, sensitive)]
    pub kubeconfig: F::Of<Option<Secret>>,
    /// The cluster's CA certificate (PEM).
    #[tf(computed, stable)]
    pub cluster_ca_certificate: F::Of<Option<String>>,
    /// The admin client certificate (PEM).
    #[tf(computed, sensitive)]
    pub client_certificate: F::Of<Option<Secret>>,
    /// The admin client key (PEM).
    #[tf(computed, sensitive)]
    pub client_key: F::Of<Option<Secret>>,
}

impl Models for K3sServer {
    type Model<F: Form> = ServerModel<F>;
}

#[async_trait]
impl Resource for K3sServer {
    fn type_name(&self) -> &'static str {
        "k3s_server"
    }

    async fn validate(&self, config: &ServerModel<Planned>, diagnostics: &mut Diagnostics) {
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
        let MaybeUnknown::Known(host) = plan.planned.node.host.clone() else {
            return;
        };
        let planned = &mut plan.planned;
        let endpoint_unset = plan.prior.as_ref().is_none_or(|p| p.api_endpoint.is_none());
        if let (Some(host), true) = (&host, planned.api_endpoint.is_unknown() && endpoint_unset) {
            planned.api_endpoint = MaybeUnknown::Known(Some(k3s::api_url(host)));
        }
        // The token is in config.yaml: the file's hash is known only when the token is (one
        // generated at create is not known before apply).
        let token = match &planned.token {
            MaybeUnknown::Known(Some(token)) => Some(token.clone()),
            MaybeUnknown::Known(None) => NodePrivate::of(ctx).token,
            MaybeUnknown::Unknown(_) => None,
        };
        let role = match (&planned.cluster_init, &planned.server_url) {
            (MaybeUnknown::Known(cluster_init), MaybeUnknown::Known(join)) => Some(Role::Server {
                cluster_init: *cluster_init,
                join: join.clone(),
            }),
            _ => None,
        };
        let files_known =
            node::plan::files_known(&planned.node) && role.is_some() && !planned.token.is_unknown();
        let desired =
            node::plan::planned_desired(ctx, &planned.node, role, token.clone(), diagnostics);
        node::plan::refine_service(&mut plan.planned.node);
        if let Some(desired) = desired {
            node::plan::refine_files(&mut plan.planned.node, &desired, files_known, diagnostics);
        }
        if let (Some(prior), true) = (plan.prior.clone(), plan.changes()) {
            let planned = &mut plan.planned;
            node::plan::unknown_after_change(&mut planned.node, &prior.node);
            let restarts = node::plan::touch_planned(&prior.node, &planned.node).restarts;
            let keep_access = same_access(&prior, planned.api_endpoint.known(), restarts);
            let keep = |was: &Option<Secret>| {
                if keep_access {
                    MaybeUnknown::Known(was.clone())
                } else {
                    MaybeUnknown::unknown()
                }
            };
            planned.kubeconfig = keep(&prior.kubeconfig);
            planned.client_certificate = keep(&prior.client_certificate);
            planned.client_key = keep(&prior.client_key);
        }
        if token.is_none() && plan.prior.is_none() {
            plan.planned.node.config_sha256 = MaybeUnknown::unknown();
        }
        // Agents that join this server are checked against the version it is to run.
        if let (Ok(provider), Some(version), Some(Some(endpoint))) = (
            ctx.provider::<ProviderConfig>(),
            node::plan::planned_version(&plan.planned.node),
            plan.planned.api_endpoint.known(),
        ) {
            provider.servers.record(endpoint, version);
        }
    }

    async fn create(
        &self,
        ctx: &Context,
        planned: ServerModel,
    ) -> Result<ServerModel, Diagnostics> {
        let token = match planned.token.clone() {
            Some(token) => token,
            None => generated_token()?,
        };
        NodePrivate {
            token: Some(token.clone()),
            ..NodePrivate::default()
        }
        .save(ctx);
        converge(ctx, planned, Some(token), Operation::Create).await
    }

    async fn read(
        &self,
        ctx: &Context,
        current: ServerModel,
    ) -> Result<Option<ServerModel>, Diagnostics> {
        let (session, id) = match lifecycle::connect_for_read(ctx, &current.node).await? {
            Reached::Connected(session, id, _) => (session, id),
            Reached::Unreachable => return Ok(Some(current)),
            Reached::Gone => return Ok(None),
        };
        let observed = lifecycle::observe(&session).await?;
        if observed.unit != Some(Unit::Server) {
            return Ok(None);
        }
        let provider = ctx.provider::<ProviderConfig>()?;
        read_back(&session, &observed, current, &id, None, &provider.servers)
            .await
            .map(Some)
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: ServerModel,
        planned: ServerModel,
    ) -> Result<ServerModel, Diagnostics> {
        let token = planned.token.clone().or_else(|| NodePrivate::of(ctx).token);
        let planned_node = planned.node.clone();
        let mut state = converge(ctx, planned, token, Operation::Update).await?;
        node::plan::keep_after_update(&mut state.node, &prior.node, &planned_node);
        let restarts = node::plan::touch(&prior.node, &planned_node).restarts;
        if same_access(&prior, Some(&state.api_endpoint), restarts) {
            state.kubeconfig = prior.kubeconfig;
            state.client_certificate = prior.client_certificate;
            state.client_key = prior.client_key;
        }
        Ok(state)
    }

    async fn delete(&self, ctx: &Context, prior: ServerModel) -> Result<(), Diagnostics> {
        lifecycle::destroy(ctx, &prior.node, Unit::Server, Some(ApiAccess::Local)).await
    }

    /// Imports by `ssh://user@host:port` or OCI instance OCID; the token found on the node is
    /// kept in private state, like a generated one, so `token` stays unset.
    async fn import(
        &self,
        ctx: &Context,
        id: &str,
        blank: ServerModel,
    ) -> Result<ServerModel, Diagnostics> {
        let imported = node::import::import(ctx, id, blank.node, Unit::Server, resource_of).await?;
        NodePrivate {
            token: imported.token,
            ..NodePrivate::default()
        }
        .save(ctx);
        let (cluster_init, server_url) = match imported.role {
            Role::Server { cluster_init, join } => (cluster_init, join),
            Role::Agent { .. } => (false, None),
        };
        Ok(ServerModel {
            api_endpoint: imported.node.host.as_deref().map(k3s::api_url),
            node: imported.node,
            cluster_init,
            server_url,
            ..blank
        })
    }
}

/// Which resource type imports a node running `unit`.
pub fn resource_of(unit: Unit) -> &'static str {
    match unit {
        Unit::Server => "k3s_server",
        Unit::Agent => "k3s_agent",
    }
}

fn role(state: &ServerModel) -> Role {
    Role::Server {
        cluster_init: state.cluster_init,
        join: state.server_url.clone(),
    }
}

async fn converge(
    ctx: &Context,
    planned: ServerModel,
    token: Option<Secret>,
    operation: Operation,
) -> Result<ServerModel, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let desired = desired(&planned.node, &provider, role(&planned), token)?;
    let touching = |id: &str| {
        let node = planned.node.with_id(id);
        operation.touching(
            ctx,
            &ServerModel {
                node,
                ..planned.clone()
            },
        );
    };
    let (session, observed, id) =
        lifecycle::apply(ctx, &planned.node, &desired, operation, &touching).await?;
    read_back(
        &session,
        &observed,
        planned,
        &id,
        Some(READY_WAIT),
        &provider.servers,
    )
    .await
}

/// A token for a server created without one: 24 random bytes from the operating system, as hex.
fn generated_token() -> Result<Secret, Diagnostics> {
    token_from(getrandom::fill)
}

/// [`generated_token`] with the random source given: a source that fails fails the create (a
/// token made of whatever the buffer held would be guessable).
fn token_from(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<Secret, Diagnostics> {
    let mut bytes = [0u8; 24];
    fill(&mut bytes).map_err(|e| {
        failed(
            "Cannot generate a join token",
            format!(
                "Reading random bytes from the operating system failed: {e}. Nothing was \
                changed on the host. Set `token`, or retry once the system's random source works."
            ),
        )
    })?;
    let token = Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    bytes.fill(0);
    Ok(token)
}

/// Whether the kubeconfig and the admin certificate stay as they are: it points at
/// `api_endpoint`, and K3s keeps the certificate across restarts and upgrades unless it is
/// within 90 days of expiry when the service starts.
fn same_access(prior: &ServerModel, endpoint: Option<&Option<String>>, restarts: bool) -> bool {
    let renewed = || {
        prior
            .client_certificate
            .as_ref()
            .is_none_or(|cert| kubeconfig::renewed_at_start(cert.expose()))
    };
    endpoint == Some(&prior.api_endpoint) && !(restarts && renewed())
}

/// Reads the server back: the common attributes, the join token, and a kubeconfig for
/// `api_endpoint` built from `k3s.yaml`.
async fn read_back(
    session: &Session,
    observed: &Observed,
    mut state: ServerModel,
    id: &str,
    wait: Option<std::time::Duration>,
    servers: &ServerVersions,
) -> Result<ServerModel, Diagnostics> {
    lifecycle::record(&mut state.node, observed, id);
    let endpoint = state.api_endpoint.clone().unwrap_or_else(|| {
        k3s::api_url(
            &state
                .node
                .host
                .clone()
                .or_else(|| host_of_id(id))
                .unwrap_or_else(|| "127.0.0.1".into()),
        )
    });
    let token = session
        .read_file(k3s::SERVER_TOKEN_PATH)
        .await
        .map_err(|e| failed("Cannot read the join token", e))?;
    let yaml = session
        .read_file(k3s::KUBECONFIG_PATH)
        .await
        .map_err(|e| failed("Cannot read k3s.yaml", e))?;
    let parts =
        kubeconfig::parse(&yaml, &endpoint).map_err(|e| failed("Cannot read k3s.yaml", e))?;
    state.node.node_ready =
        lifecycle::ready(session, &state.node, observed, Some(ApiAccess::Local), wait).await;
    if let Some(version) = observed.running_version.or(observed.version) {
        servers.record(&endpoint, version);
    }
    state.api_endpoint = Some(endpoint);
    state.join_token = Some(Secret::new(String::from_utf8_lossy(&token).trim()));
    state.kubeconfig = Some(parts.kubeconfig);
    state.cluster_ca_certificate = Some(parts.ca);
    state.client_certificate = Some(parts.client_certificate);
    state.client_key = Some(parts.client_key);
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::K3sProvider;
    use tfplugin_runtime::cty::Value;
    use tfplugin_runtime::{model, plan::with_defaults};

    /// A call's context with the provider configured as an empty provider block configures it.
    async fn configured() -> Context {
        let schema = tfplugin_runtime::Provider::schema(&K3sProvider);
        let block = with_defaults(&schema.block, &schema.block.unset_value());
        let config = model::from_planned(&block).unwrap();
        let data = tfplugin_runtime::Provider::configure(&K3sProvider, config, "1.15.5")
            .await
            .unwrap();
        Context::new(Some(data), Default::default(), Vec::new())
    }

    /// The plan of a new server configured with `host`, `version` and the attributes given.
    fn creating(set: &[(&str, Value)]) -> Plan<K3sServer> {
        let block = K3sServer.schema().block;
        let mut value = block.unset_value();
        if let Value::Object(attributes) = &mut value {
            attributes.insert("host".into(), Value::string("10.0.0.5"));
            attributes.insert("version".into(), Value::string("v1.33.4+k3s1"));
            for (name, v) in set {
                attributes.insert((*name).into(), v.clone());
            }
        }
        let config: ServerModel<Planned> =
            model::from_blank(&with_defaults(&block, &value)).unwrap();
        Plan {
            prior: None,
            planned: config.clone(),
            config,
            requires_replace: Vec::new(),
        }
    }

    #[tokio::test]
    async fn what_keeps_the_desired_state_from_being_built_is_an_error_at_plan() {
        let ctx = configured().await;
        let mut diagnostics = Diagnostics::new();
        let binary = ("airgap_binary", Value::string("/srv/k3s"));
        let mut plan = creating(&[binary]);
        K3sServer
            .modify_plan(&ctx, &mut plan, &mut diagnostics)
            .await;
        let errors: Vec<_> = diagnostics.0.iter().map(|d| d.summary.as_str()).collect();
        assert_eq!(errors, ["Incomplete air-gap settings"], "{diagnostics:?}");

        let mut fine = Diagnostics::new();
        let mut plan = creating(&[]);
        K3sServer.modify_plan(&ctx, &mut plan, &mut fine).await;
        assert!(fine.is_empty(), "{fine:?}");
        assert!(plan.planned.node.registries_sha256.known().is_some());
    }

    #[test]
    fn a_failed_random_read_fails_the_create_instead_of_making_a_token() {
        let refused = token_from(|_| Err(getrandom::Error::UNSUPPORTED));
        let diagnostics = refused.expect_err("a token from a random source that failed");
        assert!(diagnostics.has_errors());
        let shown = format!("{diagnostics:?}");
        assert!(shown.contains("Cannot generate a join token"), "{shown}");

        let token = token_from(|bytes| {
            bytes.fill(0xab);
            Ok(())
        })
        .unwrap();
        assert_eq!(token.expose(), "ab".repeat(24));
        let random = generated_token().unwrap();
        assert_eq!(random.expose().len(), 48);
        assert_ne!(random.expose(), "00".repeat(24));
    }
}
