//! A node's model turned into the SDK's [`Desired`] state: `config.yaml` (role, token, labels,
//! taints, settings), `registries.yaml`, the installer and the release.

use super::{NodeModel, RegistryAuthBlock, RegistryMirror};
use crate::provider::ProviderConfig;
use crate::ssh_target;
use k3s_sdk::k3s::{
    Desired, InstallPlan, Installer, K3sVersion, Mirror, NodeConfig, Registries, RegistryAuth, Role,
};
use k3s_sdk::Secret;
use tfplugin_runtime::Diagnostics;

/// The K3s state `node` asks for, as `role`, joining with `token`.
pub fn desired(
    node: &NodeModel,
    provider: &ProviderConfig,
    role: Role,
    token: Option<Secret>,
) -> Result<Desired, Diagnostics> {
    let mut config = NodeConfig::new(role);
    config.token = token;
    config.node_labels = node.node_labels.clone().unwrap_or_default();
    config.node_taints = node.node_taints.clone().unwrap_or_default();
    match node.config.to_plain_json() {
        Some(serde_json::Value::Object(settings)) => config.settings = settings,
        Some(serde_json::Value::Null) | None => {}
        Some(_) => {
            return Err(Diagnostics::from_error(
                "Invalid config",
                "`config` must be an object of K3s settings, e.g. { disable = [\"traefik\"] }.",
            ))
        }
    }
    let version: K3sVersion = node
        .version
        .parse()
        .map_err(|e: k3s_sdk::k3s::VersionError| {
            Diagnostics::from_error("Invalid version", e.to_string())
        })?;
    let script_url = node
        .installer_url
        .clone()
        .unwrap_or_else(|| provider.installer_url.clone());
    let installer = match (&node.airgap_binary, &node.airgap_binary_sha256) {
        (Some(binary), Some(sha256)) => Installer::AirGap {
            script_url,
            binary: ssh_target::path(binary)?,
            sha256: sha256.clone(),
        },
        (None, None) => Installer::Download {
            script_url,
            release_base: provider.release_base_url.clone(),
        },
        _ => {
            return Err(Diagnostics::from_error(
                "Incomplete air-gap settings",
                "Set both `airgap_binary` and `airgap_binary_sha256`, or neither.",
            ))
        }
    };
    Ok(Desired::new(config, InstallPlan { version, installer })
        .registries(registries(&node.registry_mirror, &node.registry_auth))
        .os_prep(node.os_prep)
        .open_firewall(node.open_firewall)
        .ready_timeout(node.ready_timeout.get()))
}

/// `registries.yaml` from the `registry_mirror` and `registry_auth` blocks.
pub fn registries(mirrors: &[RegistryMirror], auths: &[RegistryAuthBlock]) -> Registries {
    Registries {
        mirrors: mirrors
            .iter()
            .map(|m| Mirror {
                rewrites: m.rewrites.clone().unwrap_or_default(),
                ..Mirror::new(&m.registry, &m.endpoints)
            })
            .collect(),
        configs: auths
            .iter()
            .map(|a| RegistryAuth {
                registry: a.registry.clone(),
                username: a.username.clone(),
                password: a.password.clone(),
                insecure_skip_verify: a.insecure_skip_verify.unwrap_or(false),
                ca_file: a.ca_file.clone(),
            })
            .collect(),
    }
}

/// The blocks describing `registries` (for import): the inverse of [`registries`].
pub fn registry_blocks(registries: &Registries) -> (Vec<RegistryMirror>, Vec<RegistryAuthBlock>) {
    let mirrors = registries
        .mirrors
        .iter()
        .map(|m| RegistryMirror {
            registry: m.registry.clone(),
            endpoints: m.endpoints.clone(),
            rewrites: (!m.rewrites.is_empty()).then(|| m.rewrites.clone()),
        })
        .collect();
    let auths = registries
        .configs
        .iter()
        .map(|c| RegistryAuthBlock {
            registry: c.registry.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            insecure_skip_verify: c.insecure_skip_verify.then_some(true),
            ca_file: c.ca_file.clone(),
        })
        .collect();
    (mirrors, auths)
}
