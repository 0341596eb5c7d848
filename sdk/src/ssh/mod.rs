//! Driving a Linux host over SSH, safely by default: what the K3s and Argo CD code uses, and
//! usable on its own.
//!
//! - Host keys are verified unless the caller explicitly picks
//!   [`HostKeyPolicy::InsecureAcceptAny`] (which logs a warning on every connection); a
//!   mismatch names the host and both fingerprints.
//! - Secrets (keys, passphrases, the sudo password, file contents) never appear on a command
//!   line, in logs or in errors; [`Secret`] prints as `***`.
//! - Every remote operation has a deadline; connection attempts retry with backoff while a host
//!   is still booting, within an overall deadline.
//!
//! One [`Session`] is one SSH connection; each command, file transfer and forwarded connection
//! is a channel on it, so a session is cheap to share between tasks (`Clone`, `&self` methods).
//!
//! ```no_run
//! use k3s_sdk::ssh::{Command, Credentials, FileOptions, HostKeyPolicy, Secret, Session, Sudo, Target};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), k3s_sdk::ssh::Error> {
//! let target = Target::new(
//!     "10.0.0.5",
//!     "ubuntu",
//!     Credentials::key_file("/home/me/.ssh/id_ed25519"),
//!     HostKeyPolicy::pinned("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ")?,
//! )
//! .sudo(Sudo::Password(Secret::new("from a vault, not a literal")))
//! .retry_for(Duration::from_secs(120));
//! let node = Session::connect(&target).await?;
//!
//! let arch = node.run("detect the CPU architecture", "uname -m").await?;
//! println!("{} is {}", node.host(), arch.stdout_text().trim());
//!
//! node.write_file(
//!     "/etc/rancher/k3s/config.yaml",
//!     b"token-file: /etc/rancher/k3s/token\n",
//!     &FileOptions::new().mode(0o600),
//! )
//! .await?;
//! node.exec(
//!     Command::new("install K3s", "sh /tmp/install.sh")
//!         .timeout(Duration::from_secs(600)),
//! )
//! .await?;
//!
//! // The K3s API listens on the node's loopback: reach it through the SSH connection.
//! let api = node.forward_local("127.0.0.1", 6443).await?;
//! println!("K3s API at https://{}", api.local_addr());
//! # Ok(())
//! # }
//! ```
//!
//! What each part owns:
//! - `config`: [`Target`], [`Bastion`], [`Credentials`], [`HostKeyPolicy`], [`Sudo`],
//!   [`Timeouts`] — plain settings ([`Secret`] is the crate's own, [`crate::Secret`]);
//! - `connect`: [`Session::connect`] — dialing, retries, host key check, bastion hops;
//! - `auth`: loading the credentials and authenticating with them;
//! - `exec`: [`Command`], [`Output`], [`Session::exec`] — commands with deadlines and
//!   cancellation;
//! - `shell`: [`shell_quote`], the one quoting rule for command lines;
//! - `sudo`: the command lines and handshake that make commands run as root;
//! - `files`: [`Session::read_file`], [`Session::write_file`] with [`FileOptions`];
//! - `forward`: [`Session::forward_local`] and [`PortForward`];
//! - `error`: [`Error`] and [`ExitStatus`].

mod auth;
mod config;
mod connect;
mod error;
mod exec;
mod files;
mod forward;
mod shell;
mod sudo;

pub use crate::Secret;
pub use config::{
    Bastion, Credentials, HostKey, HostKeyPolicy, Sudo, Target, Timeouts, DEFAULT_PORT,
};
pub use connect::Session;
pub use error::{Cause, Error, ExitStatus, STDERR_TAIL_LINES};
pub use exec::{Command, Output};
pub use files::FileOptions;
pub use forward::PortForward;
pub use shell::shell_quote;
/// Re-exported so callers can cancel commands without depending on tokio-util themselves.
pub use tokio_util::sync::CancellationToken;
