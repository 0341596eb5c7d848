//! How node resources change, through a real Terraform on test-bed nodes:
//! - a node with wget and no curl installs (the install script is fetched with either);
//! - a label change on the server keeps its kubeconfig known, so the agents that refer to it
//!   plan nothing;
//! - K3s's version rules are refused at plan: an agent newer than its server, an upgrade that
//!   skips a minor release, a downgrade;
//! - an upgrade whose restart did not happen (the new binary in place, the old release still
//!   running) plans the upgrade, and the apply restarts the service;
//! - destroy removes what OS preparation created and leaves what was there before;
//! - a hand-installed server whose unit carries flags imports by
//!   `ssh://…?host_key=…` with the key pinned (no known_hosts file) and the flags read into
//!   `config`, with an empty first plan; the next change moves the flags into config.yaml and
//!   rewrites the unit's ExecStart without them; removing the setting from `config` then plans
//!   a change;
//! - an agent in another configuration, newer than the server it joins, is refused at apply
//!   before its host is touched.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, provider_hcl, TerraformVersion, Workdir};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Result};

const V1: &str = "v1.33.4+k3s1";
const V2: &str = "v1.34.1+k3s1";
const V3: &str = "v1.35.0+k3s1";

fn running_version(node: &Node, unit: &str) -> Result<String> {
    node.exec_ok(&format!(
        "/proc/$(systemctl show -p MainPID --value {unit})/exe --version | head -n1"
    ))
}

#[test]
fn versions_plans_and_cleanups_follow_the_rules() -> Result<()> {
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[V1, V2, V3])?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let (server, agent, imported) = (&bed.nodes()[0], &bed.nodes()[1], &bed.nodes()[2]);
    // The agent's host has wget but no curl, and a sysctl file of its operator's.
    agent.exec_ok("mv /usr/bin/curl /usr/bin/curl.hidden")?;
    agent.exec_ok(
        "mkdir -p /etc/sysctl.d && echo '# the operator s own' > /etc/sysctl.d/90-k3s.conf",
    )?;
    let ssh = format!("private_key_file = \"{}\"", bed.client_key_path().display());
    let write = |server_version: &str, agent_version: &str, label: &str| -> Result<()> {
        let hcl = provider_hcl(&releases.install_url, &releases.github_url, &ssh)
            + &format!(
                r#"
resource "k3s_server" "main" {{
  host        = "{server}"
  version     = "{server_version}"
  node_labels = {{ role = "{label}" }}
  ssh {{
    host_key = "{server_key}"
  }}
}}

resource "k3s_agent" "worker" {{
  host       = "{agent}"
  version    = "{agent_version}"
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
  kubeconfig = k3s_server.main.kubeconfig
  ssh {{
    host_key = "{agent_key}"
  }}
}}
"#,
                server = server.address(),
                server_key = server.host_key().public_openssh(),
                agent = agent.address(),
                agent_key = agent.host_key().public_openssh(),
            );
        wd.write_file("main.tf", &hcl)?;
        Ok(())
    };
    let apply = || wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let plan = || wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);

    // Installs, the agent through wget.
    write(V1, V1, "one")?;
    apply()?.ok()?;
    ensure!(agent.exec_ok("systemctl is-active k3s-agent")?.trim() == "active");

    // A label change on the server: its kubeconfig stays known, the agent plans nothing.
    write(V1, V1, "two")?;
    wd.run(&["plan", "-out=labels.tfplan", "-input=false", "-no-color"])?
        .ok()?;
    let planned = wd.run(&["show", "-json", "labels.tfplan"])?.ok()?.json()?;
    let changes = planned["resource_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let change = |address: &str| {
        changes
            .iter()
            .find(|c| c["address"] == address)
            .map(|c| c["change"].clone())
            .unwrap_or_default()
    };
    let server_change = change("k3s_server.main");
    ensure!(
        server_change["actions"] == serde_json::json!(["update"]),
        "{server_change}"
    );
    for known in [
        "kubeconfig",
        "client_certificate",
        "client_key",
        "env_sha256",
    ] {
        ensure!(
            server_change["after_unknown"][known] != true,
            "{known} is planned unknown for a label change"
        );
    }
    let agent_change = change("k3s_agent.worker");
    ensure!(
        agent_change["actions"] == serde_json::json!(["no-op"]),
        "the agent plans a change after a label change on its server: {agent_change}"
    );
    wd.run(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "labels.tfplan",
    ])?
    .ok()?;

    // K3s's version rules, at plan.
    write(V1, V2, "two")?;
    plan()?.failed_with(&["Agent newer than its server", V1, V2])?;
    write(V3, V1, "two")?;
    plan()?.failed_with(&["Version change refused", "one minor release at a time"])?;

    // An upgrade whose restart did not happen: the new binary in place, the old release
    // running. The plan shows the upgrade; the apply restarts the service.
    server.exec_ok(&format!(
        "curl -sfo /usr/local/bin/k3s.new {}/download/{V2}/k3s && chmod 755 /usr/local/bin/k3s.new && mv -f /usr/local/bin/k3s.new /usr/local/bin/k3s",
        releases.github_url
    ))?;
    ensure!(running_version(server, "k3s")?.contains(V1));
    write(V2, V1, "two")?;
    let half = plan()?;
    ensure!(
        half.code == 2 && half.stdout.contains(&format!("\"{V1}\" -> \"{V2}\"")),
        "the plan does not show the upgrade still to finish:\n{half}"
    );
    apply()?.ok()?;
    ensure!(
        running_version(server, "k3s")?.contains(V2),
        "the server still runs the old release"
    );
    let after = plan()?;
    ensure!(
        after.code == 0,
        "plan after the restart is not empty:\n{after}"
    );
    write(V2, V2, "two")?;
    apply()?.ok()?;
    write(V1, V2, "two")?;
    plan()?.failed_with(&["Version change refused", "downgrades"])?;

    // Destroy removes what OS preparation created, and only that.
    write(V2, V2, "two")?;
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    for file in ["/etc/sysctl.d/90-k3s.conf", "/etc/modules-load.d/k3s.conf"] {
        ensure!(
            server.exec(&format!("test -e {file}"))?.status.code() == Some(1),
            "{file} is left on the server"
        );
    }
    ensure!(
        agent
            .exec("test -e /etc/modules-load.d/k3s.conf")?
            .status
            .code()
            == Some(1),
        "modules-load.d/k3s.conf is left on the agent"
    );
    ensure!(
        agent
            .exec("test -e /etc/sysctl.d/90-k3s.conf")?
            .status
            .success(),
        "the operator's own sysctl file was removed"
    );

    import_with_flags_and_a_pinned_key(imported, agent, &releases, &wd, &ssh)
}

/// A server installed by hand with `--disable traefik` on its unit's command line, imported
/// with its host key pinned in the ID. Then an agent in another configuration, newer than
/// that server, is refused at apply before its host is touched (the server's version is asked
/// through the API with the agent's kubeconfig).
fn import_with_flags_and_a_pinned_key(
    node: &Node,
    agent: &Node,
    releases: &K3sReleases,
    wd: &Workdir,
    ssh: &str,
) -> Result<()> {
    node.exec_ok(&format!(
        "curl -sfL {url} | INSTALL_K3S_VERSION={V1} GITHUB_URL={github} INSTALL_K3S_EXEC='server --disable traefik' sh - >/dev/null 2>&1",
        url = releases.install_url,
        github = releases.github_url,
    ))?;
    node.exec_ok("i=0; while [ ! -s /var/lib/rancher/k3s/server/token ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done")?;
    ensure!(
        node.exec_ok("grep -c traefik /etc/systemd/system/k3s.service")?
            .trim()
            == "1"
    );
    let key = node.host_key().public_openssh().trim().to_owned();
    let write_with = |config: &str, label: &str, outputs: &str| -> Result<()> {
        let hcl = provider_hcl(&releases.install_url, &releases.github_url, ssh)
            + outputs
            + &format!(
                r#"
resource "k3s_server" "imported" {{
  host        = "{host}"
  version     = "{V1}"
  config      = {config}
  node_labels = {label}
  ssh {{
    host_key = "{key}"
  }}
}}
"#,
                host = node.address(),
            );
        wd.write_file("main.tf", &hcl)?;
        Ok(())
    };
    let write = |config: &str, label: &str| write_with(config, label, "");
    write("{ disable = \"traefik\" }", "null")?;
    let id = format!(
        "ssh://root@{}:22?host_key={}",
        node.address(),
        key.replace(' ', "%20")
    );
    let imported = wd.run(&[
        "import",
        "-input=false",
        "-no-color",
        "k3s_server.imported",
        &id,
    ])?;
    let imported = imported.ok()?;
    ensure!(
        format!("{}{}", imported.stdout, imported.stderr).contains("read into config"),
        "no word of the flags:\n{imported}"
    );
    let first = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(
        first.code == 0,
        "the first plan after the import is not empty:\n{first}"
    );

    // A change moves the flag into config.yaml and rewrites ExecStart without it.
    write("{ disable = \"traefik\" }", "{ tier = \"imported\" }")?;
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    let unit = node.exec_ok("cat /etc/systemd/system/k3s.service")?;
    ensure!(
        !unit.contains("traefik"),
        "ExecStart still carries the flag:\n{unit}"
    );
    ensure!(node
        .exec_ok("cat /etc/rancher/k3s/config.yaml")?
        .contains("traefik"));
    ensure!(node.exec_ok("systemctl is-active k3s")?.trim() == "active");
    let settled = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(settled.code == 0, "{settled}");

    // Removing the setting from config now plans a change (the unit no longer hides it).
    write("null", "{ tier = \"imported\" }")?;
    let removal = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(
        removal.code == 2,
        "removing the setting plans nothing:\n{removal}"
    );
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    ensure!(!node
        .exec_ok("cat /etc/rancher/k3s/config.yaml")?
        .contains("traefik"));

    // An agent joining this server from another configuration, newer than it.
    write_with(
        "null",
        "{ tier = \"imported\" }",
        r#"
output "endpoint" { value = k3s_server.imported.api_endpoint }
output "token" {
  value     = k3s_server.imported.join_token
  sensitive = true
}
output "kubeconfig" {
  value     = k3s_server.imported.kubeconfig
  sensitive = true
}
"#,
    )?;
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    let output = |name: &str| -> Result<String> {
        Ok(wd.run(&["output", "-raw", "-no-color", name])?.ok()?.stdout)
    };
    let other = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    other.write_file("kubeconfig.yaml", &output("kubeconfig")?)?;
    other.write_file("token", &output("token")?)?;
    other.write_file(
        "main.tf",
        &(provider_hcl(&releases.install_url, &releases.github_url, ssh)
            + &format!(
                r#"
resource "k3s_agent" "elsewhere" {{
  host       = "{host}"
  version    = "{V2}"
  server_url = "{endpoint}"
  token      = file("${{path.module}}/token")
  kubeconfig = file("${{path.module}}/kubeconfig.yaml")
  ssh {{
    host_key = "{key}"
  }}
}}
"#,
                host = agent.address(),
                endpoint = output("endpoint")?,
                key = agent.host_key().public_openssh().trim(),
            )),
    )?;
    other
        .run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .failed_with(&["Agent newer than its server", V1, V2])?;
    ensure!(
        agent
            .exec("test -e /etc/rancher/k3s/config.yaml")?
            .status
            .code()
            == Some(1),
        "the refused agent's host was touched"
    );
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    Ok(())
}
