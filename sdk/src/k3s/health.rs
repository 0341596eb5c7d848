//! The cluster's health as the Kubernetes API reports it: every Node (its roles, whether it is
//! Ready, its kubelet version, internal IP, labels, taints and whether it is cordoned) and the
//! API server's own readiness (`GET /readyz?verbose`, with its individual checks).
//!
//! Nothing here writes to the cluster. [`cluster_health`] reads once; [`wait_for_all_ready`]
//! reads until every Node is Ready or a deadline passes, and then returns what it saw (the
//! caller decides what a node that is not Ready means).
//!
//! ```no_run
//! # async fn demo(kubeconfig: k3s_sdk::Secret) -> Result<(), k3s_sdk::kubernetes::Error> {
//! use k3s_sdk::k3s;
//! use k3s_sdk::kubernetes::ApiClient;
//! use std::time::Duration;
//! let api = ApiClient::from_kubeconfig(&kubeconfig).await?;
//! let health = k3s::wait_for_all_ready(&api, Duration::from_secs(120)).await?;
//! for node in health.nodes.iter().filter(|n| !n.ready) {
//!     println!("{} ({}) is not Ready", node.name, node.roles.join(","));
//! }
//! println!("{}/{} Ready, API ready: {}", health.ready_nodes(), health.nodes.len(), health.api_ready);
//! # Ok(()) }
//! ```

use crate::kubernetes::{self, ApiClient, Unanswered};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// How often [`wait_for_all_ready`] asks again.
const POLL: Duration = Duration::from_secs(2);
/// How long the readiness request may take.
const READYZ_TIMEOUT: Duration = Duration::from_secs(30);

/// The label prefix whose suffix names a node role (`node-role.kubernetes.io/control-plane`).
pub const ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
/// The older label whose value names a node role.
const LEGACY_ROLE_LABEL: &str = "kubernetes.io/role";

/// The cluster's health: its Nodes and its API's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// Every Node, by name.
    pub nodes: Vec<NodeHealth>,
    /// The API server says it is ready (`/readyz` answered 200).
    pub api_ready: bool,
    /// The API's individual readiness checks, in its order (empty when it gives no verbose
    /// output).
    pub api_checks: Vec<ApiCheck>,
}

impl ClusterHealth {
    /// How many Nodes are Ready.
    pub fn ready_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.ready).count()
    }

    /// There is at least one Node and every Node is Ready (a cluster without Nodes is not).
    pub fn all_ready(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.iter().all(|n| n.ready)
    }
}

/// One Node as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// Its name.
    pub name: String,
    /// Its roles, as kubectl's ROLES column reads them: the suffixes of its
    /// `node-role.kubernetes.io/<role>` labels (and the value of a `kubernetes.io/role` label),
    /// sorted, without duplicates. Empty for a node with no role label, as a K3s agent has
    /// (kubectl shows `<none>`); no role is invented.
    pub roles: Vec<String>,
    /// Its `Ready` condition is `True`. A node without one, or with `False` or `Unknown` (its
    /// kubelet stopped posting status), is not Ready.
    pub ready: bool,
    /// The kubelet version it reports (`v1.33.4+k3s1`), if any.
    pub kubelet_version: Option<String>,
    /// Its first `InternalIP` address, if any.
    pub internal_ip: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its taints, each as `key=value:Effect` (`key:Effect` without a value), as K3s's
    /// `node-taint` setting writes them.
    pub taints: Vec<String>,
    /// It is cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
}

/// One of the API server's readiness checks (a `[+]name ok` or `[-]name failed: …` line of
/// `/readyz?verbose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCheck {
    /// The check, e.g. `ping`, `etcd` or `poststarthook/start-apiextensions-controllers`.
    pub name: String,
    /// It passed (`[+]`).
    pub passed: bool,
    /// What the API said of it: `ok`, or `failed: reason withheld`.
    pub status: String,
}

impl fmt::Display for ApiCheck {
    /// `ping ok`, `etcd failed: reason withheld`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.status)
    }
}

/// Reads the cluster's health once: every Node and the API's readiness. An error is an API
/// that did not answer, or refused the Node list or the readiness request for another reason
/// than not being ready.
pub async fn cluster_health(api: &ApiClient) -> Result<ClusterHealth, kubernetes::Error> {
    let listed = api.list("v1", "Node", None, None).await?;
    let mut nodes: Vec<NodeHealth> = listed.iter().map(node_health).collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let (api_ready, api_checks) = readyz(api).await?;
    Ok(ClusterHealth {
        nodes,
        api_ready,
        api_checks,
    })
}

/// Reads the cluster's health every two seconds until every Node is Ready
/// ([`ClusterHealth::all_ready`]) or `within` has passed (once, with a zero `within`), and
/// returns the last reading: at the deadline that is what was seen, Nodes not Ready included,
/// never an error for them. An error is the API not answering the last time it was asked.
/// Dropping the future stops the wait.
pub async fn wait_for_all_ready(
    api: &ApiClient,
    within: Duration,
) -> Result<ClusterHealth, kubernetes::Error> {
    let deadline = Instant::now() + within;
    loop {
        let reading = cluster_health(api).await;
        match &reading {
            Ok(health) if health.all_ready() => return reading,
            Ok(health) => tracing::debug!(
                ready = health.ready_nodes(),
                total = health.nodes.len(),
                "not every Node is Ready yet"
            ),
            Err(e) => tracing::debug!("cluster health not read: {e}"),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return reading;
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// `GET /readyz?verbose`: 200 is ready; 500 or 503 (what an API that is not ready answers) is
/// not; either way the verbose lines are the checks.
async fn readyz(api: &ApiClient) -> Result<(bool, Vec<ApiCheck>), kubernetes::Error> {
    let what = || "read /readyz?verbose".to_owned();
    let request = http::Request::get("/readyz?verbose")
        .body(Vec::new())
        .map_err(|e| kubernetes::Error::Malformed(e.to_string()))?;
    let answer = tokio::time::timeout(READYZ_TIMEOUT, api.client().request_text(request)).await;
    match answer {
        Ok(Ok(text)) => Ok((true, parse_readyz(&text))),
        Ok(Err(kube::Error::Api(status))) if matches!(status.code, 500 | 503) => {
            Ok((false, parse_readyz(&status.message)))
        }
        Ok(Err(e)) => Err(kubernetes::Error::from_kube(api.server(), what, e)),
        Err(_) => Err(kubernetes::Error::Unreachable {
            server: api.server().to_owned(),
            cause: Unanswered::TimedOut {
                what: what(),
                after: READYZ_TIMEOUT,
            },
        }),
    }
}

/// The checks in `/readyz?verbose` output: its `[+]…` and `[-]…` lines; other lines (`readyz
/// check passed`, a bare `ok`) are not checks.
pub fn parse_readyz(text: &str) -> Vec<ApiCheck> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (passed, rest) = if let Some(rest) = line.strip_prefix("[+]") {
                (true, rest)
            } else {
                (false, line.strip_prefix("[-]")?)
            };
            let (name, status) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(ApiCheck {
                name: name.to_owned(),
                passed,
                status: status.trim().to_owned(),
            })
        })
        .collect()
}

/// A Node object (as JSON) read into its health.
pub fn node_health(node: &Value) -> NodeHealth {
    let labels: BTreeMap<String, String> = node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .is_some_and(|c| c["status"] == "True");
    let internal_ip = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map(str::to_owned);
    let taints = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(taint_text)
        .collect();
    NodeHealth {
        name: node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        roles: node_roles(&labels),
        ready,
        kubelet_version: node["status"]["nodeInfo"]["kubeletVersion"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        internal_ip,
        labels,
        taints,
        unschedulable: node["spec"]["unschedulable"].as_bool().unwrap_or(false),
    }
}

/// A node's roles from its labels, as kubectl reads them: the suffix of every
/// `node-role.kubernetes.io/<role>` label and the value of `kubernetes.io/role`, sorted and
/// without duplicates; empty when there is none.
///
/// ```
/// use std::collections::BTreeMap;
/// let labels: BTreeMap<String, String> = [
///     ("node-role.kubernetes.io/control-plane", "true"),
///     ("node-role.kubernetes.io/master", "true"),
///     ("kubernetes.io/hostname", "node-1"),
/// ]
/// .into_iter()
/// .map(|(k, v)| (k.to_owned(), v.to_owned()))
/// .collect();
/// assert_eq!(k3s_sdk::k3s::node_roles(&labels), ["control-plane", "master"]);
/// assert!(k3s_sdk::k3s::node_roles(&BTreeMap::new()).is_empty());
/// ```
pub fn node_roles(labels: &BTreeMap<String, String>) -> Vec<String> {
    let mut roles: Vec<String> = labels
        .iter()
        .filter_map(|(key, value)| match key.strip_prefix(ROLE_LABEL_PREFIX) {
            Some(role) => Some(role.to_owned()),
            None if key == LEGACY_ROLE_LABEL => Some(value.clone()),
            None => None,
        })
        .filter(|role| !role.is_empty())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// A taint as `key=value:Effect`, or `key:Effect` when it has no value.
fn taint_text(taint: &Value) -> String {
    let key = taint["key"].as_str().unwrap_or_default();
    let effect = taint["effect"].as_str().unwrap_or_default();
    match taint["value"].as_str().filter(|v| !v.is_empty()) {
        Some(value) => format!("{key}={value}:{effect}"),
        None => format!("{key}:{effect}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn roles_are_the_role_labels_as_kubectl_reads_them() {
        let server = labels(&[
            ("node-role.kubernetes.io/master", "true"),
            ("node-role.kubernetes.io/etcd", "true"),
            ("node-role.kubernetes.io/control-plane", "true"),
            ("node.kubernetes.io/instance-type", "k3s"),
        ]);
        assert_eq!(node_roles(&server), ["control-plane", "etcd", "master"]);
        let legacy = labels(&[("kubernetes.io/role", "worker")]);
        assert_eq!(node_roles(&legacy), ["worker"]);
        let both = labels(&[
            ("kubernetes.io/role", "worker"),
            ("node-role.kubernetes.io/worker", ""),
        ]);
        assert_eq!(node_roles(&both), ["worker"]);
        let agent = labels(&[("kubernetes.io/hostname", "node-2"), ("role", "worker")]);
        assert!(node_roles(&agent).is_empty(), "a plain label is no role");
        assert!(node_roles(&labels(&[("node-role.kubernetes.io/", "true")])).is_empty());
    }

    #[test]
    fn taints_read_as_k3s_writes_them() {
        assert_eq!(
            taint_text(&json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"})),
            "dedicated=db:NoSchedule"
        );
        assert_eq!(
            taint_text(
                &json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                "timeAdded": "2025-01-01T00:00:00Z"})
            ),
            "node.kubernetes.io/unreachable:NoExecute"
        );
        assert_eq!(
            taint_text(&json!({"key": "k", "value": "", "effect": "PreferNoSchedule"})),
            "k:PreferNoSchedule"
        );
    }

    #[test]
    fn readyz_lines_are_checks_and_the_summary_is_not() {
        let passed = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]poststarthook/start-apiextensions-controllers ok\nreadyz check passed\n";
        let checks = parse_readyz(passed);
        assert_eq!(checks.len(), 4);
        assert!(checks.iter().all(|c| c.passed && c.status == "ok"));
        assert_eq!(checks[0].to_string(), "ping ok");
        assert_eq!(
            checks[3].name,
            "poststarthook/start-apiextensions-controllers"
        );

        let failed = "[+]ping ok\n[-]etcd failed: reason withheld\n[-]informer-sync failed\nreadyz check failed";
        let checks = parse_readyz(failed);
        assert_eq!(checks.len(), 3);
        assert_eq!(
            checks[1],
            ApiCheck {
                name: "etcd".into(),
                passed: false,
                status: "failed: reason withheld".into()
            }
        );
        assert_eq!(checks[1].to_string(), "etcd failed: reason withheld");
        assert!(!checks[2].passed);
        assert_eq!(checks[2].status, "failed");

        assert!(
            parse_readyz("ok").is_empty(),
            "no verbose output, no checks"
        );
    }

    #[test]
    fn a_node_reads_into_its_health() {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1", "labels": {
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/master": "true",
                "kubernetes.io/hostname": "node-1",
            }},
            "spec": {"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "db", "effect": "NoExecute"},
            ]},
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ],
                "addresses": [
                    {"type": "Hostname", "address": "node-1"},
                    {"type": "InternalIP", "address": "10.0.0.241"},
                    {"type": "InternalIP", "address": "fd00::1"},
                ],
                "nodeInfo": {"kubeletVersion": "v1.33.4+k3s1"},
            },
        });
        let health = node_health(&node);
        assert_eq!(health.name, "node-1");
        assert_eq!(health.roles, ["control-plane", "master"]);
        assert!(health.ready);
        assert_eq!(health.kubelet_version.as_deref(), Some("v1.33.4+k3s1"));
        assert_eq!(health.internal_ip.as_deref(), Some("10.0.0.241"));
        assert_eq!(health.labels["kubernetes.io/hostname"], "node-1");
        assert_eq!(
            health.taints,
            [
                "node.kubernetes.io/unschedulable:NoSchedule",
                "dedicated=db:NoExecute"
            ]
        );
        assert!(health.unschedulable);
    }

    #[test]
    fn only_a_true_ready_condition_is_ready() {
        for (conditions, ready) in [
            (json!([{"type": "Ready", "status": "True"}]), true),
            (json!([{"type": "Ready", "status": "False"}]), false),
            (json!([{"type": "Ready", "status": "Unknown"}]), false),
            (json!([{"type": "DiskPressure", "status": "True"}]), false),
            (json!(null), false),
        ] {
            let node = json!({"metadata": {"name": "n"}, "status": {"conditions": conditions}});
            let health = node_health(&node);
            assert_eq!(health.ready, ready, "{conditions}");
            assert!(health.roles.is_empty() && health.taints.is_empty());
            assert!(!health.unschedulable && health.internal_ip.is_none());
        }
    }

    #[test]
    fn all_ready_needs_a_node_and_every_node_ready() {
        let node = |name: &str, ready: bool| {
            node_health(&json!({"metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        };
        let mut health = ClusterHealth {
            nodes: vec![],
            api_ready: true,
            api_checks: vec![],
        };
        assert!(!health.all_ready(), "no nodes");
        health.nodes = vec![node("a", true), node("b", true)];
        assert!(health.all_ready());
        assert_eq!(health.ready_nodes(), 2);
        health.nodes.push(node("c", false));
        assert!(!health.all_ready());
        assert_eq!(health.ready_nodes(), 2);
    }
}
