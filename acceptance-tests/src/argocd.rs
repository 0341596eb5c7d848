//! Argo CD release manifests for the test bed: the real v3.5.1 `install.yaml` read from
//! `../shared/data` (never copied into the repository), served by the artifact server in the
//! release's layout (`<base>/<version>/manifests/install.yaml`, what the provider's
//! `argocd_release_base_url` points at), and versions derived from it for upgrade tests.

use crate::artifacts::ArtifactServer;
use crate::standin::harness::Kubectl;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The release the shared manifest is.
pub const VERSION: &str = "v3.5.1";

/// Where the shared v3.5.1 manifest is, beside the repository.
pub fn shared_manifest() -> PathBuf {
    crate::terraform::repo_root().join("../shared/data/argocd-v3.5.1-install.yaml")
}

/// The shared manifest's text.
pub fn manifest_text() -> Result<String> {
    let path = shared_manifest();
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The base URL a mirror of Argo CD's releases on `artifacts` has.
pub fn release_base_url(artifacts: &ArtifactServer) -> String {
    format!("{}/argocd", artifacts.url())
}

/// Serves `text` as `version`'s `install.yaml`; returns its URL.
pub fn publish(artifacts: &ArtifactServer, version: &str, text: &str) -> String {
    artifacts.publish(
        &format!("argocd/{version}/manifests/install.yaml"),
        text.as_bytes().to_vec(),
    )
}

/// Serves the shared v3.5.1 file (read on each request); returns its URL.
pub fn publish_shared(artifacts: &ArtifactServer) -> Result<String> {
    artifacts.publish_file(
        &format!("argocd/{VERSION}/manifests/install.yaml"),
        &shared_manifest(),
    )
}

/// A manifest derived from v3.5.1 for an upgrade: the Argo CD image at `version`, and the
/// document naming `dropped` (a NetworkPolicy) left out.
pub fn derived(v351: &str, version: &str, dropped: &str) -> String {
    v351.replace(
        "quay.io/argoproj/argocd:v3.5.1",
        &format!("quay.io/argoproj/argocd:{version}"),
    )
    .split("\n---\n")
    .filter(|doc| {
        !(doc.contains("kind: NetworkPolicy") && doc.contains(&format!("name: {dropped}\n")))
    })
    .collect::<Vec<_>>()
    .join("\n---\n")
}

/// Lowercase hex sha256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plays Argo CD's application controller reporting an Application's sync status and health
/// (no Argo CD runs on the test bed). The CRD has no status subresource: the controller writes
/// the status on the object itself, as this does with kubectl.
pub fn play_application_status(
    kubectl: &Kubectl,
    namespace: &str,
    name: &str,
    sync: &str,
    health: &str,
) -> Result<()> {
    let status =
        serde_json::json!({"status": {"sync": {"status": sync}, "health": {"status": health}}});
    kubectl.ok(&[
        "patch",
        "application",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        &status.to_string(),
    ])?;
    Ok(())
}
