//! k3s_server and k3s_agent through a real Terraform on test-bed nodes with the stand-in K3s:
//! `examples/local-sandbox` applies, the next plan is empty with and without refresh, the
//! nodes are Ready through the API, drift on a node shows in the plan and apply repairs it,
//! and destroy removes K3s.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, repo_root, TerraformVersion, Workdir};
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Result};

fn sandbox_vars(bed: &TestBed, releases: &K3sReleases) -> serde_json::Value {
    let nodes = bed.nodes();
    let entry = |n: &acceptance_tests::testbed::Node| serde_json::json!({ "host": n.address().to_string(), "host_key": n.host_key().public_openssh() });
    serde_json::json!({
        "server": entry(&nodes[0]),
        "agents": { "worker-1": entry(&nodes[1]), "worker-2": entry(&nodes[2]) },
        "private_key_file": bed.client_key_path().display().to_string(),
        "installer_url": releases.install_url,
        "release_base_url": releases.github_url,
    })
}

#[test]
fn local_sandbox_applies_reads_back_repairs_drift_and_destroys() -> Result<()> {
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &["v1.33.4+k3s1"],
    )?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    wd.write_file(
        "main.tf",
        &std::fs::read_to_string(repo_root().join("examples/local-sandbox/main.tf"))?,
    )?;
    wd.write_file(
        "terraform.tfvars.json",
        &serde_json::to_string_pretty(&sandbox_vars(&bed, &releases))?,
    )?;

    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    for refresh in ["-refresh=true", "-refresh=false"] {
        let plan = wd.run(&[
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
            refresh,
        ])?;
        ensure!(
            plan.code == 0,
            "plan after apply ({refresh}) is not empty:\n{plan}"
        );
    }
    // The nodes, as the K3s API reports them, through the kubeconfig output.
    let kubeconfig = wd.run(&["output", "-raw", "kubeconfig"])?.ok()?.stdout;
    let kubeconfig_file = wd.write_file("kubeconfig.yaml", &kubeconfig)?;
    let nodes = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig_file.display().to_string(), "get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}"])
        .output()?;
    let listing = String::from_utf8_lossy(&nodes.stdout).into_owned();
    ensure!(
        nodes.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&nodes.stderr)
    );
    for name in ["node-1=True", "node-2=True", "node-3=True"] {
        ensure!(
            listing.contains(name),
            "node not Ready through the API: {listing}"
        );
    }
    let server = &bed.nodes()[0];
    let mode = server.exec_ok("stat -c %a /etc/rancher/k3s/config.yaml")?;
    ensure!(mode.trim() == "600", "config.yaml mode {mode}");

    // Drift: a hand edit of config.yaml and a stopped agent both show, and apply repairs them.
    server.exec_ok("echo 'debug: true' >> /etc/rancher/k3s/config.yaml")?;
    bed.nodes()[1].exec_ok("systemctl stop k3s-agent")?;
    let drift = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(drift.code == 2, "drift did not show:\n{drift}");
    ensure!(
        drift
            .stdout
            .contains("k3s_server.main will be updated in-place"),
        "{drift}"
    );
    ensure!(
        drift
            .stdout
            .contains("k3s_agent.worker[\"worker-1\"] will be updated in-place"),
        "{drift}"
    );
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    let after = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(after.code == 0, "apply did not repair the drift:\n{after}");
    ensure!(
        bed.nodes()[1]
            .exec_ok("systemctl is-active k3s-agent")?
            .trim()
            == "active"
    );

    // K3s uninstalled behind Terraform's back plans a re-create.
    bed.nodes()[2].exec_ok("/usr/local/bin/k3s-agent-uninstall.sh >/dev/null 2>&1")?;
    let gone = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(
        gone.code == 2
            && gone
                .stdout
                .contains("k3s_agent.worker[\"worker-2\"] will be created"),
        "{gone}"
    );
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;

    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    for node in bed.nodes() {
        let left = node.exec_ok(
            "ls /etc/systemd/system/k3s*.service /usr/local/bin/k3s 2>/dev/null || true",
        )?;
        ensure!(
            left.trim().is_empty(),
            "{} still has K3s: {left}",
            node.name()
        );
    }
    Ok(())
}
