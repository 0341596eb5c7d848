//! The Node object a K3s node registers (what its kubelet would post): K3s's labels and
//! annotations, the configured `node-label`s and `node-taint`s, addresses, node info with the
//! stand-in's version as the kubelet version, and the status a heartbeat refreshes.

use super::config::Config;
use super::util::now_rfc3339;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A server (control plane); `etcd` with `cluster-init`.
    Server {
        /// Runs embedded etcd.
        etcd: bool,
    },
    /// An agent.
    Agent,
}

/// Everything that goes into the node's object.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// Node name (`node-name`, else the hostname).
    pub name: String,
    /// Internal IP.
    pub ip: IpAddr,
    /// `node-external-ip` values.
    pub external_ips: Vec<String>,
    /// The K3s version (kubelet version).
    pub version: String,
    /// Server or agent.
    pub role: Role,
    /// `node-label` values as (key, value).
    pub labels: Vec<(String, String)>,
    /// `node-taint` values as Taint objects.
    pub taints: Vec<Value>,
    /// The `k3s.io/node-args` annotation (secrets redacted).
    pub node_args: Vec<String>,
    /// When this process started (the conditions' lastTransitionTime).
    pub started: String,
}

impl NodeIdentity {
    /// Reads the identity from the configuration. `toward` is an address the node talks to
    /// (the server, for agents); the internal IP is the local address used to reach it.
    pub fn from_config(
        config: &Config,
        version: &str,
        role: Role,
        toward: Option<SocketAddr>,
    ) -> Result<NodeIdentity> {
        let name = match config.get("node-name") {
            Some(n) => n.to_owned(),
            None => hostname(),
        };
        let ip = match config.list("node-ip").first() {
            Some(ip) => ip.parse()?,
            None => detect_ip(toward),
        };
        let mut labels = Vec::new();
        for label in config.raw_list("node-label") {
            let (k, v) = label.split_once('=').unwrap_or((label.as_str(), ""));
            if k.is_empty() {
                bail!("invalid node-label {label:?}");
            }
            labels.push((k.to_owned(), v.to_owned()));
        }
        let mut taints = Vec::new();
        for taint in config.raw_list("node-taint") {
            taints.push(parse_taint(&taint)?);
        }
        Ok(NodeIdentity {
            name,
            ip,
            external_ips: config.list("node-external-ip"),
            version: version.to_owned(),
            role,
            labels,
            taints,
            node_args: config.redacted_args(),
            started: now_rfc3339(),
        })
    }

    /// The Node object to create at registration.
    pub fn object(&self) -> Value {
        let mut labels = Map::new();
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/instance-type", "k3s"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/os", "linux"),
            ("node.kubernetes.io/instance-type", "k3s"),
        ] {
            labels.insert(k.into(), json!(v));
        }
        labels.insert("kubernetes.io/hostname".into(), json!(self.name));
        if let Role::Server { etcd } = self.role {
            labels.insert(
                "node-role.kubernetes.io/control-plane".into(),
                json!("true"),
            );
            labels.insert("node-role.kubernetes.io/master".into(), json!("true"));
            if etcd {
                labels.insert("node-role.kubernetes.io/etcd".into(), json!("true"));
            }
        }
        for (k, v) in &self.labels {
            labels.insert(k.clone(), json!(v));
        }
        let mut spec = json!({
            "podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"],
            "providerID": format!("k3s://{}", self.name),
        });
        if !self.taints.is_empty() {
            spec["taints"] = json!(self.taints);
        }
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": labels,
                "annotations": {
                    "k3s.io/hostname": hostname(),
                    "k3s.io/internal-ip": self.ip.to_string(),
                    "k3s.io/node-args": serde_json::to_string(&self.node_args).unwrap_or_default(),
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
            "status": self.status(),
        })
    }

    /// The node status a kubelet posts on every heartbeat.
    pub fn status(&self) -> Value {
        let now = now_rfc3339();
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": status, "lastHeartbeatTime": now,
                   "lastTransitionTime": self.started, "reason": reason, "message": message})
        };
        let mut addresses = vec![json!({"type": "InternalIP", "address": self.ip.to_string()})];
        for ip in &self.external_ips {
            addresses.push(json!({"type": "ExternalIP", "address": ip}));
        }
        addresses.push(json!({"type": "Hostname", "address": self.name}));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory = meminfo_kib();
        let capacity = json!({"cpu": cpus.to_string(), "memory": format!("{memory}Ki"),
                              "pods": "110", "ephemeral-storage": "20Gi"});
        let machine_id = read_trimmed("/etc/machine-id");
        json!({
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": addresses,
            "capacity": capacity,
            "allocatable": capacity,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": read_trimmed("/proc/sys/kernel/random/boot_id"),
                "containerRuntimeVersion": "containerd://2.0.5-k3s2",
                "kernelVersion": read_trimmed("/proc/sys/kernel/osrelease"),
                "kubeProxyVersion": self.version,
                "kubeletVersion": self.version,
                "machineID": machine_id,
                "operatingSystem": "linux",
                "osImage": os_image(),
                "systemUUID": machine_id,
            },
        })
    }
}

/// Parses `key=value:Effect` or `key:Effect`.
pub fn parse_taint(text: &str) -> Result<Value> {
    let Some((kv, effect)) = text.rsplit_once(':') else {
        bail!("invalid node-taint {text:?}: expected key=value:Effect");
    };
    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        bail!("invalid node-taint {text:?}: unknown effect {effect:?}");
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    if key.is_empty() {
        bail!("invalid node-taint {text:?}: empty key");
    }
    let mut taint = json!({"key": key, "effect": effect});
    if !value.is_empty() {
        taint["value"] = json!(value);
    }
    Ok(taint)
}

/// The host name.
pub fn hostname() -> String {
    let name = read_trimmed("/proc/sys/kernel/hostname");
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn meminfo_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(1_048_576)
}

/// The local address used to reach `toward`, else the one on the default route, else
/// loopback. Connecting a UDP socket sends nothing; it only picks the route.
pub fn detect_ip(toward: Option<SocketAddr>) -> IpAddr {
    let target = toward.or_else(|| default_gateway().map(|g| SocketAddr::new(IpAddr::V4(g), 9)));
    target
        .and_then(|t| {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
            socket.connect(t).ok()?;
            socket.local_addr().ok().map(|a| a.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The IPv4 default gateway from `/proc/net/route`.
fn default_gateway() -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() > 2 && fields[1] == "00000000" {
            let gw = u32::from_str_radix(fields[2], 16).ok()?;
            Some(Ipv4Addr::from(gw.to_le_bytes()))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_like_k3s() {
        assert_eq!(
            parse_taint("dedicated=gpu:NoSchedule").unwrap(),
            json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})
        );
        assert_eq!(
            parse_taint("CriticalAddonsOnly:NoExecute").unwrap(),
            json!({"key": "CriticalAddonsOnly", "effect": "NoExecute"})
        );
        assert!(parse_taint("x=y").is_err());
        assert!(parse_taint("x=y:Sometimes").is_err());
    }

    #[test]
    fn a_server_node_carries_k3s_labels_and_configured_ones() {
        let config = Config::from_pairs(&[
            ("node-name", "cp-1"),
            ("node-label", "zone=a"),
            ("node-taint", "k=v:NoSchedule"),
            ("node-ip", "10.1.2.3"),
        ]);
        let id =
            NodeIdentity::from_config(&config, "v1.33.4+k3s1", Role::Server { etcd: true }, None)
                .unwrap();
        let node = id.object();
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["node-role.kubernetes.io/control-plane"], "true");
        assert_eq!(labels["node-role.kubernetes.io/etcd"], "true");
        assert_eq!(labels["zone"], "a");
        assert_eq!(node["spec"]["taints"][0]["key"], "k");
        assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.4+k3s1");
        assert_eq!(node["status"]["addresses"][0]["address"], "10.1.2.3");
    }
}
