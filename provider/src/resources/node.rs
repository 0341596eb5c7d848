//! What `k3s_server` and `k3s_agent` share: the SSH target built from the `ssh` block and the
//! provider's defaults, the desired K3s state built from the configuration, reading a node back
//! into state, and the plan rules that make drift on the node show up as a change.

use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::Value;
use crate::runtime::{Context, Diagnostics, PlanRequest};
use k3s_sdk::k3s::{
    self, Desired, InstallPlan, Installer, Mirror, NodeConfig, Observed, Registries, RegistryAuth,
    Role, Service,
};
use k3s_sdk::ssh::{Bastion, Credentials, HostKeyPolicy, Secret, Session, Sudo, Target};
use std::collections::BTreeMap;
use std::time::Duration;

/// An error diagnostic for a failed step on a host.
pub fn failed(summary: &str, error: impl std::fmt::Display) -> Diagnostics {
    Diagnostics::from_error(summary, error.to_string())
}

fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.attr(name).and_then(Value::as_str)
}

fn flag(v: &Value, name: &str) -> Option<bool> {
    v.attr(name).and_then(Value::as_bool)
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_owned(),
    }
}

fn credentials(block: &Value, provider: &ProviderConfig) -> Credentials {
    if let Some(key) = text(block, "private_key") {
        Credentials::key(Secret::new(key))
    } else if let Some(file) = text(block, "private_key_file") {
        Credentials::key_file(expand_home(file))
    } else if flag(block, "use_agent") == Some(true) {
        Credentials::agent()
    } else if let Some(key) = &provider.ssh_private_key {
        Credentials::key(key.clone())
    } else if let Some(file) = &provider.ssh_private_key_file {
        Credentials::key_file(expand_home(file))
    } else {
        Credentials::agent()
    }
}

fn host_key(block: &Value, provider: &ProviderConfig) -> Result<HostKeyPolicy, Diagnostics> {
    if let Some(line) = text(block, "host_key") {
        return HostKeyPolicy::pinned(line).map_err(|e| failed("Invalid ssh.host_key", e));
    }
    if let Some(file) = text(block, "known_hosts_file")
        .map(str::to_owned)
        .or_else(|| provider.known_hosts_file.clone())
    {
        return Ok(HostKeyPolicy::known_hosts(expand_home(&file)));
    }
    if flag(block, "insecure_ignore_host_key") == Some(true) {
        return Ok(HostKeyPolicy::InsecureAcceptAny);
    }
    Ok(HostKeyPolicy::known_hosts(expand_home(
        "~/.ssh/known_hosts",
    )))
}

/// The SSH target of a node resource, and its id (`ssh://user@host:port`).
pub fn target(state: &Value, provider: &ProviderConfig) -> Result<(Target, String), Diagnostics> {
    let host = match (text(state, "host"), text(state, "oci_instance_id")) {
        (Some(host), _) => host.to_owned(),
        (None, Some(_)) => {
            return Err(Diagnostics::from_error(
                "oci_instance_id is not supported yet",
                "This version reaches nodes by `host` only; resolving OCI instances arrives with the OCI support.",
            ))
        }
        (None, None) => return Err(Diagnostics::from_error("Missing host", "Set `host`.")),
    };
    let block = state.attr("ssh").cloned().unwrap_or(Value::Null);
    let user = text(&block, "user")
        .map(str::to_owned)
        .or_else(|| provider.ssh_user.clone())
        .unwrap_or_else(|| "root".into());
    let port = block
        .attr("port")
        .and_then(Value::as_number)
        .and_then(|n| n.as_i64())
        .unwrap_or(22) as u16;
    let mut target = Target::new(
        host.clone(),
        user.clone(),
        credentials(&block, provider),
        host_key(&block, provider)?,
    )
    .port(port);
    if let Some(timeout) = text(&block, "connect_timeout").and_then(shared::parse_duration) {
        target = target.retry_for(timeout);
    }
    target = match (flag(&block, "sudo"), text(&block, "sudo_password")) {
        (_, Some(password)) => target.sudo(Sudo::Password(Secret::new(password))),
        (Some(true), None) => target.sudo(Sudo::Passwordless),
        _ => target,
    };
    if let Some(bastion) = block.attr("bastion").filter(|b| !b.is_null()) {
        let bastion_host = text(bastion, "host").unwrap_or_default().to_owned();
        let bastion_user = text(bastion, "user")
            .map(str::to_owned)
            .unwrap_or_else(|| user.clone());
        let port = bastion
            .attr("port")
            .and_then(Value::as_number)
            .and_then(|n| n.as_i64())
            .unwrap_or(22) as u16;
        target = target.bastion(
            Bastion::new(
                bastion_host,
                bastion_user,
                credentials(bastion, provider),
                host_key(bastion, provider)?,
            )
            .port(port),
        );
    }
    Ok((target, format!("ssh://{user}@{host}:{port}")))
}

/// Connects to the node, or explains why not.
pub async fn connect(target: &Target) -> Result<Session, Diagnostics> {
    Session::connect(target)
        .await
        .map_err(|e| failed(&format!("Cannot connect to {}", target.host), e))
}

/// The K3s state the configuration asks for.
pub fn desired(
    state: &Value,
    provider: &ProviderConfig,
    role: Role,
    service: Service,
    token: Option<Secret>,
) -> Result<Desired, Diagnostics> {
    let mut config = NodeConfig::new(role);
    config.token = token;
    if let Some(Value::Map(labels)) = state.attr("node_labels") {
        config.node_labels = labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
    }
    if let Some(Value::List(taints)) = state.attr("node_taints") {
        config.node_taints = taints
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
    }
    match state.attr("config").map(Value::to_plain_json) {
        Some(Some(serde_json::Value::Object(settings))) => config.settings = settings,
        Some(Some(serde_json::Value::Null)) | Some(None) | None => {}
        Some(Some(_)) => {
            return Err(Diagnostics::from_error(
                "Invalid config",
                "`config` must be an object of K3s settings, e.g. { disable = [\"traefik\"] }.",
            ))
        }
    }
    let version = text(state, "version")
        .unwrap_or_default()
        .parse()
        .map_err(|e| failed("Invalid version", e))?;
    if text(state, "airgap_binary").is_some() {
        return Err(Diagnostics::from_error(
            "airgap_binary is not supported yet",
            "This version downloads K3s with the install script.",
        ));
    }
    let script_url = text(state, "installer_url")
        .map(str::to_owned)
        .unwrap_or_else(|| provider.installer_url.clone());
    Ok(Desired {
        config,
        registries: registries(state),
        install: InstallPlan {
            service,
            version,
            installer: Installer::Download {
                script_url,
                release_base: provider.release_base_url.clone(),
            },
        },
        os_prep: flag(state, "os_prep").unwrap_or(true),
        open_firewall: flag(state, "open_firewall").unwrap_or(true),
        ready_timeout: Duration::from_secs(300),
    })
}

fn registries(state: &Value) -> Registries {
    let mut registries = Registries::default();
    if let Some(Value::List(mirrors)) = state.attr("registry_mirror") {
        for m in mirrors {
            let endpoints = match m.attr("endpoints") {
                Some(Value::List(e)) => e
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let rewrites: BTreeMap<String, String> = match m.attr("rewrites") {
                Some(Value::Map(r)) => r
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            registries.mirrors.push(Mirror {
                registry: text(m, "registry").unwrap_or_default().to_owned(),
                endpoints,
                rewrites,
            });
        }
    }
    if let Some(Value::List(auths)) = state.attr("registry_auth") {
        for a in auths {
            registries.configs.push(RegistryAuth {
                registry: text(a, "registry").unwrap_or_default().to_owned(),
                username: text(a, "username").map(str::to_owned),
                password: text(a, "password").map(Secret::new),
                insecure_skip_verify: flag(a, "insecure_skip_verify").unwrap_or(false),
                ca_file: text(a, "ca_file").map(str::to_owned),
            });
        }
    }
    registries
}

/// Sets attributes of an object value.
pub fn with(state: &Value, values: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    let mut state = state.clone();
    if let Value::Object(m) = &mut state {
        for (k, v) in values {
            m.insert(k.to_owned(), v);
        }
    }
    state
}

fn opt(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

/// The read-back attributes common to servers and agents. `version` takes the installed
/// release, so a node changed behind Terraform's back plans an upgrade (or a refusal).
pub fn observed_attributes(state: &Value, observed: &Observed, id: &str) -> Value {
    with(
        state,
        [
            ("id", Value::string(id)),
            (
                "installed_version",
                opt(observed.version.map(|v| v.to_string())),
            ),
            (
                "version",
                observed
                    .version
                    .map(|v| Value::string(v.to_string()))
                    .unwrap_or_else(|| state.attr("version").cloned().unwrap_or(Value::Null)),
            ),
            ("service_active", Value::Bool(observed.active)),
            ("config_sha256", opt(observed.config_sha256.clone())),
            ("registries_sha256", opt(observed.registries_sha256.clone())),
            ("env_sha256", opt(observed.env_sha256.clone())),
        ],
    )
}

/// Plan rules for nodes: the files' hashes are known from the configuration, the service is
/// planned active, and a planned change leaves unknown what only the node can tell.
pub fn plan(request: PlanRequest<'_>, desired: Option<Desired>, keep: &[&str]) {
    let Some(desired) = desired else { return };
    let Ok(config) = desired.config.render() else {
        return;
    };
    let registries = if desired.registries.is_empty() {
        Value::Null
    } else {
        Value::string(k3s::sha256_hex(&desired.registries.render()))
    };
    // The files' hashes are known only when everything rendered into them is (an agent's
    // token and server URL come from a server that may not exist yet).
    let inputs = [
        "config",
        "node_labels",
        "node_taints",
        "registry_mirror",
        "registry_auth",
        "server_url",
        "token",
        "cluster_init",
    ];
    let inputs_known = inputs
        .iter()
        .all(|n| request.planned.attr(n).is_none_or(Value::is_wholly_known));
    let mut planned_values = vec![
        ("service_active", Value::Bool(true)),
        (
            "installed_version",
            Value::string(desired.install.version.to_string()),
        ),
    ];
    if inputs_known {
        planned_values.push(("config_sha256", Value::string(k3s::sha256_hex(&config))));
        planned_values.push(("registries_sha256", registries));
    }
    *request.planned = with(request.planned, planned_values);
    if request.prior.is_null() || *request.planned == *request.prior {
        return;
    }
    // Something changes: what the node reports afterwards is not known yet, except what is
    // set above and what stays put.
    if let Value::Object(planned) = &mut *request.planned {
        for name in [
            "env_sha256",
            "node_ready",
            "joined_server_url",
            "kubeconfig",
            "client_certificate",
            "client_key",
        ] {
            if planned.contains_key(name) && !keep.contains(&name) {
                planned.insert(name.to_owned(), Value::unknown());
            }
        }
    }
}

/// Connects for a read: an unreachable host reads as gone (with a warning), so a node that was
/// deleted plans a re-create instead of failing every plan.
pub async fn connect_for_read(
    ctx: &Context,
    state: &Value,
) -> Result<Option<(Session, String)>, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let (target, id) = target(state, &provider)?;
    match Session::connect(&target).await {
        Ok(session) => Ok(Some((session, id))),
        Err(e) => {
            ctx.warn(
                format!("{} is unreachable; it reads as gone", target.host),
                e.to_string(),
            );
            Ok(None)
        }
    }
}

/// Destroys a node's K3s: nothing with `orphan_on_destroy`; an unreachable host only warns, so
/// a host that is gone does not block destroy.
pub async fn destroy(ctx: &Context, prior: &Value, service: Service) -> Result<(), Diagnostics> {
    if prior.attr("orphan_on_destroy").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let provider = ctx.provider::<ProviderConfig>()?;
    let (target, _) = target(prior, &provider)?;
    let session = match Session::connect(&target).await {
        Ok(session) => session,
        Err(e) => {
            ctx.warn(
                format!(
                    "{} is unreachable; K3s was not uninstalled from it",
                    target.host
                ),
                e.to_string(),
            );
            return Ok(());
        }
    };
    k3s::uninstall(&session, service)
        .await
        .map_err(|e| failed(&format!("Uninstalling {} failed", service.unit()), e))
}

/// Reads the node's K3s state, with the error a user sees when that fails.
pub async fn observe(session: &Session) -> Result<Observed, Diagnostics> {
    k3s::observe(session)
        .await
        .map_err(|e| failed("Cannot read K3s on the host", e))
}

/// The create/update path of both node types: connect, converge to the configuration, and
/// read the node back. `failure` is the summary shown when converging fails.
pub async fn apply(
    ctx: &Context,
    planned: &Value,
    role: Role,
    service: Service,
    token: Option<Secret>,
    failure: &str,
) -> Result<(Session, Observed, String), Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let (target, id) = target(planned, &provider)?;
    let desired = desired(planned, &provider, role, service, token)?;
    let session = connect(&target).await?;
    let before = observe(&session).await?;
    k3s::converge(&session, &desired, &before)
        .await
        .map_err(|e| failed(failure, e))?;
    let after = observe(&session).await?;
    Ok((session, after, id))
}
