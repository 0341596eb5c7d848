//! The SDK's K3s layer on test-bed nodes with the stand-in K3s: install a server and an agent
//! over SSH, read them back, leave an unchanged node alone, repair drift, upgrade, refuse a
//! downgrade, report a bad token with the journal, read the Node objects through the API
//! reached through each node (an agent's kubeconfig never written to it), drain a node whose
//! pods a PodDisruptionBudget protects (reported by name at the deadline; the real kubectl
//! sees the same 429 from the stand-in), remove a node, and uninstall.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::Kubectl;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Context, Result};
use k3s_sdk::k3s::{
    self, ApiAccess, Applied, Desired, Drained, InstallPlan, Installer, K3sError, NodeConfig, Role,
    Unit,
};
use k3s_sdk::kubernetes::{ApiClient, ObjectRef, Propagation};
use k3s_sdk::ssh::{Credentials, HostKeyPolicy, Secret, Session, Target};
use serde_json::json;
use std::time::Duration;

/// What the real API answers an eviction a PodDisruptionBudget forbids.
const PDB_REFUSAL: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

const V1: &str = "v1.33.4+k3s1";
const V2: &str = "v1.34.1+k3s1";

async fn connect(bed: &TestBed, node: &Node) -> Result<Session> {
    let target = Target::new(
        node.address().to_string(),
        "root",
        Credentials::key(bed.client_key().private_openssh()),
        HostKeyPolicy::pinned(node.host_key().public_openssh())?,
    );
    Ok(Session::connect(&target).await?)
}

fn desired(releases: &K3sReleases, version: &str, role: Role, token: &str) -> Result<Desired> {
    let mut config = NodeConfig::new(role);
    config.token = Some(Secret::new(token));
    config.node_labels.insert("tier".into(), "test".into());
    let install = InstallPlan {
        version: version.parse()?,
        installer: Installer::Download {
            script_url: releases.install_url.clone(),
            release_base: Some(releases.github_url.clone()),
        },
    };
    Ok(Desired::new(config, install).ready_timeout(Duration::from_secs(60)))
}

#[test]
fn server_and_agent_converge_and_read_back() -> Result<()> {
    let bed = TestBed::builder().nodes(2).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[V1, V2],
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime
        .block_on(async {
            let (server_node, agent_node) = (&bed.nodes()[0], &bed.nodes()[1]);
            let server = connect(&bed, server_node).await?;
            ensure!(
                k3s::observe(&server).await?
                    == k3s::Observed {
                        hostname: Some("node-1".into()),
                        ..Default::default()
                    },
                "a fresh node reads as having K3s"
            );

            let token = format!("tok{:016x}", rand_seed());
            let want = desired(
                &releases,
                V1,
                Role::Server {
                    cluster_init: false,
                    join: None,
                },
                &token,
            )?;
            let applied = k3s::converge(&server, &want, &k3s::observe(&server).await?).await?;
            ensure!(
                applied.installed && applied.config_written && applied.restarted,
                "{applied:?}"
            );
            let seen = k3s::observe(&server).await?;
            ensure!(seen.unit == Some(Unit::Server) && seen.active, "{seen:?}");
            ensure!(
                seen.version.map(|v| v.to_string()).as_deref() == Some(V1),
                "{seen:?}"
            );
            let rendered = want.config.render()?;
            ensure!(
                seen.config_sha256.as_deref() == Some(k3s::sha256_hex(&rendered).as_str()),
                "config hash differs"
            );
            let mode = server_node.exec_ok("stat -c %a /etc/rancher/k3s/config.yaml")?;
            ensure!(mode.trim() == "600", "config.yaml mode {mode}");

            // Converging an unchanged node changes nothing and restarts nothing.
            ensure!(seen.drift(&want)?.is_empty(), "{:?}", seen.drift(&want)?);
            let again = k3s::converge(&server, &want, &seen).await?;
            ensure!(
                again == Applied::default(),
                "an unchanged node was touched: {again:?}"
            );

            // Drift: a hand edit of config.yaml shows in the hash and is repaired.
            server_node.exec_ok("echo 'debug: true' >> /etc/rancher/k3s/config.yaml")?;
            let drifted = k3s::observe(&server).await?;
            ensure!(
                drifted.config_sha256 != seen.config_sha256,
                "the edit did not show"
            );
            let drift = drifted.drift(&want)?;
            ensure!(
                drift.config && !drift.registries && drift.version.is_none() && !drift.inactive,
                "{drift:?}"
            );
            let repaired = k3s::converge(&server, &want, &drifted).await?;
            ensure!(
                repaired.config_written && repaired.restarted && !repaired.installed,
                "{repaired:?}"
            );

            // The agent joins with the server's secure token, read from the server.
            let join_token = String::from_utf8(server.read_file(k3s::SERVER_TOKEN_PATH).await?)?
                .trim()
                .to_owned();
            ensure!(
                join_token.starts_with("K10"),
                "token is not in the secure form"
            );
            let server_url = format!("https://{}:6443", server_node.address());
            let agent = connect(&bed, agent_node).await?;
            let agent_want = desired(
                &releases,
                V1,
                Role::Agent {
                    server_url: server_url.clone(),
                },
                &join_token,
            )?;
            k3s::converge(&agent, &agent_want, &k3s::observe(&agent).await?).await?;
            let agent_seen = k3s::observe(&agent).await?;
            ensure!(
                agent_seen.unit == Some(Unit::Agent) && agent_seen.active,
                "{agent_seen:?}"
            );
            ensure!(
                agent_seen.server_url.as_deref() == Some(server_url.as_str()),
                "{agent_seen:?}"
            );

            // The Node objects, through the API reached through each node: the server with
            // its own kubeconfig, the agent with one held here (forwarded from the agent to
            // the server it names, never written to the agent).
            let admin = String::from_utf8(server.read_file(k3s::KUBECONFIG_PATH).await?)?
                .replace("127.0.0.1", &server_node.address().to_string());
            let server_api = ApiAccess::Local.client(&server).await?;
            let agent_api = ApiAccess::Kubeconfig(Secret::new(admin.clone()))
                .client(&agent)
                .await?;
            let server_name = k3s::observe(&server).await?.node_name(None);
            let agent_name = k3s::observe(&agent).await?.node_name(None);
            ensure!(
                server_name.as_deref() == Some("node-1") && agent_name.as_deref() == Some("node-2"),
                "{server_name:?} {agent_name:?}"
            );
            let (server_name, agent_name) = (
                server_name.unwrap_or_default(),
                agent_name.unwrap_or_default(),
            );
            ensure!(
                k3s::observe(&agent)
                    .await?
                    .node_name(Some("custom"))
                    .as_deref()
                    == Some("custom")
            );
            let mut ready = None;
            for _ in 0..30 {
                ready = k3s::node_ready(&agent_api, &agent_name).await?;
                if ready == Some(true) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            ensure!(
                ready == Some(true),
                "the agent's Node is not Ready: {ready:?}"
            );
            ensure!(k3s::node_ready(&server_api, &server_name).await? == Some(true));
            ensure!(k3s::node_ready(&server_api, "no-such-node")
                .await?
                .is_none());
            ensure!(k3s::control_plane_count(&server_api).await? == 1);
            ensure!(k3s::control_plane_count(&agent_api).await? == 1);

            // Upgrade in place; a downgrade is refused before anything is touched.
            let upgrade = desired(
                &releases,
                V2,
                Role::Server {
                    cluster_init: false,
                    join: None,
                },
                &token,
            )?;
            let upgraded = k3s::converge(&server, &upgrade, &k3s::observe(&server).await?).await?;
            ensure!(upgraded.installed && upgraded.restarted, "{upgraded:?}");
            ensure!(
                k3s::observe(&server)
                    .await?
                    .version
                    .map(|v| v.to_string())
                    .as_deref()
                    == Some(V2)
            );
            match k3s::converge(&server, &want, &k3s::observe(&server).await?).await {
                Err(K3sError::Downgrade { .. }) => {}
                other => anyhow::bail!("a downgrade was not refused: {other:?}"),
            }

            // A wrong token: the agent never becomes active, and the error carries the journal.
            let mut bad = desired(
                &releases,
                V1,
                Role::Agent { server_url },
                "K10deadbeef::server:wrong",
            )?;
            bad.ready_timeout = Duration::from_secs(15);
            match k3s::converge(&agent, &bad, &k3s::observe(&agent).await?).await {
                Err(e @ K3sError::NotActive { .. }) => {
                    let text = e.to_string();
                    ensure!(
                        text.contains("k3s-agent.service did not become active"),
                        "{text}"
                    );
                    ensure!(!text.contains("wrong"), "the error shows the token: {text}");
                }
                other => anyhow::bail!("a wrong token was not reported: {other:?}"),
            }

            // A drain a PodDisruptionBudget blocks: first the real kubectl, then the SDK.
            place_pods(&server_api, &agent_name).await?;
            let kubectl = tokio::task::block_in_place(|| Kubectl::for_node(server_node))?;
            let drained = tokio::task::block_in_place(|| {
                kubectl.run(&[
                    "drain",
                    &agent_name,
                    "--ignore-daemonsets",
                    "--delete-emptydir-data",
                    "--force",
                    "--timeout=6s",
                ])
            })?;
            let said = String::from_utf8_lossy(&drained.stderr);
            ensure!(
                !drained.status.success()
                    && said.contains(PDB_REFUSAL)
                    && said.contains("\"web-0\"")
                    && said.contains("\"web-1\""),
                "kubectl drain did not meet the disruption budget ({}):\n{said}",
                drained.status
            );
            ensure!(
                pod(&server_api, "loose").await?.is_none(),
                "kubectl's eviction of a pod no budget protects did not delete it"
            );
            server_api.apply(&loose_pod(&agent_name), MANAGER).await?;

            let outcome = k3s::drain(&agent_api, &agent_name, Duration::from_secs(5)).await?;
            let Drained::Stuck(stuck) = outcome else {
                anyhow::bail!("the drain went through a disruption budget: {outcome:?}");
            };
            let mut names: Vec<&str> = stuck.iter().map(|p| p.name.as_str()).collect();
            names.sort_unstable();
            ensure!(names == ["web-0", "web-1"], "{stuck:?}");
            ensure!(
                stuck
                    .iter()
                    .all(|p| p.namespace == "web" && p.reason.contains(PDB_REFUSAL)),
                "{stuck:?}"
            );
            ensure!(
                pod(&server_api, "loose").await?.is_none(),
                "loose was not evicted"
            );
            for kept in ["web-0", "web-1", "node-agent-x", "static-web"] {
                ensure!(pod(&server_api, kept).await?.is_some(), "{kept} is gone");
            }
            let node = server_api
                .get(&ObjectRef {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    namespace: None,
                    name: agent_name.clone(),
                })
                .await?
                .context("the agent's Node")?;
            ensure!(
                node["spec"]["unschedulable"] == true,
                "not cordoned: {node}"
            );

            // Without the budget: removing the agent drains it (DaemonSet and mirror pods
            // stay) and deletes its Node object.
            server_api
                .delete(
                    &ObjectRef {
                        api_version: "policy/v1".into(),
                        kind: "PodDisruptionBudget".into(),
                        namespace: Some("web".into()),
                        name: "web".into(),
                    },
                    Propagation::Default,
                )
                .await?;
            let removal =
                k3s::remove_from_cluster(&agent_api, &agent_name, Duration::from_secs(30)).await;
            ensure!(
                removal.drained
                    && removal.deleted
                    && removal.problems.is_empty()
                    && removal.stuck.is_empty(),
                "{removal:?}"
            );
            for (name, left) in [
                ("web-0", false),
                ("web-1", false),
                ("node-agent-x", true),
                ("static-web", true),
            ] {
                ensure!(
                    pod(&server_api, name).await?.is_some() == left,
                    "after the drain, {name} should {}be there",
                    if left { "" } else { "not " }
                );
            }
            ensure!(
                k3s::node_ready(&server_api, &agent_name).await?.is_none(),
                "the agent's Node object is still there"
            );
            // An API the agent cannot reach: both steps report, nothing fails.
            let unreachable = ApiAccess::Kubeconfig(Secret::new(
                admin.replace(&format!("{}:6443", server_node.address()), "127.0.0.1:1"),
            ))
            .client(&agent)
            .await?;
            let failed =
                k3s::remove_from_cluster(&unreachable, &agent_name, Duration::from_secs(5)).await;
            ensure!(
                !failed.drained && !failed.deleted && failed.problems.len() == 2,
                "{failed:?}"
            );
            drop((agent_api, unreachable));

            // The kubeconfig the agent used was never written to it.
            let key = admin
                .lines()
                .find_map(|l| l.trim().strip_prefix("client-key-data:"))
                .context("the admin kubeconfig has no client key")?
                .trim()
                .to_owned();
            let search =
                "grep -rlsF -D skip -f - /tmp /var/tmp /root /home /etc /var/lib/rancher || true";
            let copies_on = |node: &acceptance_tests::testbed::Node| -> Result<String> {
                let out = node.ssh_with_input("root", search, key.as_bytes())?;
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            };
            // The search finds the key where it is: the server's own k3s.yaml.
            let on_server = copies_on(server_node)?;
            ensure!(
                on_server.contains(k3s::KUBECONFIG_PATH),
                "the search for the key does not find it on the server: {on_server:?}"
            );
            let copies = copies_on(agent_node)?;
            ensure!(
                copies.is_empty(),
                "the kubeconfig was written to the agent: {copies}"
            );

            // Uninstall leaves nothing that reads as K3s.
            k3s::uninstall(&agent, Unit::Agent).await?;
            k3s::uninstall(&server, Unit::Server).await?;
            for session in [&server, &agent] {
                let after = k3s::observe(session).await?;
                ensure!(after.unit.is_none() && after.version.is_none(), "{after:?}");
            }
            Ok(())
        })
        .context("converging K3s on test-bed nodes")
}

/// The field manager the test writes objects with.
const MANAGER: &str = "k3s-converge-test";

/// Pods on `node` as its kubelet would report them (the test plays the kubelet: the stand-in
/// runs no containers): two `app=web` pods a PodDisruptionBudget with `minAvailable: 2`
/// protects, a pod no budget selects, a DaemonSet's pod and a mirror pod.
async fn place_pods(api: &ApiClient, node: &str) -> Result<()> {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "node-agent", "namespace": "web"},
               "spec": {"selector": {"matchLabels": {"app": "node-agent"}},
                        "template": {"metadata": {"labels": {"app": "node-agent"}},
                                     "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "web", "namespace": "web"},
               "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
    ];
    for object in &objects {
        api.apply(object, MANAGER).await?;
    }
    let daemon_set = api
        .get(&ObjectRef::of(&objects[1])?)
        .await?
        .context("the DaemonSet")?;
    let running = |name: &str, labels: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "web", "labels": labels},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1.27"}]},
               "status": {"phase": "Running"}})
    };
    let mut daemon_pod = running("node-agent-x", json!({"app": "node-agent"}));
    daemon_pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "node-agent",
        "uid": daemon_set["metadata"]["uid"], "controller": true,
    }]);
    let mut mirror = running("static-web", json!({"app": "static"}));
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "0123abcd"});
    for pod in [
        running("web-0", json!({"app": "web"})),
        running("web-1", json!({"app": "web"})),
        loose_pod(node),
        daemon_pod,
        mirror,
    ] {
        api.apply(&pod, MANAGER).await?;
    }
    Ok(())
}

/// A running pod on `node` that no budget selects and no controller owns.
fn loose_pod(node: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "loose", "namespace": "web", "labels": {"app": "tool"}},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
           "status": {"phase": "Running"}})
}

/// The pod `name` in namespace `web`, if there is one.
async fn pod(api: &ApiClient, name: &str) -> Result<Option<serde_json::Value>> {
    Ok(api
        .get(&ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("web".into()),
            name: name.into(),
        })
        .await?)
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}
