//! k3s_server and k3s_agent through a real Terraform on test-bed nodes with the stand-in K3s,
//! on the newest supported Terraform and on the oldest (the latter with `TF_LOG=TRACE` for
//! the whole run, scanned for secrets afterwards):
//! `examples/local-sandbox` applies, the next plan is empty with and without refresh, the
//! nodes are Ready through the API, drift on a node shows in the plan and apply repairs it,
//! a label and a registry mirror change in place, a version change upgrades, destroying an
//! agent drains it and deletes its Node object, destroy removes K3s, and nodes installed by
//! hand import with an empty first plan.

use acceptance_tests::argocd;
use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{
    provider_dir, provider_hcl, repo_root, TerraformVersion, Workdir,
};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Context, Result};

const FIRST: &str = "v1.33.4+k3s1";
const NEXT: &str = "v1.33.5+k3s1";

fn sandbox_vars(
    bed: &TestBed,
    releases: &K3sReleases,
    artifacts: &ArtifactServer,
    version: &str,
) -> serde_json::Value {
    let nodes = bed.nodes();
    let entry = |n: &Node| serde_json::json!({ "host": n.address().to_string(), "host_key": n.host_key().public_openssh() });
    serde_json::json!({
        "server": entry(&nodes[0]),
        "agents": { "worker-1": entry(&nodes[1]), "worker-2": entry(&nodes[2]) },
        "private_key_file": bed.client_key_path().display().to_string(),
        "installer_url": releases.install_url,
        "release_base_url": releases.github_url,
        "k3s_version": version,
        // The example's Argo CD: the real v3.5.1 manifest, served locally.
        "argocd_release_base_url": argocd::release_base_url(artifacts),
    })
}

/// Runs Terraform for a scenario, keeping what it printed for the secret scan.
struct Runs<'a> {
    wd: &'a Workdir,
    transcript: String,
    /// Secrets seen on the nodes during the run, by what they are.
    secrets: Vec<(String, String)>,
}

impl Runs<'_> {
    fn run(&mut self, args: &[&str]) -> Result<acceptance_tests::terraform::TfRun> {
        // Options go before the command's arguments (`import ADDR ID`).
        let mut full: Vec<&str> = vec![args[0]];
        if args[0] != "output" && args[0] != "show" {
            full.extend(["-input=false", "-no-color"]);
        }
        full.extend(&args[1..]);
        let run = self.wd.run(&full)?;
        // `show -json` and `output -raw` print sensitive values on purpose.
        if args[0] != "output" && args[0] != "show" {
            self.transcript.push_str(&run.stdout);
            self.transcript.push_str(&run.stderr);
        }
        Ok(run)
    }
    fn apply(&mut self) -> Result<()> {
        self.run(&["apply", "-auto-approve"])?.ok()?;
        Ok(())
    }
    fn plan(&mut self, extra: &[&str]) -> Result<acceptance_tests::terraform::TfRun> {
        let mut args = vec!["plan", "-detailed-exitcode"];
        args.extend(extra);
        self.run(&args)
    }
    fn expect_empty_plan(&mut self, after: &str) -> Result<()> {
        let plan = self.plan(&[])?;
        ensure!(plan.code == 0, "plan after {after} is not empty:\n{plan}");
        Ok(())
    }
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("running kubectl")?;
    ensure!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const READY: &str =
    "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}";

fn lifecycle(version: TerraformVersion, trace: bool) -> Result<()> {
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        std::path::Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[FIRST, NEXT],
    )?;
    argocd::publish_shared(&artifacts)?;
    let mut wd = Workdir::new(version, provider_dir()?)?;
    let log_path = wd.path().join("terraform-trace.log");
    if trace {
        wd = wd
            .with_env("TF_LOG", "TRACE")
            .with_env("TF_LOG_PATH", log_path.display().to_string());
    }
    let main_tf = std::fs::read_to_string(repo_root().join("examples/local-sandbox/main.tf"))?;
    wd.write_file("main.tf", &main_tf)?;
    let write_vars = |version: &str| -> Result<()> {
        wd.write_file(
            "terraform.tfvars.json",
            &serde_json::to_string_pretty(&sandbox_vars(&bed, &releases, &artifacts, version))?,
        )?;
        Ok(())
    };
    write_vars(FIRST)?;
    let mut tf = Runs {
        wd: &wd,
        transcript: String::new(),
        secrets: Vec::new(),
    };
    let nodes = bed.nodes();

    tf.apply()?;
    for refresh in ["-refresh=true", "-refresh=false"] {
        let plan = tf.plan(&[refresh])?;
        ensure!(
            plan.code == 0,
            "plan after apply ({refresh}) is not empty:\n{plan}"
        );
    }
    // The nodes, as the K3s API reports them, through the kubeconfig output.
    let kubeconfig = tf.run(&["output", "-raw", "kubeconfig"])?.ok()?.stdout;
    let kubeconfig_file = wd.write_file("kubeconfig.yaml", &kubeconfig)?;
    let listing = kubectl(&kubeconfig_file, &["get", "nodes", "-o", READY])?;
    for name in ["node-1=True", "node-2=True", "node-3=True"] {
        ensure!(
            listing.contains(name),
            "node not Ready through the API: {listing}"
        );
    }
    let state = tf.run(&["show", "-json"])?.ok()?.json()?;
    // The nodes (the example also bootstraps Argo CD, whose resource has no `node_ready`).
    let resources: Vec<serde_json::Value> = state["values"]["root_module"]["resources"]
        .as_array()
        .context("no resources in state")?
        .iter()
        .filter(|r| matches!(r["type"].as_str(), Some("k3s_server" | "k3s_agent")))
        .cloned()
        .collect();
    ensure!(
        resources.len() == 3,
        "node resources in state: {:?}",
        resources.iter().map(|r| &r["address"]).collect::<Vec<_>>()
    );
    for r in &resources {
        ensure!(
            r["values"]["node_ready"] == serde_json::json!(true),
            "{} is not node_ready in state: {}",
            r["address"],
            r["values"]["node_ready"]
        );
    }
    remember_cluster_secrets(&mut tf, &nodes[0], &kubeconfig)?;
    let mode = nodes[0].exec_ok("stat -c %a /etc/rancher/k3s/config.yaml")?;
    ensure!(mode.trim() == "600", "config.yaml mode {mode}");
    let agent_config = nodes[1].exec_ok("cat /etc/rancher/k3s/config.yaml")?;
    ensure!(
        agent_config.contains("role=worker")
            && agent_config.contains(&format!("server: https://{}:6443", nodes[0].address())),
        "agent config.yaml: {agent_config}"
    );

    // Drift: a hand edit of config.yaml and a stopped agent both show, and apply repairs them.
    nodes[0].exec_ok("echo 'debug: true' >> /etc/rancher/k3s/config.yaml")?;
    nodes[1].exec_ok("systemctl stop k3s-agent")?;
    let drift = tf.plan(&[])?;
    ensure!(drift.code == 2, "drift did not show:\n{drift}");
    for resource in ["k3s_server.main", "k3s_agent.worker[\"worker-1\"]"] {
        ensure!(
            drift
                .stdout
                .contains(&format!("{resource} will be updated in-place")),
            "{resource} not updated in place:\n{drift}"
        );
    }
    tf.apply()?;
    tf.expect_empty_plan("repairing drift")?;
    ensure!(nodes[1].exec_ok("systemctl is-active k3s-agent")?.trim() == "active");
    ensure!(!nodes[0]
        .exec_ok("cat /etc/rancher/k3s/config.yaml")?
        .contains("debug"));

    // A label and a registry mirror change in place.
    let changed = main_tf
        .replace(
            "node_labels = { role = \"worker\" }",
            "node_labels = { role = \"worker\", tier = \"general\" }",
        )
        .replace(
            "  ssh {\n    host_key = var.server.host_key\n  }",
            "  ssh {\n    host_key = var.server.host_key\n  }\n  registry_mirror {\n    registry  = \"docker.io\"\n    endpoints = [\"https://zot.internal.example:5000\"]\n  }",
        );
    ensure!(changed.matches("tier").count() == 1 && changed.contains("registry_mirror"));
    wd.write_file("main.tf", &changed)?;
    let plan = tf.plan(&[])?;
    ensure!(plan.code == 2, "{plan}");
    ensure!(
        plan.stdout.contains("0 to add, 3 to change, 0 to destroy"),
        "label and mirror changes are not in-place updates:\n{plan}"
    );
    tf.apply()?;
    tf.expect_empty_plan("the label and mirror change")?;
    ensure!(nodes[2]
        .exec_ok("cat /etc/rancher/k3s/config.yaml")?
        .contains("tier=general"));
    let registries = nodes[0].exec_ok(
        "cat /etc/rancher/k3s/registries.yaml; stat -c %a /etc/rancher/k3s/registries.yaml",
    )?;
    ensure!(
        registries.contains("https://zot.internal.example:5000") && registries.contains("600"),
        "{registries}"
    );

    // A new version upgrades in place.
    write_vars(NEXT)?;
    let plan = tf.plan(&[])?;
    ensure!(
        plan.code == 2 && plan.stdout.contains("0 to add, 3 to change, 0 to destroy"),
        "a version change is not an in-place upgrade:\n{plan}"
    );
    tf.apply()?;
    tf.expect_empty_plan("the upgrade")?;
    for node in nodes {
        let v = node.exec_ok("/usr/local/bin/k3s --version | head -n1")?;
        ensure!(v.contains(NEXT), "{} runs {v}", node.name());
    }

    // K3s uninstalled behind Terraform's back plans a re-create.
    nodes[2].exec_ok("/usr/local/bin/k3s-agent-uninstall.sh >/dev/null 2>&1")?;
    let gone = tf.plan(&[])?;
    ensure!(
        gone.code == 2
            && gone
                .stdout
                .contains("k3s_agent.worker[\"worker-2\"] will be created"),
        "{gone}"
    );
    tf.apply()?;
    tf.expect_empty_plan("re-creating an uninstalled agent")?;

    // Destroying one agent drains it and deletes its Node object.
    tf.run(&[
        "destroy",
        "-auto-approve",
        "-target=k3s_agent.worker[\"worker-2\"]",
    ])?
    .ok()?;
    let listing = kubectl(&kubeconfig_file, &["get", "nodes", "-o", READY])?;
    ensure!(
        listing.contains("node-1=True")
            && listing.contains("node-2=True")
            && !listing.contains("node-3"),
        "the destroyed agent's Node object is still there: {listing}"
    );
    let secrets = kubectl(
        &kubeconfig_file,
        &["get", "secrets", "-n", "kube-system", "-o", "name"],
    )?;
    ensure!(
        !secrets.contains("node-3.node-password"),
        "node-password secret left: {secrets}"
    );

    tf.run(&["destroy", "-auto-approve"])?.ok()?;
    for node in nodes {
        let left = node.exec_ok(
            "ls /etc/systemd/system/k3s*.service /usr/local/bin/k3s /etc/rancher/k3s/config.yaml 2>/dev/null || true",
        )?;
        ensure!(
            left.trim().is_empty(),
            "{} still has K3s: {left}",
            node.name()
        );
    }

    import_hand_installed_nodes(&bed, &releases, &mut tf)?;

    if trace {
        scan_for_secrets(&bed, &log_path, &tf)?;
    }
    Ok(())
}

/// Installs a server and an agent by hand, the way K3s's docs describe (a config.yaml, the
/// token and URL in the environment of the install script), imports both, and expects an
/// empty plan.
fn import_hand_installed_nodes(
    bed: &TestBed,
    releases: &K3sReleases,
    tf: &mut Runs<'_>,
) -> Result<()> {
    let nodes = bed.nodes();
    let (server, agent) = (&nodes[0], &nodes[1]);
    let install = |node: &Node, env: &str, config: &str| -> Result<()> {
        node.exec_ok(&format!(
            "mkdir -p /etc/rancher/k3s && printf '{config}' > /etc/rancher/k3s/config.yaml && \
             curl -sfL {url} | INSTALL_K3S_VERSION={FIRST} GITHUB_URL={github} {env} sh - >/dev/null 2>&1",
            url = releases.install_url,
            github = releases.github_url,
        ))?;
        Ok(())
    };
    install(
        server,
        "K3S_TOKEN=hand-made-cluster-secret",
        "write-kubeconfig-mode: \"0600\"\\nnode-label:\\n  - role=server\\n",
    )?;
    server.exec_ok("i=0; while [ ! -s /var/lib/rancher/k3s/server/token ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done")?;
    let join = server.exec_ok("cat /var/lib/rancher/k3s/server/token")?;
    tf.secrets.push((
        "hand-made cluster's join token".into(),
        join.trim().to_owned(),
    ));
    install(
        agent,
        &format!(
            "K3S_URL=https://{}:6443 K3S_TOKEN={}",
            server.address(),
            join.trim()
        ),
        "node-label: [role=worker]\\n",
    )?;
    let ssh = format!(
        "private_key_file = \"{}\"\n    known_hosts_file = \"{}\"",
        bed.client_key_path().display(),
        bed.known_hosts_path().display()
    );
    let hcl = provider_hcl(&releases.install_url, &releases.github_url, &ssh)
        + &format!(
            r#"
resource "k3s_server" "main" {{
  host        = "{server}"
  version     = "{FIRST}"
  node_labels = {{ role = "server" }}
  config      = {{ "write-kubeconfig-mode" = "0600" }}
}}

resource "k3s_agent" "worker" {{
  host        = "{agent}"
  version     = "{FIRST}"
  server_url  = k3s_server.main.api_endpoint
  token       = k3s_server.main.join_token
  node_labels = {{ role = "worker" }}
}}
"#,
            server = server.address(),
            agent = agent.address(),
        );
    tf.wd.write_file("main.tf", &hcl)?;
    std::fs::remove_file(tf.wd.path().join("terraform.tfvars.json"))?;
    tf.run(&[
        "import",
        "k3s_server.main",
        &format!("ssh://root@{}:22", server.address()),
    ])?
    .ok()?;
    tf.run(&[
        "import",
        "k3s_agent.worker",
        &format!("ssh://root@{}", agent.address()),
    ])?
    .ok()?;
    expect_no_change_after_import(tf)?;
    // The imported nodes are managed: a label change applies in place.
    tf.wd.write_file(
        "main.tf",
        &hcl.replace(
            "{ role = \"worker\" }",
            "{ role = \"worker\", imported = \"yes\" }",
        ),
    )?;
    tf.apply()?;
    ensure!(agent
        .exec_ok("cat /etc/rancher/k3s/config.yaml")?
        .contains("imported=yes"));
    tf.expect_empty_plan("changing an imported agent")?;
    tf.run(&["destroy", "-auto-approve"])?.ok()?;
    Ok(())
}

/// The first plan after an import changes nothing. Terraform 1.6 plans an in-place update
/// that only records in state which values are sensitive (the agent's token comes from the
/// server's sensitive `join_token`, and an imported object has no sensitivity recorded yet);
/// that is allowed there as long as every value stays the same.
fn expect_no_change_after_import(tf: &mut Runs<'_>) -> Result<()> {
    let plan = tf.plan(&["-out=import.tfplan"])?;
    if plan.code == 0 {
        return Ok(());
    }
    ensure!(
        plan.code == 2 && tf.wd.version() == TerraformVersion::V1_6_6,
        "plan after importing hand-installed nodes is not empty:\n{plan}"
    );
    let shown = tf.run(&["show", "-json", "import.tfplan"])?.ok()?.json()?;
    for change in shown["resource_changes"].as_array().context("no changes")? {
        let c = &change["change"];
        if c["before"] != c["after"] {
            let (before, after) = (&c["before"], &c["after"]);
            let changed: Vec<&String> = after
                .as_object()
                .map(|m| {
                    m.keys()
                        .filter(|k| before[k.as_str()] != after[k.as_str()])
                        .collect()
                })
                .unwrap_or_default();
            anyhow::bail!(
                "{} changes values after import: {changed:?}",
                change["address"]
            );
        }
    }
    tf.apply()?;
    tf.expect_empty_plan("recording sensitivity after import")
}

/// Records the server's generated token (config.yaml), its K10 join token and the admin
/// client key of the kubeconfig output.
fn remember_cluster_secrets(tf: &mut Runs<'_>, server: &Node, kubeconfig: &str) -> Result<()> {
    use base64::Engine;
    let config = server.exec_ok("cat /etc/rancher/k3s/config.yaml")?;
    let token = config
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .context("no token in the server's config.yaml")?;
    tf.secrets
        .push(("generated server token".into(), token.trim().to_owned()));
    let join = server.exec_ok("cat /var/lib/rancher/k3s/server/token")?;
    tf.secrets
        .push(("K10 join token".into(), join.trim().to_owned()));
    let key_data = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-key-data: "))
        .context("no client key in the kubeconfig output")?
        .trim()
        .to_owned();
    let pem = base64::engine::general_purpose::STANDARD.decode(&key_data)?;
    for line in String::from_utf8_lossy(&pem)
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
    {
        tf.secrets
            .push(("admin client key".into(), line.to_owned()));
    }
    tf.secrets.push(("admin client key data".into(), key_data));
    Ok(())
}

/// Neither the cluster tokens, the admin client key nor the SSH private key appears anywhere
/// in Terraform's TRACE log or its output.
fn scan_for_secrets(bed: &TestBed, log_path: &std::path::Path, tf: &Runs<'_>) -> Result<()> {
    let log = std::fs::read_to_string(log_path).context("reading the TRACE log")?;
    ensure!(
        log.len() > 100_000 && log.contains("[TRACE]") && log.contains("k3s_server"),
        "the TRACE log is not a full log ({} bytes)",
        log.len()
    );
    let mut secrets = tf.secrets.clone();
    secrets.push((
        "hand-made cluster token".into(),
        "hand-made-cluster-secret".into(),
    ));
    for line in bed
        .client_key()
        .private_openssh()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
    {
        secrets.push(("SSH private key".into(), line.to_owned()));
    }
    for what in [
        "generated server token",
        "K10 join token",
        "admin client key",
        "SSH private key",
        "hand-made cluster's join token",
    ] {
        ensure!(
            secrets.iter().any(|(w, s)| w == what && s.len() >= 16),
            "nothing recorded as the {what}"
        );
    }
    for (what, secret) in &secrets {
        ensure!(
            !log.contains(secret.as_str()),
            "the {what} appears in the TRACE log"
        );
        ensure!(
            !tf.transcript.contains(secret.as_str()),
            "the {what} appears in Terraform's output"
        );
    }
    Ok(())
}

#[test]
fn local_sandbox_lifecycle_on_terraform_1_15() -> Result<()> {
    lifecycle(TerraformVersion::V1_15_5, false)
}

#[test]
fn local_sandbox_lifecycle_on_terraform_1_6_with_a_trace_log_free_of_secrets() -> Result<()> {
    lifecycle(TerraformVersion::V1_6_6, true)
}
