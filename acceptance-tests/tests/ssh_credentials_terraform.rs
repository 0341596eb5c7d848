//! The SSH credential rules through a real Terraform, with a real ssh-agent holding the key
//! that logs in to the test-bed node (its socket in `SSH_AUTH_SOCK` of the Terraform process,
//! so the provider sees it):
//! - `use_agent = true` beside a key, in the provider's `ssh` block or a resource's, is refused
//!   at validate, pointing at the attribute;
//! - `use_agent = false` (at either level) never falls back to the agent, although the agent
//!   could log in: the apply fails before touching the node;
//! - the provider's `use_agent = true` is what nodes without a key of their own log in with.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, provider_hcl, TerraformVersion, Workdir};
use acceptance_tests::testbed::{SshAgent, TestBed};
use anyhow::{ensure, Result};

const VERSION: &str = "v1.33.4+k3s1";

#[test]
fn agent_settings_are_honoured_and_contradictions_refused_at_validate() -> Result<()> {
    let bed = TestBed::builder().nodes(1).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let agent = SshAgent::start(bed.client_key_path())?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?
        .with_env("SSH_AUTH_SOCK", agent.socket().display().to_string());
    let node = &bed.nodes()[0];
    let key_file = bed.client_key_path().display().to_string();
    let write = |provider_ssh: &str, node_ssh: &str| -> Result<()> {
        let main = provider_hcl(&releases.install_url, &releases.github_url, provider_ssh)
            + &format!(
                r#"
resource "k3s_server" "main" {{
  host    = "{host}"
  version = "{VERSION}"
  ssh {{
    host_key        = "{host_key}"
    connect_timeout = "5s"
    {node_ssh}
  }}
}}
"#,
                host = node.address(),
                host_key = node.host_key().public_openssh(),
            );
        wd.write_file("main.tf", &main)?;
        Ok(())
    };
    let nothing_installed = || -> Result<bool> {
        Ok(node
            .exec_ok("ls /usr/local/bin/k3s 2>/dev/null || true")?
            .trim()
            .is_empty())
    };
    let apply = || wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);

    // A key and `use_agent = true` side by side: refused at validate, in either block, with
    // the attribute shown.
    write(
        &format!("private_key_file = \"{key_file}\"\n    use_agent = true"),
        "",
    )?;
    let validate = wd.run(&["validate", "-no-color"])?;
    validate.failed_with(&[
        "Conflicting SSH credentials",
        "use_agent = true",
        "provider \"k3s\"",
    ])?;
    write(
        "",
        &format!("private_key_file = \"{key_file}\"\n    use_agent = true"),
    )?;
    let validate = wd.run(&["validate", "-no-color"])?;
    validate.failed_with(&[
        "Conflicting SSH credentials",
        "use_agent = true",
        "k3s_server.main",
    ])?;

    // `use_agent = false` and no key: no credentials, although the agent would let us in.
    for (provider_ssh, node_ssh) in [("use_agent = false", ""), ("", "use_agent = false")] {
        write(provider_ssh, node_ssh)?;
        apply()?.failed_with(&["No SSH credentials", "use_agent = false"])?;
        ensure!(nothing_installed()?, "the agent was used after all");
        ensure!(wd.run(&["state", "list"])?.stdout.trim().is_empty());
    }

    // The provider's `use_agent = true`: nodes without their own key log in through the agent.
    write("use_agent = true", "")?;
    apply()?.ok()?;
    ensure!(
        node.exec_ok("systemctl is-active k3s")?.trim() == "active",
        "the server did not come up"
    );
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(plan.code == 0, "plan after the apply:\n{plan}");
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    ensure!(nothing_installed()?, "destroy left K3s behind");
    Ok(())
}
