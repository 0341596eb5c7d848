//! `argocd_bootstrap` through a real Terraform on test-bed nodes, with the real v3.5.1 install
//! manifest served by the artifact server:
//! - `examples/local-sandbox` creates the server, the agents and Argo CD in one apply; the next
//!   plan is empty; all 59 objects are in the cluster (the real kubectl says so); a refresh
//!   writes nothing to the API; the root Application, a repository Secret and an install
//!   Deployment deleted out of band and an `argocd-cm` key changed by hand plan a change, and
//!   apply writes exactly those four objects back; a derived v3.5.2 manifest (one object
//!   dropped, the image bumped) upgrades in place and prunes the dropped object; destroy
//!   removes Argo CD and keeps the CRDs (Terraform 1.6.6).
//! - Through a server node whose API listens on 127.0.0.1 only: a create that fails after it
//!   wrote (its wait runs out) is kept tainted and the next apply replaces it; create, an empty plan, no
//!   kubeconfig in the resource's state; then an Argo CD installed by hand with the real
//!   `kubectl apply --server-side` is imported by `ssh://…/argocd/root` with an empty first
//!   plan, and destroy with `delete_crds` removes the CRDs too (Terraform 1.15.5).
//!
//! No Argo CD runs here: the K3s stand-in plays argocd-server's start-up writes (the `default`
//! AppProject, `argocd-initial-admin-secret`), and where Argo CD's controller would write an
//! Application's status, this test does it with kubectl.

use acceptance_tests::argocd;
use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::Kubectl;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::terraform::{
    provider_dir, repo_root, TerraformVersion, Workdir, REQUIRE_K3S,
};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Context, Result};
use k3s_sdk::argocd::Manifest;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const K3S: &str = "v1.33.4+k3s1";
const NEXT: &str = "v3.5.2";
const DROPPED: &str = "argocd-dex-server-network-policy";

fn standin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_k3s-standin"))
}

thread_local! {
    /// What Terraform printed in this test, for the secret scan.
    static PRINTED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs Terraform, keeping what it printed.
fn run(wd: &Workdir, args: &[&str]) -> Result<acceptance_tests::terraform::TfRun> {
    let out = wd.run(args)?;
    PRINTED.with(|p| {
        let mut p = p.borrow_mut();
        p.push_str(&out.stdout);
        p.push_str(&out.stderr);
    });
    Ok(out)
}

fn plan(wd: &Workdir) -> Result<acceptance_tests::terraform::TfRun> {
    run(
        wd,
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
    )
}

fn apply(wd: &Workdir) -> Result<()> {
    run(wd, &["apply", "-auto-approve", "-input=false", "-no-color"])?.ok()?;
    Ok(())
}

/// Destroys only the `argocd_bootstrap`, keeping the cluster.
fn destroy_argocd(wd: &Workdir) -> Result<()> {
    run(
        wd,
        &[
            "destroy",
            "-auto-approve",
            "-target=argocd_bootstrap.gitops",
            "-input=false",
            "-no-color",
        ],
    )?
    .ok()?;
    Ok(())
}

fn expect_empty_plan(wd: &Workdir, after: &str) -> Result<()> {
    let p = plan(wd)?;
    ensure!(p.code == 0, "the plan after {after} is not empty:\n{p}");
    Ok(())
}

/// The manifest's objects that `kubectl get … -o name` does not list.
fn absent_objects(kubectl: &Kubectl, manifest: &Manifest) -> Result<Vec<String>> {
    let mut kinds: Vec<String> = Vec::new();
    let name_of = |group: &str, kind: &str| {
        if group.is_empty() {
            kind.to_lowercase()
        } else {
            format!("{}.{group}", kind.to_lowercase())
        }
    };
    for r in manifest.refs() {
        let k = name_of(r.group(), &r.kind);
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let listed = kubectl.ok(&["get", &kinds.join(","), "-A", "-o", "name"])?;
    Ok(manifest
        .refs()
        .iter()
        .map(|r| format!("{}/{}", name_of(r.group(), &r.kind), r.name))
        .filter(|wanted| !listed.lines().any(|l| l == wanted))
        .collect())
}

#[test]
fn the_sandbox_bootstraps_argocd_reads_its_drift_upgrades_and_destroys() -> Result<()> {
    let bed = TestBed::builder().nodes(3).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(&artifacts, standin(), &[K3S])?;
    let v351 = argocd::manifest_text()?;
    argocd::publish_shared(&artifacts)?;
    let v352 = argocd::derived(&v351, NEXT, DROPPED);
    argocd::publish(&artifacts, NEXT, &v352);
    let trace = tempfile::tempdir()?;
    let trace_log = trace.path().join("terraform-trace.log");
    let wd = Workdir::new(TerraformVersion::V1_6_6, provider_dir()?)?
        .with_env("TF_LOG", "TRACE")
        .with_env("TF_LOG_PATH", trace_log.display().to_string());
    let token = format!(
        "repo-token-{}",
        &argocd::sha256(&format!("{:?}", Instant::now()))[..16]
    );
    wd.write_file(
        "main.tf",
        &std::fs::read_to_string(repo_root().join("examples/local-sandbox/main.tf"))?,
    )?;
    let node = |n: &Node| json!({"host": n.address().to_string(), "host_key": n.host_key().public_openssh()});
    let nodes = bed.nodes();
    let vars = |version: &str, sha: &str| -> Result<()> {
        let vars = json!({
            "server": node(&nodes[0]),
            "agents": {"worker-1": node(&nodes[1]), "worker-2": node(&nodes[2])},
            "private_key_file": bed.client_key_path().display().to_string(),
            "installer_url": releases.install_url,
            "release_base_url": releases.github_url,
            "argocd_release_base_url": argocd::release_base_url(&artifacts),
            "argocd_version": version,
            "argocd_manifest_sha256": sha,
            "gitops_token": token,
        });
        wd.write_file(
            "terraform.tfvars.json",
            &serde_json::to_string_pretty(&vars)?,
        )?;
        Ok(())
    };
    vars(argocd::VERSION, &argocd::sha256(&v351))?;

    // --- one apply: the cluster and Argo CD ------------------------------------------------
    let started = Instant::now();
    apply(&wd)?;
    eprintln!("apply of the sandbox with Argo CD: {:?}", started.elapsed());
    expect_empty_plan(&wd, "the first apply")?;
    let kubectl = Kubectl::for_node(&nodes[0])?;
    let manifest = Manifest::parse(&v351, "argocd")?;
    ensure!(
        manifest.refs().len() == 59,
        "{} objects in the manifest",
        manifest.refs().len()
    );
    let absent = absent_objects(&kubectl, &manifest)?;
    ensure!(absent.is_empty(), "not in the cluster: {absent:?}");
    for (kind, name) in [("application", "root"), ("secret", "platform-repo")] {
        kubectl.ok(&["get", kind, name, "-n", "argocd"])?;
    }
    let shown = wd.run(&["output", "-json"])?.ok()?.json()?;
    ensure!(
        shown["argocd_installed_version"]["value"] == "v3.5.1",
        "{shown}"
    );

    // --- a refresh and plan write nothing ---------------------------------------------------
    kubectl.requests("k3s-sdk")?;
    expect_empty_plan(&wd, "a refresh")?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    eprintln!("refresh + plan: {reads} API reads, {writes} writes");
    ensure!(
        writes == 0 && reads > 0,
        "a refresh made {writes} writes ({reads} reads)"
    );

    // --- drift out of band: plan shows it, apply writes exactly what differs ---------------
    kubectl.ok(&["delete", "application", "root", "-n", "argocd"])?;
    kubectl.ok(&["delete", "secret", "platform-repo", "-n", "argocd"])?;
    kubectl.ok(&["delete", "deployment", "argocd-repo-server", "-n", "argocd"])?;
    kubectl.ok(&[
        "patch",
        "configmap",
        "argocd-cm",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        r#"{"data":{"timeout.reconciliation":"999s"}}"#,
    ])?;
    let drift = plan(&wd)?;
    ensure!(
        drift.code == 2 && drift.stdout.contains("0 to add, 1 to change, 0 to destroy"),
        "{drift}"
    );
    for what in [
        "argoproj.io/Application/argocd/root",
        "/Secret/argocd/platform-repo",
        "apps/Deployment/argocd/argocd-repo-server",
        "/ConfigMap/argocd/argocd-cm",
    ] {
        ensure!(
            drift.stdout.contains(what),
            "the plan does not name {what}:\n{drift}"
        );
    }
    kubectl.requests("k3s-sdk")?;
    apply(&wd)?;
    let (_, writes) = kubectl.requests("k3s-sdk")?;
    eprintln!("repairing 4 objects: {writes} writes");
    ensure!(writes == 4, "repairing 4 objects took {writes} writes");
    expect_empty_plan(&wd, "the repair")?;
    let cm: Value = kubectl.json(&[
        "get",
        "configmap",
        "argocd-cm",
        "-n",
        "argocd",
        "-o",
        "json",
    ])?;
    ensure!(
        cm["data"]["timeout.reconciliation"] == "60s",
        "{}",
        cm["data"]
    );
    ensure!(
        cm["data"]["resource.exclusions"].is_string(),
        "the install's keys were touched: {}",
        cm["data"]
    );

    // --- Argo CD's controller reports the root Application (played here) -------------------
    argocd::play_application_status(&kubectl, "argocd", "root", "Synced", "Healthy")?;
    wd.run(&[
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ])?
    .ok()?;
    let shown = wd.run(&["output", "-json"])?.ok()?.json()?;
    let apps = &shown["argocd_applications"]["value"];
    ensure!(
        apps[0]["name"] == "root"
            && apps[0]["sync_status"] == "Synced"
            && apps[0]["health_status"] == "Healthy",
        "{apps}"
    );

    // --- upgrade to a derived v3.5.2: in place, the dropped object pruned --------------------
    vars(NEXT, &argocd::sha256(&v352))?;
    let upgrade = plan(&wd)?;
    ensure!(
        upgrade.code == 2
            && upgrade
                .stdout
                .contains("0 to add, 1 to change, 0 to destroy"),
        "{upgrade}"
    );
    apply(&wd)?;
    expect_empty_plan(&wd, "the upgrade")?;
    let image = kubectl.ok(&[
        "get",
        "deployment",
        "argocd-server",
        "-n",
        "argocd",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])?;
    ensure!(image.ends_with(":v3.5.2"), "{image}");
    let policies = kubectl.ok(&["get", "networkpolicies", "-n", "argocd", "-o", "name"])?;
    ensure!(
        !policies.contains(DROPPED) && policies.lines().count() == 6,
        "{policies}"
    );

    let password = kubectl.ok(&[
        "get",
        "secret",
        "argocd-initial-admin-secret",
        "-n",
        "argocd",
        "-o",
        "jsonpath={.data.password}",
    ])?;

    // --- destroy: Argo CD removed in order, the CRDs kept ----------------------------------
    destroy_argocd(&wd)?;
    let namespaces = kubectl.ok(&["get", "namespaces", "-o", "name"])?;
    ensure!(!namespaces.contains("namespace/argocd"), "{namespaces}");
    let crds = kubectl.ok(&["get", "crd", "-o", "name"])?;
    ensure!(
        crds.contains("applications.argoproj.io"),
        "delete_crds = false removed the CRDs: {crds}"
    );
    let roles = kubectl.ok(&["get", "clusterroles", "-o", "name"])?;
    ensure!(!roles.contains("argocd-server"), "{roles}");
    run(
        &wd,
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    )?
    .ok()?;

    // --- no secret in what Terraform printed or logged (TRACE, the whole run) --------------
    let log = std::fs::read_to_string(&trace_log)?;
    ensure!(
        log.len() > 100_000,
        "the trace log is not a full trace ({} bytes)",
        log.len()
    );
    let printed = PRINTED.with(|p| p.borrow().clone());
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &token);
    for (what, secret) in [
        ("the repository token", &token),
        ("the repository token (base64)", &encoded),
        ("the initial admin password (base64)", &password),
    ] {
        ensure!(!secret.is_empty(), "{what} is empty");
        ensure!(!log.contains(secret.as_str()), "{what} is in the trace log");
        ensure!(
            !printed.contains(secret.as_str()),
            "{what} is in Terraform's output"
        );
    }
    Ok(())
}

/// An OpenSSH local forward from 127.0.0.1:`port` to the node's 127.0.0.1:6443, for the
/// host's kubectl; ended when dropped.
struct Forward(std::process::Child);

impl Forward {
    fn open(bed: &TestBed, node: &Node) -> Result<(Forward, u16)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new("ssh")
            .args([
                "-N",
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-i",
            ])
            .arg(bed.client_key_path())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                bed.known_hosts_path().display()
            ))
            .arg("-L")
            .arg(format!("127.0.0.1:{port}:127.0.0.1:6443"))
            .arg(format!("root@{}", node.address()))
            .stdin(std::process::Stdio::null())
            .spawn()
            .context("starting ssh -L")?;
        let forward = Forward(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "the forward to {} did not open",
                node.address()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok((forward, port))
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn through_a_loopback_only_server_node_and_import_of_a_kubectl_install() -> Result<()> {
    let bed = TestBed::builder().nodes(1).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(&artifacts, standin(), &[K3S])?;
    argocd::publish_shared(&artifacts)?;
    let server = &bed.nodes()[0];
    let wd = Workdir::new(TerraformVersion::V1_15_5, provider_dir()?)?;
    let provider = REQUIRE_K3S.to_owned()
        + &format!(
            r#"
provider "k3s" {{
  installer_url           = "{install}"
  release_base_url        = "{github}"
  argocd_release_base_url = "{argocd}"
  ssh {{
    private_key_file = "{key}"
    known_hosts_file = "{known}"
  }}
}}

resource "k3s_server" "main" {{
  host    = "{host}"
  version = "{K3S}"
  # The API listens on the node's loopback only: nothing off the node reaches it.
  config = {{ "bind-address" = "127.0.0.1", "write-kubeconfig-mode" = "0600" }}
}}
"#,
            install = releases.install_url,
            github = releases.github_url,
            argocd = argocd::release_base_url(&artifacts),
            key = bed.client_key_path().display(),
            known = bed.known_hosts_path().display(),
            host = server.address(),
        );
    let bootstrap = |extra: &str| {
        format!(
            r#"
resource "argocd_bootstrap" "gitops" {{
  provider = k3s
  version  = "v3.5.1"
  server {{
    host = k3s_server.main.host
  }}
  repository {{
    name     = "platform-repo"
    url      = "https://git.example.test/platform.git"
    username = "bot"
    password = "s3cret-token"
  }}
  root_application {{
    repo_url = "https://git.example.test/platform.git"
    path     = "apps"
  }}
  {extra}
}}
"#
        )
    };

    // --- a create that fails after it wrote is kept, tainted; the next apply replaces it ---
    // (No Argo CD controller reports the root Application, so waiting for it runs out.)
    wd.write_file(
        "main.tf",
        &(provider.clone()
            + &bootstrap("wait_for = \"root_synced\"\n  timeouts {\n    create = \"15s\"\n  }")),
    )?;
    let failed = run(
        &wd,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )?;
    failed.failed_with(&[
        "Cannot create Argo CD",
        "argoproj.io/Application/argocd/root",
    ])?;
    let state = wd.run(&["show", "-json"])?.ok()?.json()?;
    let tainted = state["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["address"] == "argocd_bootstrap.gitops" && r["tainted"] == true);
    ensure!(
        tainted,
        "the failed create is not in the state, tainted: {state}"
    );

    // --- create through the node; plan 0; no kubeconfig in the resource's state -----------
    wd.write_file("main.tf", &(provider.clone() + &bootstrap("")))?;
    let replace = plan(&wd)?;
    ensure!(
        replace.code == 2 && replace.stdout.contains("is tainted, so must be replaced"),
        "{replace}"
    );
    apply(&wd)?;
    expect_empty_plan(&wd, "create through the node")?;
    ensure!(
        std::net::TcpStream::connect_timeout(
            &(server.address(), 6443).into(),
            Duration::from_secs(2)
        )
        .is_err(),
        "the API answers off the node; bind-address was not honoured"
    );
    let state = wd.run(&["show", "-json"])?.ok()?.json()?;
    let resources = state["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let gitops = resources
        .iter()
        .find(|r| r["address"] == "argocd_bootstrap.gitops")
        .context("argocd_bootstrap in state")?;
    ensure!(
        gitops["values"]["kubeconfig"].is_null(),
        "the state holds a kubeconfig"
    );
    ensure!(
        !gitops.to_string().contains("client-key-data"),
        "the state holds cluster credentials"
    );
    ensure!(
        gitops["values"]["installed_version"] == "v3.5.1",
        "{gitops}"
    );
    destroy_argocd(&wd)?;

    // --- Argo CD installed by hand with the real kubectl, then imported --------------------
    let (_forward, port) = Forward::open(&bed, server)?;
    let kubectl = Kubectl::for_node_at(server, &format!("https://127.0.0.1:{port}"))?;
    kubectl.ok(&[
        "delete",
        "crd",
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
    ])?;
    kubectl.ok(&["create", "namespace", "argocd"])?;
    let manifest = argocd::shared_manifest();
    kubectl.ok(&[
        "apply",
        "-n",
        "argocd",
        "--server-side",
        "--force-conflicts",
        "-f",
        manifest.to_str().unwrap(),
    ])?;
    let by_hand = wd.write_file(
        "by-hand.yaml",
        "apiVersion: v1\nkind: Secret\ntype: Opaque\n\
         metadata: {name: platform-repo, namespace: argocd, labels: {argocd.argoproj.io/secret-type: repository}}\n\
         stringData: {type: git, url: 'https://git.example.test/platform.git', username: bot, password: s3cret-token}\n\
         ---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: root, namespace: argocd}\n\
         spec:\n  project: default\n  source: {repoURL: 'https://git.example.test/platform.git', path: apps, targetRevision: HEAD}\n  \
         destination: {server: 'https://kubernetes.default.svc', namespace: argocd}\n  syncPolicy: {automated: {prune: false, selfHeal: false}}\n",
    )?;
    kubectl.ok(&["apply", "--server-side", "-f", by_hand.to_str().unwrap()])?;
    kubectl.ok(&[
        "rollout",
        "status",
        "deployment/argocd-server",
        "-n",
        "argocd",
        "--timeout=60s",
    ])?;
    wd.write_file(
        "main.tf",
        &(provider.clone() + &bootstrap("application_health_check = false")),
    )?;
    wd.run(&[
        "import",
        "-input=false",
        "-no-color",
        "argocd_bootstrap.gitops",
        &format!("ssh://root@{}:22/argocd/root", server.address()),
    ])?
    .ok()?;
    expect_empty_plan(&wd, "the import of a kubectl install")?;

    // --- destroy with delete_crds: the CRDs go too -----------------------------------------
    wd.write_file(
        "main.tf",
        &(provider + &bootstrap("application_health_check = false\n  delete_crds = true")),
    )?;
    apply(&wd)?;
    destroy_argocd(&wd)?;
    let crds = kubectl.ok(&["get", "crd", "-o", "name"])?;
    ensure!(
        !crds.contains("argoproj.io"),
        "delete_crds = true kept {crds}"
    );
    let namespaces = kubectl.ok(&["get", "namespaces", "-o", "name"])?;
    ensure!(!namespaces.contains("namespace/argocd"), "{namespaces}");
    wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?
        .ok()?;
    Ok(())
}
