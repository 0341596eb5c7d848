//! Where `argocd_bootstrap`'s manifest comes from (`manifest_url`, else the release under the
//! provider's `argocd_release_base_url`), read once per provider run and checked against its
//! pin and the configured version; and the warning for a manifest that needs more nodes than
//! the cluster has.

use super::convert::seed_of;
use super::ArgocdModel;
use crate::lifecycle::failed;
use crate::provider::ProviderConfig;
use k3s_sdk::argocd::{self, Bootstrap};
use k3s_sdk::kubernetes::ApiClient;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use tfplugin_runtime::{Context, Diagnostics};

/// Manifests read in this provider run, by source: a plan's refresh and its apply read once.
fn manifest_cache() -> &'static Mutex<BTreeMap<String, Arc<String>>> {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Arc<String>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The manifest's URL: the resource's `manifest_url`, else the release's under the provider's
/// `argocd_release_base_url`.
fn manifest_url(ctx: &Context, model: &ArgocdModel) -> Result<String, Diagnostics> {
    Ok(match &model.manifest_url {
        Some(url) => url.clone(),
        None => argocd::release_url_at(
            &ctx.provider::<ProviderConfig>()?.argocd_release_base_url,
            &model.version,
        ),
    })
}

/// The model's Argo CD: its manifest (read once per run, checked against its pin and its
/// version) with what is seeded.
pub(super) async fn bootstrap_of(
    ctx: &Context,
    model: &ArgocdModel,
) -> Result<Bootstrap, Diagnostics> {
    let url = manifest_url(ctx, model)?;
    let key = format!("{url}#{}", model.manifest_sha256.as_deref().unwrap_or(""));
    let cached = manifest_cache().lock().expect("cache").get(&key).cloned();
    let text = match cached {
        Some(text) => text,
        None => {
            let source = argocd::Source::Url(url.clone());
            let text = ctx
                .unless_cancelled("Reading the Argo CD manifest", async {
                    source
                        .load(
                            model.manifest_sha256.as_deref(),
                            std::time::Duration::from_secs(120),
                        )
                        .await
                        .map_err(|e| failed("Cannot read the Argo CD manifest", e))
                })
                .await?;
            let text = Arc::new(text);
            manifest_cache()
                .lock()
                .expect("cache")
                .insert(key, text.clone());
            text
        }
    };
    let bootstrap = Bootstrap::new(&text, &model.namespace, seed_of(model))
        .map_err(|e| failed("Cannot use the Argo CD manifest", e))?;
    match bootstrap.manifest().version() {
        Some(v) if v == model.version => Ok(bootstrap),
        other => Err(Diagnostics::from_error(
            "The manifest is not the version configured",
            format!(
                "{url} runs argocd-server {}, but `version` is {}. Point `manifest_url` at the \
                {} manifest, or set `version` to what it runs.",
                other.as_deref().unwrap_or("(no image tag)"),
                model.version,
                model.version
            ),
        )),
    }
}

pub(super) async fn warn_if_too_few_nodes(ctx: &Context, api: &ApiClient, bootstrap: &Bootstrap) {
    let spread = bootstrap.manifest().spread_workloads();
    let Some(needed) = spread.iter().map(|(_, r)| *r).max() else {
        return;
    };
    let Ok(nodes) = api.list("v1", "Node", None, None).await else {
        return;
    };
    if (nodes.len() as u64) < needed {
        let names: Vec<String> = spread.iter().map(|(n, r)| format!("{n} ({r})")).collect();
        ctx.warn(
            format!(
                "This manifest needs {needed} nodes; the cluster has {}",
                nodes.len()
            ),
            format!(
                "{} must run their replicas on distinct nodes (required anti-affinity), so \
                they cannot all start here and the roll-out wait will run out. Use the non-HA \
                install.yaml on fewer than {needed} nodes.",
                names.join(", ")
            ),
        );
    }
}
