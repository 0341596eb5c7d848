//! `sandbox`: the README's demo. Boots three local test-bed nodes, applies
//! `examples/local-sandbox` to them with a real Terraform and the freshly built provider (the
//! K3s cluster and Argo CD in one apply), shows the cluster as its API reports it, then
//! destroys it and removes the nodes.
//!
//! K3s itself is a local stand-in here (the real binary cannot be downloaded on this machine),
//! and so is what Argo CD's own pods would do once running (no container can run here); the
//! Argo CD manifest is the real v3.5.1 release, served locally when `../shared/data` has it.
//! Everything else — Terraform, SSH, systemd, the nodes — is real.

use acceptance_tests::argocd;
use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, repo_root, TerraformVersion, Workdir};
use acceptance_tests::testbed::TestBed;
use anyhow::{Context, Result};

fn main() -> Result<()> {
    let standin = std::env::current_exe()?.with_file_name("k3s-standin");
    anyhow::ensure!(
        standin.exists(),
        "{} is missing; build it with `cargo build -p acceptance-tests --bins`",
        standin.display()
    );
    println!("==> booting 3 local nodes (systemd + OpenSSH in namespaces)");
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(&artifacts, &standin, &["v1.33.4+k3s1"])?;
    let wd = Workdir::new(TerraformVersion::from_env()?, provider_dir()?)?;
    wd.write_file(
        "main.tf",
        &std::fs::read_to_string(repo_root().join("examples/local-sandbox/main.tf"))?,
    )?;
    let node = |i: usize| serde_json::json!({ "host": bed.nodes()[i].address().to_string(), "host_key": bed.nodes()[i].host_key().public_openssh() });
    let mut vars = serde_json::json!({
        "server": node(0),
        "agents": { "worker-1": node(1), "worker-2": node(2) },
        "private_key_file": bed.client_key_path().display().to_string(),
        "installer_url": releases.install_url,
        "release_base_url": releases.github_url,
    });
    // The real v3.5.1 manifest, served locally; without it the example's default (the
    // release's URL on GitHub, its sha256 pinned) is used.
    if argocd::shared_manifest().exists() {
        argocd::publish_shared(&artifacts)?;
        vars["argocd_release_base_url"] = argocd::release_base_url(&artifacts).into();
    } else {
        println!(
            "==> {} is missing: Argo CD's manifest comes from its release URL (sha256 pinned)",
            argocd::shared_manifest().display()
        );
    }
    wd.write_file(
        "terraform.tfvars.json",
        &serde_json::to_string_pretty(&vars)?,
    )?;

    println!("==> terraform apply of examples/local-sandbox (1 server, 2 agents, Argo CD)");
    let apply = wd.run(&["apply", "-auto-approve", "-input=false"])?;
    print!("{}", apply.stdout);
    apply.ok()?;
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    println!(
        "==> terraform plan right after apply: {}",
        if plan.code == 0 {
            "no changes (the live state matches)"
        } else {
            "changes!"
        }
    );

    let kubeconfig = wd.run(&["output", "-raw", "kubeconfig"])?.ok()?.stdout;
    let kubeconfig_path = wd.write_file("kubeconfig.yaml", &kubeconfig)?;
    println!("==> the nodes, as the K3s API reports them (kubectl get nodes -o wide)");
    let nodes = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kubeconfig_path.display().to_string(),
            "get",
            "nodes",
            "-o",
            "wide",
        ])
        .output()
        .context("running kubectl")?;
    print!("{}", String::from_utf8_lossy(&nodes.stdout));
    println!("==> Argo CD, as the K3s API reports it (kubectl get deployments,statefulsets,applications -n argocd)");
    let argocd_objects = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kubeconfig_path.display().to_string(),
            "get",
            "deployments,statefulsets,applications",
            "-n",
            "argocd",
        ])
        .output()
        .context("running kubectl")?;
    print!("{}", String::from_utf8_lossy(&argocd_objects.stdout));
    println!(
        "\nUse the cluster: terraform output -raw kubeconfig > kubeconfig.yaml && kubectl --kubeconfig kubeconfig.yaml get nodes\n\
         What was real here: Terraform {}, the provider, SSH with pinned host keys, systemd units on real Linux nodes.\n\
         What was a stand-in: the K3s binary and its install script (served locally), since K3s cannot be downloaded on this machine,\n\
         and what Argo CD's pods would write once running (no container runs here); the Argo CD manifest is the real release.\n\
         Real hosts: set `server`, `agents` (host + host_key) and `private_key_file` in a terraform.tfvars for examples/local-sandbox\n\
         and leave installer_url/release_base_url unset, so the official installer and releases are used.\n",
        wd.version()
    );
    println!("==> terraform destroy, then the nodes are removed");
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    bed.teardown()?;
    println!("done: nothing is left on this machine");
    Ok(())
}
