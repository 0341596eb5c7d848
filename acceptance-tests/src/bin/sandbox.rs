//! `sandbox`: the README's demo. Boots three local test-bed nodes, applies
//! `examples/local-sandbox` to them with a real Terraform and the freshly built provider,
//! shows the cluster as its API reports it, then destroys it and removes the nodes.
//!
//! K3s itself is a local stand-in here (the real binary cannot be downloaded on this machine);
//! everything else — Terraform, SSH, systemd, the nodes — is real.

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
    let vars = serde_json::json!({
        "server": node(0),
        "agents": { "worker-1": node(1), "worker-2": node(2) },
        "private_key_file": bed.client_key_path().display().to_string(),
        "installer_url": releases.install_url,
        "release_base_url": releases.github_url,
    });
    wd.write_file(
        "terraform.tfvars.json",
        &serde_json::to_string_pretty(&vars)?,
    )?;

    println!("==> terraform apply of examples/local-sandbox (1 server, 2 agents)");
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
    println!(
        "\nUse the cluster: terraform output -raw kubeconfig > kubeconfig.yaml && kubectl --kubeconfig kubeconfig.yaml get nodes\n\
         What was real here: Terraform {}, the provider, SSH with pinned host keys, systemd units on real Linux nodes.\n\
         What was a stand-in: the K3s binary and its install script (served locally), since K3s cannot be downloaded on this machine.\n\
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
