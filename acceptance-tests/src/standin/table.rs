//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for: the columns real
//! Kubernetes prints for nodes, namespaces, pods, workloads, services and CRDs, the CRD's
//! `additionalPrinterColumns` for custom resources, and NAME/AGE for everything else.

use super::resources::ResourceType;
use super::util::age_of;
use serde_json::{json, Value};

/// What each row's `object` holds (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// From the `includeObject` query parameter.
    pub fn parse(value: Option<&str>) -> Include {
        match value {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

fn column(name: &str, kind: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" },
           "description": description, "priority": priority})
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The `kubectl get nodes` STATUS: Ready/NotReady/Unknown, plus SchedulingDisabled.
pub fn node_status(node: &Value) -> String {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].as_str().unwrap_or(""));
    let mut status = match ready {
        Some("True") => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if node["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = node["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn node_address(node: &Value, kind: &str) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["type"] == kind))
        .map(|a| s(&a["address"]))
        .unwrap_or_else(|| "<none>".into())
}

/// Follows a simple JSONPath (`.status.phase`, `.spec.versions[0].name`).
fn json_path(object: &Value, path: &str) -> Value {
    let mut cur = object;
    for part in path.trim_start_matches('.').split('.') {
        if part.is_empty() {
            continue;
        }
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            cur = &cur[name];
        }
        if let Some(i) = index {
            cur = &cur[i];
        }
    }
    cur.clone()
}

type Columns = (Vec<Value>, fn(&Value) -> Vec<Value>);

fn builtin_columns(rt: &ResourceType) -> Option<Columns> {
    let name_col = column(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    let age_col = column("Age", "string", 0, "Time since the object was created.");
    Some(match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "nodes") => (
            vec![
                name_col,
                column("Status", "string", 0, "The status of the node"),
                column("Roles", "string", 0, "The roles of the node"),
                age_col,
                column(
                    "Version",
                    "string",
                    0,
                    "Kubelet Version reported by the node.",
                ),
                column("Internal-IP", "string", 1, "List of internal IPs."),
                column("External-IP", "string", 1, "List of external IPs."),
                column("OS-Image", "string", 1, "OS image reported by the node."),
                column(
                    "Kernel-Version",
                    "string",
                    1,
                    "Kernel version reported by the node.",
                ),
                column(
                    "Container-Runtime",
                    "string",
                    1,
                    "Container runtime reported by the node.",
                ),
            ],
            |n| {
                let info = &n["status"]["nodeInfo"];
                vec![
                    json!(node_status(n)),
                    json!(node_roles(n)),
                    json!(age(n)),
                    json!(s(&info["kubeletVersion"])),
                    json!(node_address(n, "InternalIP")),
                    json!(node_address(n, "ExternalIP")),
                    json!(s(&info["osImage"])),
                    json!(s(&info["kernelVersion"])),
                    json!(s(&info["containerRuntimeVersion"])),
                ]
            },
        ),
        ("", "namespaces") => (
            vec![
                name_col,
                column("Status", "string", 0, "The status of the namespace"),
                age_col,
            ],
            |n| vec![json!(s(&n["status"]["phase"])), json!(age(n))],
        ),
        ("", "pods") => (
            vec![
                name_col,
                column(
                    "Ready",
                    "string",
                    0,
                    "The aggregate readiness state of this pod.",
                ),
                column(
                    "Status",
                    "string",
                    0,
                    "The aggregate status of the containers.",
                ),
                column(
                    "Restarts",
                    "string",
                    0,
                    "The number of times the containers restarted.",
                ),
                age_col,
                column("IP", "string", 1, "The IP address assigned to the pod."),
                column("Node", "string", 1, "The node the pod is bound to."),
            ],
            |p| {
                let total = p["spec"]["containers"].as_array().map_or(0, Vec::len);
                let ready = p["status"]["containerStatuses"]
                    .as_array()
                    .map_or(0, |c| c.iter().filter(|c| c["ready"] == true).count());
                vec![
                    json!(format!("{ready}/{total}")),
                    json!(p["status"]["phase"].as_str().unwrap_or("Pending")),
                    json!("0"),
                    json!(age(p)),
                    json!(p["status"]["podIP"].as_str().unwrap_or("<none>")),
                    json!(p["spec"]["nodeName"].as_str().unwrap_or("<none>")),
                ]
            },
        ),
        ("apps", "deployments") => (
            vec![
                name_col,
                column(
                    "Ready",
                    "string",
                    0,
                    "Number of ready pods out of the desired.",
                ),
                column("Up-to-date", "integer", 0, "Total number of updated pods."),
                column("Available", "integer", 0, "Total number of available pods."),
                age_col,
            ],
            |d| {
                let st = &d["status"];
                vec![
                    json!(format!(
                        "{}/{}",
                        int(&st["readyReplicas"]),
                        d["spec"]["replicas"].as_i64().unwrap_or(1)
                    )),
                    json!(int(&st["updatedReplicas"])),
                    json!(int(&st["availableReplicas"])),
                    json!(age(d)),
                ]
            },
        ),
        ("apps", "statefulsets") => (
            vec![
                name_col,
                column(
                    "Ready",
                    "string",
                    0,
                    "Number of ready pods out of the desired.",
                ),
                age_col,
            ],
            |d| {
                vec![
                    json!(format!(
                        "{}/{}",
                        int(&d["status"]["readyReplicas"]),
                        d["spec"]["replicas"].as_i64().unwrap_or(1)
                    )),
                    json!(age(d)),
                ]
            },
        ),
        ("apps", "daemonsets") => (
            vec![
                name_col,
                column("Desired", "integer", 0, "Desired number of scheduled pods."),
                column("Current", "integer", 0, "Current number of scheduled pods."),
                column("Ready", "integer", 0, "Number of ready pods."),
                column("Up-to-date", "integer", 0, "Number of updated pods."),
                column("Available", "integer", 0, "Number of available pods."),
                age_col,
            ],
            |d| {
                let st = &d["status"];
                vec![
                    json!(int(&st["desiredNumberScheduled"])),
                    json!(int(&st["currentNumberScheduled"])),
                    json!(int(&st["numberReady"])),
                    json!(int(&st["updatedNumberScheduled"])),
                    json!(int(&st["numberAvailable"])),
                    json!(age(d)),
                ]
            },
        ),
        ("", "services") => (
            vec![
                name_col,
                column("Type", "string", 0, "The type of the service."),
                column("Cluster-IP", "string", 0, "The cluster IP of the service."),
                column(
                    "External-IP",
                    "string",
                    0,
                    "The external IPs of the service.",
                ),
                column("Port(s)", "string", 0, "The ports of the service."),
                age_col,
            ],
            |svc| {
                let ports: Vec<String> = svc["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        format!(
                            "{}/{}",
                            s(&p["port"]),
                            p["protocol"].as_str().unwrap_or("TCP")
                        )
                    })
                    .collect();
                vec![
                    json!(svc["spec"]["type"].as_str().unwrap_or("ClusterIP")),
                    json!(svc["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".to_owned()
                    } else {
                        ports.join(",")
                    }),
                    json!(age(svc)),
                ]
            },
        ),
        ("", "configmaps") => (
            vec![
                name_col,
                column("Data", "string", 0, "Number of data keys."),
                age_col,
            ],
            |c| {
                let n = c["data"].as_object().map_or(0, |m| m.len())
                    + c["binaryData"].as_object().map_or(0, |m| m.len());
                vec![json!(n), json!(age(c))]
            },
        ),
        ("", "secrets") => (
            vec![
                name_col,
                column("Type", "string", 0, "The type of the secret."),
                column("Data", "string", 0, "Number of data keys."),
                age_col,
            ],
            |c| {
                vec![
                    json!(c["type"].as_str().unwrap_or("Opaque")),
                    json!(c["data"].as_object().map_or(0, |m| m.len())),
                    json!(age(c)),
                ]
            },
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions") => (
            vec![name_col, column("Created At", "date", 0, "Creation time.")],
            |c| vec![c["metadata"]["creationTimestamp"].clone()],
        ),
        _ => return None,
    })
}

fn age(object: &Value) -> String {
    age_of(object["metadata"]["creationTimestamp"].as_str())
}

fn row_object(object: &Value, include: Include) -> Value {
    match include {
        Include::None => Value::Null,
        Include::Object => object.clone(),
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object["metadata"],
        }),
    }
}

/// A Table of `objects` of type `rt`.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: u64,
    include: Include,
) -> Value {
    let (columns, rows): (Vec<Value>, Vec<Value>) =
        if let Some((columns, cells)) = builtin_columns(rt) {
            let rows = objects
                .iter()
                .map(|o| {
                    let mut c = vec![json!(s(&o["metadata"]["name"]))];
                    c.extend(cells(o));
                    json!({"cells": c, "object": row_object(o, include)})
                })
                .collect();
            (columns, rows)
        } else if !rt.printer_columns.is_empty() {
            let mut columns = vec![column(
                "Name",
                "string",
                0,
                "Name must be unique within a namespace.",
            )];
            columns.extend(
                rt.printer_columns
                    .iter()
                    .map(|c| column(&c.name, &c.kind, c.priority, &c.description)),
            );
            let rows = objects
                .iter()
                .map(|o| {
                    let mut cells = vec![json!(s(&o["metadata"]["name"]))];
                    for c in &rt.printer_columns {
                        let v = json_path(o, &c.json_path);
                        cells.push(if c.kind == "date" {
                            json!(age_of(v.as_str()))
                        } else if v.is_null() {
                            Value::Null
                        } else {
                            v
                        });
                    }
                    json!({"cells": cells, "object": row_object(o, include)})
                })
                .collect();
            (columns, rows)
        } else {
            let columns = vec![
                column(
                    "Name",
                    "string",
                    0,
                    "Name must be unique within a namespace.",
                ),
                column("Age", "string", 0, "Time since the object was created."),
            ];
            let rows = objects
                .iter()
                .map(|o| {
                    json!({"cells": [s(&o["metadata"]["name"]), age(o)],
                       "object": row_object(o, include)})
                })
                .collect();
            (columns, rows)
        };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::resources::builtins;

    #[test]
    fn node_rows_read_like_kubectl_get_nodes() {
        let rt = builtins()
            .into_iter()
            .find(|r| r.plural == "nodes")
            .unwrap();
        let node = json!({
            "metadata": {"name": "node-1", "creationTimestamp": "2020-01-01T00:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "true",
                                    "node-role.kubernetes.io/master": "true"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.4+k3s1"}}
        });
        let t = table(&rt, &[node], 5, Include::Metadata);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "node-1");
        assert_eq!(cells[1], "Ready,SchedulingDisabled");
        assert_eq!(cells[2], "control-plane,master");
        assert_eq!(cells[4], "v1.33.4+k3s1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
