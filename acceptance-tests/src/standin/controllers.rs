//! Background loops of the stand-in server, standing in for Kubernetes' controllers:
//! workloads (Deployments, StatefulSets, DaemonSets, ReplicaSets) report all replicas ready
//! and available shortly after each change; the node lifecycle controller marks a Node
//! NotReady (Ready=Unknown, unreachable taints) when its kubelet stops posting status; the
//! store is written to disk at most once a second; and, because no Argo CD image can run
//! here, the test bed plays what Argo CD's `argocd-server` writes when it first starts (see
//! [`play_argocd_server_start`]).

use super::api::{Cluster, NODE_KEY};
use super::store::Entry;
use super::util::{now_rfc3339, sha256_hex, warn};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node is NotReady when it has not posted status for this long.
pub const NODE_GRACE: Duration = Duration::from_secs(20);

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Starts every loop on the current Tokio runtime.
pub fn spawn(cluster: Arc<Cluster>) {
    let c = cluster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            reconcile_workloads(&c);
            play_argocd_server_start(&c);
        }
    });
    let c = cluster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            monitor_nodes(&c);
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let c = cluster.clone();
            let result = tokio::task::spawn_blocking(move || c.store.flush()).await;
            if let Ok(Err(e)) = result {
                warn(&format!("writing the datastore: {e:#}"));
            }
        }
    });
}

fn pod_template_hash(obj: &Value) -> String {
    let template = serde_json::to_vec(&obj["spec"]["template"]).unwrap_or_default();
    sha256_hex(&template)[..10].to_owned()
}

/// The status a workload reports once its pods are all running.
fn workload_status(plural: &str, obj: &Value, nodes: usize) -> Value {
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let now = now_rfc3339();
    let hash = pod_template_hash(obj);
    match plural {
        "deployments" => {
            let since = |kind: &str| {
                obj["status"]["conditions"]
                    .as_array()
                    .and_then(|c| {
                        c.iter()
                            .find(|c| c["type"] == kind && c["status"] == "True")
                    })
                    .and_then(|c| c["lastTransitionTime"].as_str())
                    .map(String::from)
                    .unwrap_or_else(|| now.clone())
            };
            json!({
                "observedGeneration": generation,
                "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "lastUpdateTime": now,
                     "lastTransitionTime": since("Available"), "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": now,
                     "lastTransitionTime": since("Progressing"), "reason": "NewReplicaSetAvailable",
                     "message": format!("ReplicaSet \"{name}-{hash}\" has successfully progressed.")},
                ],
            })
        }
        "statefulsets" => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": format!("{name}-{hash}"), "updateRevision": format!("{name}-{hash}"),
            "collisionCount": 0,
        }),
        "daemonsets" => json!({
            "observedGeneration": generation, "desiredNumberScheduled": nodes,
            "currentNumberScheduled": nodes, "numberReady": nodes, "numberAvailable": nodes,
            "updatedNumberScheduled": nodes, "numberMisscheduled": 0,
        }),
        _ => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "fullyLabeledReplicas": replicas,
        }),
    }
}

fn reconcile_workloads(cluster: &Cluster) {
    let mut txn = cluster.store.txn();
    let nodes = txn.ids(NODE_KEY, None).len();
    for plural in ["deployments", "statefulsets", "daemonsets", "replicasets"] {
        let key = format!("apps/{plural}");
        for (ns, name) in txn.ids(&key, None) {
            let Some(entry) = txn.get(&key, &ns, &name).cloned() else {
                continue;
            };
            let obj = &entry.object;
            let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
            let observed = obj["status"]["observedGeneration"].as_i64();
            let replicas_seen = obj["status"]["replicas"].as_i64();
            let want_replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let daemonset_stale = plural == "daemonsets"
                && obj["status"]["desiredNumberScheduled"].as_i64() != Some(nodes as i64);
            let stale = observed != Some(generation)
                || (plural != "daemonsets"
                    && replicas_seen.unwrap_or(want_replicas) != want_replicas)
                || daemonset_stale;
            if !stale {
                continue;
            }
            let mut object = entry.object.clone();
            object["status"] = workload_status(plural, obj, nodes);
            txn.put(
                &key,
                &ns,
                &name,
                Entry {
                    object,
                    applied: entry.applied.clone(),
                },
            );
        }
    }
}

/// Plays Argo CD's server starting up, as the real one does (`initializeDefaultProject` and
/// the initial admin password in argo-cd's server and settings code): once an `argocd-server`
/// Deployment is available and the AppProject kind is served, its namespace gets the `default`
/// AppProject and the `argocd-initial-admin-secret` (a random password), each only when
/// missing, written under the field manager `argocd-server`. This is the test bed standing in
/// for Argo CD, not for Kubernetes.
fn play_argocd_server_start(cluster: &Cluster) {
    let Some(projects) = cluster
        .types()
        .into_iter()
        .find(|t| t.group == "argoproj.io" && t.plural == "appprojects")
    else {
        return;
    };
    let secrets = cluster.builtin("", "secrets");
    let available: Vec<String> = cluster
        .store
        .list("apps/deployments", None)
        .0
        .into_iter()
        .filter(|d| {
            d["metadata"]["name"] == "argocd-server" && d["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|d| {
            d["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            })
        })
        .filter_map(|d| d["metadata"]["namespace"].as_str().map(str::to_owned))
        .collect();
    let opts = super::api::WriteOptions {
        dry_run: false,
        field_manager: Some("argocd-server".into()),
        force: false,
    };
    for ns in available {
        if cluster
            .store
            .get(&projects.storage_key(), &ns, "default")
            .is_none()
        {
            let project = json!({"apiVersion": format!("argoproj.io/{}", projects.version), "kind": "AppProject",
                "metadata": {"name": "default", "namespace": ns},
                "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                         "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}});
            if let Err(e) = cluster.create(&projects, Some(&ns), project, &opts) {
                warn(&format!(
                    "playing argocd-server: the default AppProject: {}",
                    e.status()
                ));
            }
        }
        if cluster
            .store
            .get(&secrets.storage_key(), &ns, "argocd-initial-admin-secret")
            .is_none()
        {
            let password = &sha256_hex(format!("{ns}{:?}", Instant::now()).as_bytes())[..16];
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "argocd-initial-admin-secret", "namespace": ns},
                "stringData": {"password": password}});
            if let Err(e) = cluster.create(&secrets, Some(&ns), secret, &opts) {
                warn(&format!(
                    "playing argocd-server: the initial admin secret: {}",
                    e.status()
                ));
            }
        }
    }
}

fn monitor_nodes(cluster: &Cluster) {
    let now = Instant::now();
    let mut txn = cluster.store.txn();
    for (_, name) in txn.ids(NODE_KEY, None) {
        let last = {
            let mut beats = cluster.heartbeats.lock().expect("heartbeats");
            // A node the server has not heard from since it started gets a full grace period.
            *beats.entry(name.clone()).or_insert(now)
        };
        let Some(entry) = txn.get(NODE_KEY, "", &name).cloned() else {
            continue;
        };
        let mut node = entry.object.clone();
        let ready = node["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str())
            .unwrap_or("")
            .to_owned();
        let taints: Vec<Value> = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let tainted = taints.iter().any(|t| t["key"] == UNREACHABLE);
        if now.duration_since(last) > NODE_GRACE {
            if ready == "Unknown" && tainted {
                continue;
            }
            let stamp = now_rfc3339();
            for c in node["status"]["conditions"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(stamp);
            }
            let mut taints = taints;
            if !tainted {
                for effect in ["NoSchedule", "NoExecute"] {
                    taints.push(json!({"key": UNREACHABLE, "effect": effect, "timeAdded": stamp}));
                }
            }
            node["spec"]["taints"] = json!(taints);
        } else if ready == "True" && tainted {
            let kept: Vec<Value> = taints
                .into_iter()
                .filter(|t| t["key"] != UNREACHABLE)
                .collect();
            if kept.is_empty() {
                if let Some(spec) = node["spec"].as_object_mut() {
                    spec.remove("taints");
                }
            } else {
                node["spec"]["taints"] = json!(kept);
            }
        } else {
            continue;
        }
        txn.put(
            NODE_KEY,
            "",
            &name,
            Entry {
                object: node,
                applied: entry.applied.clone(),
            },
        );
    }
}
