//! OCI through a real Terraform, against the local HTTPS fake OCI endpoint (which verifies
//! every request's signature and date and serves the reference cluster's fixtures):
//! - `k3s_oci_instances` lists instances across two profiles (two tenancies) with tag filters,
//!   terminated ones excluded, and survives a storm of 429s with backoff;
//! - a `k3s_agent` created by `oci_instance_id` lands on the test-bed node whose private IP the
//!   instance has, joins the `nlb_backend` set (work requests polled), re-adds a backend
//!   removed behind Terraform's back, reads as gone once its instance is terminated, and on
//!   import by instance OCID leaves only connection settings to apply;
//!   destroy leaves the backend set and uninstalls K3s;
//! - a wrong fingerprint, a key OCI does not know and a stale date each fail `terraform plan`
//!   with an error naming the cause, and no private key text reaches Terraform's output or
//!   its debug log.
//!
//! Traffic goes only to 127.0.0.1 and the test bed's own nodes.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::oci::fake::{FakeOci, Fault};
use acceptance_tests::oci::fixtures::{
    generate_api_key, Credentials, Fixtures, Instance, COMPARTMENT_A, COMPARTMENT_B, NLB_ID,
};
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, TerraformVersion, Workdir, REQUIRE_K3S};
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};

const VERSION: &str = "v1.33.4+k3s1";
const REGION: &str = "us-phoenix-1";
const BACKEND_SET: &str = "k3s-https";

/// Writes an OCI config file with a profile per `(name, credentials)` into `dir`, each key in
/// its own 0600 file; returns the config file's path.
fn write_oci_config(dir: &Path, profiles: &[(&str, &Credentials)]) -> Result<PathBuf> {
    let mut config = String::new();
    for (name, credentials) in profiles {
        let key = dir.join(format!("{}.pem", name.to_ascii_lowercase()));
        credentials.write_private_key(&key)?;
        config.push_str(&credentials.config_profile(name, &key, REGION));
        config.push('\n');
    }
    let path = dir.join("oci-config");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// The provider's `oci_profile` block for a profile of the config file.
fn profile_block(name: &str, profile: &str) -> String {
    format!(
        r#"
  oci_profile {{
    name                = "{name}"
    config_file         = var.oci_config_file
    profile             = "{profile}"
    endpoint            = var.oci_endpoint
    ca_certificate_file = var.oci_ca_file
  }}"#
    )
}

const OCI_VARIABLES: &str = r#"
variable "oci_config_file" { type = string }
variable "oci_endpoint" { type = string }
variable "oci_ca_file" { type = string }
"#;

/// The common variables for the fake: its URL, its CA and the config file.
fn oci_vars(wd: &Workdir, fake: &FakeOci, config: &Path) -> Result<serde_json::Value> {
    let ca = wd.write_file("fake-oci-ca.pem", fake.ca_pem())?;
    Ok(serde_json::json!({
        "oci_config_file": config.display().to_string(),
        "oci_endpoint": fake.url(),
        "oci_ca_file": ca.display().to_string(),
    }))
}

fn every_request_verified(fake: &FakeOci) -> Result<()> {
    let requests = fake.requests();
    ensure!(!requests.is_empty(), "the fake saw no request");
    for r in &requests {
        ensure!(
            r.auth.is_ok(),
            "{} {} failed verification: {:?}",
            r.method,
            r.target,
            r.auth
        );
    }
    Ok(())
}

/// (id, profile, private_ip, public_ip) of an output list of instances.
fn listed(output: &serde_json::Value) -> Vec<(String, String, String, Option<String>)> {
    output["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_owned(),
                i["profile"].as_str().unwrap_or_default().to_owned(),
                i["private_ip"].as_str().unwrap_or_default().to_owned(),
                i["public_ip"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn data_source_lists_instances_across_two_profiles_through_a_429_storm() -> Result<()> {
    let (mut fixtures, [a, b]) = Fixtures::reference_cluster()?;
    // One instance a page, so every listing follows `opc-next-page`.
    fixtures.page_size = 1;
    let fake = FakeOci::start(fixtures)?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let config = write_oci_config(wd.path(), &[("TENANCY_A", &a), ("TENANCY_B", &b)])?;
    let main_tf = format!(
        r#"{REQUIRE_K3S}{OCI_VARIABLES}
provider "k3s" {{{}{}
}}

data "k3s_oci_instances" "agents" {{
  compartment_ids = ["{COMPARTMENT_A}", "{COMPARTMENT_B}"]
  freeform_tags   = {{ "k3s-role" = "agent" }}
}}

data "k3s_oci_instances" "prod_in_a" {{
  compartment_id = "{COMPARTMENT_A}"
  profiles       = ["a"]
  defined_tags   = {{ "k3s.cluster" = "prod" }}
}}

output "agents" {{ value = data.k3s_oci_instances.agents.instances }}
output "prod_in_a" {{ value = data.k3s_oci_instances.prod_in_a.instances }}
"#,
        profile_block("a", "TENANCY_A"),
        profile_block("b", "TENANCY_B"),
    );
    wd.write_file("main.tf", &main_tf)?;
    wd.write_file(
        "terraform.tfvars.json",
        &oci_vars(&wd, &fake, &config)?.to_string(),
    )?;

    // Three 429s (Retry-After: 1) on the first ListInstances calls: backoff gets through.
    fake.inject(Fault::too_many_requests("GET", "/20160918/instances", 3));
    wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    let outputs = wd.run(&["output", "-json"])?.ok()?.json()?;

    let agents = listed(&outputs["agents"]);
    let expected = [
        ("ocid1.instance.oc1.phx.worker1", "a", "10.0.0.11", None),
        ("ocid1.instance.oc1.phx.worker2", "b", "10.1.0.12", None),
        ("ocid1.instance.oc1.phx.worker3", "b", "10.1.0.13", None),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(id, p, ip, public)| {
            (
                id.to_string(),
                p.to_string(),
                ip.to_string(),
                public.map(str::to_owned),
            )
        })
        .collect();
    ensure!(
        agents == expected,
        "agents across both tenancies (terminated worker0 excluded): {agents:?}"
    );
    let prod = listed(&outputs["prod_in_a"]);
    ensure!(
        prod == vec![
            (
                "ocid1.instance.oc1.phx.server1".to_owned(),
                "a".to_owned(),
                "10.0.0.241".to_owned(),
                Some("192.0.2.10".to_owned())
            ),
            (
                "ocid1.instance.oc1.phx.worker1".to_owned(),
                "a".to_owned(),
                "10.0.0.11".to_owned(),
                None
            ),
        ],
        "defined-tag filter in tenancy A: {prod:?}"
    );

    every_request_verified(&fake)?;
    let requests = fake.requests();
    let key_ids: std::collections::BTreeSet<_> =
        requests.iter().filter_map(|r| r.key_id()).collect();
    ensure!(
        key_ids.contains(a.key_id().as_str()) && key_ids.contains(b.key_id().as_str()),
        "both tenancies' keys signed requests: {key_ids:?}"
    );
    let listing: Vec<u16> = requests
        .iter()
        .filter(|r| r.path() == "/20160918/instances")
        .map(|r| r.status)
        .collect();
    ensure!(
        listing.len() > 4 && listing[..3] == [429, 429, 429] && listing[3] == 200,
        "ListInstances answers: {listing:?}"
    );
    ensure!(
        requests
            .iter()
            .any(|r| r.target.contains("page=") && r.path() == "/20160918/instances"),
        "listing followed opc-next-page"
    );

    // Nothing changes: the plan after is empty.
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(plan.code == 0, "plan after apply:\n{plan}");
    Ok(())
}

/// Lines of a PEM key's body long enough not to occur by chance.
fn key_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 40)
        .map(str::to_owned)
        .collect()
}

#[test]
fn wrong_fingerprint_unknown_key_and_stale_date_fail_plan_clearly_without_leaking_keys(
) -> Result<()> {
    let (fixtures, [a, b]) = Fixtures::reference_cluster()?;
    let fake = FakeOci::start(fixtures)?;
    let log = tempfile::NamedTempFile::new()?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?
        .with_env("TF_LOG", "DEBUG")
        .with_env("TF_LOG_PATH", log.path().display().to_string());
    // A profile whose fingerprint is tenancy B's key's, with tenancy A's key.
    let wrong_fingerprint = Credentials {
        key: acceptance_tests::oci::fixtures::ApiKey {
            fingerprint: b.key.fingerprint.clone(),
            ..a.key.clone()
        },
        ..a.clone()
    };
    // A key of its own, consistent with its fingerprint, that OCI never saw.
    let unknown = Credentials {
        key: generate_api_key()?,
        ..a.clone()
    };
    let config = write_oci_config(
        wd.path(),
        &[("GOOD", &a), ("WRONG_FINGERPRINT", &wrong_fingerprint)],
    )?;
    let mut vars = oci_vars(&wd, &fake, &config)?;
    vars["unknown_key"] = unknown.key.private_key_pem.clone().into();
    vars["unknown_fingerprint"] = unknown.key.fingerprint.clone().into();
    wd.write_file("terraform.tfvars.json", &vars.to_string())?;
    let data = format!(
        r#"
data "k3s_oci_instances" "all" {{
  compartment_id = "{COMPARTMENT_A}"
}}
output "count" {{ value = length(data.k3s_oci_instances.all.instances) }}
"#
    );
    let extra_vars = r#"
variable "unknown_key" {
  type      = string
  sensitive = true
}
variable "unknown_fingerprint" { type = string }
"#;
    let with_profile = |block: &str| -> Result<()> {
        wd.write_file(
            "main.tf",
            &format!(
                "{REQUIRE_K3S}{OCI_VARIABLES}{extra_vars}\nprovider \"k3s\" {{{block}\n}}\n{data}"
            ),
        )?;
        Ok(())
    };
    let plan = || wd.run(&["plan", "-input=false", "-no-color"]);
    let mut transcript = String::new();

    // The configured fingerprint is not the key's: refused before any call.
    with_profile(&profile_block("a", "WRONG_FINGERPRINT"))?;
    let before = fake.requests().len();
    let run = plan()?;
    run.failed_with(&[
        "OCI profile \"a\" cannot be used",
        &format!("the fingerprint {}", b.key.fingerprint),
        "does not belong to the private key",
        &a.key.fingerprint,
    ])?;
    ensure!(
        fake.requests().len() == before,
        "a request went out with a mismatched fingerprint"
    );
    transcript.push_str(&run.stdout);
    transcript.push_str(&run.stderr);

    // A key OCI does not know (given inline, as a sensitive value): 401 with the reason.
    with_profile(&format!(
        r#"
  oci_profile {{
    name                = "a"
    tenancy             = "{}"
    user                = "{}"
    fingerprint         = var.unknown_fingerprint
    region              = "{REGION}"
    private_key         = var.unknown_key
    endpoint            = var.oci_endpoint
    ca_certificate_file = var.oci_ca_file
  }}"#,
        a.tenancy, a.user
    ))?;
    let run = plan()?;
    run.failed_with(&[
        "HTTP 401 NotAuthenticated",
        "No API key is registered for keyId",
        "key not uploaded",
    ])?;
    transcript.push_str(&run.stdout);
    transcript.push_str(&run.stderr);

    // The right key, but the service's clock is 15 minutes ahead: the date is stale.
    with_profile(&profile_block("a", "GOOD"))?;
    fake.set_clock_offset(900);
    let run = plan()?;
    run.failed_with(&[
        "HTTP 401 NotAuthenticated",
        "is not within allowed clock skew of 300s",
        "clock skew",
    ])?;
    transcript.push_str(&run.stdout);
    transcript.push_str(&run.stderr);
    fake.set_clock_offset(0);
    wd.run(&["plan", "-input=false", "-no-color"])?.ok()?;

    let log_text = std::fs::read_to_string(log.path()).context("reading the debug log")?;
    ensure!(
        log_text.contains("OCI call"),
        "the debug log has no provider lines"
    );
    for (what, pem) in [
        ("tenancy A's key", &a.key.private_key_pem),
        ("the unknown key", &unknown.key.private_key_pem),
    ] {
        for line in key_lines(pem) {
            ensure!(
                !transcript.contains(&line),
                "{what} appears in Terraform's output"
            );
            ensure!(!log_text.contains(&line), "{what} appears in the debug log");
        }
    }
    ensure!(!log_text.contains("PRIVATE KEY-----\\n") && !transcript.contains("PRIVATE KEY"));
    Ok(())
}

#[test]
fn agent_by_oci_instance_joins_its_node_and_the_load_balancer() -> Result<()> {
    let bed = TestBed::builder().nodes(2).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let (server, agent) = (&bed.nodes()[0], &bed.nodes()[1]);
    let agent_ip = agent.address().to_string();
    let instance_id = "ocid1.instance.oc1.phx.testbedworker";
    let (mut fixtures, [a, _b]) = Fixtures::reference_cluster()?;
    fixtures.instances.push(
        Instance::new(instance_id, COMPARTMENT_A, "k3s-testbed-worker", &agent_ip)
            .with_freeform_tag("k3s-role", "agent"),
    );
    let fake = FakeOci::start(fixtures)?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let config = write_oci_config(wd.path(), &[("TENANCY_A", &a)])?;
    let main_tf = format!(
        r#"{REQUIRE_K3S}{OCI_VARIABLES}
variable "server_host" {{ type = string }}
variable "server_host_key" {{ type = string }}
variable "agent_instance" {{ type = string }}
variable "agent_host_key" {{ type = string }}
variable "private_key_file" {{ type = string }}
variable "installer_url" {{ type = string }}
variable "release_base_url" {{ type = string }}
variable "known_hosts_file" {{ type = string }}

provider "k3s" {{
  installer_url    = var.installer_url
  release_base_url = var.release_base_url
  ssh {{
    private_key_file = var.private_key_file
    # What `terraform import` verifies host keys with (a resource's `ssh` block is not
    # available to it).
    known_hosts_file = var.known_hosts_file
  }}{}
}}

resource "k3s_server" "main" {{
  host    = var.server_host
  version = "{VERSION}"
  ssh {{
    host_key = var.server_host_key
  }}
}}

resource "k3s_agent" "worker" {{
  oci_instance_id = var.agent_instance
  version         = "{VERSION}"
  server_url      = k3s_server.main.api_endpoint
  token           = k3s_server.main.join_token
  kubeconfig      = k3s_server.main.kubeconfig
  ssh {{
    host_key = var.agent_host_key
  }}
  nlb_backend {{
    network_load_balancer_id = "{NLB_ID}"
    backend_set_name         = "{BACKEND_SET}"
    port                     = 443
  }}
}}

output "backend" {{ value = k3s_agent.worker.nlb_backend_name }}
"#,
        profile_block("a", "TENANCY_A")
    );
    wd.write_file("main.tf", &main_tf)?;
    let mut vars = oci_vars(&wd, &fake, &config)?;
    for (k, v) in [
        ("server_host", server.address().to_string()),
        (
            "server_host_key",
            server.host_key().public_openssh().to_owned(),
        ),
        ("agent_instance", instance_id.to_owned()),
        (
            "agent_host_key",
            agent.host_key().public_openssh().to_owned(),
        ),
        (
            "private_key_file",
            bed.client_key_path().display().to_string(),
        ),
        ("installer_url", releases.install_url.clone()),
        ("release_base_url", releases.github_url.clone()),
        (
            "known_hosts_file",
            bed.known_hosts_path().display().to_string(),
        ),
    ] {
        vars[k] = v.into();
    }
    wd.write_file("terraform.tfvars.json", &vars.to_string())?;
    let apply = || wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let plan = || wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    let backend_name = format!("{agent_ip}:443");
    let members = || -> Result<Vec<String>> {
        Ok(fake
            .backends(NLB_ID, BACKEND_SET)?
            .into_iter()
            .map(|b| b.name)
            .collect())
    };

    apply()?.ok()?;
    ensure!(
        agent.exec_ok("systemctl is-active k3s-agent")?.trim() == "active",
        "the agent is not on the instance's node"
    );
    ensure!(
        server
            .exec_ok("systemctl is-active k3s-agent || true")?
            .trim()
            != "active",
        "the agent landed on the server's node"
    );
    ensure!(
        members()? == vec![backend_name.clone()],
        "backend set: {:?}",
        members()?
    );
    let created: Vec<_> = fake
        .work_requests()
        .into_iter()
        .filter(|w| w.operation == "CREATE_BACKEND")
        .collect();
    ensure!(
        created.len() == 1 && created[0].polls >= 2 && created[0].status == "SUCCEEDED",
        "create work request: {created:?}"
    );
    let output = wd.run(&["output", "-raw", "backend"])?.ok()?;
    ensure!(output.stdout.trim() == backend_name, "{}", output.stdout);
    let first = plan()?;
    ensure!(first.code == 0, "plan after apply:\n{first}");

    // The backend removed behind Terraform's back: the plan re-adds it.
    fake.set_backends(NLB_ID, BACKEND_SET, Vec::new())?;
    let drift = plan()?;
    ensure!(
        drift.code == 2 && drift.stdout.contains("nlb_backend_present"),
        "drift in backend membership not planned:\n{drift}"
    );
    apply()?.ok()?;
    ensure!(members()? == vec![backend_name.clone()], "not re-added");

    // A terminated instance reads as gone: the agent is planned to be created.
    fake.set_instance_state(instance_id, "TERMINATED")?;
    let gone = plan()?;
    ensure!(
        gone.code == 2 && gone.stdout.contains("k3s_agent.worker will be created"),
        "terminated instance:\n{gone}"
    );
    fake.set_instance_state(instance_id, "RUNNING")?;

    // Import by instance OCID: the agent, forgotten, comes back from the node. What is not on
    // the node (the pinned host key, the kubeconfig, the load balancer block) is all the first
    // plan changes, in place; after that apply the plan is empty.
    wd.run(&["state", "rm", "k3s_agent.worker"])?.ok()?;
    wd.run(&[
        "import",
        "-input=false",
        "-no-color",
        "k3s_agent.worker",
        instance_id,
    ])?
    .ok()?;
    let state = wd.run(&["show", "-json"])?.ok()?.json()?;
    let imported = state["values"]["root_module"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["address"] == "k3s_agent.worker"))
        .map(|r| r["values"].clone())
        .unwrap_or_default();
    ensure!(
        imported["oci_instance_id"] == instance_id
            && imported["host"].is_null()
            && imported["server_url"] == format!("https://{}:6443", server.address()).as_str()
            && imported["version"] == VERSION,
        "imported state: id {} host {} server_url {} version {}",
        imported["oci_instance_id"],
        imported["host"],
        imported["server_url"],
        imported["version"]
    );
    let after_import = wd.run(&["plan", "-input=false", "-no-color", "-out=import.tfplan"])?;
    ensure!(after_import.code == 0, "{after_import}");
    let planned = wd.run(&["show", "-json", "import.tfplan"])?.ok()?.json()?;
    for change in planned["resource_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let c = &change["change"];
        if c["actions"] == serde_json::json!(["no-op"]) {
            continue;
        }
        ensure!(
            change["address"] == "k3s_agent.worker"
                && c["actions"] == serde_json::json!(["update"]),
            "unexpected change after import: {} {}",
            change["address"],
            c["actions"]
        );
        let changed: Vec<String> = c["after"]
            .as_object()
            .map(|after| {
                after
                    .keys()
                    .filter(|k| c["before"][k.as_str()] != after[k.as_str()])
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let allowed = [
            "ssh",
            "kubeconfig",
            "nlb_backend",
            "nlb_backend_name",
            "nlb_backend_present",
        ];
        ensure!(
            changed.iter().all(|k| allowed.contains(&k.as_str())),
            "the import left more than connection settings to change: {changed:?}"
        );
    }
    apply()?.ok()?;
    let settled = plan()?;
    ensure!(
        settled.code == 0,
        "plan after applying the import:\n{settled}"
    );
    ensure!(
        members()? == vec![backend_name.clone()],
        "membership after import"
    );

    // Destroy: the backend is removed (work request polled) and K3s uninstalled.
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    ensure!(members()?.is_empty(), "backend left: {:?}", members()?);
    let deleted: Vec<_> = fake
        .work_requests()
        .into_iter()
        .filter(|w| w.operation == "DELETE_BACKEND")
        .collect();
    ensure!(
        !deleted.is_empty() && deleted.iter().all(|w| w.polls >= 2),
        "delete work request: {deleted:?}"
    );
    ensure!(
        agent
            .exec_ok("ls /usr/local/bin/k3s 2>/dev/null || true")?
            .trim()
            .is_empty(),
        "K3s is still on the agent's node"
    );
    every_request_verified(&fake)?;
    ensure!(
        fake.requests()
            .iter()
            .any(|r| r.path().starts_with("/20200501/workRequests/")),
        "no work request was polled"
    );
    Ok(())
}
