//! Small helpers for running host commands (`ip`, `nsenter`) and checking the host can run a
//! test bed. Knows nothing about nodes or runs.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Output};

/// Runs `program args...` on the host and fails with its stderr when it exits non-zero.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<Output> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("could not start `{program}`"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// Like [`run`] but ignores failure; used by teardown, which must go on whatever happens.
pub(crate) fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// The tools the test bed drives, and where they come from.
const REQUIRED_TOOLS: &[(&str, &str)] = &[
    ("/usr/sbin/sshd", "openssh-server"),
    ("/usr/bin/ssh", "openssh-client"),
    ("/lib/systemd/systemd", "systemd"),
    ("/usr/bin/nsenter", "util-linux"),
    ("/usr/bin/unshare", "util-linux"),
    ("/usr/sbin/pivot_root", "util-linux"),
    ("/usr/sbin/useradd", "passwd"),
    ("/usr/bin/sudo", "sudo"),
];

/// Fails with an explanation when this process cannot build a test bed: it must be root, and
/// the node programs must be installed on the host (nodes boot from a copy of the host's root).
pub(crate) fn check_prerequisites() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the test bed needs root: it creates network namespaces, bridges, mounts and cgroups \
             for its nodes. Run it as root (for example `sudo -E scripts/test`)."
        );
    }
    which_ip()?;
    let missing: Vec<&str> = REQUIRED_TOOLS
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the test bed's nodes need these packages on the host, which they boot from: {}. \
             Run `scripts/setup` to install them.",
            missing.join(", ")
        );
    }
    Ok(())
}

fn which_ip() -> Result<()> {
    if Path::new("/usr/sbin/ip").exists() || Path::new("/sbin/ip").exists() {
        Ok(())
    } else {
        bail!("`ip` (package iproute2) is missing on the host; run `scripts/setup` to install it")
    }
}

/// Is a process with this pid alive and started at this time (clock ticks since boot)?
pub(crate) fn process_alive(pid: u32, start_time: u64) -> bool {
    process_start_time(pid) == Some(start_time)
}

/// The start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The state letter of a process (`R`, `S`, `Z`, …; field 3 of `/proc/PID/stat`).
pub(crate) fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Reads the host's `MemAvailable` in bytes.
pub fn mem_available_bytes() -> Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .context("no MemAvailable in /proc/meminfo")
}
