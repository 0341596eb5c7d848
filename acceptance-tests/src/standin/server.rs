//! `k3s server` of the stand-in: certificates, token files and `k3s.yaml` where K3s writes
//! them, the Kubernetes API subset over TLS on :6443, the server's own Node kept Ready, and
//! `READY=1` to systemd once it serves.
//!
//! A server started with `server` (`K3S_URL`) joins that server instead: it checks the
//! token's CA hash, takes the cluster CAs with the server token (an agent token is refused),
//! registers its Node there (control-plane, etcd) and serves :6443 by forwarding every
//! request to the server it joined, which holds the only datastore (see `proxy`).

use super::agent::{self, Upstream};
use super::api::{self, Cluster, Secrets, NODE_KEY};
use super::config::Config;
use super::nodes::{hostname, NodeIdentity, Role};
use super::pki::{Ca, Leaf, Usage};
use super::store::{Entry, Store};
use super::util::{info, random_hex, sha256_hex, write_file};
use super::{controllers, notify, tls, token};
use anyhow::{bail, Context, Result};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often the server's own kubelet posts status.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(config: Config, version: String) -> Result<()> {
    if config.get("datastore-endpoint").is_some() {
        bail!("an external datastore (--datastore-endpoint) is not supported by the K3s stand-in");
    }
    let data_dir = config.data_dir();
    let server_dir = data_dir.join("server");
    let tls_dir = server_dir.join("tls");
    info(&format!("Starting k3s {version} (stand-in)"));
    // A server with `server` set joins that one: it takes the cluster's CAs from it.
    let upstream = match config.get("server") {
        Some(url) => {
            let token = config
                .token()?
                .context("--token is required to join a server")?;
            Some(agent::connect(url, &token).await?)
        }
        None => None,
    };
    let (server_ca, client_ca) = match &upstream {
        Some(up) => fetch_bootstrap(up, &tls_dir).await?,
        None => (
            Ca::load_or_create(&tls_dir, "server-ca")?,
            Ca::load_or_create(&tls_dir, "client-ca")?,
        ),
    };
    let ca_hash = sha256_hex(server_ca.cert_pem.as_bytes());
    let (tokens, server_tokens) = write_tokens(&config, &server_dir, &ca_hash)?;
    let port: u16 = config
        .get("https-listen-port")
        .unwrap_or("6443")
        .parse()
        .context("https-listen-port")?;
    let identity = NodeIdentity::from_config(
        &config,
        &version,
        Role::Server {
            etcd: config.flag("cluster-init") || upstream.is_some(),
        },
        upstream.as_ref().and_then(|u| u.server.socket_addr().ok()),
    )?;
    let advertise_ip = config
        .get("advertise-address")
        .map(String::from)
        .unwrap_or_else(|| identity.ip.to_string());

    let mut sans: Vec<String> = [
        "127.0.0.1",
        "::1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.43.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sans.push(hostname());
    sans.push(identity.name.clone());
    sans.push(identity.ip.to_string());
    sans.push(advertise_ip.clone());
    sans.extend(identity.external_ips.iter().cloned());
    sans.extend(config.list("tls-san"));
    sans.sort();
    sans.dedup();
    let serving = server_ca.issue("kube-apiserver", &[], &sans, Usage::Server)?;
    serving.write(&tls_dir, "serving-kube-apiserver")?;
    let admin = match Leaf::load_unless_due(&tls_dir, "client-admin")? {
        Some(admin) => admin,
        None => {
            let admin = client_ca.issue("system:admin", &["system:masters"], &[], Usage::Client)?;
            admin.write(&tls_dir, "client-admin")?;
            admin
        }
    };

    let bind = config.get("bind-address").unwrap_or("0.0.0.0");
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .with_context(|| format!("listening on {bind}:{port}"))?;
    let tls_config = tls::server_config(&serving.cert_pem, &serving.key_pem, &client_ca.cert_pem)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));

    let cluster = match upstream {
        Some(upstream) => {
            let server_token = server_tokens[0].clone();
            let joined = Upstream {
                auth: format!("Bearer {server_token}"),
                ..upstream
            };
            let proxy = Arc::new(super::proxy::Proxy::new(joined.clone(), server_token));
            tokio::spawn(super::proxy::accept_loop(listener, acceptor, proxy));
            write_kubeconfig(&config, &server_ca, &admin, port)?;
            agent::join_cluster(&joined, &identity, &data_dir).await?;
            agent::spawn_heartbeat(joined, identity.clone());
            None
        }
        None => {
            let store = Store::open(Some(server_dir.join("db").join("state.json")))?;
            let secrets = Secrets {
                server_ca: server_ca.clone(),
                client_ca: client_ca.clone(),
                tokens,
                server_tokens,
            };
            let cluster = Cluster::new(
                store,
                version.clone(),
                secrets,
                format!("{advertise_ip}:{port}"),
            );
            tokio::spawn(accept_loop(listener, acceptor, cluster.clone()));
            write_kubeconfig(&config, &server_ca, &admin, port)?;
            register_own_node(&cluster, &identity);
            controllers::spawn(cluster.clone());
            let heartbeat = (cluster.clone(), identity.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT);
                loop {
                    tick.tick().await;
                    post_own_status(&heartbeat.0, &heartbeat.1);
                }
            });
            Some(cluster)
        }
    };
    notify::notify("READY=1")?;
    info(&format!(
        "k3s is up and running; API at https://{advertise_ip}:{port}, node {}",
        identity.name
    ));
    wait_for_shutdown().await?;
    info("Shutting down");
    if let Some(cluster) = cluster {
        cluster.store.flush()?;
    }
    Ok(())
}

/// Fetches the cluster CAs from the server being joined and writes them to `tls_dir`.
async fn fetch_bootstrap(upstream: &Upstream, tls_dir: &Path) -> Result<(Ca, Ca)> {
    let headers = [("authorization", upstream.auth.as_str())];
    let (code, body) = loop {
        match upstream
            .client
            .request("GET", "/v1-k3s/server-bootstrap", &headers, None)
            .await
        {
            Ok(answer) => break answer,
            Err(e) => super::util::warn(&format!(
                "Waiting to retrieve the cluster bootstrap data from {}: {e:#}",
                upstream.url
            )),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    if code == 401 {
        super::util::log(
            "fatal",
            &format!(
                "Error: failed to join the server at {}: the token was rejected (only the server token can join servers)",
                upstream.url
            ),
        );
        std::process::exit(1);
    }
    if code != 200 {
        bail!(
            "retrieving the bootstrap data from {}: {code}: {}",
            upstream.url,
            String::from_utf8_lossy(&body)
        );
    }
    let data: serde_json::Value = serde_json::from_slice(&body)?;
    let ca = |key: &str| -> Result<Ca> {
        let ca = Ca {
            cert_pem: data[key]["cert"]
                .as_str()
                .context("bootstrap cert")?
                .to_owned(),
            key_pem: data[key]["key"]
                .as_str()
                .context("bootstrap key")?
                .to_owned(),
        };
        Ok(ca)
    };
    let (server_ca, client_ca) = (ca("serverCA")?, ca("clientCA")?);
    for (name, ca) in [("server-ca", &server_ca), ("client-ca", &client_ca)] {
        write_file(
            &tls_dir.join(format!("{name}.key")),
            ca.key_pem.as_bytes(),
            0o600,
        )?;
        write_file(
            &tls_dir.join(format!("{name}.crt")),
            ca.cert_pem.as_bytes(),
            0o644,
        )?;
    }
    Ok((server_ca, client_ca))
}

/// Resolves the server password and writes `token`, `node-token` and `agent-token`.
/// Returns every bearer token the API accepts, and the server tokens among them.
fn write_tokens(
    config: &Config,
    server_dir: &Path,
    ca_hash: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let token_path = server_dir.join("token");
    let existing = match std::fs::read_to_string(&token_path) {
        Ok(text) => Some(token::parse(&text)?.password),
        Err(_) => None,
    };
    let given = match config.token()? {
        Some(text) => {
            let t = token::parse(&text)?;
            if let Some(hash) = &t.ca_hash {
                if hash != ca_hash {
                    bail!(
                        "token CA hash does not match the Cluster CA certificate hash: {ca_hash} != {hash}"
                    );
                }
            }
            Some(t.password)
        }
        None => None,
    };
    let password = match (existing, given) {
        (Some(e), Some(g)) if e != g => bail!(
            "starting kubernetes: preparing server: bootstrap data already found and encrypted with different token"
        ),
        (Some(e), _) => e,
        (None, Some(g)) => g,
        (None, None) => random_hex(16),
    };
    let server_token = token::secure(ca_hash, "server", &password);
    write_file(&token_path, format!("{server_token}\n").as_bytes(), 0o600)?;
    symlink(&token_path, &server_dir.join("node-token"))?;
    let mut tokens = vec![server_token, password];
    let server_tokens = tokens.clone();
    let agent_path = server_dir.join("agent-token");
    match config.agent_token()? {
        Some(text) => {
            let t = token::parse(&text)?;
            let agent_token = token::secure(ca_hash, "node", &t.password);
            let _ = std::fs::remove_file(&agent_path);
            write_file(&agent_path, format!("{agent_token}\n").as_bytes(), 0o600)?;
            tokens.push(agent_token);
            tokens.push(t.password);
        }
        None => symlink(&token_path, &agent_path)?,
    }
    Ok((tokens, server_tokens))
}

fn symlink(target: &Path, link: &Path) -> Result<()> {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} to {}", link.display(), target.display()))
}

fn write_kubeconfig(config: &Config, ca: &Ca, admin: &Leaf, port: u16) -> Result<()> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let path = config
        .get("write-kubeconfig")
        .unwrap_or("/etc/rancher/k3s/k3s.yaml");
    let mode = match config.get("write-kubeconfig-mode") {
        Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
            .with_context(|| format!("write-kubeconfig-mode {m:?} is not an octal mode"))?,
        None => 0o600,
    };
    let text = format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {}\n    server: https://127.0.0.1:{port}\n  name: default\n\
         contexts:\n\
         - context:\n    cluster: default\n    user: default\n  name: default\n\
         current-context: default\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&ca.cert_pem),
        b64(&admin.cert_pem),
        b64(&admin.key_pem),
    );
    write_file(Path::new(path), text.as_bytes(), mode)?;
    info(&format!("Wrote kubeconfig {path}"));
    Ok(())
}

/// Registers the server's own Node, or refreshes it after a restart (labels stay as they
/// were: K3s applies node labels and taints only at registration).
fn register_own_node(cluster: &Cluster, identity: &NodeIdentity) {
    let existing = cluster.store.get(NODE_KEY, "", &identity.name);
    match existing {
        None => {
            let nodes = cluster.builtin("", "nodes");
            if let Err(e) = cluster.create(
                &nodes,
                None,
                identity.object(),
                &api::WriteOptions::default(),
            ) {
                super::util::error(&format!("registering node {}: {e:?}", identity.name));
            }
        }
        Some(_) => {
            let fresh = identity.object();
            let mut txn = cluster.store.txn();
            if let Some(entry) = txn.get(NODE_KEY, "", &identity.name).cloned() {
                let mut node = entry.object;
                node["status"] = fresh["status"].clone();
                for (k, v) in fresh["metadata"]["annotations"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    node["metadata"]["annotations"][k] = v.clone();
                }
                txn.put(
                    NODE_KEY,
                    "",
                    &identity.name,
                    Entry {
                        object: node,
                        applied: entry.applied,
                    },
                );
            }
        }
    }
    cluster.heartbeat(&identity.name);
}

fn post_own_status(cluster: &Cluster, identity: &NodeIdentity) {
    let mut txn = cluster.store.txn();
    let Some(entry) = txn.get(NODE_KEY, "", &identity.name).cloned() else {
        return;
    };
    let mut node = entry.object;
    node["status"] = identity.status();
    txn.put(
        NODE_KEY,
        "",
        &identity.name,
        Entry {
            object: node,
            applied: entry.applied,
        },
    );
    drop(txn);
    cluster.heartbeat(&identity.name);
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    cluster: Arc<Cluster>,
) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                super::util::warn(&format!("accepting a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let client_cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let service = hyper::service::service_fn(move |req| {
                let cluster = cluster.clone();
                async move { Ok::<_, Infallible>(api::handle(cluster, client_cert, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Waits for SIGTERM (systemctl stop) or SIGINT.
pub async fn wait_for_shutdown() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
