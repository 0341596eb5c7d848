//! `k3s agent` of the stand-in: checks the join token's CA hash against the server's
//! `/cacerts` (a mismatch is fatal, as in K3s), presents the node password kept in
//! `/etc/rancher/node/password`, registers its Node with the server, tells systemd it is
//! ready and then posts node status every few seconds until stopped.

use super::client::{Client, ServerUrl};
use super::config::Config;
use super::nodes::{NodeIdentity, Role};
use super::util::{error, info, log, random_hex, sha256_hex, warn, write_file};
use super::{notify, server, tls, token};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// How often the agent posts its node's status.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Where the node password lives (kept by uninstall, as in K3s).
const NODE_PASSWORD: &str = "/etc/rancher/node/password";

/// A connection to the server a node joins: its URL, a client that trusts the cluster CA,
/// the `Authorization` header the join token gives, and the CA PEM.
#[derive(Clone)]
pub struct Upstream {
    /// The server URL as configured.
    pub url: String,
    /// Its parts.
    pub server: ServerUrl,
    /// An HTTPS client verifying the server against the cluster CA.
    pub client: Client,
    /// `Bearer <token>`.
    pub auth: String,
    /// The cluster CA (what `/cacerts` served).
    pub ca_pem: String,
}

/// Downloads the cluster CA from `url` (retrying while the server is not up) and checks it
/// against the token's CA hash; a mismatch ends the process with exit code 1, as in K3s.
pub async fn connect(url: &str, token_text: &str) -> Result<Upstream> {
    let join = token::parse(token_text)?;
    let server = ServerUrl::parse(url)?;
    let insecure = Client::new(server.clone(), tls::insecure_client_config()?);
    let cacerts = loop {
        match insecure.request("GET", "/cacerts", &[], None).await {
            Ok((200, body)) => break body,
            Ok((code, _)) => warn(&format!(
                "Waiting to retrieve agent configuration; server is not ready: GET /cacerts: {code}"
            )),
            Err(e) => warn(&format!(
                "Waiting to retrieve agent configuration; server is not ready: {e:#}"
            )),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    match &join.ca_hash {
        Some(expected) => {
            let got = sha256_hex(&cacerts);
            if &got != expected {
                log(
                    "fatal",
                    &format!(
                        "Error: failed to validate token: token CA hash does not match the Cluster CA certificate hash: {got} != {expected}"
                    ),
                );
                std::process::exit(1);
            }
        }
        None => warn(
            "Cluster CA certificate is not trusted by the host CA bundle, but the token does not include a CA hash. \
             Use the full token from the server's node-token file to enable Cluster CA validation.",
        ),
    }
    let ca_pem = String::from_utf8(cacerts.to_vec()).context("the server's CA is not PEM")?;
    Ok(Upstream {
        url: url.to_owned(),
        client: Client::new(server.clone(), tls::client_config(&ca_pem)?),
        server,
        auth: format!("Bearer {token_text}"),
        ca_pem,
    })
}

/// Runs the agent until SIGTERM or SIGINT, or fails for good.
pub async fn run(config: Config, version: String) -> Result<()> {
    let Some(url) = config.get("server").map(String::from) else {
        bail!("--server is required");
    };
    let Some(token_text) = config.token()? else {
        bail!("--token is required");
    };
    info(&format!("Starting k3s agent {version} (stand-in)"));
    let upstream = connect(&url, &token_text).await?;
    let identity = NodeIdentity::from_config(
        &config,
        &version,
        Role::Agent,
        upstream.server.socket_addr().ok(),
    )?;
    join_cluster(&upstream, &identity, &config.data_dir()).await?;
    notify::notify("READY=1")?;
    info(&format!(
        "k3s agent is up and running; node {} registered with {url}",
        identity.name
    ));
    let heartbeat = spawn_heartbeat(upstream, identity);
    server::wait_for_shutdown().await?;
    heartbeat.abort();
    info("Shutting down");
    Ok(())
}

/// Presents the node password (retrying, as K3s does, while the server rejects it), then
/// registers the node. A token the server rejects ends the process with exit code 1.
pub async fn join_cluster(
    upstream: &Upstream,
    identity: &NodeIdentity,
    data_dir: &Path,
) -> Result<()> {
    let password = node_password()?;
    loop {
        let headers = [
            ("authorization", upstream.auth.as_str()),
            ("k3s-node-name", identity.name.as_str()),
            ("k3s-node-password", password.as_str()),
        ];
        match upstream
            .client
            .request("GET", "/v1-k3s/serving-kubelet.crt", &headers, None)
            .await
        {
            Ok((200, body)) => {
                write_file(&data_dir.join("agent/serving-kubelet.crt"), &body, 0o644)?;
                break;
            }
            Ok((401, _)) => {
                log(
                    "fatal",
                    &format!(
                        "Error: failed to authenticate with the server at {}: 401 Unauthorized: the token was rejected",
                        upstream.url
                    ),
                );
                std::process::exit(1);
            }
            Ok((code, body)) => {
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(String::from))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                error(&format!(
                    "Waiting to retrieve agent configuration; server is not ready: {code}: {message}"
                ));
            }
            Err(e) => warn(&format!(
                "Waiting to retrieve agent configuration; server is not ready: {e:#}"
            )),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    register(&upstream.client, &upstream.auth, identity).await
}

/// Posts the node's status every few seconds.
pub fn spawn_heartbeat(upstream: Upstream, identity: NodeIdentity) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            if let Err(e) = post_status(&upstream.client, &upstream.auth, &identity).await {
                warn(&format!("Error updating node status, will retry: {e:#}"));
            }
        }
    })
}

/// The node password, created on first use.
fn node_password() -> Result<String> {
    let path = Path::new(NODE_PASSWORD);
    if let Ok(text) = std::fs::read_to_string(path) {
        let text = text.trim().to_owned();
        if !text.is_empty() {
            return Ok(text);
        }
    }
    let password = random_hex(16);
    write_file(path, format!("{password}\n").as_bytes(), 0o600)?;
    Ok(password)
}

async fn register(client: &Client, auth: &str, identity: &NodeIdentity) -> Result<()> {
    let path = format!("/api/v1/nodes/{}", identity.name);
    loop {
        let (code, body) = client
            .request("GET", &path, &[("authorization", auth)], None)
            .await?;
        match code {
            200 => return post_status(client, auth, identity).await,
            404 => {
                let node = serde_json::to_vec(&identity.object())?;
                let (code, body) = client
                    .request(
                        "POST",
                        "/api/v1/nodes",
                        &[
                            ("authorization", auth),
                            ("content-type", "application/json"),
                        ],
                        Some(node),
                    )
                    .await?;
                match code {
                    201 => {
                        info(&format!("Successfully registered node {}", identity.name));
                        return Ok(());
                    }
                    409 => continue,
                    _ => bail!(
                        "registering node {}: {code}: {}",
                        identity.name,
                        String::from_utf8_lossy(&body)
                    ),
                }
            }
            _ => bail!(
                "looking up node {}: {code}: {}",
                identity.name,
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

async fn post_status(client: &Client, auth: &str, identity: &NodeIdentity) -> Result<()> {
    let patch = serde_json::to_vec(&json!({"status": identity.status()}))?;
    let (code, body) = client
        .request(
            "PATCH",
            &format!("/api/v1/nodes/{}/status", identity.name),
            &[
                ("authorization", auth),
                ("content-type", "application/merge-patch+json"),
            ],
            Some(patch),
        )
        .await?;
    if code != 200 {
        bail!(
            "node {} status: {code}: {}",
            identity.name,
            String::from_utf8_lossy(&body).trim()
        );
    }
    Ok(())
}
