//! The node's side of the cluster, through the Kubernetes API: whether its Node is Ready, how
//! many control-plane nodes there are, and removing a node from its cluster — cordon it, evict
//! its pods through the Eviction API (so PodDisruptionBudgets are honoured), wait for them to
//! be gone, and delete its Node object.
//!
//! The [`ApiClient`] is normally reached through the node's own SSH session
//! ([`ApiAccess::client`]): a server with its admin kubeconfig (`/etc/rancher/k3s/k3s.yaml`,
//! read into memory), an agent with a kubeconfig the caller holds, the API reached through a
//! port forward from the agent to the server the kubeconfig names. So the API only has to be
//! reachable from the node, as it is for joining, and a supplied kubeconfig never leaves this
//! process's memory: nothing is written to the node.
//!
//! ```no_run
//! # async fn demo(node: k3s_sdk::ssh::Session) -> Result<(), k3s_sdk::kubernetes::Error> {
//! use k3s_sdk::k3s::{self, ApiAccess};
//! use std::time::Duration;
//! let api = ApiAccess::Local.client(&node).await?;
//! if k3s::control_plane_count(&api).await? > 1 {
//!     let removal = k3s::remove_from_cluster(&api, "node-1", Duration::from_secs(120)).await;
//!     for pod in &removal.stuck {
//!         println!("still on the node: {pod}");
//!     }
//! }
//! # Ok(()) }
//! ```

use super::KUBECONFIG_PATH;
use crate::kubernetes::{self, ApiClient};
use crate::ssh::{Secret, Session};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long draining a node may take unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// How long one request to the API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request that is part of a drain may take at least, even when the drain's own
/// deadline is nearer (so that cordoning and listing still get an answer to report).
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before asking again to evict pods a PodDisruptionBudget protects now
/// (kubectl waits 5 s).
const EVICTION_RETRY: Duration = Duration::from_secs(2);
/// How often evicted pods are looked for until they are gone.
const GONE_POLL: Duration = Duration::from_secs(1);

/// The annotation the kubelet puts on the API's mirror of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The label K3s puts on server nodes.
const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane=true";

/// How the node reaches the cluster's API.
#[derive(Debug, Clone)]
pub enum ApiAccess {
    /// A server's own admin kubeconfig, read from the node.
    Local,
    /// A kubeconfig the caller holds (for agents), kept in this process's memory.
    Kubeconfig(Secret),
}

impl ApiAccess {
    /// A client for the cluster's API through `session`'s node: with [`ApiAccess::Local`] the
    /// node's admin kubeconfig names the API on the node's own loopback; with a supplied
    /// kubeconfig the API address it names is reached from the node. The forward lives as
    /// long as the client.
    pub async fn client(&self, session: &Session) -> Result<ApiClient, kubernetes::Error> {
        match self {
            ApiAccess::Local => ApiClient::through_node(session, KUBECONFIG_PATH).await,
            ApiAccess::Kubeconfig(kubeconfig) => {
                ApiClient::through_node_with(session, kubeconfig).await
            }
        }
    }
}

/// What removing a node from the cluster did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Every pod to evict was evicted and is gone, within the drain's deadline.
    pub drained: bool,
    /// The Node object is gone (deleted now, or it was not there).
    pub deleted: bool,
    /// The pods still on the node when the drain's deadline passed, and why.
    pub stuck: Vec<StuckPod>,
    /// Why a step did not complete, in the API's words, for a warning.
    pub problems: Vec<String>,
}

/// A pod a drain could not move off its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckPod {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Why: the API's answer to its last eviction (for a PodDisruptionBudget, the 429's
    /// message), or that it was evicted but had not gone yet.
    pub reason: String,
}

impl fmt::Display for StuckPod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pod {}/{}: {}", self.namespace, self.name, self.reason)
    }
}

/// Whether the Node's `Ready` condition is `True`; `None` when there is no such Node or it has
/// no Ready condition yet. An API that does not answer is an error.
pub async fn node_ready(api: &ApiClient, node: &str) -> Result<Option<bool>, kubernetes::Error> {
    check_node_name(node)?;
    let nodes =
        Api::<DynamicObject>::all_with(api.client().clone(), &ApiResource::erase::<Node>(&()));
    let Some(object) = request(
        api,
        format!("read Node {node}"),
        REQUEST_TIMEOUT,
        nodes.get_opt(node),
    )
    .await?
    else {
        return Ok(None);
    };
    let ready = object.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
        .map(|status| status == "True");
    Ok(ready)
}

/// How many control-plane nodes the cluster has (Nodes labelled
/// `node-role.kubernetes.io/control-plane=true`, as K3s labels its servers).
pub async fn control_plane_count(api: &ApiClient) -> Result<usize, kubernetes::Error> {
    let nodes =
        Api::<DynamicObject>::all_with(api.client().clone(), &ApiResource::erase::<Node>(&()));
    let list = request(
        api,
        "list the control-plane Nodes".to_owned(),
        REQUEST_TIMEOUT,
        nodes.list_metadata(&ListParams::default().labels(CONTROL_PLANE_LABEL)),
    )
    .await?;
    Ok(list.items.len())
}

/// [`drain`]s the node within `drain_timeout` and deletes its Node object, which also removes
/// its node-password secret and, for an etcd server, its etcd member. A drain that does not
/// finish does not stop the deletion; both outcomes are reported (the pods left in
/// [`Removal::stuck`]), never raised, so a destroy can go on to uninstall and warn.
pub async fn remove_from_cluster(api: &ApiClient, node: &str, drain_timeout: Duration) -> Removal {
    let mut removal = Removal::default();
    if let Err(e) = check_node_name(node) {
        removal.problems.push(e.to_string());
        return removal;
    }
    match drain(api, node, drain_timeout).await {
        Ok(Drained::Done) => removal.drained = true,
        Ok(Drained::NoSuchNode) => {
            removal.drained = true;
            removal.deleted = true;
            return removal;
        }
        Ok(Drained::Stuck(stuck)) => {
            let list: Vec<String> = stuck.iter().map(StuckPod::to_string).collect();
            removal.problems.push(format!(
                "drain: {} pod(s) still on node {node} when the drain timeout ({drain_timeout:?}) passed: {}",
                stuck.len(),
                list.join("; ")
            ));
            removal.stuck = stuck;
        }
        Err(e) => removal.problems.push(format!("drain: {e}")),
    }
    let nodes =
        Api::<DynamicObject>::all_with(api.client().clone(), &ApiResource::erase::<Node>(&()));
    let deleted = request(
        api,
        format!("delete Node {node}"),
        REQUEST_TIMEOUT,
        nodes.delete(node, &DeleteParams::default()),
    )
    .await;
    match deleted {
        Ok(_) => removal.deleted = true,
        Err(e) if e.is_not_found() => removal.deleted = true,
        Err(e) => removal.problems.push(format!("delete node: {e}")),
    }
    removal
}

/// How a drain ended, when the API answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drained {
    /// The node is cordoned and every pod to evict is gone.
    Done,
    /// There is no such Node: nothing to drain.
    NoSuchNode,
    /// The node is cordoned, and these pods were still on it when the deadline passed.
    Stuck(Vec<StuckPod>),
}

/// A pod to move off the node.
struct Evictee {
    namespace: String,
    name: String,
    uid: Option<String>,
    /// The answer to its last eviction request, while it is not evicted.
    last: String,
}

/// What one eviction request came to.
enum Evicted {
    /// The API accepted it (the pod is being deleted).
    Yes,
    /// There is no such pod any more.
    Gone,
    /// Not now: a PodDisruptionBudget forbids it (429), or the API did not answer. Ask again.
    NotNow(String),
    /// Refused for good (another error Status).
    Refused(String),
}

/// Drains the node within `timeout`: cordons it (`spec.unschedulable`), evicts every pod on it
/// through the Eviction API (a policy/v1 Eviction POSTed to the pod's `eviction` subresource)
/// except those a DaemonSet controls (it would put them back) and mirror pods (the kubelet's
/// static pods), asks again while a PodDisruptionBudget refuses (429) until the deadline, and
/// waits, within the same deadline, for the evicted pods to be gone. The pods left when the
/// deadline passes are [`Drained::Stuck`], each with the API's reason. An error is a request
/// the API did not answer or refused (cordoning, listing the node's pods).
pub async fn drain(
    api: &ApiClient,
    node: &str,
    timeout: Duration,
) -> Result<Drained, kubernetes::Error> {
    check_node_name(node)?;
    let deadline = Instant::now() + timeout;
    let limit = || {
        deadline
            .saturating_duration_since(Instant::now())
            .clamp(MIN_REQUEST_TIMEOUT, REQUEST_TIMEOUT)
    };
    let nodes =
        Api::<DynamicObject>::all_with(api.client().clone(), &ApiResource::erase::<Node>(&()));
    let cordoned = request(
        api,
        format!("cordon Node {node}"),
        limit(),
        nodes.patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        ),
    )
    .await;
    match cordoned {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(Drained::NoSuchNode),
        Err(e) => return Err(e),
    }

    let pods =
        Api::<DynamicObject>::all_with(api.client().clone(), &ApiResource::erase::<Pod>(&()));
    let on_node = request(
        api,
        format!("list the pods on node {node}"),
        limit(),
        pods.list(&ListParams::default().fields(&format!("spec.nodeName={node}"))),
    )
    .await?;
    let mut pending: Vec<Evictee> = on_node
        .items
        .iter()
        .filter(|pod| to_evict(pod))
        .filter_map(|pod| {
            Some(Evictee {
                namespace: pod.metadata.namespace.clone()?,
                name: pod.metadata.name.clone()?,
                uid: pod.metadata.uid.clone(),
                last: String::new(),
            })
        })
        .collect();
    let mut evicted: Vec<Evictee> = Vec::new();
    let mut refused: Vec<StuckPod> = Vec::new();

    // Evictions, all pending pods at once, round after round until none is left or the
    // deadline passes.
    while !pending.is_empty() {
        let mut round = tokio::task::JoinSet::new();
        for (index, pod) in pending.iter().enumerate() {
            let (client, server) = (api.client().clone(), api.server().to_owned());
            let (namespace, name, limit) = (pod.namespace.clone(), pod.name.clone(), limit());
            round.spawn(
                async move { (index, evict(client, server, &namespace, &name, limit).await) },
            );
        }
        let mut answers: Vec<Option<Evicted>> = (0..pending.len()).map(|_| None).collect();
        while let Some(joined) = round.join_next().await {
            if let Ok((index, answer)) = joined {
                answers[index] = Some(answer);
            }
        }
        let mut again = Vec::new();
        for (mut pod, answer) in pending.into_iter().zip(answers) {
            match answer {
                Some(Evicted::Yes) => evicted.push(pod),
                Some(Evicted::Gone) => {}
                Some(Evicted::Refused(reason)) => refused.push(StuckPod {
                    namespace: pod.namespace,
                    name: pod.name,
                    reason,
                }),
                Some(Evicted::NotNow(reason)) => {
                    tracing::debug!(node, pod = %pod.name, namespace = %pod.namespace, "eviction not possible now: {reason}");
                    pod.last = reason;
                    again.push(pod);
                }
                None => {
                    pod.last = "the eviction request did not complete".into();
                    again.push(pod);
                }
            }
        }
        pending = again;
        let left = deadline.saturating_duration_since(Instant::now());
        if pending.is_empty() || left.is_zero() {
            break;
        }
        tokio::time::sleep(EVICTION_RETRY.min(left)).await;
    }

    // The evicted pods go away (a pod with a grace period or finalizers takes a while).
    while !evicted.is_empty() {
        let mut still = Vec::new();
        for pod in evicted {
            if !is_gone(api, &pod, limit()).await {
                still.push(pod);
            }
        }
        evicted = still;
        let left = deadline.saturating_duration_since(Instant::now());
        if evicted.is_empty() || left.is_zero() {
            break;
        }
        tokio::time::sleep(GONE_POLL.min(left)).await;
    }

    let mut stuck = refused;
    stuck.extend(pending.into_iter().map(|pod| StuckPod {
        namespace: pod.namespace,
        name: pod.name,
        reason: format!("not evicted: {}", pod.last),
    }));
    stuck.extend(evicted.into_iter().map(|pod| StuckPod {
        namespace: pod.namespace,
        name: pod.name,
        reason: "evicted, but not gone yet".into(),
    }));
    if stuck.is_empty() {
        Ok(Drained::Done)
    } else {
        Ok(Drained::Stuck(stuck))
    }
}

/// Whether a drain evicts this pod: not one a DaemonSet controls (the DaemonSet would put it
/// back; it goes with the node), not a mirror pod (the kubelet's static pod, which the API
/// cannot delete), as `kubectl drain --ignore-daemonsets --force` does.
fn to_evict(pod: &DynamicObject) -> bool {
    let daemon = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    !daemon && !mirror
}

/// One eviction: a policy/v1 Eviction POSTed to the pod's `eviction` subresource.
async fn evict(
    client: kube::Client,
    server: String,
    namespace: &str,
    name: &str,
    limit: Duration,
) -> Evicted {
    let body = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    });
    let built = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body.to_string().into_bytes());
    let req = match built {
        Ok(req) => req,
        Err(e) => return Evicted::Refused(format!("cannot build the eviction request: {e}")),
    };
    let what = || format!("evict pod {namespace}/{name}");
    let answer = match tokio::time::timeout(limit, client.request::<Value>(req)).await {
        Ok(Ok(_)) => return Evicted::Yes,
        Ok(Err(e)) => kubernetes::Error::from_kube(&server, what, e),
        Err(_) => {
            return Evicted::NotNow(format!("{} took longer than {limit:?}", what()));
        }
    };
    match answer {
        e if e.is_not_found() => Evicted::Gone,
        kubernetes::Error::Refused {
            code: 429, message, ..
        } => Evicted::NotNow(message),
        e @ kubernetes::Error::Unreachable { .. } => Evicted::NotNow(e.to_string()),
        e => Evicted::Refused(e.to_string()),
    }
}

/// Whether an evicted pod is gone: no such pod, or one of the same name that is another pod
/// (a StatefulSet's replacement). An API that does not answer leaves it in doubt: not gone.
async fn is_gone(api: &ApiClient, pod: &Evictee, limit: Duration) -> bool {
    let pods = Api::<DynamicObject>::namespaced_with(
        api.client().clone(),
        &pod.namespace,
        &ApiResource::erase::<Pod>(&()),
    );
    match tokio::time::timeout(limit, pods.get_opt(&pod.name)).await {
        Ok(Ok(None)) => true,
        Ok(Ok(Some(live))) => live.metadata.uid != pod.uid,
        _ => false,
    }
}

/// Runs one request within `limit`, mapping the client's errors.
async fn request<T>(
    api: &ApiClient,
    what: String,
    limit: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kubernetes::Error> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(kubernetes::Error::from_kube(api.server(), || what, e)),
        Err(_) => Err(kubernetes::Error::Unreachable {
            server: api.server().to_owned(),
            cause: kubernetes::Unanswered::TimedOut { what, after: limit },
        }),
    }
}

/// A Node name goes into request paths: only what Kubernetes allows in one.
fn check_node_name(name: &str) -> Result<(), kubernetes::Error> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(kubernetes::Error::Malformed(format!(
            "{name:?} is not a Node name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::api::ObjectMeta;

    fn pod(owner: Option<&str>, annotation: Option<&str>) -> DynamicObject {
        let mut pod = DynamicObject::new("p", &ApiResource::erase::<Pod>(&()));
        pod.metadata = ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            owner_references: owner.map(|kind| {
                vec![OwnerReference {
                    kind: kind.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            annotations: annotation.map(|a| [(a.to_owned(), "x".to_owned())].into()),
            ..ObjectMeta::default()
        };
        pod
    }

    #[test]
    fn a_drain_leaves_daemonset_and_mirror_pods_alone() {
        assert!(to_evict(&pod(None, None)));
        assert!(to_evict(&pod(Some("ReplicaSet"), None)));
        assert!(to_evict(&pod(None, Some("other.example/annotation"))));
        assert!(!to_evict(&pod(Some("DaemonSet"), None)));
        assert!(!to_evict(&pod(None, Some(MIRROR_ANNOTATION))));
    }

    #[test]
    fn only_node_names_go_into_paths() {
        assert!(check_node_name("node-1.example").is_ok());
        for bad in ["", "../secrets", "a?b", "Node", "a/b"] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stuck_pods_say_which_and_why() {
        let stuck = StuckPod {
            namespace: "web".into(),
            name: "front-0".into(),
            reason:
                "not evicted: Cannot evict pod as it would violate the pod's disruption budget."
                    .into(),
        };
        assert_eq!(
            stuck.to_string(),
            "pod web/front-0: not evicted: Cannot evict pod as it would violate the pod's disruption budget."
        );
    }
}
