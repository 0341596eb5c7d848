//! Dialing: TCP (or a `direct-tcpip` channel through a bastion), the SSH handshake with host key
//! verification, authentication (key file, inline key or ssh-agent), and bounded retries with
//! backoff while a host cannot be reached yet. Produces a [`Session`].

use super::auth::{authenticate, load_auth, Auth};
use super::config::{fingerprint, Bastion, Credentials, HostKeyPolicy, Sudo, Target, Timeouts};
use super::error::Error;
use russh::client::{Config, Handle, Handler};
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelOpenFailure, Preferred};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// One SSH connection to a node, on which many commands, file transfers and forwarded
/// connections run as separate channels.
///
/// Cheap to clone (clones share the connection) and safe to use from many tasks at once: every
/// method takes `&self`. The connection closes when the last clone (and the last port forward
/// made from it) is dropped, or on [`Session::disconnect`].
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) handle: Handle<Client>,
    pub(crate) label: String,
    pub(crate) user: String,
    pub(crate) sudo: Sudo,
    pub(crate) timeouts: Timeouts,
    pub(crate) slots: Semaphore,
    /// The bastion's connection, which carries this one.
    _via: Option<Session>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.label)
            .field("sudo", &self.inner.sudo)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to the target (through its bastion, if any), verifying its host key and logging in.
    /// Retries while the host cannot be reached yet, until `timeouts.retry_for` has passed since
    /// the first attempt; each attempt is bounded by `timeouts.connect`.
    pub async fn connect(target: &Target) -> Result<Session, Error> {
        let budget = target.timeouts.connect.max(target.timeouts.retry_for);
        let deadline = Instant::now() + budget;
        let via = match &target.bastion {
            Some(bastion) => Some(
                dial(
                    &Endpoint::bastion(bastion),
                    None,
                    &target.timeouts,
                    deadline,
                    Sudo::Off,
                    1,
                )
                .await?,
            ),
            None => None,
        };
        let endpoint = Endpoint::target(target);
        dial(
            &endpoint,
            via,
            &target.timeouts,
            deadline,
            target.sudo.clone(),
            target.max_concurrent_commands,
        )
        .await
    }

    /// `user@host:port` (and the bastion), as used in messages.
    pub fn host(&self) -> &str {
        &self.inner.label
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }

    /// Closes the connection politely. Commands still running on it fail.
    pub async fn disconnect(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Where to dial and how to log in, for a target or a bastion.
pub(super) struct Endpoint<'a> {
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) user: &'a str,
    pub(super) credentials: &'a Credentials,
    pub(super) host_key: &'a HostKeyPolicy,
    pub(super) label: String,
}

impl<'a> Endpoint<'a> {
    fn target(t: &'a Target) -> Endpoint<'a> {
        Endpoint {
            host: &t.host,
            port: t.port,
            user: &t.user,
            credentials: &t.credentials,
            host_key: &t.host_key,
            label: t.label(),
        }
    }

    fn bastion(b: &'a Bastion) -> Endpoint<'a> {
        Endpoint {
            host: &b.host,
            port: b.port,
            user: &b.user,
            credentials: &b.credentials,
            host_key: &b.host_key,
            label: format!("bastion {}", b.label()),
        }
    }
}

/// What one attempt ended with, when it did not succeed.
pub(super) enum Failure {
    /// Worth another attempt: the host may still be booting.
    Transient(String),
    /// Final.
    Fatal(Error),
}

async fn dial(
    ep: &Endpoint<'_>,
    via: Option<Session>,
    timeouts: &Timeouts,
    deadline: Instant,
    sudo: Sudo,
    max_commands: usize,
) -> Result<Session, Error> {
    let started = Instant::now();
    let auth = load_auth(ep).await?;
    let check = Arc::new(HostKeyCheck::resolve(ep).await?);
    let config = client_config(&check);
    let mut attempts = 0u32;
    let mut backoff = Duration::from_millis(250);
    // The last concrete failure ("Connection refused"), more telling than a timeout.
    let mut concrete: Option<String> = None;
    loop {
        attempts += 1;
        let attempt_start = Instant::now();
        let attempt_deadline = deadline.min(attempt_start + timeouts.connect);
        let attempt = attempt(ep, via.as_ref(), config.clone(), check.clone(), &auth);
        let reason = match tokio::time::timeout_at(attempt_deadline, attempt).await {
            Ok(Ok(handle)) => {
                tracing::debug!(host = %ep.label, attempts, "SSH connection established");
                return Ok(Session {
                    inner: Arc::new(Inner {
                        handle,
                        label: ep.label.clone(),
                        user: ep.user.to_owned(),
                        sudo,
                        timeouts: *timeouts,
                        slots: Semaphore::new(max_commands.max(1)),
                        _via: via,
                    }),
                });
            }
            Ok(Err(Failure::Fatal(e))) => return Err(e),
            Ok(Err(Failure::Transient(reason))) => {
                concrete = Some(reason.clone());
                reason
            }
            Err(_) => {
                let waited = format!("no answer within {:.1?}", attempt_deadline - attempt_start);
                match &concrete {
                    Some(earlier) => format!("{earlier} (then {waited})"),
                    None => waited,
                }
            }
        };
        let now = Instant::now();
        if now + backoff >= deadline {
            return Err(Error::Unreachable {
                host: ep.label.clone(),
                reason,
                attempts,
                elapsed: now - started,
            });
        }
        tracing::debug!(host = %ep.label, attempts, %reason, retry_in = ?backoff, "host not \
            reachable yet");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(4));
    }
}

async fn attempt(
    ep: &Endpoint<'_>,
    via: Option<&Session>,
    config: Arc<Config>,
    check: Arc<HostKeyCheck>,
    auth: &Auth,
) -> Result<Handle<Client>, Failure> {
    let problem = Arc::new(Mutex::new(None));
    let client = Client {
        label: ep.label.clone(),
        check,
        problem: problem.clone(),
    };
    let handshake = match via {
        None => {
            let stream = tokio::net::TcpStream::connect((ep.host, ep.port))
                .await
                .map_err(|e| classify_io(&ep.label, "connecting", e))?;
            let _ = stream.set_nodelay(true);
            handshake(config, stream, client).await
        }
        Some(bastion) => {
            let channel = bastion
                .inner
                .handle
                .channel_open_direct_tcpip(ep.host, u32::from(ep.port), "127.0.0.1", 0)
                .await
                .map_err(|e| match e {
                    russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => {
                        Failure::Transient(format!(
                            "{} could not open a TCP connection to port {}",
                            bastion.host(),
                            ep.port
                        ))
                    }
                    russh::Error::ChannelOpenFailure(
                        ChannelOpenFailure::AdministrativelyProhibited,
                    ) => Failure::Fatal(Error::Ssh {
                        host: ep.label.clone(),
                        during: "opening a TCP channel on the bastion".into(),
                        source: format!(
                            "{} refuses to forward connections; allow TCP forwarding \
                             (AllowTcpForwarding) for this user there",
                            bastion.host()
                        )
                        .into(),
                    }),
                    other => Failure::Fatal(Error::Ssh {
                        host: ep.label.clone(),
                        during: "opening a TCP channel on the bastion".into(),
                        source: Box::new(other),
                    }),
                })?;
            handshake(config, channel.into_stream(), client).await
        }
    };
    let mut handle = match handshake {
        Ok(handle) => handle,
        Err(e) => {
            let recorded = problem.lock().map(|mut p| p.take()).unwrap_or(None);
            return Err(match recorded {
                Some(problem) => Failure::Fatal(problem),
                None => classify_ssh(&ep.label, "the SSH handshake", e),
            });
        }
    };
    authenticate(&mut handle, ep, auth).await?;
    Ok(handle)
}

async fn handshake<S>(
    config: Arc<Config>,
    stream: S,
    client: Client,
) -> Result<Handle<Client>, russh::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    russh::client::connect_stream(config, stream, client).await
}

pub(super) fn classify_io(label: &str, during: &str, e: std::io::Error) -> Failure {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | HostUnreachable
        | NetworkUnreachable | NotConnected | AddrNotAvailable | UnexpectedEof | BrokenPipe => {
            Failure::Transient(e.to_string())
        }
        // Name resolution failures and other local errors are final.
        _ => Failure::Fatal(Error::Ssh {
            host: label.to_owned(),
            during: during.to_owned(),
            source: Box::new(e),
        }),
    }
}

pub(super) fn classify_ssh(label: &str, during: &str, e: russh::Error) -> Failure {
    match e {
        russh::Error::Disconnect
        | russh::Error::HUP
        | russh::Error::ConnectionTimeout
        | russh::Error::SendError
        | russh::Error::RecvError => Failure::Transient(format!("{during} was cut short ({e})")),
        russh::Error::IO(io) => match classify_io(label, during, io) {
            Failure::Transient(reason) => Failure::Transient(format!("{during}: {reason}")),
            fatal => fatal,
        },
        other => Failure::Fatal(Error::Ssh {
            host: label.to_owned(),
            during: during.to_owned(),
            source: Box::new(other),
        }),
    }
}

fn client_config(check: &HostKeyCheck) -> Arc<Config> {
    let mut preferred = Preferred::default();
    if let HostKeyCheck::Trusted { keys, .. } = check {
        // Ask for a host key of a kind we trust, as OpenSSH does, so a host with several keys
        // presents the one we can check.
        let wanted: Vec<_> = preferred
            .key
            .iter()
            .filter(|alg| {
                keys.iter().any(|k| {
                    let have = k.algorithm();
                    (have.clone().is_rsa() && (*alg).clone().is_rsa()) || have == **alg
                })
            })
            .cloned()
            .collect();
        if !wanted.is_empty() {
            preferred.key = Cow::Owned(wanted);
        }
    }
    Arc::new(Config {
        preferred,
        nodelay: true,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        ..Config::default()
    })
}

/// The host keys to accept, resolved before dialing.
pub(crate) enum HostKeyCheck {
    Trusted {
        keys: Vec<PublicKey>,
        /// "the pinned host key", "known_hosts file /path".
        source: String,
        known_hosts: Option<PathBuf>,
    },
    AcceptAny,
}

impl HostKeyCheck {
    async fn resolve(ep: &Endpoint<'_>) -> Result<HostKeyCheck, Error> {
        match ep.host_key {
            HostKeyPolicy::Pinned(keys) => {
                if keys.is_empty() {
                    return Err(Error::InvalidConfig(format!(
                        "no host key pinned for {}",
                        ep.label
                    )));
                }
                Ok(HostKeyCheck::Trusted {
                    keys: keys.iter().map(|k| k.public_key().clone()).collect(),
                    source: if keys.len() == 1 {
                        "the pinned host key".into()
                    } else {
                        "the pinned host keys".into()
                    },
                    known_hosts: None,
                })
            }
            HostKeyPolicy::KnownHosts(path) => {
                let path = path.clone();
                let (host, port) = (ep.host.to_owned(), ep.port);
                let lookup = path.clone();
                let keys = tokio::task::spawn_blocking(move || {
                    if !lookup.is_file() {
                        return Err(format!(
                            "known_hosts file {} does not exist",
                            lookup.display()
                        ));
                    }
                    russh::keys::known_hosts::known_host_keys_path(&host, port, &lookup)
                        .map(|found| found.into_iter().map(|(_, k)| k).collect::<Vec<_>>())
                        .map_err(|e| {
                            format!("cannot read known_hosts file {}: {e}", lookup.display())
                        })
                })
                .await
                .map_err(|e| Error::InvalidConfig(format!("reading known_hosts: {e}")))?
                .map_err(Error::InvalidConfig)?;
                Ok(HostKeyCheck::Trusted {
                    keys,
                    source: format!("known_hosts file {}", path.display()),
                    known_hosts: Some(path),
                })
            }
            HostKeyPolicy::InsecureAcceptAny => Ok(HostKeyCheck::AcceptAny),
        }
    }
}

/// The russh event handler: checks the host key and records why it was refused.
pub(crate) struct Client {
    label: String,
    check: Arc<HostKeyCheck>,
    problem: Arc<Mutex<Option<Error>>>,
}

impl Client {
    fn refuse(&self, problem: Error) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = Some(problem);
        }
        Ok(false)
    }
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(cert) => {
                return self.refuse(Error::Ssh {
                    host: self.label.clone(),
                    during: "host key verification".into(),
                    source: format!(
                        "the host presented a certificate (key {}); host certificates are not \
                         supported: pin the host's plain key",
                        cert.public_key().fingerprint(HashAlg::Sha256)
                    )
                    .into(),
                })
            }
        };
        let actual = fingerprint(key);
        match self.check.as_ref() {
            HostKeyCheck::AcceptAny => {
                tracing::warn!(
                    host = %self.label,
                    fingerprint = %actual,
                    "host key checking is OFF: accepting whatever key the host presents"
                );
                Ok(true)
            }
            HostKeyCheck::Trusted { keys, .. }
                if keys.iter().any(|k| k.key_data() == key.key_data()) =>
            {
                tracing::debug!(host = %self.label, fingerprint = %actual, "host key verified");
                Ok(true)
            }
            HostKeyCheck::Trusted {
                keys,
                source,
                known_hosts,
            } => {
                let problem = match (keys.is_empty(), known_hosts) {
                    (true, Some(path)) => Error::HostKeyUnknown {
                        host: self.label.clone(),
                        actual,
                        known_hosts: path.clone(),
                    },
                    _ => Error::HostKeyMismatch {
                        host: self.label.clone(),
                        actual,
                        expected: keys.iter().map(fingerprint).collect(),
                        trusted: source.clone(),
                    },
                };
                tracing::warn!(host = %self.label, "{problem}");
                self.refuse(problem)
            }
        }
    }
}
