//! What `k3s_server` and `k3s_agent` share: the SSH target built from the `ssh` block and the
//! provider's defaults, the desired K3s state built from the configuration, reading a node back
//! into state, and the plan rules that make drift on the node show up as a change.

use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::Value;
use crate::runtime::schema::Block;
use crate::runtime::{Context, Diagnostics, PlanRequest};
use k3s_sdk::k3s::{
    self, ApiAccess, Desired, InstallPlan, Installer, Mirror, NodeConfig, Observed, Registries,
    RegistryAuth, Role, Service,
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

/// `~/x` -> `$HOME/x`.
pub fn expand_home(path: &str) -> String {
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

/// Where a node's host is: the address to connect to, and its private IP when known (an OCI
/// instance's, or `host` when it is an IP address), for load balancer backends.
#[derive(Debug, Clone)]
pub struct Location {
    /// The address SSH connects to.
    pub address: String,
    /// The host's private IP address, if known.
    pub private_ip: Option<String>,
}

/// Whether a node's host still exists.
#[derive(Debug, Clone)]
pub enum Whereabouts {
    /// It is there.
    At(Location),
    /// Its OCI instance is terminated or not found (why, for the warning).
    Gone(String),
}

/// Finds the node's host: `host` as given, or the address of `oci_instance_id` looked up with
/// its `oci_profile` (`oci_address` picks the private or public IP). A terminated or unknown
/// instance is [`Whereabouts::Gone`].
pub async fn locate(state: &Value, provider: &ProviderConfig) -> Result<Whereabouts, Diagnostics> {
    match (text(state, "host"), text(state, "oci_instance_id")) {
        (Some(host), _) => Ok(Whereabouts::At(Location {
            address: host.to_owned(),
            private_ip: host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| ip.to_string()),
        })),
        (None, Some(instance)) => {
            locate_instance(
                provider,
                instance,
                text(state, "oci_profile"),
                text(state, "oci_address"),
            )
            .await
        }
        (None, None) => Err(Diagnostics::from_error(
            "Missing host",
            "Set `host` or `oci_instance_id`.",
        )),
    }
}

/// Looks up an OCI instance's address through profile `profile` (the first when `None`).
pub async fn locate_instance(
    provider: &ProviderConfig,
    instance_id: &str,
    profile: Option<&str>,
    address_kind: Option<&str>,
) -> Result<Whereabouts, Diagnostics> {
    let (name, client) = provider.oci.client(profile)?;
    let instance = match client.compute().get_instance(instance_id).await {
        Ok(instance) => instance,
        Err(e) if e.status() == Some(404) => {
            return Ok(Whereabouts::Gone(format!(
                "OCI instance {instance_id} is not found through OCI profile {name:?}. {e}"
            )))
        }
        Err(e) => {
            return Err(failed(
                &format!("Cannot look up OCI instance {instance_id} (OCI profile {name:?})"),
                e,
            ))
        }
    };
    if matches!(
        instance.lifecycle_state.as_str(),
        "TERMINATED" | "TERMINATING"
    ) {
        return Ok(Whereabouts::Gone(format!(
            "OCI instance {instance_id} ({}) is {}.",
            instance.display_name, instance.lifecycle_state
        )));
    }
    let addresses = client
        .resolve_instance_addresses(instance_id)
        .await
        .map_err(|e| {
            failed(
                &format!("Cannot find the address of OCI instance {instance_id}"),
                e,
            )
        })?;
    let address = if address_kind == Some("public") {
        addresses.public_ip.clone().ok_or_else(|| {
            Diagnostics::from_error(
                format!("OCI instance {instance_id} has no public IP"),
                format!(
                    "{} ({}) has only the private IP {}; set `oci_address = \"private\"` (through a bastion or a peered network) or assign it a public IP.",
                    instance_id, instance.display_name, addresses.private_ip
                ),
            )
        })?
    } else {
        addresses.private_ip.clone()
    };
    tracing::debug!(instance = instance_id, profile = %name, address = %address, "resolved OCI instance");
    Ok(Whereabouts::At(Location {
        address,
        private_ip: Some(addresses.private_ip),
    }))
}

/// The SSH target of a node resource, and its id (`ssh://user@host:port`); a node whose OCI
/// instance is gone is an error here (reads use [`connect_for_read`], which treats it as gone).
pub async fn target(
    state: &Value,
    provider: &ProviderConfig,
) -> Result<(Target, String), Diagnostics> {
    match locate(state, provider).await? {
        Whereabouts::At(location) => target_at(state, provider, &location.address),
        Whereabouts::Gone(why) => Err(Diagnostics::from_error(
            "The node's OCI instance is gone",
            format!("{why} Point `oci_instance_id` at a running instance."),
        )),
    }
}

/// The SSH target of a node resource at `host`, and its id (`ssh://user@host:port`).
pub fn target_at(
    state: &Value,
    provider: &ProviderConfig,
    host: &str,
) -> Result<(Target, String), Diagnostics> {
    let host = host.to_owned();
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
    let script_url = text(state, "installer_url")
        .map(str::to_owned)
        .unwrap_or_else(|| provider.installer_url.clone());
    let installer = match (
        text(state, "airgap_binary"),
        text(state, "airgap_binary_sha256"),
    ) {
        (Some(binary), Some(sha256)) => Installer::AirGap {
            script_url,
            binary: expand_home(binary).into(),
            sha256: sha256.to_owned(),
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
    Ok(Desired {
        config,
        registries: registries(state),
        install: InstallPlan {
            service,
            version,
            installer,
        },
        os_prep: flag(state, "os_prep").unwrap_or(true),
        open_firewall: flag(state, "open_firewall").unwrap_or(true),
        ready_timeout: text(state, "ready_timeout")
            .and_then(shared::parse_duration)
            .unwrap_or(Duration::from_secs(300)),
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

/// Connects for a read: an unreachable host, or a terminated (or unknown) OCI instance, reads
/// as gone (with a warning), so a node that was deleted plans a re-create instead of failing
/// every plan.
pub async fn connect_for_read(
    ctx: &Context,
    state: &Value,
) -> Result<Option<(Session, String)>, Diagnostics> {
    Ok(connect_located(ctx, state)
        .await?
        .map(|(session, id, _)| (session, id)))
}

/// [`connect_for_read`], also returning where the node is.
pub async fn connect_located(
    ctx: &Context,
    state: &Value,
) -> Result<Option<(Session, String, Location)>, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let location = match locate(state, &provider).await? {
        Whereabouts::At(location) => location,
        Whereabouts::Gone(why) => {
            ctx.warn("The node's OCI instance is gone; it reads as gone", why);
            return Ok(None);
        }
    };
    let (target, id) = target_at(state, &provider, &location.address)?;
    match Session::connect(&target).await {
        Ok(session) => Ok(Some((session, id, location))),
        Err(e) => {
            ctx.warn(
                format!("{} is unreachable; it reads as gone", target.host),
                e.to_string(),
            );
            Ok(None)
        }
    }
}

/// Destroys a node's K3s: nothing with `orphan_on_destroy`; otherwise the node is drained
/// and its Node object deleted through `api` (when given), then K3s is uninstalled. An
/// unreachable host or API only warns, so a host that is gone does not block destroy.
pub async fn destroy(
    ctx: &Context,
    prior: &Value,
    service: Service,
    api: ClusterApi,
) -> Result<(), Diagnostics> {
    let deadline = operation_deadline(prior, "delete");
    tokio::time::timeout(deadline, destroy_unbounded(ctx, prior, service, api))
        .await
        .unwrap_or_else(|_| Err(timed_out(prior, "delete", deadline)))
}

async fn destroy_unbounded(
    ctx: &Context,
    prior: &Value,
    service: Service,
    api: ClusterApi,
) -> Result<(), Diagnostics> {
    if prior.attr("orphan_on_destroy").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let provider = ctx.provider::<ProviderConfig>()?;
    let location = match locate(prior, &provider).await? {
        Whereabouts::At(location) => location,
        Whereabouts::Gone(why) => {
            ctx.warn(
                "The node's OCI instance is gone; there is no K3s to uninstall",
                why,
            );
            return Ok(());
        }
    };
    let (target, _) = target_at(prior, &provider, &location.address)?;
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
    let observed = observe(&session).await?;
    if observed.service.is_some() {
        if let Some(access) = api.access(&session).await {
            remove_from_cluster(ctx, &session, prior, &observed, &access).await;
        }
    }
    k3s::uninstall(&session, service)
        .await
        .map_err(|e| failed(&format!("Uninstalling {} failed", service.unit()), e))
}

/// How long create and update wait for a converged node to report Ready.
pub const READY_WAIT: Duration = Duration::from_secs(90);

/// Whether the node is Ready according to the API, asked through `access` (`None` when there
/// is no way to ask, or the API does not answer). With `wait`, polls until Ready or the
/// deadline.
pub async fn ready(
    session: &Session,
    state: &Value,
    observed: &Observed,
    access: Option<ApiAccess>,
    wait: Option<Duration>,
) -> Option<bool> {
    let access = access?;
    let name = observed.node_name(configured_node_name(state).as_deref())?;
    let deadline = std::time::Instant::now() + wait.unwrap_or_default();
    loop {
        let ready = k3s::node_ready(session, &access, &name)
            .await
            .ok()
            .flatten();
        if ready == Some(true) || std::time::Instant::now() >= deadline {
            return ready;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// How a node reaches the Kubernetes API to remove itself from the cluster.
pub enum ClusterApi {
    /// A server uses its own admin kubeconfig, when other servers remain (removing the last
    /// one takes the cluster with it, so there is nothing to drain to).
    OwnServer,
    /// An agent uses the kubeconfig it was given, if any.
    Kubeconfig(Option<Secret>),
}

impl ClusterApi {
    async fn access(self, session: &Session) -> Option<ApiAccess> {
        match self {
            ClusterApi::OwnServer => {
                match k3s::control_plane_count(session, &ApiAccess::Local).await {
                    Ok(Some(n)) if n > 1 => Some(ApiAccess::Local),
                    _ => None,
                }
            }
            ClusterApi::Kubeconfig(kubeconfig) => kubeconfig.map(ApiAccess::Kubeconfig),
        }
    }
}

/// Drains the node and deletes its Node object; problems become warnings.
async fn remove_from_cluster(
    ctx: &Context,
    session: &Session,
    prior: &Value,
    observed: &Observed,
    access: &ApiAccess,
) {
    let drain_timeout = text(prior, "drain_timeout")
        .and_then(shared::parse_duration)
        .unwrap_or(Duration::from_secs(300));
    let Some(name) = observed.node_name(configured_node_name(prior).as_deref()) else {
        ctx.warn(
            "The node was not removed from the cluster",
            "Its name could not be read; K3s is uninstalled anyway.",
        );
        return;
    };
    let result = k3s::remove_node(session, access, &name, drain_timeout)
        .await
        .map(|removal| (name, removal));
    match result {
        Ok((_, removal)) if removal.problems.is_empty() => {}
        Ok((name, removal)) => ctx.warn(
            format!("Node {name} was not cleanly removed from the cluster"),
            format!("K3s is uninstalled anyway. {}", removal.problems.join("; ")),
        ),
        Err(e) => ctx.warn(
            "The node was not removed from the cluster",
            format!("K3s is uninstalled anyway. {e}"),
        ),
    }
}

/// The `node-name` set in `config`, if any.
pub fn configured_node_name(state: &Value) -> Option<String> {
    state
        .attr("config")
        .and_then(Value::to_plain_json)?
        .get("node-name")?
        .as_str()
        .map(str::to_owned)
}

/// Reads the node's K3s state, with the error a user sees when that fails.
pub async fn observe(session: &Session) -> Result<Observed, Diagnostics> {
    k3s::observe(session)
        .await
        .map_err(|e| failed("Cannot read K3s on the host", e))
}

/// Which of the two apply paths runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new node.
    Create,
    /// A node in state.
    Update,
}

impl Operation {
    /// The operation's name in the `timeouts` block.
    fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
        }
    }

    /// The summary shown when converging the node fails.
    fn failure(self, service: Service) -> String {
        let what = match service {
            Service::Server => "server",
            Service::Agent => "agent",
        };
        match self {
            Operation::Create => format!("Installing the K3s {what} failed"),
            Operation::Update => format!("Updating the K3s {what} failed"),
        }
    }
}

/// The create/update path of both node types: connect, converge to the configuration, and
/// read the node back, within the `timeouts` deadline of `operation`.
pub async fn apply(
    ctx: &Context,
    planned: &Value,
    role: Role,
    service: Service,
    token: Option<Secret>,
    operation: Operation,
) -> Result<(Session, Observed, String), Diagnostics> {
    let deadline = operation_deadline(planned, operation.name());
    let failure = operation.failure(service);
    let operation = operation.name();
    tokio::time::timeout(
        deadline,
        apply_unbounded(ctx, planned, role, service, token, &failure),
    )
    .await
    .unwrap_or_else(|_| Err(timed_out(planned, operation, deadline)))
}

/// The deadline of an operation from the `timeouts` block (create and update 15 minutes,
/// delete 10).
pub fn operation_deadline(state: &Value, operation: &str) -> Duration {
    let default = if operation == "delete" { 600 } else { 900 };
    state
        .attr("timeouts")
        .and_then(|t| text(t, operation))
        .and_then(shared::parse_duration)
        .unwrap_or(Duration::from_secs(default))
}

fn timed_out(state: &Value, operation: &str, deadline: Duration) -> Diagnostics {
    Diagnostics::from_error(
        format!("Timed out after {deadline:?}"),
        format!(
            "The {operation} of the node at {} did not finish within timeouts.{operation}. Raise it, or look at the node: nothing is lost, the next apply continues from what is there.",
            text(state, "host")
                .or_else(|| text(state, "oci_instance_id"))
                .unwrap_or("?")
        ),
    )
}

async fn apply_unbounded(
    ctx: &Context,
    planned: &Value,
    role: Role,
    service: Service,
    token: Option<Secret>,
    failure: &str,
) -> Result<(Session, Observed, String), Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let (target, id) = target(planned, &provider).await?;
    let desired = desired(planned, &provider, role, service, token)?;
    let session = connect(&target).await?;
    let before = observe(&session).await?;
    k3s::converge(&session, &desired, &before)
        .await
        .map_err(|e| failed(failure, e))?;
    let after = observe(&session).await?;
    Ok((session, after, id))
}

/// The parts of an import ID `ssh://user@host:port` (user and port optional).
#[derive(Debug, PartialEq, Eq)]
struct ImportId {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_import_id(id: &str) -> Result<ImportId, String> {
    let usage = "Import IDs look like ssh://user@host:port (user and port optional); credentials and host keys come from the provider's ssh settings, never from the ID.";
    let rest = id
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("{id:?} does not start with ssh://. {usage}"))?;
    if rest.contains(['?', '/', '#']) || rest.is_empty() {
        return Err(format!(
            "{id:?} is not a plain ssh://user@host:port. {usage}"
        ));
    }
    let (user, address) = match rest.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err(format!(
                "The ID carries a password (not repeated here); put credentials in the provider's ssh settings. {usage}"
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
    Ok(ImportId { user, host, port })
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

/// The import state and target of `ssh://user@host:port`, and the host.
fn import_target_by_ssh(
    provider: &ProviderConfig,
    block: &Block,
    id: &str,
) -> Result<(Value, Target, String, String), Diagnostics> {
    let parsed = parse_import_id(id).map_err(|e| failed("Invalid import ID", e))?;
    let default_user = provider.ssh_user.clone().unwrap_or_else(|| "root".into());
    let state = block.unset_value();
    let ssh_block = block
        .blocks
        .iter()
        .find(|b| b.name == "ssh")
        .map(|b| b.block.unset_value());
    let user = parsed.user.filter(|u| *u != default_user);
    let port = parsed.port.filter(|p| *p != 22);
    let ssh = match (ssh_block, &user, port) {
        (Some(ssh), Some(_), _) | (Some(ssh), _, Some(_)) => with(
            &ssh,
            [
                (
                    "user",
                    user.clone().map(Value::String).unwrap_or(Value::Null),
                ),
                (
                    "port",
                    port.map(|p| Value::int(p.into())).unwrap_or(Value::Null),
                ),
            ],
        ),
        _ => Value::Null,
    };
    let state = with(
        &state,
        [("host", Value::string(parsed.host.clone())), ("ssh", ssh)],
    );
    let (target, id) = target_at(&state, provider, &parsed.host)?;
    Ok((state, target, id, parsed.host))
}

/// The import state and target of an OCI instance: through `profile`, or the first profile
/// that finds it (recorded in `oci_profile` unless it is the first, the default).
async fn import_target_by_instance(
    provider: &ProviderConfig,
    block: &Block,
    profile: Option<&str>,
    instance: &str,
) -> Result<(Value, Target, String), Diagnostics> {
    let names = match profile {
        Some(profile) => vec![profile.to_owned()],
        None => provider.oci.names(),
    };
    if names.is_empty() {
        return Err(Diagnostics::from_error(
            "No OCI profile configured",
            format!("Importing {instance} needs an `oci_profile` block in the provider configuration to look it up with."),
        ));
    }
    let first = provider.oci.names().into_iter().next();
    let mut misses = Vec::new();
    for name in &names {
        let location = match locate_instance(provider, instance, Some(name), None).await {
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
        let recorded = if profile.is_some() || first.as_deref() != Some(name.as_str()) {
            Value::string(name.clone())
        } else {
            Value::Null
        };
        let state = with(
            &block.unset_value(),
            [
                ("oci_instance_id", Value::string(instance)),
                ("oci_profile", recorded),
            ],
        );
        let (target, id) = target_at(&state, provider, &location.address)?;
        return Ok((state, target, id));
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
    /// The state to hand Terraform; its read completes the computed attributes.
    pub state: Value,
    /// The token the node runs with (config.yaml or its env file).
    pub token: Option<String>,
}

/// Imports the K3s node at `ssh://user@host:port`: connects with the provider's SSH settings,
/// checks the node runs `service`, and reads its settings from config.yaml, registries.yaml
/// and the unit's env file, so that a configuration describing the node plans no change.
pub async fn import(
    ctx: &Context,
    id: &str,
    block: &Block,
    service: Service,
) -> Result<Imported, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let (state, target, id, shown) = match parse_oci_import_id(id) {
        Some((profile, instance)) => {
            let (state, target, id) =
                import_target_by_instance(&provider, block, profile, instance).await?;
            (state, target, id, instance.to_owned())
        }
        None => {
            let (state, target, id, host) = import_target_by_ssh(&provider, block, id)?;
            (state, target, id, host)
        }
    };
    let session = connect(&target).await?;
    let observed = observe(&session).await?;
    match observed.service {
        Some(found) if found == service => {}
        Some(found) => {
            return Err(Diagnostics::from_error(
                "Wrong resource type for this node",
                format!(
                    "{} runs {}.service; import it as {}.",
                    shown,
                    found.unit(),
                    if found == Service::Server {
                        "k3s_server"
                    } else {
                        "k3s_agent"
                    }
                ),
            ))
        }
        None => {
            return Err(Diagnostics::from_error(
                "No K3s on this host",
                format!(
                    "{} has neither k3s.service nor k3s-agent.service; there is nothing to import.",
                    shown
                ),
            ))
        }
    }
    if !observed.exec_args.is_empty() {
        ctx.warn(
            "Settings on the unit's command line are not managed",
            format!(
                "{}.service starts K3s with {}; settings are managed in config.yaml only. Move them to `config` and apply, or they stay as they are.",
                service.unit(),
                observed.exec_args.join(" ")
            ),
        );
    }
    let config = observed.effective_config().ok_or_else(|| {
        Diagnostics::from_error(
            "Cannot read config.yaml",
            format!(
                "{}: {} is not a YAML map of K3s settings.",
                shown,
                k3s::CONFIG_PATH
            ),
        )
    })?;
    let token = config.token.as_ref().map(|t| t.expose().to_owned());
    let settings = if config.settings.is_empty() {
        Value::Null
    } else {
        Value::from_plain_json(&serde_json::Value::Object(config.settings.clone()))
    };
    let labels = if config.node_labels.is_empty() {
        Value::Null
    } else {
        Value::Map(
            config
                .node_labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::string(v)))
                .collect(),
        )
    };
    let taints = if config.node_taints.is_empty() {
        Value::Null
    } else {
        Value::List(config.node_taints.iter().map(Value::string).collect())
    };
    let mut values = vec![
        ("id", Value::string(id)),
        (
            "version",
            observed
                .version
                .map(|v| Value::string(v.to_string()))
                .unwrap_or(Value::Null),
        ),
        ("config", settings),
        ("node_labels", labels),
        ("node_taints", taints),
    ];
    match &config.role {
        k3s::Role::Server { cluster_init, join } => {
            values.push(("cluster_init", Value::Bool(*cluster_init)));
            values.push((
                "server_url",
                join.clone().map(Value::String).unwrap_or(Value::Null),
            ));
        }
        k3s::Role::Agent { server_url } => {
            values.push(("server_url", Value::string(server_url)));
            values.push((
                "token",
                token.clone().map(Value::String).unwrap_or(Value::Null),
            ));
        }
    }
    if let Some(registries) = observed.registries() {
        values.push(("registry_mirror", registry_mirror_values(&registries)));
        values.push(("registry_auth", registry_auth_values(&registries)));
    }
    Ok(Imported {
        state: with(&state, values),
        token,
    })
}

fn optional_string(value: Option<&str>) -> Value {
    value.map(Value::string).unwrap_or(Value::Null)
}

fn registry_mirror_values(registries: &Registries) -> Value {
    Value::List(
        registries
            .mirrors
            .iter()
            .map(|m| {
                Value::object([
                    ("registry", Value::string(&m.registry)),
                    (
                        "endpoints",
                        Value::List(m.endpoints.iter().map(Value::string).collect()),
                    ),
                    (
                        "rewrites",
                        if m.rewrites.is_empty() {
                            Value::Null
                        } else {
                            Value::Map(
                                m.rewrites
                                    .iter()
                                    .map(|(k, v)| (k.clone(), Value::string(v)))
                                    .collect(),
                            )
                        },
                    ),
                ])
            })
            .collect(),
    )
}

fn registry_auth_values(registries: &Registries) -> Value {
    Value::List(
        registries
            .configs
            .iter()
            .map(|c| {
                Value::object([
                    ("registry", Value::string(&c.registry)),
                    ("username", optional_string(c.username.as_deref())),
                    (
                        "password",
                        optional_string(c.password.as_ref().map(Secret::expose)),
                    ),
                    (
                        "insecure_skip_verify",
                        if c.insecure_skip_verify {
                            Value::Bool(true)
                        } else {
                            Value::Null
                        },
                    ),
                    ("ca_file", optional_string(c.ca_file.as_deref())),
                ])
            })
            .collect(),
    )
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
                port: Some(2222)
            }
        );
        assert_eq!(
            parse_import_id("ssh://[fd00::5]:22").unwrap(),
            ImportId {
                user: None,
                host: "fd00::5".into(),
                port: Some(22)
            }
        );
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
    }
}
