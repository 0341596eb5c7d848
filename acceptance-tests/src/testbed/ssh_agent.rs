//! A real ssh-agent for tests: OpenSSH's `ssh-agent` on a socket of its own, holding one key
//! (`ssh-add`), killed when dropped.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A running ssh-agent holding one key.
pub struct SshAgent {
    child: std::process::Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl SshAgent {
    /// Starts an agent and adds the private key at `key`.
    pub fn start(key: &Path) -> Result<SshAgent> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting ssh-agent")?;
        let agent = SshAgent {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !agent.socket.exists() {
            ensure!(
                Instant::now() < deadline,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let added = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null())
            .output()?;
        ensure!(
            added.status.success(),
            "ssh-add failed: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        Ok(agent)
    }

    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
