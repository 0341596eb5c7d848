//! The cgroup v2 subtree each node lives in: created before a node starts, the node's cgroup
//! namespace root, and the handle that kills everything in a node at once.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the directory under the cgroup2 mount that holds every test bed run.
const TESTBED_DIR: &str = "k3s-testbed";

/// Finds where the host's cgroup2 hierarchy is mounted (`/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
pub(crate) fn cgroup2_mount() -> Result<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    for line in mountinfo.lines() {
        // Fields: ... mount_point ... - fstype source options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split_whitespace().next() == Some("cgroup2") {
            if let Some(point) = left.split_whitespace().nth(4) {
                return Ok(PathBuf::from(point));
            }
        }
    }
    bail!(
        "no cgroup2 hierarchy is mounted on this host; the test bed's nodes need one \
         (mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified`)"
    )
}

/// The directory holding all nodes of one run.
pub(crate) fn run_cgroup(run_id: &str) -> Result<PathBuf> {
    Ok(cgroup2_mount()?.join(TESTBED_DIR).join(run_id))
}

/// Run ids that have a cgroup directory, whether or not their run is still alive.
pub(crate) fn runs_with_cgroups() -> Vec<String> {
    let Ok(root) = cgroup2_mount() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.join(TESTBED_DIR)) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// Creates the (empty) cgroup for a node.
pub(crate) fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating cgroup {}", dir.display()))
}

/// Every process id in a cgroup and its descendants.
pub(crate) fn pids(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    collect_pids(dir, &mut pids);
    pids
}

fn collect_pids(dir: &Path, out: &mut Vec<u32>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.path().is_dir() {
                collect_pids(&entry.path(), out);
            }
        }
    }
}

/// Kills every process in the cgroup subtree, waits until it is empty, and removes it.
pub(crate) fn kill_and_remove(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // cgroup.kill (Linux 5.14+) kills the whole subtree; fall back to signalling each pid.
        if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
            for pid in pids(dir) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if pids(dir).is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("processes in {} survived SIGKILL for 10 s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Child cgroups first; a populated-then-emptied cgroup may need a moment before rmdir works.
    loop {
        match remove_tree(dir) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("removing cgroup {}", dir.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes the per-run directory once all its node cgroups are gone.
pub(crate) fn remove_run(run_id: &str) -> Result<()> {
    let dir = run_cgroup(run_id)?;
    if dir.exists() {
        kill_and_remove(&dir)?;
    }
    Ok(())
}
