//! A second K3s stand-in server joining the first (`cluster-init` on the first, `server` and
//! the node-token on the second): both nodes are control-plane/etcd and Ready, both servers
//! answer kubectl with the same cluster, and the joined server's token files match the first
//! one's. An agent token cannot join a server.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::{install_command, wait_for, write_node_file, Kubectl};
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Result};
use std::path::Path;
use std::time::{Duration, Instant};

const VERSION: &str = "v1.33.4+k3s1";

#[test]
fn a_second_server_joins_the_first() -> Result<()> {
    let started = Instant::now();
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[VERSION],
    )?;
    let [first, second, third] = bed.nodes() else {
        unreachable!()
    };
    write_node_file(
        first,
        "/etc/rancher/k3s/config.yaml",
        "cluster-init: true\ntoken: ha-secret\nagent-token: agents-only\n",
        0o600,
    )?;
    first.ssh_ok(&install_command(&releases, VERSION, &[], &["server"]))?;
    let token = first
        .ssh_ok("cat /var/lib/rancher/k3s/server/token")?
        .trim()
        .to_owned();
    let agent_token = first
        .ssh_ok("cat /var/lib/rancher/k3s/server/agent-token")?
        .trim()
        .to_owned();
    ensure!(agent_token.ends_with("::node:agents-only"), "{agent_token}");

    let url = format!("https://{}:6443", first.address());
    write_node_file(
        second,
        "/etc/rancher/k3s/config.yaml",
        &format!("server: {url}\ntoken: {token}\n"),
        0o600,
    )?;
    second.ssh_ok(&install_command(&releases, VERSION, &[], &["server"]))?;
    ensure!(second.ssh_ok("systemctl is-active k3s")?.trim() == "active");
    let joined_token = second
        .ssh_ok("cat /var/lib/rancher/k3s/server/node-token")?
        .trim()
        .to_owned();
    ensure!(joined_token == token, "{joined_token} != {token}");

    for server in [first, second] {
        let kubectl = Kubectl::for_node(server)?;
        wait_for(
            "both servers Ready",
            Duration::from_secs(20),
            Duration::from_millis(500),
            || {
                let both = kubectl.node_status("node-1")?.as_deref() == Some("Ready")
                    && kubectl.node_status("node-2")?.as_deref() == Some("Ready");
                Ok(both.then_some(()))
            },
        )?;
        let roles = kubectl.ok(&["get", "nodes", "--no-headers"])?;
        ensure!(
            roles
                .lines()
                .all(|l| l.contains("control-plane,etcd,master")),
            "{roles}"
        );
        ensure!(kubectl.ok(&["get", "--raw", "/readyz"])?.trim() == "ok");
    }
    // Writes through the joined server land in the one cluster.
    let via_second = Kubectl::for_node(second)?;
    via_second.ok(&["create", "namespace", "through-second"])?;
    let via_first = Kubectl::for_node(first)?;
    via_first.ok(&["get", "namespace", "through-second"])?;
    let waited = via_second.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Active",
        "namespace/through-second",
        "--timeout=20s",
    ])?;
    ensure!(waited.contains("condition met"), "{waited}");

    // An agent token joins agents, not servers.
    write_node_file(
        third,
        "/etc/rancher/k3s/config.yaml",
        &format!("server: {url}\ntoken: {agent_token}\n"),
        0o600,
    )?;
    let install = third.ssh(&install_command(&releases, VERSION, &[], &["server"]))?;
    ensure!(
        !install.status.success(),
        "a server joined with the agent token"
    );
    let journal = third.ssh_ok("journalctl -u k3s --no-pager -n 30")?;
    ensure!(
        journal.contains("only the server token can join servers"),
        "{journal}"
    );
    // …but joins as an agent.
    third.ssh_ok("systemctl disable --now k3s >/dev/null 2>&1")?;
    third.ssh_ok(&install_command(&releases, VERSION, &[], &["agent"]))?;
    wait_for(
        "node-3 Ready",
        Duration::from_secs(20),
        Duration::from_millis(500),
        || Ok((via_first.node_status("node-3")?.as_deref() == Some("Ready")).then_some(())),
    )?;
    eprintln!("done in {:?}", started.elapsed());
    Ok(())
}
