//! Connection settings: where a node is, how to log in, which host key to trust, the bastion in
//! front of it, how to become root and how long to wait. Plain data: nothing here touches the
//! network. Secrets are held in [`Secret`], which never prints and is wiped when dropped.

use super::error::Error;
pub use crate::Secret;
use russh::keys::{HashAlg, PublicKey};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The SSH port when none is given.
pub const DEFAULT_PORT: u16 = 22;

/// How to log in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// A private key file (OpenSSH, PEM or PuTTY format), optionally passphrase-protected.
    KeyFile {
        /// Path of the private key on this machine.
        path: PathBuf,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// A private key given inline (the file's text), optionally passphrase-protected.
    Key {
        /// The key's text (`-----BEGIN OPENSSH PRIVATE KEY-----` …).
        private_key: Secret,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// The keys of a running ssh-agent.
    Agent {
        /// The agent's socket; `None` means the one named by `SSH_AUTH_SOCK` at connect time.
        socket: Option<PathBuf>,
    },
}

impl Credentials {
    /// A private key file.
    pub fn key_file(path: impl Into<PathBuf>) -> Credentials {
        Credentials::KeyFile {
            path: path.into(),
            passphrase: None,
        }
    }

    /// A private key given as text.
    pub fn key(private_key: impl Into<Secret>) -> Credentials {
        Credentials::Key {
            private_key: private_key.into(),
            passphrase: None,
        }
    }

    /// The ssh-agent named by `SSH_AUTH_SOCK`.
    pub fn agent() -> Credentials {
        Credentials::Agent { socket: None }
    }

    /// The ssh-agent listening on `socket`.
    pub fn agent_at(socket: impl Into<PathBuf>) -> Credentials {
        Credentials::Agent {
            socket: Some(socket.into()),
        }
    }

    /// Sets the passphrase of a key (ignored for the agent, which holds decrypted keys).
    pub fn with_passphrase(mut self, value: impl Into<Secret>) -> Credentials {
        match &mut self {
            Credentials::KeyFile { passphrase, .. } | Credentials::Key { passphrase, .. } => {
                *passphrase = Some(value.into());
            }
            Credentials::Agent { .. } => {}
        }
        self
    }

    /// A short description for messages ("private key file /root/.ssh/id_ed25519").
    pub(crate) fn describe(&self) -> String {
        match self {
            Credentials::KeyFile { path, .. } => format!("private key file {}", path.display()),
            Credentials::Key { .. } => "the inline private key".into(),
            Credentials::Agent { socket: Some(s) } => format!("ssh-agent at {}", s.display()),
            Credentials::Agent { socket: None } => "ssh-agent (SSH_AUTH_SOCK)".into(),
        }
    }
}

/// An SSH public host key, as pinned by a caller. Two keys are equal when their key data is
/// (comments do not count).
#[derive(Clone)]
pub struct HostKey(PublicKey);

impl PartialEq for HostKey {
    fn eq(&self, other: &HostKey) -> bool {
        self.0.key_data() == other.0.key_data()
    }
}

impl Eq for HostKey {}

impl HostKey {
    /// Parses one OpenSSH public key line: `ssh-ed25519 AAAA… [comment]`. A known_hosts-style
    /// line with leading host names (`10.0.0.5 ssh-ed25519 AAAA…`) is accepted too.
    pub fn from_openssh(line: &str) -> Result<HostKey, Error> {
        let line = line.trim();
        let parsed = PublicKey::from_openssh(line).or_else(|first| {
            // Skip one leading field (host patterns) and retry.
            match line.split_once(char::is_whitespace) {
                Some((_, rest)) => PublicKey::from_openssh(rest.trim_start()).map_err(|_| first),
                None => Err(first),
            }
        });
        match parsed {
            Ok(key) => Ok(HostKey(key)),
            Err(e) => Err(Error::InvalidConfig(format!(
                "the pinned host key is not an OpenSSH public key line (\"ssh-ed25519 AAAA…\"): {e}"
            ))),
        }
    }

    /// The SHA-256 fingerprint as OpenSSH prints it (`SHA256:…`).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// The key's algorithm name (`ssh-ed25519`, `ssh-rsa`, …).
    pub fn algorithm(&self) -> String {
        self.0.algorithm().as_str().to_owned()
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.0
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostKey({} {})", self.algorithm(), self.fingerprint())
    }
}

impl std::str::FromStr for HostKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<HostKey, Error> {
        HostKey::from_openssh(s)
    }
}

pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Which host keys to trust. There is no default: verification is on unless the caller
/// explicitly picks [`HostKeyPolicy::InsecureAcceptAny`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HostKeyPolicy {
    /// Accept only these keys (any of them).
    Pinned(Vec<HostKey>),
    /// Accept the keys an OpenSSH known_hosts file lists for the host (as `host`, or
    /// `[host]:port` when the port is not 22; hashed entries are understood).
    KnownHosts(PathBuf),
    /// Accept any key. Only for throw-away hosts: a warning is logged on every connection.
    InsecureAcceptAny,
}

impl HostKeyPolicy {
    /// Pins one key given as an OpenSSH public key line (`ssh-ed25519 AAAA…`).
    pub fn pinned(line: &str) -> Result<HostKeyPolicy, Error> {
        Ok(HostKeyPolicy::Pinned(vec![HostKey::from_openssh(line)?]))
    }

    /// Trusts the keys listed in an OpenSSH known_hosts file.
    pub fn known_hosts(path: impl Into<PathBuf>) -> HostKeyPolicy {
        HostKeyPolicy::KnownHosts(path.into())
    }
}

/// How commands get root privileges.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Sudo {
    /// Commands run as the login user (root when logging in as root).
    #[default]
    Off,
    /// Commands run through `sudo -n`; sudo must not ask for a password.
    Passwordless,
    /// Commands run through sudo, which is given this password on its standard input when (and
    /// only when) it asks for it. The password never appears on a command line.
    Password(Secret),
}

/// How long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// One connection attempt: TCP connect, SSH handshake and authentication.
    pub connect: Duration,
    /// How long to keep retrying while the host cannot be reached yet (connection refused,
    /// timed out, no route: a host that is still booting), counted from the first attempt.
    /// Zero means one attempt. Authentication and host key failures are never retried.
    pub retry_for: Duration,
    /// The default deadline of one remote command (see
    /// [`Command::timeout`](super::Command::timeout)).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            retry_for: Duration::from_secs(60),
            command: Duration::from_secs(600),
        }
    }
}

/// A bastion (jump host): the node is reached through a TCP channel opened on it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Bastion {
    /// Host name or address of the bastion.
    pub host: String,
    /// SSH port of the bastion.
    pub port: u16,
    /// Login user on the bastion.
    pub user: String,
    /// Credentials for the bastion.
    pub credentials: Credentials,
    /// Host key policy for the bastion.
    pub host_key: HostKeyPolicy,
}

impl Bastion {
    /// A bastion on port 22.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        credentials: Credentials,
        host_key: HostKeyPolicy,
    ) -> Bastion {
        Bastion {
            host: host.into(),
            port: DEFAULT_PORT,
            user: user.into(),
            credentials,
            host_key,
        }
    }

    /// Sets the SSH port.
    pub fn port(mut self, port: u16) -> Bastion {
        self.port = port;
        self
    }

    pub(crate) fn label(&self) -> String {
        endpoint_label(&self.user, &self.host, self.port)
    }
}

/// A node to drive: address, login, host key policy, optional bastion, privilege and timeouts.
///
/// ```
/// use k3s_sdk::ssh::{Credentials, HostKeyPolicy, Sudo, Target};
/// use std::time::Duration;
/// let target = Target::new(
///     "10.0.0.5",
///     "ubuntu",
///     Credentials::key_file("/home/me/.ssh/id_ed25519"),
///     HostKeyPolicy::pinned("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ")?,
/// )
/// .sudo(Sudo::Passwordless)
/// .connect_timeout(Duration::from_secs(5));
/// assert_eq!(target.port, 22);
/// # Ok::<(), k3s_sdk::ssh::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Target {
    /// Host name or address (as seen from the bastion when there is one).
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// How to log in.
    pub credentials: Credentials,
    /// Which host keys to trust.
    pub host_key: HostKeyPolicy,
    /// The jump host to go through, if any.
    pub bastion: Option<Bastion>,
    /// How commands become root.
    pub sudo: Sudo,
    /// Connect, retry and command deadlines.
    pub timeouts: Timeouts,
    /// At most this many commands run at once on the connection (servers limit sessions per
    /// connection; OpenSSH's default `MaxSessions` is 10). Further commands wait their turn.
    pub max_concurrent_commands: usize,
}

impl Target {
    /// A node on port 22, no bastion, no sudo, default timeouts.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        credentials: Credentials,
        host_key: HostKeyPolicy,
    ) -> Target {
        Target {
            host: host.into(),
            port: DEFAULT_PORT,
            user: user.into(),
            credentials,
            host_key,
            bastion: None,
            sudo: Sudo::Off,
            timeouts: Timeouts::default(),
            max_concurrent_commands: 8,
        }
    }

    /// Sets the SSH port.
    pub fn port(mut self, port: u16) -> Target {
        self.port = port;
        self
    }

    /// Reaches the node through this bastion.
    pub fn bastion(mut self, bastion: Bastion) -> Target {
        self.bastion = Some(bastion);
        self
    }

    /// Sets how commands become root.
    pub fn sudo(mut self, sudo: Sudo) -> Target {
        self.sudo = sudo;
        self
    }

    /// Sets all timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Target {
        self.timeouts = timeouts;
        self
    }

    /// Sets the deadline of one connection attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Target {
        self.timeouts.connect = timeout;
        self
    }

    /// Sets how long to keep retrying an unreachable host (zero: one attempt).
    pub fn retry_for(mut self, duration: Duration) -> Target {
        self.timeouts.retry_for = duration;
        self
    }

    /// Sets the default deadline of one remote command.
    pub fn command_timeout(mut self, timeout: Duration) -> Target {
        self.timeouts.command = timeout;
        self
    }

    /// Sets how many commands may run at once on the connection (at least 1).
    pub fn max_concurrent_commands(mut self, count: usize) -> Target {
        self.max_concurrent_commands = count.max(1);
        self
    }

    /// `user@host:port`, plus ` via user@bastion:port` when there is a bastion.
    pub fn label(&self) -> String {
        let own = endpoint_label(&self.user, &self.host, self.port);
        match &self.bastion {
            Some(b) => format!("{own} via {}", b.label()),
            None => own,
        }
    }
}

pub(crate) fn endpoint_label(user: &str, host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("{user}@[{host}]:{port}")
    } else {
        format!("{user}@{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

    #[test]
    fn debug_redacts_every_secret() {
        let target = Target::new(
            "h",
            "u",
            Credentials::key("-----BEGIN OPENSSH PRIVATE KEY-----\nTOPSECRETKEY")
                .with_passphrase("hunter2-passphrase"),
            HostKeyPolicy::InsecureAcceptAny,
        )
        .sudo(Sudo::Password(Secret::new("sudo-pass-123")))
        .bastion(Bastion::new(
            "b",
            "u",
            Credentials::key_file("/k").with_passphrase("bastion-pass"),
            HostKeyPolicy::InsecureAcceptAny,
        ));
        let shown = format!("{target:?} {target:#?}");
        for secret in [
            "TOPSECRETKEY",
            "hunter2-passphrase",
            "sudo-pass-123",
            "bastion-pass",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("***"));
    }

    #[test]
    fn host_keys_parse_with_and_without_host_field() {
        let a = HostKey::from_openssh(&format!("{KEY} me@there")).unwrap();
        let b = HostKey::from_openssh(&format!("10.0.0.5 {KEY}")).unwrap();
        assert_eq!(a, b);
        assert!(a.fingerprint().starts_with("SHA256:"));
        assert_eq!(a.algorithm(), "ssh-ed25519");
        let err = HostKey::from_openssh("ssh-ed25519 not-base64").unwrap_err();
        assert!(err.to_string().contains("not an OpenSSH public key"));
    }

    #[test]
    fn labels_name_user_host_port_and_bastion() {
        let t = Target::new(
            "10.1.0.3",
            "ops",
            Credentials::agent(),
            HostKeyPolicy::InsecureAcceptAny,
        )
        .port(2222)
        .bastion(Bastion::new(
            "bastion.example",
            "root",
            Credentials::agent(),
            HostKeyPolicy::InsecureAcceptAny,
        ));
        assert_eq!(t.label(), "ops@10.1.0.3:2222 via root@bastion.example:22");
        assert_eq!(endpoint_label("u", "::1", 22), "u@[::1]:22");
    }
}
