//! The provider through a real Terraform (1.15.5, 1.10.5 and 1.6.6): Terraform loads its
//! schemas, validates configuration with errors pointing at the right attribute, plans with
//! computed values unknown, and talks to it over mutual TLS.

use acceptance_tests::terraform::{provider_dir, TerraformVersion, Workdir};
use anyhow::{ensure, Context, Result};
use serde_json::Value;
use terraform_provider_k3s::resources::{
    data_sources as provider_data_sources, resources as provider_resources,
};

const PROVIDER: &str = "registry.terraform.io/k3s/k3s";

const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    k3s = { source = "k3s/k3s" }
  }
}
provider "k3s" {}
"#;

const VALID: &str = r#"
resource "k3s_server" "main" {
  host         = "10.0.0.241"
  version      = "v1.33.4+k3s1"
  api_endpoint = "https://k3s.example.com:6443"
  config       = { "tls-san" = ["k3s.example.com"], disable = ["traefik"] }
  node_labels  = { role = "server" }
  ssh {
    user     = "ubuntu"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9yaWdpbmFsLWhvc3Qta2V5LWZvci10ZXN0cw"
    bastion {
      host = "bastion.example.com"
    }
  }
  registry_mirror {
    registry  = "docker.io"
    endpoints = ["https://zot.example.com:5000"]
  }
}

resource "k3s_agent" "worker" {
  host       = "10.0.0.11"
  version    = "v1.33.4+k3s1"
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
}

resource "argocd_bootstrap" "main" {
  provider   = k3s
  kubeconfig = k3s_server.main.kubeconfig
  version    = "v3.5.1"
  root_application {
    repo_url = "https://git.example.com/platform/cluster.git"
    path     = "apps"
  }
}
"#;

fn workdir(version: TerraformVersion, config: &str) -> Result<Workdir> {
    let wd = Workdir::new(version, provider_dir()?)?;
    wd.write_file("main.tf", &format!("{REQUIRED_PROVIDERS}\n{config}"))?;
    Ok(wd)
}

#[test]
fn terraform_lists_every_resource_and_data_source_with_their_attributes() -> Result<()> {
    for version in TerraformVersion::ALL {
        let wd = workdir(version, "")?;
        let schema = wd.run(&["providers", "schema", "-json"])?.ok()?.json()?;
        let ours = &schema["provider_schemas"][PROVIDER];
        // Every type the provider serves, and nothing else (a new one is checked here
        // without being named).
        let served = |names: Vec<&'static str>| {
            let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            names.sort();
            names
        };
        let listed = |kind: &str| -> Result<Vec<String>> {
            Ok(ours[kind]
                .as_object()
                .with_context(|| format!("no {kind}"))?
                .keys()
                .cloned()
                .collect())
        };
        let resources = listed("resource_schemas")?;
        let expected = served(provider_resources().iter().map(|r| r.type_name()).collect());
        ensure!(
            resources == expected && resources.contains(&"k3s_server".to_owned()),
            "{version}: resources {resources:?}, the provider serves {expected:?}"
        );
        let sources = listed("data_source_schemas")?;
        let expected = served(
            provider_data_sources()
                .iter()
                .map(|d| d.type_name())
                .collect(),
        );
        ensure!(
            sources == expected && sources.contains(&"k3s_oci_instances".to_owned()),
            "{version}: data sources {sources:?}, the provider serves {expected:?}"
        );

        let server = &ours["resource_schemas"]["k3s_server"]["block"];
        ensure!(
            server["attributes"]["version"]["required"] == true,
            "{version}: version not required"
        );
        ensure!(
            server["attributes"]["kubeconfig"]["sensitive"] == true,
            "{version}: kubeconfig not sensitive"
        );
        ensure!(
            server["attributes"]["join_token"]["computed"] == true,
            "{version}: join_token not computed"
        );
        ensure!(
            server["attributes"]["config"]["type"] == "dynamic",
            "{version}: config type {}",
            server["attributes"]["config"]["type"]
        );
        ensure!(
            server["block_types"]["ssh"]["block"]["block_types"]["bastion"]["nesting_mode"]
                == "single",
            "{version}: no ssh.bastion block"
        );
        ensure!(
            server["block_types"]["ssh"]["block"]["attributes"]["sudo_password"]["sensitive"]
                == true
        );
        let agent = &ours["resource_schemas"]["k3s_agent"]["block"];
        ensure!(
            agent["attributes"]["server_url"]["required"] == true,
            "{version}: agent server_url not required"
        );
        ensure!(
            agent["block_types"]["nlb_backend"].is_object(),
            "{version}: agent has no nlb_backend"
        );
        let argocd = &ours["resource_schemas"]["argocd_bootstrap"]["block"];
        ensure!(
            argocd["block_types"]["root_application"]["min_items"] == 1,
            "{version}: root_application not required"
        );
        let instances =
            &ours["data_source_schemas"]["k3s_oci_instances"]["block"]["attributes"]["instances"];
        ensure!(
            instances["computed"] == true && instances["type"][0] == "list",
            "{version}: instances {instances}"
        );
        ensure!(
            ours["provider"]["block"]["block_types"]["oci_profile"]["nesting_mode"] == "list",
            "{version}: no oci_profile"
        );
    }
    Ok(())
}

#[test]
fn validate_accepts_a_valid_configuration() -> Result<()> {
    for version in TerraformVersion::ALL {
        let wd = workdir(version, VALID)?;
        let out = wd.run(&["validate", "-json"])?;
        let json = out.json()?;
        ensure!(out.code == 0 && json["valid"] == true, "{version}: {out}");
        let errors: Vec<&Value> = json["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["severity"] == "error")
            .collect();
        ensure!(errors.is_empty(), "{version}: {errors:?}");
    }
    Ok(())
}

#[test]
fn validate_rejects_bad_input_at_the_attribute() -> Result<()> {
    let config = r#"
resource "k3s_server" "bad_version" {
  host    = "10.0.0.5"
  version = "1.33"
}

resource "k3s_server" "bad_host" {
  host    = "10.0.0.256"
  version = "v1.33.4+k3s1"
}

resource "k3s_server" "bad_enum" {
  host        = "10.0.0.7"
  version     = "v1.33.4+k3s1"
  oci_address = "elastic"
}

resource "k3s_agent" "missing_server_url" {
  host    = "10.0.0.8"
  version = "v1.33.4+k3s1"
  token   = "a-token"
}

resource "k3s_server" "bad_port" {
  host    = "10.0.0.9"
  version = "v1.33.4+k3s1"
  ssh {
    port = 70000
  }
}
"#;
    let source = format!("{REQUIRED_PROVIDERS}\n{config}");
    let line_of = |needle: &str| line_in(&source, needle);
    let expected = [
        (
            "Invalid value for version",
            "not a pinned K3s release",
            line_of("version = \"1.33\""),
        ),
        (
            "Invalid value for host",
            "neither an IP address nor a valid host name",
            line_of("10.0.0.256"),
        ),
        (
            "Invalid value for oci_address",
            "\"elastic\" is not one of private, public",
            line_of("\"elastic\""),
        ),
        (
            "Missing required argument",
            "\"server_url\" is required",
            line_of("\"missing_server_url\""),
        ),
        (
            "Invalid value for port",
            "from 1 to 65535",
            line_of("70000"),
        ),
    ];
    validate_fails_with(config, &expected)
}

/// The 1-based line of `source` that contains `needle`, as Terraform's diagnostics count lines.
fn line_in(source: &str, needle: &str) -> Option<i64> {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i as i64 + 1)
}

/// Runs `terraform validate` of `config` on every Terraform version and checks that it fails
/// with exactly the `expected` errors (summary, a part of the detail, the line it points at).
fn validate_fails_with(config: &str, expected: &[(&str, &str, Option<i64>)]) -> Result<()> {
    for version in TerraformVersion::ALL {
        let wd = workdir(version, config)?;
        let out = wd.run(&["validate", "-json"])?;
        ensure!(
            out.code == 1,
            "{version}: validate exit {}\n{out}",
            out.code
        );
        let json = out.json()?;
        let errors: Vec<&Value> = json["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["severity"] == "error")
            .collect();
        for (summary, detail, line) in expected {
            let found = errors.iter().find(|d| {
                d["summary"] == *summary && d["detail"].as_str().unwrap_or("").contains(detail)
            });
            let found = found.with_context(|| {
                format!("{version}: no error {summary:?} / {detail:?} in {errors:#?}")
            })?;
            // The attribute path reached Terraform: it points at the offending line.
            ensure!(
                found["range"]["start"]["line"].as_i64() == *line,
                "{version}: {summary} at {} not line {line:?}",
                found["range"]
            );
        }
        ensure!(
            errors.len() == expected.len(),
            "{version}: unexpected extra errors {errors:#?}"
        );
    }
    Ok(())
}

/// What K3s (or the kubelet, or Terraform's plan output) would refuse or expose is refused by
/// `terraform validate`, at the attribute: a node role label the kubelet will not register, a
/// taint with no valid effect, a join URL without TLS, a mirror that is not http(s), an empty
/// private key, the token in `config` (it would show in plan output), and an ssh-agent beside
/// a key.
#[test]
fn validate_refuses_what_k3s_would_refuse() -> Result<()> {
    let config = r#"
resource "k3s_server" "role_label" {
  host        = "10.0.0.5"
  version     = "v1.33.4+k3s1"
  node_labels = { "node-role.kubernetes.io/worker" = "true" }
  node_taints = ["dedicated=infra:Sometimes"]
  config      = { token = "in-plain-text" }
}

resource "k3s_agent" "plain_http" {
  host       = "10.0.0.6"
  version    = "v1.33.4+k3s1"
  server_url = "http://10.0.0.5:6443"
  token      = "a-token"
  registry_mirror {
    registry  = "docker.io"
    endpoints = ["ftp://mirror.local"]
  }
  ssh {
    private_key = ""
  }
}

resource "k3s_agent" "agent_and_key" {
  host       = "10.0.0.7"
  version    = "v1.33.4+k3s1"
  server_url = "https://10.0.0.5:6443"
  token      = "a-token"
  ssh {
    private_key_file = "/keys/id"
    use_agent        = true
  }
}
"#;
    let source = format!("{REQUIRED_PROVIDERS}\n{config}");
    let line_of = |needle: &str| line_in(&source, needle);
    let expected = [
        (
            "Invalid node label",
            "the kubelet refuses",
            line_of("node-role.kubernetes.io"),
        ),
        (
            "Invalid node taint",
            "\"Sometimes\" is not one of",
            line_of("Sometimes"),
        ),
        (
            "`token` does not belong in config",
            "plain text",
            line_of("in-plain-text"),
        ),
        (
            "Invalid value for server_url",
            "not an https:// URL",
            line_of("http://10.0.0.5"),
        ),
        (
            "Invalid registry mirror endpoint",
            "ftp://mirror.local",
            line_of("ftp://"),
        ),
        (
            "Empty private key",
            "set but empty",
            line_of("private_key = \"\""),
        ),
        (
            "Conflicting SSH credentials",
            "use_agent = true",
            line_of("use_agent        = true"),
        ),
    ];
    validate_fails_with(config, &expected)
}

/// Settings that would fail only at apply (or never, silently) are refused by `terraform
/// validate`, at the attribute: an air-gap binary without its digest (and a digest without its
/// binary), a digest that is not 64 hex digits, and a compartment list with an OCID of
/// another kind.
#[test]
fn validate_refuses_half_air_gap_settings_bad_digests_and_compartments() -> Result<()> {
    let config = r#"
resource "k3s_server" "binary_alone" {
  host          = "10.0.0.5"
  version       = "v1.33.4+k3s1"
  airgap_binary = "/srv/k3s-binary-alone"
}

resource "k3s_agent" "digest_alone" {
  host                 = "10.0.0.6"
  version              = "v1.33.4+k3s1"
  server_url           = "https://10.0.0.5:6443"
  token                = "a-token"
  airgap_binary_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}

resource "k3s_server" "bad_digest" {
  host                 = "10.0.0.7"
  version              = "v1.33.4+k3s1"
  airgap_binary        = "/srv/k3s"
  airgap_binary_sha256 = "sha256:not-hex"
}

data "k3s_oci_instances" "bad_compartment" {
  compartment_ids = ["ocid1.compartment.oc1..aaaa", "ocid1.instance.oc1.phx.bbbb"]
}
"#;
    let source = format!("{REQUIRED_PROVIDERS}\n{config}");
    let line_of = |needle: &str| line_in(&source, needle);
    let expected = [
        (
            "Incomplete air-gap settings",
            "`airgap_binary` is set without `airgap_binary_sha256`",
            line_of("k3s-binary-alone"),
        ),
        (
            "Incomplete air-gap settings",
            "`airgap_binary_sha256` is set without `airgap_binary`",
            line_of("0123456789abcdef0123"),
        ),
        (
            "Invalid value for airgap_binary_sha256",
            "not a sha256 digest",
            line_of("sha256:not-hex"),
        ),
        (
            "Invalid value for compartment_ids",
            "element 1: ",
            line_of("ocid1.instance.oc1.phx.bbbb"),
        ),
    ];
    validate_fails_with(config, &expected)
}

#[test]
fn plan_shows_computed_attributes_as_known_after_apply() -> Result<()> {
    for version in TerraformVersion::ALL {
        let wd = workdir(version, VALID)?;
        wd.run(&["plan", "-out=tfplan", "-input=false"])?.ok()?;
        let plan = wd.run(&["show", "-json", "tfplan"])?.ok()?.json()?;
        let changes = plan["resource_changes"]
            .as_array()
            .context("no resource changes")?;
        ensure!(changes.len() == 3, "{version}: {} changes", changes.len());
        let server = changes
            .iter()
            .find(|c| c["address"] == "k3s_server.main")
            .context("no server change")?;
        ensure!(
            server["change"]["actions"] == serde_json::json!(["create"]),
            "{version}: {}",
            server["change"]["actions"]
        );
        let unknown = &server["change"]["after_unknown"];
        // What only the node can tell is unknown; config_sha256 too, since the server's token
        // is generated at create.
        for computed in [
            "id",
            "join_token",
            "kubeconfig",
            "node_ready",
            "env_sha256",
            "config_sha256",
        ] {
            ensure!(
                unknown[computed] == true,
                "{version}: {computed} is not unknown: {unknown}"
            );
        }
        // What the configuration decides is known at plan time.
        let after_known = &server["change"]["after"];
        ensure!(
            after_known["installed_version"] == "v1.33.4+k3s1"
                && after_known["service_active"] == true,
            "{version}: installed_version/service_active not planned: {after_known}"
        );
        let after = &server["change"]["after"];
        ensure!(
            after["api_endpoint"] == "https://k3s.example.com:6443",
            "{version}: configured api_endpoint lost"
        );
        ensure!(
            after["drain_timeout"] == "5m" && after["os_prep"] == true,
            "{version}: defaults not planned: {after}"
        );
        ensure!(
            after["config"]["disable"][0] == "traefik",
            "{version}: dynamic config lost: {}",
            after["config"]
        );
        ensure!(
            server["change"]["after_sensitive"]["kubeconfig"] == true,
            "{version}: kubeconfig not sensitive"
        );
        let agent = changes
            .iter()
            .find(|c| c["address"] == "k3s_agent.worker")
            .context("no agent change")?;
        ensure!(
            agent["change"]["after_unknown"]["token"] == true,
            "{version}: token from the server is not unknown"
        );
    }
    Ok(())
}

#[test]
fn terraform_talks_to_the_provider_over_verified_mutual_tls() -> Result<()> {
    for version in [TerraformVersion::V1_15_5, TerraformVersion::V1_6_6] {
        let log = tempfile::NamedTempFile::new()?;
        let wd = workdir(version, VALID)?
            .with_env("TF_LOG_PROVIDER", "DEBUG")
            .with_env("TF_LOG_PATH", log.path().display().to_string());
        wd.run(&["plan", "-input=false"])?.ok()?;
        let text = std::fs::read_to_string(log.path())?;
        ensure!(
            text.contains("tls=true"),
            "{version}: the provider did not serve TLS"
        );
        ensure!(
            text.contains("client certificate verified: it is the one Terraform announced"),
            "{version}: no record of the client certificate being verified"
        );
        ensure!(
            !text.contains("refused a TLS client"),
            "{version}: a client was refused"
        );
    }
    Ok(())
}

#[test]
fn the_documented_examples_are_valid_and_formatted() -> Result<()> {
    let examples = acceptance_tests::terraform::repo_root().join("examples");
    let mut combined = String::from(
        "variable \"git_token\" {\n  type      = string\n  sensitive = true\n}\n\
         variable \"server_host_key\" {\n  type = string\n}\n\
         variable \"deploy_key\" {\n  type      = string\n  sensitive = true\n}\n",
    );
    for dir in [
        "resources/k3s_server",
        "resources/k3s_agent",
        "resources/argocd_bootstrap",
        "data-sources/k3s_oci_instances",
    ] {
        let file = std::fs::read_dir(examples.join(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "tf"))
            .context("no .tf file in the example directory")?;
        combined.push_str(&std::fs::read_to_string(&file)?);
        combined.push('\n');
    }
    for version in [TerraformVersion::V1_15_5, TerraformVersion::V1_6_6] {
        let wd = workdir(version, &combined)?;
        let out = wd.run(&["validate", "-json"])?;
        ensure!(
            out.code == 0,
            "{version}: the examples do not validate:\n{out}"
        );
    }
    let wd = workdir(TerraformVersion::V1_15_5, "")?;
    let dir = examples.display().to_string();
    let fmt = wd.run(&["fmt", "-check", "-recursive", "-diff", &dir])?;
    ensure!(
        fmt.code == 0,
        "examples are not `terraform fmt`-formatted:\n{fmt}"
    );
    Ok(())
}

/// A kubeconfig (escaped for an HCL string) for a cluster that does not answer: nothing listens
/// on 127.0.0.1:1.
const UNANSWERED_KUBECONFIG: &str = "apiVersion: v1\\nkind: Config\\nclusters:\\n- name: c\\n  \
    cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\\nusers:\\n- name: u\\n  \
    user: {token: t}\\ncontexts:\\n- name: c\\n  context: {cluster: c, user: u}\\n\
    current-context: c\\n";

#[test]
fn apply_against_a_cluster_that_does_not_answer_fails_clearly_and_records_nothing() -> Result<()> {
    // The manifest is the shared one, read from disk.
    let kubeconfig = UNANSWERED_KUBECONFIG;
    let config = format!(
        r#"
resource "argocd_bootstrap" "main" {{
  provider     = k3s
  kubeconfig   = "{kubeconfig}"
  version      = "v3.5.1"
  manifest_url = "file://{manifest}"
  root_application {{
    repo_url = "https://git.example.com/platform/cluster.git"
    path     = "apps"
  }}
}}
"#,
        manifest = acceptance_tests::argocd::shared_manifest().display()
    );
    let wd = workdir(TerraformVersion::V1_15_5, &config)?;
    let out = wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    out.failed_with(&["Cannot reach the cluster", "https://127.0.0.1:1"])?;
    let state = wd.run(&["state", "list"])?;
    ensure!(
        state.stdout.trim().is_empty(),
        "state records {:?}",
        state.stdout
    );
    Ok(())
}

#[test]
fn a_health_read_of_a_cluster_that_does_not_answer_fails_naming_where_it_asked() -> Result<()> {
    // A data source has no earlier state to fall back on, so the plan fails, saying where it
    // asked and what to do.
    let kubeconfig = UNANSWERED_KUBECONFIG;
    let config = format!(
        r#"
data "k3s_cluster" "main" {{
  provider   = k3s
  kubeconfig = "{kubeconfig}"
}}
"#
    );
    let wd = workdir(TerraformVersion::V1_15_5, &config)?;
    let out = wd.run(&["plan", "-input=false", "-no-color"])?;
    out.failed_with(&[
        "Cannot read the cluster's health",
        "https://127.0.0.1:1",
        "depends_on",
    ])?;
    ensure!(
        !format!("{}{}", out.stdout, out.stderr).contains("token: t"),
        "the kubeconfig is echoed:\n{out}"
    );
    Ok(())
}

#[test]
fn validate_refuses_argocd_settings_that_would_fail_at_apply() -> Result<()> {
    let config = r#"
resource "argocd_bootstrap" "bad" {
  provider   = k3s
  kubeconfig = "apiVersion: v1"
  version    = "3.5"
  wait_for   = "synced"
  repository {
    name            = "platform"
    url             = "https://git.example.com/platform.git"
    ssh_private_key = "-----BEGIN OPENSSH PRIVATE KEY-----"
  }
  repository {
    name = "charts"
    url  = "http://charts.example.com/repo"
  }
  repository {
    name = "inline"
    url  = "https://bot:tok3n-in-url@git.example.com/platform.git"
  }
  root_application {
    repo_url = "ftp://git.example.com/platform.git"
    path     = "apps"
  }
}

resource "argocd_bootstrap" "no_cluster" {
  provider = k3s
  version  = "v3.5.1"
  root_application {
    repo_url = "https://git.example.com/platform.git"
    path     = "apps"
  }
}
"#;
    let source = format!("{REQUIRED_PROVIDERS}\n{config}");
    let line_of = |needle: &str| line_in(&source, needle);
    let expected = [
        (
            "Invalid value for version",
            "release tag of the form vX.Y.Z",
            line_of("\"3.5\""),
        ),
        (
            "Invalid value for wait_for",
            "\"synced\"",
            line_of("\"synced\""),
        ),
        (
            "SSH key on an https repository",
            "ssh_private_key",
            line_of("BEGIN OPENSSH"),
        ),
        (
            "Invalid value for url",
            "plain http",
            line_of("http://charts"),
        ),
        (
            "Invalid value for url",
            "carries a password or token",
            line_of("tok3n-in-url"),
        ),
        (
            "Invalid value for repo_url",
            "ftp://git.example.com",
            line_of("ftp://"),
        ),
        (
            "Missing cluster access",
            "`server` block",
            line_of("\"no_cluster\""),
        ),
    ];
    validate_fails_with(config, &expected)
}

#[test]
fn debug_mode_serves_terraform_through_reattach() -> Result<()> {
    use std::io::BufRead;
    let binary = provider_dir()?.join("terraform-provider-k3s");
    let mut child = std::process::Command::new(&binary)
        .arg("--debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = (|| -> Result<()> {
        let stdout = child.stdout.take().context("stdout")?;
        let mut reattach = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(value) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
                reattach = Some(value.trim_end_matches('\'').to_owned());
                break;
            }
        }
        let reattach = reattach.context("no TF_REATTACH_PROVIDERS line")?;
        let parsed: Value = serde_json::from_str(&reattach)?;
        ensure!(
            parsed[PROVIDER]["Pid"] == child.id(),
            "reattach names another process: {parsed}"
        );
        let wd =
            workdir(TerraformVersion::V1_15_5, VALID)?.with_env("TF_REATTACH_PROVIDERS", reattach);
        let plan = wd.run(&["plan", "-input=false", "-no-color"])?.ok()?;
        ensure!(
            plan.stdout.contains("3 to add"),
            "unexpected plan through reattach:\n{plan}"
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
