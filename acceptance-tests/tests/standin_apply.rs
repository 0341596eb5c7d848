//! The K3s stand-in's server-side apply, checked with the real `kubectl` (what a real API
//! server does for the same requests): each field manager's fields are its own; applying a
//! field another manager set to another value is a 409 conflict naming the field and the
//! manager, `--force-conflicts` takes it over (and managedFields says so); lists of named
//! items (containers) merge by name, so one manager's sidecar survives another's apply; and
//! the SDK's comparison agrees that another manager's sidecar is no difference to write.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::{install_server, Kubectl};
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::TestBed;
use anyhow::{ensure, Result};
use serde_json::Value;
use std::path::Path;

const VERSION: &str = "v1.33.4+k3s1";

fn apply(
    kubectl: &Kubectl,
    dir: &Path,
    manager: &str,
    yaml: &str,
    force: bool,
) -> Result<std::process::Output> {
    let file = dir.join(format!("{manager}.yaml"));
    std::fs::write(&file, yaml)?;
    let manager = format!("--field-manager={manager}");
    let mut args = vec![
        "apply",
        "--server-side",
        manager.as_str(),
        "-f",
        file.to_str().unwrap(),
    ];
    if force {
        args.push("--force-conflicts");
    }
    kubectl.run(&args)
}

fn deployment(containers: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\n\
         spec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n{containers}"
    )
}

#[test]
fn server_side_apply_conflicts_force_and_merges_named_lists_as_kubectl_sees_it() -> Result<()> {
    let bed = TestBed::builder().nodes(1).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[VERSION],
    )?;
    let server = bed.node("node-1")?;
    let kubectl = install_server(server, &releases, VERSION)?;
    let dir = tempfile::tempdir()?;
    let cm = |data: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: default}}\ndata: {{{data}}}\n")
    };

    // Two managers, one field each; the second sets the first's field otherwise: 409.
    let out = apply(&kubectl, dir.path(), "alpha", &cm("a: '1', b: '2'"), false)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = apply(&kubectl, dir.path(), "beta", &cm("a: '9'"), false)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "a conflicting apply succeeded");
    ensure!(
        stderr.contains("conflict") && stderr.contains("alpha") && stderr.contains(".data.a"),
        "{stderr}"
    );
    let live: Value = kubectl.json(&["get", "configmap", "settings", "-o", "json"])?;
    ensure!(
        live["data"]["a"] == "1",
        "a refused apply changed {}",
        live["data"]
    );

    // Forced: the field is beta's now, and alpha's apply of its old value conflicts in turn.
    let out = apply(&kubectl, dir.path(), "beta", &cm("a: '9'"), true)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live: Value = kubectl.json(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "json",
        "--show-managed-fields",
    ])?;
    ensure!(
        live["data"]["a"] == "9" && live["data"]["b"] == "2",
        "{}",
        live["data"]
    );
    let owned = |manager: &str| -> Value {
        live["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["manager"] == manager)
            .map(|e| e["fieldsV1"]["f:data"].clone())
            .unwrap_or(Value::Null)
    };
    ensure!(
        owned("alpha")["f:b"].is_object() && owned("alpha")["f:a"].is_null(),
        "alpha owns {}",
        owned("alpha")
    );
    ensure!(
        owned("beta")["f:a"].is_object(),
        "beta owns {}",
        owned("beta")
    );
    let out = apply(&kubectl, dir.path(), "alpha", &cm("a: '1', b: '2'"), false)?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("beta"),
        "alpha took beta's field without force"
    );

    // Named lists merge by name: beta's sidecar stays when alpha applies its container again.
    let app = "      - {name: app, image: 'app:1'}\n";
    let out = apply(&kubectl, dir.path(), "alpha", &deployment(app), false)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sidecar = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n\
                   spec:\n  template:\n    spec:\n      containers:\n      - {name: proxy, image: 'proxy:1'}\n";
    let out = apply(&kubectl, dir.path(), "beta", sidecar, false)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = apply(
        &kubectl,
        dir.path(),
        "alpha",
        &deployment("      - {name: app, image: 'app:2'}\n"),
        false,
    )?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = kubectl.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name}:{.spec.template.spec.containers[*].image}"])?;
    ensure!(names == "app proxy:app:2 proxy:1", "{names}");

    // The SDK's comparison: alpha's configuration is what is live; the sidecar is beta's.
    let live: Value = kubectl.json(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ])?;
    let alpha: Value =
        serde_yaml_ng::from_str(&deployment("      - {name: app, image: 'app:2'}\n"))?;
    ensure!(
        k3s_sdk::argocd::needs_write(&alpha, Some(&live), "alpha").is_none(),
        "the SDK would rewrite alpha's Deployment"
    );
    let older: Value = serde_yaml_ng::from_str(&deployment(app))?;
    ensure!(k3s_sdk::argocd::needs_write(&older, Some(&live), "alpha") == Some("changed"));
    Ok(())
}
