//! Node resources through a real Terraform on a bad day, with 1 server and 3 agents on test-bed
//! nodes:
//! - an agent's link cut (`ip link set eth0 down` in its namespace): `plan` warns, naming the
//!   host, and proposes nothing; `apply` keeps the agent in state; with the link back the plan
//!   is empty;
//! - Ctrl-C (SIGINT to Terraform's process group) while an apply waits for an agent that
//!   never becomes active (a wrong token): the provider stops at once on StopProvider and
//!   Terraform exits; the state is valid and a re-apply converges;
//! - Terraform killed (SIGKILL) in the middle of an apply: its provider exits too;
//! - `destroy` of an agent whose link is cut: bounded, the output says what is left on it, and
//!   its Node object is deleted through the API (with the agent's `kubeconfig`).
//!
//! And, with 1 server and 1 agent, the cluster's health in a `check {}` block
//! (`data "k3s_cluster"` through the server node): the apply passes with no check warning; with
//! the agent's K3s service stopped and its Node marked NotReady by the stand-in's node
//! controller (as Kubernetes' node lifecycle controller does when a kubelet stops posting
//! status), a plain plan plans the agent's repair (deferring the data source and its check to
//! the apply), and a refresh-only plan warns with the failing assertion and the data source reports that node not
//! Ready.
//!
//! The measured times are printed (`measured: …`) for the record; the bounds asserted are
//! loose (10 s) on purpose.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{provider_dir, provider_hcl, TerraformVersion, Workdir};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Context, Result};
use std::time::{Duration, Instant};

const VERSION: &str = "v1.33.4+k3s1";
const LOOSE_BOUND: Duration = Duration::from_secs(10);

fn link(node: &Node, up: bool) -> Result<()> {
    node.exec_ok(&format!(
        "ip link set eth0 {}",
        if up { "up" } else { "down" }
    ))?;
    Ok(())
}

/// Waits until `check` holds, for at most `limit`.
fn wait_until(limit: Duration, what: &str, check: impl Fn() -> bool) -> Result<Duration> {
    let started = Instant::now();
    while !check() {
        ensure!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(started.elapsed())
}

#[test]
fn outages_interruptions_and_dead_hosts_lose_no_node() -> Result<()> {
    let bed = TestBed::builder().nodes(4).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let nodes = bed.nodes();
    let ssh = format!("private_key_file = \"{}\"", bed.client_key_path().display());
    let agents: Vec<String> = nodes[1..]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "    a{i} = {{ host = \"{}\", host_key = \"{}\" }}",
                n.address(),
                n.host_key().public_openssh()
            )
        })
        .collect();
    // `stuck`: agent a0 joins with a wrong token, so its service never becomes active and an
    // apply waits for it (up to `ready_timeout`, 5 minutes by default).
    let write = |label: &str, stuck: bool| -> Result<()> {
        let token = if stuck {
            "each.key == \"a0\" ? \"K10deadbeefdeadbeefdeadbeefdeadbeef::server:wrong\" : k3s_server.main.join_token"
        } else {
            "k3s_server.main.join_token"
        };
        let hcl = provider_hcl(&releases.install_url, &releases.github_url, &ssh)
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
    host_key        = "{server_key}"
    connect_timeout = "5s"
  }}
}}

resource "k3s_agent" "worker" {{
  for_each      = local.agents
  host          = each.value.host
  version       = "{VERSION}"
  server_url    = k3s_server.main.api_endpoint
  token         = {token}
  kubeconfig    = k3s_server.main.kubeconfig
  node_labels   = {{ tier = "{label}" }}
  ssh {{
    host_key        = each.value.host_key
    connect_timeout = "5s"
  }}
}}
"#,
                agents = agents.join("\n"),
                server = nodes[0].address(),
                server_key = nodes[0].host_key().public_openssh(),
            );
        wd.write_file("main.tf", &hcl)?;
        Ok(())
    };
    let apply = || wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let plan = || wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    let state_list = || -> Result<String> { Ok(wd.run(&["state", "list"])?.ok()?.stdout) };
    write("one", false)?;
    apply()?.ok()?;
    let cut = &nodes[2];

    // A link that is down: a warning naming the host, nothing proposed, nothing forgotten.
    link(cut, false)?;
    let outage = plan()?;
    ensure!(outage.code == 0, "plan with a node unreachable:\n{outage}");
    let said = format!("{}{}", outage.stdout, outage.stderr);
    ensure!(
        said.contains(&format!(
            "{} is unreachable; its state is kept",
            cut.address()
        )),
        "no warning naming the host:\n{outage}"
    );
    eprintln!(
        "measured: plan with 1 of 4 hosts unreachable took {:.1}s",
        outage.elapsed.as_secs_f64()
    );
    apply()?.ok()?;
    ensure!(
        state_list()?.contains("k3s_agent.worker[\"a1\"]"),
        "the unreachable agent was dropped"
    );
    link(cut, true)?;
    let healed = plan()?;
    ensure!(healed.code == 0, "plan after the link came back:\n{healed}");

    // Ctrl-C while an apply waits for an agent that never becomes active (a wrong token): the
    // wait ends when Terraform says stop.
    write("one", true)?;
    let stuck = |node: &Node| {
        node.exec("grep -q server:wrong /etc/rancher/k3s/config.yaml")
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let waiting = wd.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    wait_until(
        Duration::from_secs(60),
        "the agent's config.yaml rewritten",
        || stuck(&nodes[1]),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    let interrupted_at = Instant::now();
    waiting.interrupt()?;
    let interrupted = waiting.wait()?;
    let after_interrupt = interrupted_at.elapsed();
    eprintln!(
        "measured: terraform exited {:.2}s after SIGINT during a readiness wait",
        after_interrupt.as_secs_f64()
    );
    ensure!(
        after_interrupt < LOOSE_BOUND,
        "terraform took {after_interrupt:?} to stop after SIGINT:\n{interrupted}"
    );
    ensure!(
        interrupted.code != 0,
        "an interrupted apply succeeded?\n{interrupted}"
    );
    ensure!(
        format!("{}{}", interrupted.stdout, interrupted.stderr).contains("was cancelled"),
        "no word of the cancellation:\n{interrupted}"
    );
    let listed = state_list()?;
    ensure!(
        listed.contains("k3s_server.main") && listed.matches("k3s_agent.worker").count() == 3,
        "{listed}"
    );
    write("one", false)?;
    apply()?.ok()?;
    ensure!(plan()?.code == 0, "plan after the re-apply is not empty");

    // Terraform killed outright: the provider it started goes too.
    write("two", true)?;
    let doomed = wd.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    wait_until(Duration::from_secs(60), "the apply under way", || {
        !doomed.provider_pids().is_empty() && stuck(&nodes[1])
    })?;
    let providers = doomed.provider_pids();
    doomed.kill_terraform()?;
    let orphaned_for = wait_until(
        LOOSE_BOUND,
        "the provider exiting after terraform was killed",
        || {
            providers
                .iter()
                .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        },
    )?;
    eprintln!(
        "measured: the provider exited {:.2}s after terraform was SIGKILLed",
        orphaned_for.as_secs_f64()
    );
    let _ = doomed.wait();
    write("two", false)?;
    apply()?.ok()?;

    // Destroying an agent whose host is gone: bounded, the output says what stays there, and
    // its Node object is deleted through the API from this machine with its kubeconfig.
    let cut_name = cut.exec_ok("hostname")?.trim().to_owned();
    let cluster_nodes = || nodes[0].exec_ok("k3s kubectl get nodes -o name");
    ensure!(cluster_nodes()?.contains(&format!("node/{cut_name}")));
    link(cut, false)?;
    let gone = wd.run(&[
        "destroy",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-target=k3s_agent.worker[\"a1\"]",
    ])?;
    let gone = gone.ok()?;
    let said = format!("{}{}", gone.stdout, gone.stderr);
    ensure!(said.contains("1 destroyed"), "{gone}");
    ensure!(
        said.contains(&format!(
            "{} is unreachable; K3s was not uninstalled",
            cut.address()
        )) && said.contains("join token"),
        "the output does not say what is left on the host:\n{gone}"
    );
    eprintln!(
        "measured: destroy of an unreachable agent took {:.1}s",
        gone.elapsed.as_secs_f64()
    );
    let flat = said.split_whitespace().collect::<Vec<_>>().join(" ");
    ensure!(
        flat.contains(&format!("{cut_name:?} was deleted through the API")),
        "the output does not say the Node object was deleted:\n{gone}"
    );
    let listed = cluster_nodes()?;
    ensure!(
        !listed.contains(&format!("node/{cut_name}")),
        "the unreachable agent's Node object is still in the cluster:\n{listed}"
    );
    ensure!(!state_list()?.contains("k3s_agent.worker[\"a1\"]"));
    link(cut, true)?;

    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    Ok(())
}

/// A flattened transcript: Terraform wraps diagnostics to the terminal's width.
fn flat(run: &acceptance_tests::terraform::TfRun) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `data.k3s_cluster.main` values in a `show -json` of a plan or of the state.
fn cluster_data(shown: &serde_json::Value) -> Option<serde_json::Value> {
    [&shown["prior_state"]["values"], &shown["values"]]
        .into_iter()
        .flat_map(|values| {
            values["root_module"]["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|r| r["address"] == "data.k3s_cluster.main")
        .map(|r| r["values"].clone())
}

#[test]
fn cluster_health_checks_warn_when_a_node_stops() -> Result<()> {
    let bed = TestBed::builder().nodes(2).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[VERSION])?;
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let nodes = bed.nodes();
    let (server, agent) = (&nodes[0], &nodes[1]);
    let ssh = format!("private_key_file = \"{}\"", bed.client_key_path().display());
    let hcl = provider_hcl(&releases.install_url, &releases.github_url, &ssh)
        + &format!(
            r#"
resource "k3s_server" "main" {{
  host    = "{server}"
  version = "{VERSION}"
  ssh {{
    host_key        = "{server_key}"
    connect_timeout = "5s"
  }}
}}

resource "k3s_agent" "worker" {{
  host       = "{agent}"
  version    = "{VERSION}"
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
  kubeconfig = k3s_server.main.kubeconfig
  ssh {{
    host_key        = "{agent_key}"
    connect_timeout = "5s"
  }}
}}

data "k3s_cluster" "main" {{
  server {{
    host = k3s_server.main.host
    ssh {{
      host_key        = "{server_key}"
      connect_timeout = "5s"
    }}
  }}
  wait_for_ready = "20s"
  depends_on     = [k3s_server.main, k3s_agent.worker]
}}

check "cluster_health" {{
  assert {{
    condition     = data.k3s_cluster.main.all_ready
    error_message = "Nodes not Ready: ${{join(", ", [for n in data.k3s_cluster.main.nodes : n.name if !n.ready])}}."
  }}
}}
"#,
            server = server.address(),
            server_key = server.host_key().public_openssh(),
            agent = agent.address(),
            agent_key = agent.host_key().public_openssh(),
        );
    wd.write_file("main.tf", &hcl)?;
    let tf = |args: &[&str]| wd.run(args);

    // Created in one apply: the data source is read after the nodes exist, and the check holds.
    let applied = tf(&["apply", "-auto-approve", "-input=false", "-no-color"])?.ok()?;
    ensure!(
        !flat(&applied).contains("Check block assertion failed"),
        "the check warned on a healthy cluster:\n{applied}"
    );
    let state = tf(&["show", "-json"])?.ok()?.json()?;
    let healthy = cluster_data(&state).context("no data.k3s_cluster.main in the state")?;
    ensure!(
        healthy["all_ready"] == true
            && healthy["total_nodes"] == 2
            && healthy["ready_nodes"] == 2
            && healthy["api_ready"] == true,
        "health after apply: {healthy:#}"
    );
    ensure!(
        healthy["api_checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "ping ok")),
        "no readiness checks: {healthy:#}"
    );
    let agent_name = agent.exec_ok("hostname")?.trim().to_owned();
    let listed = healthy["nodes"].as_array().context("no nodes")?;
    let by_name = |name: &str| listed.iter().find(|n| n["name"] == name).cloned();
    let server_row =
        by_name(server.exec_ok("hostname")?.trim()).context("the server's Node is not listed")?;
    let agent_row = by_name(&agent_name).context("the agent's Node is not listed")?;
    ensure!(
        server_row["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "control-plane"))
            && agent_row["roles"] == serde_json::json!([])
            && agent_row["internal_ip"] == agent.address().to_string()
            && agent_row["kubelet_version"] == VERSION,
        "node rows: {listed:#?}"
    );

    // The agent's K3s stops: its kubelet no longer posts status, and the stand-in's node
    // controller marks the Node NotReady after its grace period (20 s).
    agent.exec_ok("systemctl stop k3s-agent")?;
    let ready_status = || {
        server
            .exec_ok(&format!(
                "k3s kubectl get node {agent_name} -o jsonpath='{{.status.conditions[?(@.type==\"Ready\")].status}}'"
            ))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let marked = wait_until(Duration::from_secs(90), "the agent's Node NotReady", || {
        let status = ready_status();
        !status.is_empty() && status != "True"
    })?;
    eprintln!(
        "measured: the Node was marked NotReady {:.1}s after its agent stopped",
        marked.as_secs_f64()
    );

    // A plain plan plans the agent's repair (its service is not active); the data source
    // depends on the agent, so Terraform defers reading it, and the check, to the apply.
    let plan = tf(&["plan", "-detailed-exitcode", "-input=false", "-no-color"])?;
    ensure!(
        plan.code == 2 && flat(&plan).contains("k3s_agent.worker will be updated in-place"),
        "the stopped agent does not show:\n{plan}"
    );
    ensure!(
        !flat(&plan).contains("Check block assertion failed"),
        "the check was evaluated although the data source waits for the agent's repair:\n{plan}"
    );
    // A refresh-only plan reads it now: the check warns, naming the node.
    let refreshed = tf(&[
        "plan",
        "-refresh-only",
        "-input=false",
        "-no-color",
        "-out=refresh.tfplan",
    ])?
    .ok()?;
    let said = flat(&refreshed);
    ensure!(
        said.contains("Warning: Check block assertion failed")
            && said.contains(&format!("Nodes not Ready: {agent_name}.")),
        "no check warning naming the node:\n{refreshed}"
    );
    let shown = tf(&["show", "-json", "refresh.tfplan"])?.ok()?.json()?;
    let sick = cluster_data(&shown).context("no data.k3s_cluster.main in the plan")?;
    let agent_row = sick["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == agent_name.as_str()))
        .with_context(|| format!("the agent's Node is not listed: {sick:#}"))?;
    ensure!(
        sick["all_ready"] == false
            && sick["ready_nodes"] == 1
            && sick["total_nodes"] == 2
            && agent_row["ready"] == false,
        "health with the agent stopped: {sick:#}"
    );
    ensure!(
        agent_row["taints"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t
                .as_str()
                .is_some_and(|t| t.starts_with("node.kubernetes.io/unreachable:")))),
        "the NotReady node carries no unreachable taint: {agent_row:#}"
    );
    Ok(())
}
