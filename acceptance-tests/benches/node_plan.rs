//! Node plan benchmark: how long `terraform plan` (refresh included) takes for a cluster of one
//! `k3s_server` and eight `k3s_agent`s (each with `kubeconfig = k3s_server.main.kubeconfig`, so
//! every refresh also reads `node_ready` through the API reached through the node), next to
//! the floor of what any refresh of nine nodes must do, measured in the same run: OpenSSH's
//! `ssh` making one connection and one read (`cat /etc/rancher/k3s/config.yaml`) per node, all
//! nine in parallel.
//!
//! It boots nine test-bed nodes, publishes the stand-in K3s, applies the configuration with the
//! real Terraform wrapper (untimed), checks that a plan is empty, then times `BENCH_PLANS`
//! plans with refresh, as many with `-refresh=false` (Terraform and the provider starting and
//! planning without going to the nodes, to show what the refresh itself costs) and as many
//! rounds of the floor, and prints the medians and the ratio plan / floor. It asserts nothing
//! about time; it exits non-zero only when a measurement could not be made (a plan that is not
//! empty is one).
//!
//! Run as root with `cargo bench -p acceptance-tests --bench node_plan`. Settings, all from
//! the environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `K3S_PROVIDER_DIR` | directory of the provider binary (e.g. `target/release` after `cargo build --release -p terraform-provider-k3s`) | `target/debug`, rebuilt first |
//! | `BENCH_PLANS` | timed runs of each measurement | 5 |
//! | `K3S_TF_VERSION` | Terraform version run by `scripts/terraform` | 1.15.5 |

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{
    provider_dir, provider_hcl, TerraformVersion, Workdir, PROVIDER_BINARY,
};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{bail, ensure, Context, Result};
use std::process::{Command, Stdio};
use std::time::Instant;

const VERSION: &str = "v1.33.4+k3s1";
/// One server and this many agents.
const AGENTS: usize = 8;

fn main() -> Result<()> {
    let runs = match std::env::var("BENCH_PLANS") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<usize>()
            .context("BENCH_PLANS is not a number")?,
        _ => 5,
    };
    ensure!(runs > 0, "BENCH_PLANS must be at least 1");
    let tf_version = TerraformVersion::from_env()?;
    let provider = provider_dir()?;
    let binary = provider.join(PROVIDER_BINARY);
    ensure!(
        binary.is_file(),
        "no provider binary at {}",
        binary.display()
    );

    let started = Instant::now();
    let bed = TestBed::builder().nodes(1 + AGENTS).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let wd = Workdir::new(tf_version, &provider)?;
    wd.write_file("main.tf", &configuration(&bed, &releases))?;
    println!(
        "node_plan: 1 k3s_server + {AGENTS} k3s_agent on {} test-bed nodes; Terraform {tf_version}; provider {}",
        bed.nodes().len(),
        binary.display()
    );

    let applied = wd
        .run(&["apply", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    println!(
        "apply (untimed setup): {:.1} s; nodes booted and applied after {:.1} s",
        applied.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Warm-up, and the check that what is measured is a steady state: an empty plan.
    plan(&wd, &[])?;

    let mut with_refresh = Vec::new();
    let mut without_refresh = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..runs {
        with_refresh.push(plan(&wd, &[])?);
        without_refresh.push(plan(&wd, &["-refresh=false"])?);
        floor.push(ssh_floor(bed.nodes())?);
    }
    let plan_s = median(&mut with_refresh);
    let no_refresh_s = median(&mut without_refresh);
    let floor_s = median(&mut floor);
    let runs_of = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("medians of {runs} runs (seconds; every run listed, sorted):");
    println!(
        "  terraform plan (refresh included)          {plan_s:>8.3} s   [{}]",
        runs_of(&with_refresh)
    );
    println!(
        "  terraform plan -refresh=false              {no_refresh_s:>8.3} s   [{}]",
        runs_of(&without_refresh)
    );
    println!(
        "  floor: ssh connect + cat, 9 nodes parallel {floor_s:>8.3} s   [{}]",
        runs_of(&floor)
    );
    println!(
        "  ratio plan / floor                         {:>8.1}",
        plan_s / floor_s
    );
    println!(
        "  refresh share: plan - plan -refresh=false  {:>8.3} s ({:.1} x the floor)",
        plan_s - no_refresh_s,
        (plan_s - no_refresh_s) / floor_s
    );
    Ok(())
}

/// The configuration: the provider installing from the artifact server, one server, and the
/// agents joined to it with its kubeconfig.
fn configuration(bed: &TestBed, releases: &K3sReleases) -> String {
    let nodes = bed.nodes();
    let ssh = format!("private_key_file = \"{}\"", bed.client_key_path().display());
    let agents: Vec<String> = nodes[1..]
        .iter()
        .map(|n| {
            format!(
                "    \"{}\" = {{ host = \"{}\", host_key = \"{}\" }}",
                n.name(),
                n.address(),
                n.host_key().public_openssh()
            )
        })
        .collect();
    provider_hcl(&releases.install_url, &releases.github_url, &ssh)
        + &format!(
            r#"
locals {{
  agents = {{
{agents}
  }}
}}

resource "k3s_server" "main" {{
  host    = "{server}"
  version = "{VERSION}"
  ssh {{
    host_key = "{server_key}"
  }}
}}

resource "k3s_agent" "worker" {{
  for_each   = local.agents
  host       = each.value.host
  version    = "{VERSION}"
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
  kubeconfig = k3s_server.main.kubeconfig
  ssh {{
    host_key = each.value.host_key
  }}
}}
"#,
            agents = agents.join("\n"),
            server = nodes[0].address(),
            server_key = nodes[0].host_key().public_openssh(),
        )
}

/// One `terraform plan` (with `extra` arguments), in seconds; it must plan no change.
fn plan(wd: &Workdir, extra: &[&str]) -> Result<f64> {
    let mut args = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
    args.extend_from_slice(extra);
    let run = wd.run(&args)?;
    if run.code != 0 {
        bail!("the plan is not empty (or failed), so it measures no steady state:\n{run}");
    }
    Ok(run.elapsed.as_secs_f64())
}

/// One round of the floor: a fresh OpenSSH connection to every node at once, each reading
/// config.yaml; the seconds until the last one is done.
fn ssh_floor(nodes: &[Node]) -> Result<f64> {
    let started = Instant::now();
    let children = nodes
        .iter()
        .map(|node| {
            Command::new("ssh")
                .args(node.ssh_args("root"))
                .arg("--")
                .arg("cat /etc/rancher/k3s/config.yaml")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("running ssh to {}", node.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    for (child, node) in children.into_iter().zip(nodes) {
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success() && !out.stdout.is_empty(),
            "ssh to {} did not read config.yaml ({}): {}",
            node.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Sorts `values` and returns their median.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
