//! Bad input through a real Terraform, each failing with a clear error and leaving state a
//! corrected apply converges from: a malformed version (refused at plan), an unreachable
//! host, a wrong pinned host key, an air-gap binary whose checksum differs, and an agent
//! with a wrong join token. The corrected apply installs the server from the air-gap binary.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::{binary_for_version, K3sReleases};
use acceptance_tests::terraform::{provider_dir, TerraformVersion, Workdir, REQUIRE_K3S};
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Result};

const VERSION: &str = "v1.33.4+k3s1";

const MAIN_TF: &str = r#"
variable "server_host" { type = string }
variable "server_host_key" { type = string }
variable "agent_host" { type = string }
variable "agent_host_key" { type = string }
variable "private_key_file" { type = string }
variable "installer_url" { type = string }
variable "release_base_url" { type = string }
variable "k3s_version" { type = string }
variable "airgap_binary" { type = string }
variable "airgap_sha256" { type = string }
variable "agent_token" {
  type      = string
  default   = null
  sensitive = true
}

provider "k3s" {
  installer_url    = var.installer_url
  release_base_url = var.release_base_url
  ssh {
    private_key_file = var.private_key_file
  }
}

resource "k3s_server" "main" {
  host                 = var.server_host
  version              = var.k3s_version
  airgap_binary        = var.airgap_binary
  airgap_binary_sha256 = var.airgap_sha256
  ssh {
    host_key        = var.server_host_key
    connect_timeout = "3s"
  }
}

resource "k3s_agent" "worker" {
  host          = var.agent_host
  version       = var.k3s_version
  server_url    = k3s_server.main.api_endpoint
  token         = coalesce(var.agent_token, k3s_server.main.join_token)
  kubeconfig    = k3s_server.main.kubeconfig
  ready_timeout = "20s"
  ssh {
    host_key = var.agent_host_key
  }
}
"#;

#[test]
fn bad_input_fails_clearly_and_a_corrected_apply_converges() -> Result<()> {
    let bed = TestBed::builder().nodes(2).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let airgap = binary_for_version(standin, VERSION)?;
    let airgap_path = wd.path().join("k3s-airgap");
    std::fs::write(&airgap_path, &airgap)?;
    let airgap_sha = k3s_sdk::k3s::sha256_hex(&airgap);
    let (server, agent) = (&bed.nodes()[0], &bed.nodes()[1]);
    let [a, b, c, _] = server.address().octets();
    let unused = std::net::Ipv4Addr::new(a, b, c, 250);
    let wrong_token = "K10deadbeefdeadbeefdeadbeefdeadbeef::server:not-the-token";
    let vars = |edit: &dyn Fn(&mut serde_json::Value)| -> Result<()> {
        let mut v = serde_json::json!({
            "server_host": server.address().to_string(),
            "server_host_key": server.host_key().public_openssh(),
            "agent_host": agent.address().to_string(),
            "agent_host_key": agent.host_key().public_openssh(),
            "private_key_file": bed.client_key_path().display().to_string(),
            "installer_url": releases.install_url,
            "release_base_url": releases.github_url,
            "k3s_version": VERSION,
            "airgap_binary": airgap_path.display().to_string(),
            "airgap_sha256": airgap_sha,
        });
        edit(&mut v);
        wd.write_file("terraform.tfvars.json", &serde_json::to_string_pretty(&v)?)?;
        Ok(())
    };
    wd.write_file("main.tf", &format!("{REQUIRE_K3S}{MAIN_TF}"))?;
    let apply = || wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let state_list = || -> Result<String> { Ok(wd.run(&["state", "list"])?.stdout) };

    // A malformed version is refused before anything happens.
    vars(&|v| v["k3s_version"] = "1.33.4".into())?;
    let plan = wd.run(&["plan", "-input=false", "-no-color"])?;
    plan.failed_with(&["vX.Y.Z+k3sN", "version"])?;

    // An unreachable host fails within the connect timeout and leaves nothing in state.
    vars(&|v| v["server_host"] = unused.to_string().into())?;
    let unreachable = apply()?;
    unreachable.failed_with(&[&format!("Cannot connect to {unused}")])?;
    ensure!(
        state_list()?.trim().is_empty(),
        "state after a failed connect"
    );

    // A wrong pinned host key is refused, showing the key the host presented.
    vars(&|v| v["server_host_key"] = agent.host_key().public_openssh().into())?;
    let wrong_key = apply()?;
    wrong_key.failed_with(&["host key", server.host_key().fingerprint()])?;
    ensure!(state_list()?.trim().is_empty());
    ensure!(
        server
            .exec_ok("ls /usr/local/bin/k3s 2>/dev/null || true")?
            .trim()
            .is_empty(),
        "something was installed on a host whose key did not match"
    );

    // An air-gap binary whose checksum differs is not uploaded.
    vars(&|v| v["airgap_sha256"] = "0".repeat(64).into())?;
    let bad_sum = apply()?;
    bad_sum.failed_with(&["SHA-256", &airgap_sha, "nothing was uploaded"])?;
    ensure!(server
        .exec_ok("ls /usr/local/bin/k3s 2>/dev/null || true")?
        .trim()
        .is_empty());

    // Corrected server; the agent joins with a wrong token and reports it without showing it.
    vars(&|v| v["agent_token"] = wrong_token.into())?;
    let bad_token = apply()?;
    bad_token.failed_with(&["k3s-agent.service did not become active", "journal"])?;
    ensure!(
        !bad_token.stderr.contains("not-the-token") && !bad_token.stdout.contains("not-the-token"),
        "the wrong token is shown"
    );
    // The agent's failed create is in state, tainted: K3s and its token are on the host, and
    // the next apply replaces it (a destroy would remove it).
    let shown = wd.run(&["show", "-json"])?.ok()?.json()?;
    let resources = shown["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tainted = |address: &str| {
        resources
            .iter()
            .find(|r| r["address"] == address)
            .map(|r| r["tainted"] == true)
    };
    ensure!(
        tainted("k3s_server.main") == Some(false) && tainted("k3s_agent.worker") == Some(true),
        "the failed agent is not in state, tainted: {resources:?}"
    );
    let installed = server.exec_ok("sha256sum /usr/local/bin/k3s")?;
    ensure!(
        installed.starts_with(&airgap_sha),
        "the server does not run the air-gap binary"
    );

    // Everything corrected: the apply converges from what the failures left, and the plan
    // after it is empty.
    vars(&|_| {})?;
    let corrected = apply()?.ok()?;
    ensure!(
        corrected
            .stdout
            .contains("k3s_agent.worker is tainted, so must be replaced"),
        "the tainted agent is not replaced:\n{corrected}"
    );
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(plan.code == 0, "plan after the corrected apply:\n{plan}");
    ensure!(agent.exec_ok("systemctl is-active k3s-agent")?.trim() == "active");

    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    Ok(())
}
