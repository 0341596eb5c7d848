//! Importing a node K3s already runs on: the import IDs (`ssh://user@host:port`, an OCI
//! instance OCID, or `PROFILE/OCID`), and the state read from the node's `config.yaml`,
//! `registries.yaml` and the unit's env file, so that a configuration describing the node
//! plans no change.

use super::desired::registry_blocks;
use super::lifecycle::{connect, failed, observe, target_at};
use super::NodeModel;
use crate::host_location::{locate_instance, OciAddress, Whereabouts};
use crate::provider::ProviderConfig;
use crate::ssh_target::{self, LoginSettings, SshBlock};
use k3s_sdk::k3s::{self, Role, Unit};
use k3s_sdk::ssh::Target;
use k3s_sdk::Secret;
use tfplugin_runtime::cty::Value;
use tfplugin_runtime::{Context, Diagnostics};

/// The parts of an import ID `ssh://user@host:port?host_key=…` (user, port and host key optional).
#[derive(Debug, PartialEq, Eq)]
pub struct ImportId {
    /// The login user.
    pub user: Option<String>,
    /// The host.
    pub host: String,
    /// The SSH port.
    pub port: Option<u16>,
    /// The host's public key, percent-decoded: pinned for the import's connection and recorded
    /// as the resource's `ssh.host_key`.
    pub host_key: Option<String>,
}

/// Parses `ssh://user@host:port?host_key=…`, for any resource imported by the host it is reached
/// through.
pub fn parse_ssh_id(id: &str) -> Result<ImportId, String> {
    parse_import_id(id)
}

fn parse_import_id(id: &str) -> Result<ImportId, String> {
    let usage = "Import IDs look like ssh://user@host:port (user and port optional), optionally \
        with ?host_key=<the host's public key, percent-encoded> to pin it; credentials come from \
        the provider's ssh settings, never from the ID.";
    let rest = id
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("{id:?} does not start with ssh://. {usage}"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if rest.contains(['/', '#']) || rest.is_empty() {
        return Err(format!(
            "{id:?} is not a plain ssh://user@host:port. {usage}"
        ));
    }
    let host_key = match query {
        None => None,
        Some(query) => {
            let value = query
                .strip_prefix("host_key=")
                .filter(|v| !v.contains(['&', '#']))
                .ok_or_else(|| {
                    format!("{id:?}: the only query an import ID takes is host_key=…. {usage}")
                })?;
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| format!("{id:?}: the host key is not percent-encoded UTF-8. {usage}"))?
                .into_owned();
            k3s_sdk::ssh::HostKey::from_openssh(&decoded).map_err(|e| {
                format!("{id:?}: {e}. Percent-encode the key line, e.g. ssh-ed25519%20AAAA…")
            })?;
            Some(decoded)
        }
    };
    let (user, address) = match rest.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err(format!(
                "The ID carries a password (not repeated here); put credentials in the provider's \
                    ssh settings. {usage}"
            ))
        }
        Some((user, address)) => (Some(user.to_owned()), address),
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{id:?}: unclosed '[' in the address. {usage}"))?;
        (host.to_owned(), after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (address.to_owned(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{id:?}: {p:?} is not a port. {usage}"))
        })
        .transpose()?;
    if host.is_empty() {
        return Err(format!("{id:?} has no host. {usage}"));
    }
    Ok(ImportId {
        user,
        host,
        port,
        host_key,
    })
}

/// The host of a node id `ssh://user@host:port`.
pub fn host_of_id(id: &str) -> Option<String> {
    parse_import_id(id).ok().map(|parsed| parsed.host)
}

/// An import ID naming an OCI instance: `ocid1.instance...` or `PROFILE/ocid1.instance...`.
fn parse_oci_import_id(id: &str) -> Option<(Option<&str>, &str)> {
    let id = id.trim();
    if id.starts_with("ocid1.instance.") {
        return Some((None, id));
    }
    match id.split_once('/') {
        Some((profile, instance))
            if !profile.is_empty()
                && !profile.contains(':')
                && instance.starts_with("ocid1.instance.") =>
        {
            Some((Some(profile), instance))
        }
        _ => None,
    }
}

/// The node and target of `ssh://user@host:port`.
fn by_ssh(
    provider: &ProviderConfig,
    mut node: NodeModel,
    id: &str,
) -> Result<(NodeModel, Target, String), Diagnostics> {
    let parsed = parse_import_id(id).map_err(|e| failed("Invalid import ID", e))?;
    let (host, ssh) = ssh_settings(provider, parsed);
    if ssh.is_some() {
        node.ssh = ssh;
    }
    node.host = Some(host.clone());
    let (target, id) = target_at(&node, provider, &host)?;
    Ok((node, target, id))
}

/// The host of a parsed `ssh://` ID and the `ssh` block it describes: what it names that
/// differs from the provider's defaults (`None` when nothing does), as a configuration would
/// leave it, so that the first plan after the import is empty.
pub fn ssh_settings(provider: &ProviderConfig, parsed: ImportId) -> (String, Option<SshBlock>) {
    let default_user = provider
        .ssh
        .user
        .as_deref()
        .unwrap_or(ssh_target::DEFAULT_USER);
    let user = parsed.user.filter(|u| u != default_user);
    let port = parsed.port.filter(|p| *p != k3s_sdk::ssh::DEFAULT_PORT);
    let ssh = (user.is_some() || port.is_some() || parsed.host_key.is_some()).then(|| SshBlock {
        login: LoginSettings {
            user,
            port,
            host_key: parsed.host_key,
            ..LoginSettings::default()
        },
        ..SshBlock::default()
    });
    (parsed.host, ssh)
}

/// The node and target of an OCI instance: through `profile`, or the first profile that
/// finds it (recorded in `oci_profile` unless it is the first, the default).
async fn by_instance(
    provider: &ProviderConfig,
    mut node: NodeModel,
    profile: Option<&str>,
    instance: &str,
) -> Result<(NodeModel, Target, String), Diagnostics> {
    let names = match profile {
        Some(profile) => vec![profile.to_owned()],
        None => provider.oci.names(),
    };
    if names.is_empty() {
        return Err(Diagnostics::from_error(
            "No OCI profile configured",
            format!(
                "Importing {instance} needs an `oci_profile` block in the provider \
                configuration to look it up with."
            ),
        ));
    }
    let first = provider.oci.names().into_iter().next();
    let mut misses = Vec::new();
    for name in &names {
        let location =
            match locate_instance(&provider.oci, instance, Some(name), OciAddress::Private).await {
                Ok(Whereabouts::At(location)) => location,
                Ok(Whereabouts::Gone(why)) => {
                    misses.push(why);
                    continue;
                }
                Err(e) => {
                    misses.extend(e.0.iter().map(|d| format!("{}: {}", d.summary, d.detail)));
                    continue;
                }
            };
        node.oci_instance_id = Some(instance.to_owned());
        node.oci_profile =
            (profile.is_some() || first.as_deref() != Some(name.as_str())).then(|| name.clone());
        let (target, id) = target_at(&node, provider, &location.address)?;
        return Ok((node, target, id));
    }
    Err(Diagnostics::from_error(
        format!("Cannot import OCI instance {instance}"),
        format!(
            "No OCI profile ({}) finds a running instance with this OCID. {}",
            names.join(", "),
            misses.join(" ")
        ),
    ))
}

/// What an import found on a node.
pub struct Imported {
    /// The node's attributes; its read completes the computed ones.
    pub node: NodeModel,
    /// The role, from its unit and `config.yaml` (or env file).
    pub role: Role,
    /// The token the node runs with (`config.yaml` or its env file).
    pub token: Option<Secret>,
}

/// Imports the K3s node `id` names, starting from `blank`: connects with the provider's SSH
/// settings, checks the node runs `unit`, and reads its settings.
pub async fn import(
    ctx: &Context,
    id: &str,
    blank: NodeModel,
    unit: Unit,
    resource_of: impl Fn(Unit) -> &'static str,
) -> Result<Imported, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let (mut node, target, node_id, shown) = match parse_oci_import_id(id) {
        Some((profile, instance)) => {
            let (node, target, node_id) = by_instance(&provider, blank, profile, instance).await?;
            (node, target, node_id, instance.to_owned())
        }
        None => {
            let (node, target, node_id) = by_ssh(&provider, blank, id)?;
            let shown = node.host.clone().unwrap_or_default();
            (node, target, node_id, shown)
        }
    };
    let session = connect(&target).await?;
    let observed = observe(&session).await?;
    match observed.unit {
        Some(found) if found == unit => {}
        Some(found) => {
            return Err(Diagnostics::from_error(
                "Wrong resource type for this node",
                format!(
                    "{shown} runs {}.service; import it as {}.",
                    found.name(),
                    resource_of(found)
                ),
            ))
        }
        None => {
            return Err(Diagnostics::from_error(
                "No K3s on this host",
                format!(
                    "{shown} has neither {}.service nor {}.service; there is nothing to import.",
                    Unit::Server.name(),
                    Unit::Agent.name()
                ),
            ))
        }
    }
    if !observed.exec_args.is_empty() {
        ctx.warn(
            "Settings on the unit's command line are read into config",
            format!(
                "{}.service starts K3s with {}. They are part of `config` now, as config.yaml \
                    settings; write them there. The next apply that changes this node writes them \
                    into config.yaml and rewrites the unit's ExecStart without them, as the \
                    installer writes it.",
                unit.name(),
                observed.exec_args.join(" ")
            ),
        );
    }
    let config = observed.effective_config().ok_or_else(|| {
        Diagnostics::from_error(
            "Cannot read config.yaml",
            format!(
                "{shown}: {} is not a YAML map of K3s settings.",
                k3s::CONFIG_PATH
            ),
        )
    })?;
    node.id = Some(node_id);
    if let Some(version) = observed.version {
        node.version = version.to_string();
    }
    node.config = if config.settings.is_empty() {
        Value::Null
    } else {
        Value::from_plain_json(&serde_json::Value::Object(config.settings.clone()))
    };
    node.node_labels = (!config.node_labels.is_empty()).then(|| config.node_labels.clone());
    node.node_taints = (!config.node_taints.is_empty()).then(|| config.node_taints.clone());
    if let Some(registries) = observed.registries() {
        (node.registry_mirror, node.registry_auth) = registry_blocks(&registries);
    }
    Ok(Imported {
        node,
        role: config.role.clone(),
        token: config.token.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_may_name_oci_instances() {
        assert_eq!(
            parse_oci_import_id("ocid1.instance.oc1.phx.abc"),
            Some((None, "ocid1.instance.oc1.phx.abc"))
        );
        assert_eq!(
            parse_oci_import_id("tenancy_b/ocid1.instance.oc1.phx.abc"),
            Some((Some("tenancy_b"), "ocid1.instance.oc1.phx.abc"))
        );
        assert_eq!(parse_oci_import_id("ssh://root@10.0.0.5"), None);
        assert_eq!(parse_oci_import_id("ocid1.compartment.oc1..abc"), None);
        assert_eq!(
            host_of_id("ssh://root@10.0.0.5:22").as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn import_ids_are_ssh_urls_without_secrets() {
        assert_eq!(
            parse_import_id("ssh://ubuntu@10.0.0.5:2222").unwrap(),
            ImportId {
                user: Some("ubuntu".into()),
                host: "10.0.0.5".into(),
                port: Some(2222),
                host_key: None,
            }
        );
        assert_eq!(
            parse_import_id("ssh://[fd00::5]:22").unwrap(),
            ImportId {
                user: None,
                host: "fd00::5".into(),
                port: Some(22),
                host_key: None,
            }
        );
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
        let pinned = parse_import_id(&format!(
            "ssh://root@10.0.0.5?host_key={}",
            key.replace(' ', "%20")
                .replace('/', "%2F")
                .replace('+', "%2B")
        ))
        .unwrap();
        assert_eq!(pinned.host_key.as_deref(), Some(key));
        assert!(parse_import_id("ssh://root@10.0.0.5?host_key=not-a-key").is_err());
        assert_eq!(
            parse_import_id("ssh://node-1.example.com").unwrap().host,
            "node-1.example.com"
        );
        let with_password = parse_import_id("ssh://root:hunter2@10.0.0.5").unwrap_err();
        assert!(
            with_password.contains("carries a password") && !with_password.contains("hunter2"),
            "{with_password}"
        );
        assert!(parse_import_id("10.0.0.5").is_err());
        assert!(parse_import_id("ssh://root@10.0.0.5:99999").is_err());
        assert!(parse_import_id("ssh://root@10.0.0.5?key=x").is_err());
        assert!(parse_import_id("ssh://root@10.0.0.5/path").is_err());
    }
}
