//! SSH command benchmark: 100 small commands (`true`) on one node and on 8 nodes in parallel,
//! through k3s-sdk's SSH driver (one connection per node, one channel per command) next to
//! OpenSSH's `ssh` client multiplexed over a ControlMaster (one master per node, then one
//! `ssh -S` process per command), measured in the same run.
//!
//! Run with `cargo bench -p acceptance-tests --bench ssh_exec` (as root). Prints a table;
//! asserts nothing about time. Commands run as a plain user: on this machine root's shell
//! start-up (`~/.bashrc`, copied from the host into every node) costs ~0.3 s per command for
//! both clients and would hide the transport.

use acceptance_tests::testbed::{Node, SudoUser, TestBed};
use anyhow::{ensure, Context, Result};
use k3s_sdk::ssh::{Command, Credentials, HostKeyPolicy, Session, Sudo, Target};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const COMMANDS: usize = 100;
const NODES: usize = 8;
const USER: &str = "bench";

fn main() -> Result<()> {
    let bed = TestBed::builder()
        .nodes(NODES)
        .sudo_user(SudoUser {
            name: USER.into(),
            password: None,
        })
        .boot()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let control = tempfile::tempdir()?;
    let nodes = bed.nodes();

    // Connections first (timed), then a few warm-up commands on each.
    let started = Instant::now();
    let sessions = runtime.block_on(async {
        let mut sessions = Vec::new();
        for node in nodes {
            sessions.push(Session::connect(&target(&bed, node)).await?);
        }
        anyhow::Ok(sessions)
    })?;
    let sdk_connect = started.elapsed() / NODES as u32;
    let started = Instant::now();
    let masters: Vec<Master> = nodes
        .iter()
        .map(|n| Master::start(n, control.path()))
        .collect::<Result<_>>()?;
    let ssh_connect = started.elapsed() / NODES as u32;
    runtime.block_on(sdk_run(&sessions, "true", false, 5))?;
    ssh_run(&masters, "true", 5)?;

    let mut rows = Vec::new();
    for (label, count, script, sudo) in [
        ("1 node", 1, "true", false),
        ("8 nodes in parallel", NODES, "true", false),
        ("1 node, through sudo -n", 1, "true", true),
    ] {
        let started = Instant::now();
        runtime.block_on(sdk_run(&sessions[..count], script, sudo, COMMANDS))?;
        let sdk = started.elapsed();
        let remote = if sudo {
            format!("sudo -n {script}")
        } else {
            script.to_owned()
        };
        let started = Instant::now();
        ssh_run(&masters[..count], &remote, COMMANDS)?;
        let ssh = started.elapsed();
        rows.push((label, sdk, ssh));
    }

    println!();
    println!(
        "{COMMANDS} × `true` per node, as a plain user ({} cores)",
        cores()
    );
    println!(
        "{:<28} {:>14} {:>18} {:>16}",
        "", "k3s-sdk (russh)", "OpenSSH mux", "OpenSSH / sdk"
    );
    println!(
        "{:<28} {:>12.1} ms {:>15.1} ms {:>16.2}",
        "connect, per node",
        ms(sdk_connect),
        ms(ssh_connect),
        ms(ssh_connect) / ms(sdk_connect)
    );
    for (label, sdk, ssh) in rows {
        println!(
            "{:<28} {:>12.2} s  {:>15.2} s  {:>16.2}",
            label,
            sdk.as_secs_f64(),
            ssh.as_secs_f64(),
            ssh.as_secs_f64() / sdk.as_secs_f64()
        );
        println!(
            "{:<28} {:>12.1} ms {:>15.1} ms",
            "  per command",
            ms(sdk) / COMMANDS as f64,
            ms(ssh) / COMMANDS as f64
        );
    }
    drop(masters);
    drop(sessions);
    bed.teardown()?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn target(bed: &TestBed, node: &Node) -> Target {
    Target::new(
        node.address().to_string(),
        USER,
        Credentials::key_file(bed.client_key_path()),
        HostKeyPolicy::pinned(node.host_key().public_openssh()).expect("host key"),
    )
    .sudo(Sudo::Passwordless)
}

/// `count` commands in sequence on each session, all sessions in parallel.
async fn sdk_run(sessions: &[Session], script: &str, sudo: bool, count: usize) -> Result<()> {
    let mut tasks = Vec::new();
    for session in sessions {
        let session = session.clone();
        let script = script.to_owned();
        tasks.push(tokio::spawn(async move {
            for _ in 0..count {
                let mut command = Command::new("benchmark", script.as_str());
                if !sudo {
                    command = command.unprivileged();
                }
                session.exec(command).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// An OpenSSH ControlMaster for one node; closed on drop.
struct Master {
    args: Vec<String>,
    destination: String,
    path: String,
}

impl Master {
    fn start(node: &Node, dir: &Path) -> Result<Master> {
        let mut args = node.ssh_args(USER);
        let destination = args.pop().context("ssh destination")?;
        let path = dir.join(node.name()).display().to_string();
        let status = std::process::Command::new("ssh")
            .args(&args)
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=300"])
            .arg("-o")
            .arg(format!("ControlPath={path}"))
            .args(["-f", "-N"])
            .arg(&destination)
            .stdin(Stdio::null())
            .status()?;
        ensure!(
            status.success(),
            "starting a ControlMaster for {}",
            node.name()
        );
        Ok(Master {
            args,
            destination,
            path,
        })
    }

    fn run(&self, command: &str) -> Result<()> {
        let status = std::process::Command::new("ssh")
            .args(&self.args)
            .arg("-S")
            .arg(&self.path)
            .arg(&self.destination)
            .arg(command)
            .stdin(Stdio::null())
            .status()?;
        ensure!(status.success(), "ssh {command} failed: {status}");
        Ok(())
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ssh")
            .args(["-S", &self.path, "-O", "exit", &self.destination])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `count` commands in sequence on each master, all masters in parallel.
fn ssh_run(masters: &[Master], command: &str, count: usize) -> Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> = masters
            .iter()
            .map(|m| {
                s.spawn(move || {
                    for _ in 0..count {
                        m.run(command)?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("ssh thread")?;
        }
        Ok(())
    })
}
