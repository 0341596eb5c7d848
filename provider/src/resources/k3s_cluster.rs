//! Data source `k3s_cluster`: the cluster's health as its Kubernetes API reports it — every Node
//! with its roles, readiness, kubelet version, internal IP, labels, taints and cordon, the counts,
//! and the API server's readiness checks — for `check {}` blocks and postconditions.
//!
//! The cluster is reached as `argocd_bootstrap` reaches it ([`cluster_access`]): a `kubeconfig` or
//! a `server` node over SSH. Nothing is written to the cluster. A cluster that does not answer is
//! an error naming what was tried (a data source has no earlier state to fall back on).

use crate::cluster_access::{self, Attempt, Reached, ServerAccess};
use crate::validators;
use async_trait::async_trait;
use k3s_sdk::k3s::{self, ClusterHealth, NodeHealth};
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::{
    field_name, Context, DataSource, Diagnostics, Duration, Form, Known, Models, Planned,
};

/// The `k3s_cluster` data source type.
pub struct K3sCluster;

/// The cluster's health as its Kubernetes API reports it: every Node (roles, Ready, kubelet
/// version, internal IP, labels, taints, cordon), how many are Ready, and the API server's
/// readiness (`/readyz`) with its individual checks. Made for `check {}` blocks and
/// postconditions, e.g. `assert { condition = data.k3s_cluster.main.all_ready }`; reading it
/// changes nothing in the cluster.
///
/// When the same configuration creates the cluster, let the data source wait for it:
/// `depends_on = [k3s_server.main, k3s_agent.worker]` (or a reference to the server's computed
/// attributes, such as `kubeconfig = k3s_server.main.kubeconfig`) makes Terraform read it during
/// apply, after the nodes exist, instead of failing the plan on a cluster that is not there yet.
/// While a resource it depends on has changes planned (a stopped agent that apply will repair),
/// Terraform defers the read, and the check, to the apply; `terraform plan -refresh-only` reads
/// it at once. Add `wait_for_ready` to give nodes that were just created time to report Ready.
/// A cluster that does not answer is an error naming what was tried; declared inside the `check`
/// block itself (a scoped data source), Terraform shows that error as the check's warning
/// instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
pub struct ClusterModel<F: Form = Known> {
    /// Kubeconfig of the cluster, e.g. `k3s_server.main.kubeconfig`. Exactly one of this and a
    /// `server` block.
    #[tf(sensitive)]
    pub kubeconfig: F::Of<Option<Secret>>,
    /// Wait up to this long (e.g. `2m`) for every node to be Ready before reporting; when the time
    /// is up, report what was seen (no error: the `check` decides). Every read waits, plans
    /// included, so a node that stays down makes each plan take this long. By default no wait:
    /// one reading.
    #[tf(validate = validators::duration())]
    pub wait_for_ready: F::Of<Option<Duration>>,
    /// Every Node, by name.
    #[tf(computed)]
    pub nodes: F::Of<Option<Vec<NodeRow>>>,
    /// How many nodes are Ready.
    #[tf(computed)]
    pub ready_nodes: F::Of<Option<i64>>,
    /// How many nodes there are.
    #[tf(computed)]
    pub total_nodes: F::Of<Option<i64>>,
    /// There is at least one node and every node is Ready.
    #[tf(computed)]
    pub all_ready: F::Of<Option<bool>>,
    /// The API server says it is ready (`/readyz` answered 200).
    #[tf(computed)]
    pub api_ready: F::Of<Option<bool>>,
    /// The API server's readiness checks as it reports them, e.g. `ping ok` or
    /// `etcd failed: reason withheld` (empty when it gives no verbose output).
    #[tf(computed)]
    pub api_checks: F::Of<Option<Vec<String>>>,
    /// Or, instead of `kubeconfig`, a server node to reach the cluster through.
    #[tf(block)]
    pub server: F::Of<Option<ServerAccess>>,
}

/// One Node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// Its name.
    pub name: String,
    /// Its roles from its `node-role.kubernetes.io/<role>` labels, as kubectl's ROLES column reads
    /// them (`control-plane`, `etcd`, `master`); empty for a node without role labels, as a K3s
    /// agent is.
    pub roles: Vec<String>,
    /// Its `Ready` condition is `True`.
    pub ready: bool,
    /// The kubelet version it reports.
    pub kubelet_version: Option<String>,
    /// Its internal IP.
    pub internal_ip: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its taints, as `key=value:Effect` (`key:Effect` without a value).
    pub taints: Vec<String>,
    /// It is cordoned.
    pub unschedulable: bool,
}

impl Models for K3sCluster {
    type Model<F: Form> = ClusterModel<F>;
}

#[async_trait]
impl DataSource for K3sCluster {
    fn type_name(&self) -> &'static str {
        "k3s_cluster"
    }

    async fn validate(&self, config: &ClusterModel<Planned>, diagnostics: &mut Diagnostics) {
        cluster_access::check_access(
            &config.kubeconfig,
            &config.server,
            field_name!(ClusterModel, kubeconfig),
            field_name!(ClusterModel, server),
            diagnostics,
        );
    }

    async fn read(&self, ctx: &Context, config: ClusterModel) -> Result<ClusterModel, Diagnostics> {
        let tried = match (&config.kubeconfig, &config.server) {
            (Some(_), _) => None,
            (None, Some(server)) => Some(format!(
                "through the server node {} (its API at 127.0.0.1:{} over SSH)",
                server.host,
                k3s::API_PORT
            )),
            (None, None) => {
                return Err(Diagnostics::from_error(
                    "Missing cluster access",
                    "Set `kubeconfig` or a `server` block.",
                ))
            }
        };
        let api = match cluster_access::connect(
            ctx,
            config.kubeconfig.as_ref(),
            config.server.as_ref(),
            Attempt::OnceOrFail,
        )
        .await?
        {
            Some(Reached::Api(api)) => api,
            None | Some(Reached::Unreachable) => {
                return Err(Diagnostics::from_error(
                    "Cannot reach the cluster",
                    format!(
                        "Tried {}; it did not answer.",
                        tried.as_deref().unwrap_or("the kubeconfig's server")
                    ),
                ))
            }
        };
        let tried =
            tried.unwrap_or_else(|| format!("at {} (the kubeconfig's server)", api.server()));
        let failed = |e: k3s_sdk::kubernetes::Error| {
            Diagnostics::from_error(
                "Cannot read the cluster's health",
                format!(
                    "Asked the Kubernetes API {tried}: {e}. Check that the cluster is up; when \
                    this configuration creates it, add `depends_on` on its nodes so the data \
                    source is read after they exist."
                ),
            )
        };
        let health = match &config.wait_for_ready {
            Some(within) => {
                ctx.unless_cancelled("Waiting for every node to be Ready", async {
                    k3s::wait_for_all_ready(&api, within.get())
                        .await
                        .map_err(failed)
                })
                .await?
            }
            None => k3s::cluster_health(&api).await.map_err(failed)?,
        };
        Ok(recorded(config, &health))
    }
}

/// The configuration with what was read filled in.
fn recorded(config: ClusterModel, health: &ClusterHealth) -> ClusterModel {
    ClusterModel {
        nodes: Some(health.nodes.iter().map(row).collect()),
        ready_nodes: Some(health.ready_nodes() as i64),
        total_nodes: Some(health.nodes.len() as i64),
        all_ready: Some(health.all_ready()),
        api_ready: Some(health.api_ready),
        api_checks: Some(health.api_checks.iter().map(|c| c.to_string()).collect()),
        ..config
    }
}

fn row(node: &NodeHealth) -> NodeRow {
    NodeRow {
        name: node.name.clone(),
        roles: node.roles.clone(),
        ready: node.ready,
        kubelet_version: node.kubelet_version.clone(),
        internal_ip: node.internal_ip.clone(),
        labels: node.labels.clone(),
        taints: node.taints.clone(),
        unschedulable: node.unschedulable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin_runtime::cty::{AttributePath, Value};
    use tfplugin_runtime::model;

    /// A configuration with the given attributes set.
    fn config(set: &[(&str, Value)]) -> ClusterModel<Planned> {
        let mut value = ClusterModel::<Known>::block().unset_value();
        if let Value::Object(attributes) = &mut value {
            for (name, v) in set {
                attributes.insert((*name).into(), v.clone());
            }
        }
        model::from_blank(&value).unwrap()
    }

    async fn errors(config: &ClusterModel<Planned>) -> Vec<(String, Option<AttributePath>)> {
        let mut diagnostics = Diagnostics::new();
        K3sCluster.validate(config, &mut diagnostics).await;
        diagnostics
            .0
            .into_iter()
            .map(|d| (d.summary, d.path))
            .collect()
    }

    fn server() -> Value {
        Value::object([("host", Value::string("10.0.0.5")), ("ssh", Value::Null)])
    }

    #[tokio::test]
    async fn exactly_one_way_to_the_cluster() {
        let at = |name: &str| Some(AttributePath::attribute(name));
        assert_eq!(
            errors(&config(&[])).await,
            [("Missing cluster access".to_owned(), at("kubeconfig"))]
        );
        assert_eq!(
            errors(&config(&[
                ("kubeconfig", Value::string("apiVersion: v1")),
                ("server", server()),
            ]))
            .await,
            [("Conflicting cluster access".to_owned(), at("server"))]
        );
        assert!(errors(&config(&[("server", server())])).await.is_empty());
        assert!(
            errors(&config(&[("kubeconfig", Value::string("apiVersion: v1"))]))
                .await
                .is_empty()
        );
        // A kubeconfig still unknown (a server being created) is no conflict by itself.
        assert!(errors(&config(&[("kubeconfig", Value::unknown())]))
            .await
            .is_empty());
    }

    #[test]
    fn what_was_read_fills_the_computed_attributes() {
        let node = |name: &str, ready: bool, labels: &[(&str, &str)]| NodeHealth {
            name: name.into(),
            roles: k3s::node_roles(
                &labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ready,
            kubelet_version: Some("v1.33.4+k3s1".into()),
            internal_ip: Some("10.0.0.5".into()),
            labels: BTreeMap::new(),
            taints: vec!["node.kubernetes.io/unreachable:NoExecute".into()],
            unschedulable: false,
        };
        let health = ClusterHealth {
            nodes: vec![
                node(
                    "node-1",
                    true,
                    &[("node-role.kubernetes.io/control-plane", "true")],
                ),
                node("node-2", false, &[]),
            ],
            api_ready: true,
            api_checks: k3s::parse_readyz("[+]ping ok\n[-]etcd failed: reason withheld\n"),
        };
        let blank: ClusterModel =
            model::from_blank(&ClusterModel::<Known>::block().unset_value()).unwrap();
        let read = recorded(blank, &health);
        assert_eq!(read.total_nodes, Some(2));
        assert_eq!(read.ready_nodes, Some(1));
        assert_eq!(read.all_ready, Some(false));
        assert_eq!(read.api_ready, Some(true));
        assert_eq!(
            read.api_checks.as_deref(),
            Some(
                &[
                    "ping ok".to_owned(),
                    "etcd failed: reason withheld".to_owned()
                ][..]
            )
        );
        let nodes = read.nodes.unwrap();
        assert_eq!(nodes[0].roles, ["control-plane"]);
        assert!(nodes[1].roles.is_empty() && !nodes[1].ready);
        assert_eq!(
            nodes[1].taints,
            ["node.kubernetes.io/unreachable:NoExecute"]
        );
    }
}
