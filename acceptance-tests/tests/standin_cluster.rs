//! The K3s stand-in as a cluster, end to end on test-bed nodes: a server installed with the
//! stand-in installer from the artifact server, an agent joining it with the server's
//! node-token, the real kubectl on the host against the server (nodes, readyz, server-side
//! apply with a CRD and a Deployment, the real Argo CD install manifest), an agent that
//! stops turning NotReady, drain and delete of its node, wrong tokens failing the agent, and
//! uninstalling the agent.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::{install_command, wait_for, write_node_file, Kubectl};
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VERSION: &str = "v1.33.4+k3s1";

fn argocd_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/argocd-v3.5.1-install.yaml")
}

const SMALL_MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
"#;

#[test]
fn server_and_agent_serve_kubectl_and_track_node_health() -> Result<()> {
    let started = Instant::now();
    let bed = TestBed::builder().nodes(2).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[VERSION],
    )?;
    let server = bed.node("node-1")?;
    let agent = bed.node("node-2")?;
    eprintln!("booted in {:?}", started.elapsed());

    // --- server: the token goes in config.yaml, never on a command line -------------------
    write_node_file(
        server,
        "/etc/rancher/k3s/config.yaml",
        &format!(
            "token: bootstrap-secret\ntls-san:\n  - {}\nnode-label:\n  - tier=control\nwrite-kubeconfig-mode: \"0600\"\n",
            server.address()
        ),
        0o600,
    )?;
    let out = server.ssh_ok(&install_command(&releases, VERSION, &[], &["server"]))?;
    ensure!(out.contains("[INFO]"), "installer output: {out}");
    ensure!(server.ssh_ok("systemctl is-active k3s")?.trim() == "active");
    let version = server.ssh_ok("k3s --version")?;
    ensure!(
        version
            .lines()
            .next()
            .unwrap_or("")
            .starts_with(&format!("k3s version {VERSION} (")),
        "{version}"
    );
    ensure!(
        version.lines().nth(1) == Some("go version go1.24.5"),
        "{version}"
    );
    for file in ["token", "node-token", "agent-token"] {
        let mode = server.ssh_ok(&format!("stat -L -c %a /var/lib/rancher/k3s/server/{file}"))?;
        ensure!(mode.trim() == "600", "{file} has mode {mode}");
    }
    let token = server
        .ssh_ok("cat /var/lib/rancher/k3s/server/node-token")?
        .trim()
        .to_owned();
    let ca_hash = server
        .ssh_ok("sha256sum /var/lib/rancher/k3s/server/tls/server-ca.crt | cut -d' ' -f1")?
        .trim()
        .to_owned();
    ensure!(
        token == format!("K10{ca_hash}::server:bootstrap-secret"),
        "node-token is {token:?}, CA hash {ca_hash}"
    );
    let mode = server.ssh_ok("stat -c %a /etc/rancher/k3s/k3s.yaml")?;
    ensure!(mode.trim() == "600", "k3s.yaml has mode {mode}");
    let cacerts =
        server.ssh_ok("curl -sfk https://127.0.0.1:6443/cacerts | sha256sum | cut -d' ' -f1")?;
    ensure!(cacerts.trim() == ca_hash, "/cacerts hashes to {cacerts}");
    let anonymous = server
        .ssh_ok("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:6443/api/v1/nodes")?;
    ensure!(
        anonymous.trim() == "401",
        "anonymous request got {anonymous}"
    );

    let kubectl = Kubectl::for_node(server)?;
    ensure!(kubectl.ok(&["get", "--raw", "/readyz"])?.trim() == "ok");
    let nodes = kubectl.ok(&["get", "nodes"])?;
    ensure!(nodes.starts_with("NAME"), "{nodes}");
    ensure!(
        kubectl.node_status("node-1")?.as_deref() == Some("Ready"),
        "{nodes}"
    );
    let json = kubectl.ok(&["get", "nodes", "-o", "json"])?;
    let list: serde_json::Value = serde_json::from_str(&json)?;
    let node1 = &list["items"][0];
    ensure!(node1["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == "true");
    ensure!(node1["metadata"]["labels"]["tier"] == "control");
    ensure!(node1["status"]["nodeInfo"]["kubeletVersion"] == VERSION);
    eprintln!("server up at {:?}", started.elapsed());

    // --- agent: joins with the node-token from its own config.yaml --------------------------
    write_node_file(
        agent,
        "/etc/rancher/k3s/config.yaml",
        &format!("token: {token}\nnode-label:\n  - tier=worker\n"),
        0o600,
    )?;
    let server_url = format!("https://{}:6443", server.address());
    agent.ssh_ok(&install_command(
        &releases,
        VERSION,
        &[("K3S_URL", &server_url)],
        &["agent"],
    ))?;
    ensure!(agent.ssh_ok("systemctl is-active k3s-agent")?.trim() == "active");
    let env_file = agent.ssh_ok("cat /etc/systemd/system/k3s-agent.service.env")?;
    ensure!(
        env_file.contains(&format!("K3S_URL='{server_url}'")),
        "{env_file}"
    );
    wait_for(
        "node-2 Ready",
        Duration::from_secs(20),
        Duration::from_millis(500),
        || Ok((kubectl.node_status("node-2")?.as_deref() == Some("Ready")).then_some(())),
    )?;
    let labels = kubectl.ok(&[
        "get",
        "node",
        "node-2",
        "-o",
        "jsonpath={.metadata.labels.tier}",
    ])?;
    ensure!(labels == "worker", "node-2 tier label {labels:?}");
    eprintln!("agent joined at {:?}", started.elapsed());

    // Stop the agent now; the server notices while the manifests below are applied.
    agent.ssh_ok("systemctl stop k3s-agent")?;
    let stopped = Instant::now();

    // --- server-side apply: a namespace, a CRD and a deployment --------------------------------
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("small.yaml");
    std::fs::write(&manifest, SMALL_MANIFEST)?;
    let manifest = manifest.to_str().context("path")?;
    let applied = kubectl.ok(&["apply", "--server-side", "-f", manifest])?;
    ensure!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );
    kubectl.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ])?;
    kubectl.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "demo",
        "--timeout=30s",
    ])?;
    let ready = kubectl.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "demo",
        "-o",
        "jsonpath={.status.availableReplicas}",
    ])?;
    ensure!(ready == "2", "availableReplicas {ready:?}");
    // Applying again changes nothing.
    let generation = || {
        kubectl.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
    };
    let before = generation()?;
    kubectl.ok(&["apply", "--server-side", "-f", manifest])?;
    ensure!(generation()? == before, "re-applying bumped the generation");

    // --- the real Argo CD install manifest -----------------------------------------------------
    let argocd = argocd_manifest();
    ensure!(argocd.exists(), "{} is missing", argocd.display());
    kubectl.ok(&["create", "namespace", "argocd"])?;
    let applied = kubectl.ok(&[
        "apply",
        "--server-side",
        "-n",
        "argocd",
        "-f",
        argocd.to_str().context("path")?,
    ])?;
    ensure!(applied.lines().count() > 50, "{applied}");
    kubectl.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/applications.argoproj.io",
        "--timeout=30s",
    ])?;
    let waited = kubectl.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy",
        "--all",
        "-n",
        "argocd",
        "--timeout=60s",
    ])?;
    ensure!(waited.lines().count() >= 6, "{waited}");
    eprintln!("manifests applied at {:?}", started.elapsed());

    // --- the stopped agent's node turns NotReady ----------------------------------------------
    wait_for(
        "node-2 NotReady",
        Duration::from_secs(40),
        Duration::from_secs(1),
        || Ok((kubectl.node_status("node-2")?.as_deref() == Some("NotReady")).then_some(())),
    )?;
    eprintln!(
        "node-2 NotReady {:?} after its agent stopped",
        stopped.elapsed()
    );
    ensure!(kubectl.node_status("node-1")?.as_deref() == Some("Ready"));

    let drained = kubectl.ok(&[
        "drain",
        "node-2",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=30s",
    ])?;
    ensure!(drained.contains("node/node-2 drained"), "{drained}");
    kubectl.ok(&["delete", "node", "node-2"])?;
    ensure!(
        kubectl.node_status("node-2")?.is_none(),
        "node-2 still listed"
    );

    // --- wrong tokens make the agent fail, with the reason in the journal -----------------------
    let bad_hash = format!("K10{}::server:bootstrap-secret", "0".repeat(64));
    let bad_password = format!("K10{ca_hash}::server:not-the-secret");
    for (bad, reason) in [
        (bad_hash.as_str(), "token CA hash does not match"),
        (bad_password.as_str(), "401 Unauthorized"),
    ] {
        write_node_file(
            agent,
            "/etc/rancher/k3s/config.yaml",
            &format!("token: {bad}\n"),
            0o600,
        )?;
        agent.ssh("systemctl reset-failed k3s-agent")?;
        let restart = agent.ssh("systemctl restart k3s-agent")?;
        ensure!(
            !restart.status.success(),
            "the agent started with token {bad}"
        );
        let state = agent.ssh("systemctl is-active k3s-agent")?;
        ensure!(String::from_utf8_lossy(&state.stdout).trim() != "active");
        let journal = agent.ssh_ok("journalctl -u k3s-agent --no-pager -n 50")?;
        ensure!(
            journal.contains(reason),
            "journal lacks {reason:?}:\n{journal}"
        );
    }
    ensure!(
        kubectl.node_status("node-2")?.is_none(),
        "a rejected agent registered"
    );

    // --- uninstall the agent ------------------------------------------------------------------
    agent.ssh_ok("/usr/local/bin/k3s-agent-uninstall.sh >/dev/null 2>&1")?;
    let left = agent.ssh_ok(
        "ls /etc/systemd/system/k3s-agent.service /usr/local/bin/k3s /usr/local/bin/k3s-agent-uninstall.sh \
         /etc/rancher/k3s 2>/dev/null | wc -l",
    )?;
    ensure!(left.trim() == "0", "files left after uninstall: {left}");
    ensure!(
        agent
            .ssh("test -s /etc/rancher/node/password")?
            .status
            .success(),
        "the node password went"
    );
    eprintln!("done in {:?}", started.elapsed());
    Ok(())
}
