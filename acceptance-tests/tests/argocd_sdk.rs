//! The SDK's Argo CD layer against the K3s stand-in on a test-bed node, with the real v3.5.1
//! install manifest served by the artifact server: install, the root Application seeded, a
//! second install writing nothing, an object changed out of band rewritten alone, a derived
//! second version upgrading in place and pruning what it dropped, the live state read with
//! reads only, and removal in order. The real kubectl checks what is in the cluster.
//!
//! There is no Argo CD here: the test bed's K3s stand-in plays Argo CD's server starting
//! (the `default` AppProject and `argocd-initial-admin-secret`), and where Argo CD's
//! controller would write an Application's status, this test does it with kubectl.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::install_server;
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Context, Result};
use k3s_sdk::argocd::{
    self, Bootstrap, Credentials, Deadline, Repository, RootApplication, Seed, Source, WaitFor,
};
use k3s_sdk::kubernetes::ApiClient;
use k3s_sdk::Secret;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const VERSION: &str = "v1.33.4+k3s1";

fn manifest_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/argocd-v3.5.1-install.yaml")
}

fn seed() -> Seed {
    Seed {
        repositories: vec![Repository {
            name: "platform-repo".into(),
            url: "https://git.example.test/platform.git".into(),
            kind: "git".into(),
            credentials: Credentials::Https {
                username: "bot".into(),
                password: Secret::new("s3cret-token"),
            },
        }],
        settings: BTreeMap::from([("timeout.reconciliation".into(), "60s".into())]),
        params: BTreeMap::from([("server.insecure".into(), "true".into())]),
        application_health: true,
        root: RootApplication {
            automated: Some(argocd::Automated {
                prune: false,
                self_heal: false,
            }),
            ..RootApplication::new("root", "https://git.example.test/platform.git", "apps")
        },
    }
}

#[test]
fn the_sdk_installs_seeds_upgrades_reads_and_removes_argocd() -> Result<()> {
    let bed = TestBed::builder().nodes(1).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[VERSION],
    )?;
    let manifest_url = artifacts.publish_file("argocd/v3.5.1/install.yaml", &manifest_path())?;
    let server = bed.node("node-1")?;
    let kubectl = install_server(server, &releases, VERSION)?;
    let kubeconfig = Secret::new(std::fs::read_to_string(kubectl.kubeconfig())?);
    let runtime = tokio::runtime::Runtime::new()?;

    let text =
        runtime.block_on(Source::Url(manifest_url.clone()).load(None, Duration::from_secs(30)))?;
    let bootstrap = Bootstrap::new(&text, "argocd", seed())?;
    let api = runtime.block_on(ApiClient::from_kubeconfig(&kubeconfig))?;
    let deadline = || Deadline::after(Duration::from_secs(120), Default::default());
    kubectl.requests("k3s-sdk")?;

    // --- install: every object written once -------------------------------------------------
    let started = Instant::now();
    let applied = runtime.block_on(bootstrap.apply(&api, &[], WaitFor::Installed, &deadline()))?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    eprintln!(
        "install: {:?}, {} objects written, {reads} reads, {writes} writes",
        started.elapsed(),
        applied.written.objects.len()
    );
    // namespace + 59 manifest objects + repository Secret + 2 settings overlays + root.
    ensure!(
        applied.written.objects.len() == 64,
        "written: {:#?}",
        applied.written.objects
    );
    ensure!(writes == 64, "{writes} writes for 64 objects");
    let listed = kubectl.ok(&["get", "-n", "argocd", "deployments,statefulsets,services,serviceaccounts,configmaps,secrets,roles,rolebindings,networkpolicies", "-o", "name"])?;
    let cluster_wide =
        kubectl.ok(&["get", "crd,clusterroles,clusterrolebindings", "-o", "name"])?;
    let manifest = bootstrap.manifest();
    for r in manifest.refs() {
        let short = format!("{}/{}", r.kind.to_lowercase(), r.name);
        let found = listed.lines().chain(cluster_wide.lines()).any(|l| {
            l.ends_with(&format!("/{}", r.name))
                && l.to_lowercase().starts_with(&r.kind.to_lowercase())
        });
        ensure!(found, "{short} is not in the cluster");
    }
    ensure!(manifest.refs().len() == 59);
    let cm: Value = kubectl.json(&["get", "cm", "argocd-cm", "-n", "argocd", "-o", "json"])?;
    ensure!(cm["data"]["timeout.reconciliation"] == "60s");
    ensure!(cm["data"][argocd::APPLICATION_HEALTH_KEY] == argocd::APPLICATION_HEALTH_LUA);
    ensure!(
        cm["data"]["resource.exclusions"].is_string(),
        "the install's keys are gone: {}",
        cm["data"]
    );

    // --- a second install writes nothing ---------------------------------------------------
    let again = runtime.block_on(bootstrap.apply(
        &api,
        &bootstrap.inventory(),
        WaitFor::Installed,
        &deadline(),
    ))?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    eprintln!("second apply: {reads} reads, {writes} writes");
    ensure!(
        again.written.is_empty() && writes == 0,
        "second apply wrote {:?} ({writes} writes)",
        again.written
    );

    // --- the live state read back: reads only ----------------------------------------------
    // Waiting for the root Application: without a report from Argo CD's controller, the wait
    // runs out and says what it saw.
    let short = Deadline::after(Duration::from_secs(6), Default::default());
    let e = runtime
        .block_on(bootstrap.apply(&api, &bootstrap.inventory(), WaitFor::RootSynced, &short))
        .expect_err("the root Application cannot be Synced without a controller");
    ensure!(
        e.to_string()
            .contains("argoproj.io/Application/argocd/root")
            && e.to_string().contains("sync"),
        "{e}"
    );
    // Argo CD's controller writes an Application's status (the CRD has no status subresource).
    acceptance_tests::argocd::play_application_status(
        &kubectl, "argocd", "root", "Synced", "Healthy",
    )?;
    runtime.block_on(bootstrap.apply(
        &api,
        &bootstrap.inventory(),
        WaitFor::RootHealthy,
        &deadline(),
    ))?;
    kubectl.requests("k3s-sdk")?;
    let seen = runtime.block_on(bootstrap.observe(&api))?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    eprintln!("observe: {reads} reads, {writes} writes");
    ensure!(writes == 0, "observe wrote {writes} times");
    ensure!(
        seen.installed_version.as_deref() == Some("v3.5.1"),
        "{seen:?}"
    );
    ensure!(
        seen.missing.is_empty() && seen.changed.is_empty(),
        "{seen:?}"
    );
    ensure!(
        seen.root_sync.as_deref() == Some("Synced")
            && seen.root_health.as_deref() == Some("Healthy"),
        "{seen:?}"
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
    let password = String::from_utf8(base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        password.trim(),
    )?)?;
    ensure!(
        password.len() == 16
            && seen.initial_admin_password.as_ref().map(Secret::expose) == Some(password.as_str()),
        "{seen:?}"
    );
    ensure!(seen.applications.len() == 1 && seen.applications[0].name == "root");

    // --- out-of-band changes: only the changed objects are written back --------------------
    kubectl.ok(&["delete", "deployment", "argocd-repo-server", "-n", "argocd"])?;
    kubectl.ok(&[
        "patch",
        "cm",
        "argocd-cm",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        r#"{"data":{"timeout.reconciliation":"999s"}}"#,
    ])?;
    let seen = runtime.block_on(bootstrap.observe(&api))?;
    ensure!(
        seen.missing == ["apps/Deployment/argocd/argocd-repo-server"],
        "{seen:?}"
    );
    ensure!(seen.changed == ["/ConfigMap/argocd/argocd-cm"], "{seen:?}");
    kubectl.requests("k3s-sdk")?;
    let healed = runtime.block_on(bootstrap.apply(
        &api,
        &bootstrap.inventory(),
        WaitFor::Installed,
        &deadline(),
    ))?;
    let (_, writes) = kubectl.requests("k3s-sdk")?;
    let names: Vec<String> = healed
        .written
        .objects
        .iter()
        .map(|(r, _)| r.to_string())
        .collect();
    ensure!(
        names
            == [
                "apps/Deployment/argocd/argocd-repo-server",
                "/ConfigMap/argocd/argocd-cm"
            ],
        "{names:?}"
    );
    ensure!(writes == 2, "{writes} writes");
    let cm: Value = kubectl.json(&["get", "cm", "argocd-cm", "-n", "argocd", "-o", "json"])?;
    ensure!(
        cm["data"]["timeout.reconciliation"] == "60s"
            && cm["data"]["resource.exclusions"].is_string()
    );

    // --- a second version: one object dropped, the image bumped ----------------------------
    let v2 = text
        .replace(
            "quay.io/argoproj/argocd:v3.5.1",
            "quay.io/argoproj/argocd:v3.5.2",
        )
        .split("\n---\n")
        .filter(|doc| {
            !(doc.contains("kind: NetworkPolicy")
                && doc.contains("name: argocd-dex-server-network-policy"))
        })
        .collect::<Vec<_>>()
        .join("\n---\n");
    let upgraded = Bootstrap::new(&v2, "argocd", seed())?;
    ensure!(
        upgraded.manifest().refs().len() == 58,
        "the derived manifest has {} objects",
        upgraded.manifest().refs().len()
    );
    let applied = runtime.block_on(upgraded.apply(
        &api,
        &bootstrap.inventory(),
        WaitFor::Installed,
        &deadline(),
    ))?;
    let pruned: Vec<String> = applied.pruned.iter().map(ToString::to_string).collect();
    ensure!(
        pruned == ["networking.k8s.io/NetworkPolicy/argocd/argocd-dex-server-network-policy"],
        "{pruned:?}"
    );
    let seen = runtime.block_on(upgraded.observe(&api))?;
    ensure!(
        seen.installed_version.as_deref() == Some("v3.5.2"),
        "{seen:?}"
    );
    let policies = kubectl.ok(&["get", "networkpolicies", "-n", "argocd", "-o", "name"])?;
    ensure!(
        !policies.contains("argocd-dex-server-network-policy") && policies.lines().count() == 6,
        "{policies}"
    );

    // --- removal: the CRDs stay unless asked ------------------------------------------------
    let removal = argocd::Removal {
        namespace: "argocd".into(),
        root: "root".into(),
        cascade: false,
        inventory: upgraded.inventory(),
        delete_crds: false,
    };
    // A cascade delete needs Argo CD's controller to run the root's finalizer; there is none
    // here, so the bounded wait names the finalizer instead of hanging.
    kubectl.ok(&[
        "patch",
        "application",
        "root",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}"#,
    ])?;
    let short = || Deadline::after(Duration::from_secs(10), Default::default());
    let cascading = argocd::Removal {
        cascade: true,
        ..removal.clone()
    };
    let e = runtime
        .block_on(argocd::remove(&api, &cascading, &short()))
        .expect_err("nothing runs the cascade finalizer");
    ensure!(
        e.to_string()
            .contains("resources-finalizer.argocd.argoproj.io")
            && e.to_string().contains("Application/argocd/root"),
        "{e}"
    );
    // Something outside the inventory holds the namespace: it stays Terminating, and the
    // wait says why.
    kubectl.ok(&["create", "configmap", "held", "-n", "argocd"])?;
    kubectl.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])?;
    let e = runtime
        .block_on(argocd::remove(&api, &removal, &short()))
        .expect_err("the namespace is held");
    ensure!(
        e.to_string().contains("Namespace//argocd") && e.to_string().contains("example.com/hold"),
        "{e}"
    );
    let phase = kubectl.ok(&[
        "get",
        "namespace",
        "argocd",
        "-o",
        "jsonpath={.status.phase}",
    ])?;
    ensure!(phase == "Terminating", "{phase}");
    kubectl.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])?;
    runtime
        .block_on(argocd::remove(&api, &removal, &deadline()))
        .context("removing")?;
    let namespaces = kubectl.ok(&["get", "namespaces", "-o", "name"])?;
    ensure!(!namespaces.contains("namespace/argocd"), "{namespaces}");
    let crds = kubectl.ok(&["get", "crd", "-o", "name"])?;
    ensure!(crds.contains("applications.argoproj.io"), "{crds}");
    let roles = kubectl.ok(&["get", "clusterroles", "-o", "name"])?;
    ensure!(!roles.contains("argocd-server"), "{roles}");
    let removal = argocd::Removal {
        delete_crds: true,
        ..removal
    };
    runtime.block_on(argocd::remove(&api, &removal, &deadline()))?;
    let crds = kubectl.ok(&["get", "crd", "-o", "name"])?;
    ensure!(!crds.contains("argoproj.io"), "{crds}");
    Ok(())
}
