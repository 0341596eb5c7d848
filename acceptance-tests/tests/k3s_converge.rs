//! The SDK's K3s layer on test-bed nodes with the stand-in K3s: install a server and an agent
//! over SSH, read them back, leave an unchanged node alone, repair drift, upgrade, refuse a
//! downgrade, report a bad token with the journal, and uninstall.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Context, Result};
use k3s_sdk::k3s::{
    self, Applied, Desired, InstallPlan, Installer, K3sError, NodeConfig, Role, Unit,
};
use k3s_sdk::ssh::{Credentials, HostKeyPolicy, Secret, Session, Target};
use std::time::Duration;

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

            // The Node objects, through the API: the server with its own kubeconfig, the agent
            // with one handed to it (on stdin, into a private temporary file).
            let admin = String::from_utf8(server.read_file(k3s::KUBECONFIG_PATH).await?)?
                .replace("127.0.0.1", &server_node.address().to_string());
            let via_agent = k3s::ApiAccess::Kubeconfig(Secret::new(admin.clone()));
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
                ready = k3s::node_ready(&agent, &via_agent, &agent_name).await?;
                if ready == Some(true) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            ensure!(
                ready == Some(true),
                "the agent's Node is not Ready: {ready:?}"
            );
            ensure!(
                k3s::node_ready(&server, &k3s::ApiAccess::Local, &server_name).await? == Some(true)
            );
            ensure!(
                k3s::node_ready(&server, &k3s::ApiAccess::Local, "no-such-node")
                    .await?
                    .is_none()
            );
            ensure!(k3s::control_plane_count(&server, &k3s::ApiAccess::Local).await? == Some(1));
            let leftovers = agent_node.exec_ok("ls /tmp | grep k3s-sdk-kubeconfig || true")?;
            ensure!(
                leftovers.trim().is_empty(),
                "kubeconfig left on the agent: {leftovers}"
            );

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

            // Removing the agent from the cluster: drained, Node object deleted.
            let removal =
                k3s::remove_node(&agent, &via_agent, &agent_name, Duration::from_secs(30)).await?;
            ensure!(
                removal.drained && removal.deleted && removal.problems.is_empty(),
                "{removal:?}"
            );
            ensure!(
                k3s::node_ready(&server, &k3s::ApiAccess::Local, &agent_name)
                    .await?
                    .is_none(),
                "the agent's Node object is still there"
            );
            let unreachable = k3s::ApiAccess::Kubeconfig(Secret::new(
                admin.replace(&format!("{}:6443", server_node.address()), "127.0.0.1:1"),
            ));
            let failed =
                k3s::remove_node(&agent, &unreachable, &agent_name, Duration::from_secs(5)).await?;
            ensure!(
                !failed.drained && !failed.deleted && failed.problems.len() == 2,
                "{failed:?}"
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

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}
