//! Helpers for tests that drive the K3s stand-in on test-bed nodes: the installer command
//! line, writing files on a node over SSH, the real `kubectl` on the host against a node's
//! API, and polling with a deadline.

use super::K3sReleases;
use crate::testbed::Node;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `curl … | VARS sh -s - ARGS`: runs the stand-in installer from the artifact server with
/// `INSTALL_K3S_VERSION` and `GITHUB_URL` set, plus `env` (name, value) and `args`.
pub fn install_command(
    releases: &K3sReleases,
    version: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> String {
    let mut vars = format!(
        "INSTALL_K3S_VERSION={} GITHUB_URL={}",
        shell_quote(version),
        shell_quote(&releases.github_url)
    );
    for (k, v) in env {
        vars.push_str(&format!(" {k}={}", shell_quote(v)));
    }
    let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    format!(
        "set -o pipefail 2>/dev/null; curl -sfL {} | {vars} sh -s - {}",
        shell_quote(&releases.install_url),
        args.join(" ")
    )
}

/// Installs a K3s stand-in server on `node` (its address in the certificate's SANs, so the
/// host's kubectl can reach it) and returns the host's kubectl for it.
pub fn install_server(node: &Node, releases: &K3sReleases, version: &str) -> Result<Kubectl> {
    write_node_file(
        node,
        "/etc/rancher/k3s/config.yaml",
        &format!("tls-san:\n  - {}\n", node.address()),
        0o600,
    )?;
    node.ssh_ok(&install_command(releases, version, &[], &["server"]))?;
    Kubectl::for_node(node)
}

/// Writes `contents` to `path` on `node` (as root, over SSH stdin) with `mode`.
pub fn write_node_file(node: &Node, path: &str, contents: &str, mode: u32) -> Result<()> {
    let command = format!(
        "umask 077 && install -D -m {mode:o} /dev/stdin {}",
        shell_quote(path)
    );
    let out = node.ssh_with_input("root", &command, contents.as_bytes())?;
    if !out.status.success() {
        bail!(
            "writing {path} on {}: {}",
            node.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Polls `check` every `every` until it returns `Some`, or fails after `timeout` with the
/// last error or `None`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("not yet");
    loop {
        match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() > deadline {
            bail!("{what}: not reached within {timeout:?} (last: {last})");
        }
        std::thread::sleep(every);
    }
}

/// The host's real `kubectl`, pointed at one server node's API with the admin kubeconfig
/// the stand-in wrote there (its `server:` rewritten from 127.0.0.1 to the node's address),
/// with a discovery cache of its own.
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Copies `/etc/rancher/k3s/k3s.yaml` from `node` (over SSH) to the host.
    pub fn for_node(node: &Node) -> Result<Kubectl> {
        let text = node.ssh_ok("cat /etc/rancher/k3s/k3s.yaml")?;
        let local = "https://127.0.0.1:6443";
        if !text.contains(local) {
            bail!("k3s.yaml on {} does not point at {local}", node.name());
        }
        let text = text.replace(local, &format!("https://{}:6443", node.address()));
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        super::util::write_file(&kubeconfig, text.as_bytes(), 0o600)?;
        Ok(Kubectl { dir, kubeconfig })
    }

    /// Like [`for_node`](Self::for_node), for an API reached at `server` (e.g. the local end
    /// of an SSH forward to a node whose API listens on its loopback only).
    pub fn for_node_at(node: &Node, server: &str) -> Result<Kubectl> {
        let text = node.ssh_ok("cat /etc/rancher/k3s/k3s.yaml")?;
        let text = text.replace("https://127.0.0.1:6443", server);
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        super::util::write_file(&kubeconfig, text.as_bytes(), 0o600)?;
        Ok(Kubectl { dir, kubeconfig })
    }

    /// The kubeconfig file on the host.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs `kubectl ARGS` and returns the whole output (status, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> Result<std::process::Output> {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--request-timeout=30s")
            .args(args)
            .env("HOME", self.dir.path())
            .output()
            .context("running kubectl")
    }

    /// Runs `kubectl ARGS` and returns stdout; fails with stderr when kubectl fails.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args)?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `kubectl ARGS` (asking for `-o json`) and parses what it printed.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.ok(args)?)?)
    }

    /// The requests `client` (the product in its User-Agent: `k3s-sdk`, `kubectl`) made to the
    /// stand-in since the last call, as (reads, writes); the counts start again from zero.
    pub fn requests(&self, client: &str) -> Result<(u64, u64)> {
        let counts = self.json(&["get", "--raw", "/standin/requests?reset"])?;
        let c = &counts[client];
        Ok((
            c["reads"].as_u64().unwrap_or(0),
            c["writes"].as_u64().unwrap_or(0),
        ))
    }

    /// The `kubectl get nodes` STATUS of `node`, or `None` when it is not listed.
    pub fn node_status(&self, node: &str) -> Result<Option<String>> {
        let out = self.ok(&["get", "nodes", "--no-headers"])?;
        Ok(out.lines().find_map(|l| {
            let mut fields = l.split_whitespace();
            (fields.next() == Some(node)).then(|| fields.next().unwrap_or("").to_owned())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
