//! One test bed run on the host: its id, the names of everything it creates, who owns it, the
//! subnet it claimed, and the sweeper that removes what runs of dead processes left behind.
//!
//! Every host-side object of a run carries the run id in its name (`k3t<id>…` for network
//! namespaces and links, `k3s-testbed/<id>` for cgroups, `/run/k3s-testbed/runs/<id>` for files),
//! so a run can always be found and removed by its id alone.

use super::{cgroup, host};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Where runs keep their files (keys, logs, boot scripts, subnet claims).
const STATE_ROOT: &str = "/run/k3s-testbed";
/// Prefix of every network namespace and link name.
const NAME_PREFIX: &str = "k3t";
/// Highest subnet index; run `n` uses 10.231.n.0/24 (reachable from the host) and
/// 10.232.n.0/24 (reachable only through a bastion node).
const MAX_SUBNET: u8 = 250;

/// A claimed run: id, state directory and subnet.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    pub(crate) subnet: u8,
}

impl Run {
    /// Claims a new run owned by this process: a fresh id, its state directory and a free subnet.
    pub(crate) fn claim() -> Result<Run> {
        let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let dir = run_dir(&id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let pid = std::process::id();
        let start = host::process_start_time(pid).context("reading own start time")?;
        std::fs::write(dir.join("owner"), format!("{pid} {start}\n"))?;
        let subnet = claim_subnet(&id)?;
        Ok(Run { id, dir, subnet })
    }

    /// Marks the run as kept: the sweeper leaves it alone after this process exits, until
    /// [`remove`] is called with its id.
    pub(crate) fn keep(&self) -> Result<()> {
        std::fs::write(self.dir.join("owner"), "kept\n")?;
        Ok(())
    }

    pub(crate) fn netns(&self, index: usize) -> String {
        format!("{NAME_PREFIX}{}n{index}", self.id)
    }
    pub(crate) fn public_bridge(&self) -> String {
        format!("{NAME_PREFIX}{}", self.id)
    }
    pub(crate) fn private_bridge(&self) -> String {
        format!("{NAME_PREFIX}{}p", self.id)
    }
    pub(crate) fn public_veth(&self, index: usize) -> String {
        format!("{NAME_PREFIX}{}a{index}", self.id)
    }
    pub(crate) fn private_veth(&self, index: usize) -> String {
        format!("{NAME_PREFIX}{}b{index}", self.id)
    }
    /// The host's address on the public bridge; nodes reach the host (and its artifact server) here.
    pub(crate) fn host_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, 1)
    }
    pub(crate) fn public_address(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, 10 + index as u8)
    }
    pub(crate) fn private_address(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 232, self.subnet, 10 + index as u8)
    }
    /// The private subnet; the host holds an `unreachable` route for it so nothing the host sends
    /// there ever leaves through its default route.
    pub(crate) fn private_subnet(&self) -> String {
        private_subnet(self.subnet)
    }
    pub(crate) fn node_dir(&self, index: usize) -> PathBuf {
        self.dir.join(format!("n{index}"))
    }
    pub(crate) fn node_cgroup(&self, index: usize) -> Result<PathBuf> {
        Ok(cgroup::run_cgroup(&self.id)?.join(format!("n{index}")))
    }
}

fn private_subnet(subnet: u8) -> String {
    format!("10.232.{subnet}.0/24")
}

fn run_dir(id: &str) -> PathBuf {
    PathBuf::from(STATE_ROOT).join("runs").join(id)
}

fn subnets_dir() -> PathBuf {
    PathBuf::from(STATE_ROOT).join("subnets")
}

fn claim_subnet(id: &str) -> Result<u8> {
    let dir = subnets_dir();
    std::fs::create_dir_all(&dir)?;
    for n in 1..=MAX_SUBNET {
        // create_new is atomic: two runs never claim the same subnet.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(n.to_string()))
        {
            Ok(mut file) => {
                file.write_all(id.as_bytes())?;
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).context("claiming a subnet"),
        }
    }
    anyhow::bail!(
        "all {MAX_SUBNET} test bed subnets are claimed; run `testbed sweep` to release those of \
         dead runs, or `testbed down --all` to stop kept ones"
    )
}

/// Is the run still owned by a live process, or kept on purpose?
fn owned(id: &str) -> bool {
    let Ok(owner) = std::fs::read_to_string(run_dir(id).join("owner")) else {
        return false;
    };
    let owner = owner.trim();
    if owner == "kept" {
        return true;
    }
    let mut parts = owner.split_whitespace().map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(pid), Some(start)) => host::process_alive(pid as u32, start),
        _ => false,
    }
}

/// Is the run kept (its nodes left running on purpose)?
pub(crate) fn is_kept(id: &str) -> bool {
    std::fs::read_to_string(run_dir(id).join("owner"))
        .map(|o| o.trim() == "kept")
        .unwrap_or(false)
}

/// Every run id that has something on this host.
pub(crate) fn all_runs() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(PathBuf::from(STATE_ROOT).join("runs")) {
        ids.extend(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()));
    }
    ids.extend(cgroup::runs_with_cgroups());
    ids.extend(named_objects().into_iter().filter_map(|name| id_of(&name)));
    if let Ok(entries) = std::fs::read_dir(subnets_dir()) {
        ids.extend(entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()));
    }
    ids.retain(|id| id.len() == 6 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    ids
}

/// Runs whose owner is gone and that were not kept.
pub(crate) fn stale_runs() -> Vec<String> {
    all_runs().into_iter().filter(|id| !owned(id)).collect()
}

/// Network namespaces and links whose name starts with the test bed prefix.
fn named_objects() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        names.extend(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()));
    }
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        names.extend(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()));
    }
    names.retain(|n| n.starts_with(NAME_PREFIX));
    names
}

fn id_of(name: &str) -> Option<String> {
    name.strip_prefix(NAME_PREFIX)
        .and_then(|rest| rest.get(..6))
        .map(str::to_owned)
}

/// Removes everything a run created on the host, found by its id: processes (through their
/// cgroups), network namespaces, links, the subnet claim and the state directory.
/// Goes on after errors and reports the first one.
pub(crate) fn remove(id: &str) -> Result<()> {
    let mut first_error = cgroup::remove_run(id).err();
    let prefix = format!("{NAME_PREFIX}{id}");
    for name in named_objects()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
    {
        if std::path::Path::new("/run/netns").join(&name).exists() {
            host::run_quietly("ip", &["netns", "delete", &name]);
        }
        if std::path::Path::new("/sys/class/net").join(&name).exists() {
            host::run_quietly("ip", &["link", "delete", &name]);
        }
    }
    for (subnet, claim) in subnet_claims(id) {
        host::run_quietly(
            "ip",
            &["route", "delete", "unreachable", &private_subnet(subnet)],
        );
        let _ = std::fs::remove_file(claim);
    }
    if let Err(e) = std::fs::remove_dir_all(run_dir(id)) {
        if e.kind() != std::io::ErrorKind::NotFound && first_error.is_none() {
            first_error = Some(anyhow::Error::new(e).context("removing the run's state directory"));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `unreachable` routes for private subnets that no run claims. A run claims its subnet before it
/// adds the route and deletes the route before it drops the claim, so these are always leftovers.
pub(crate) fn orphan_routes() -> Vec<String> {
    let Ok(output) = host::run("ip", &["-4", "route", "show", "type", "unreachable"]) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|net| {
            let subnet: u8 = net
                .strip_prefix("10.232.")?
                .strip_suffix(".0/24")?
                .parse()
                .ok()?;
            (!subnets_dir().join(subnet.to_string()).exists()).then(|| net.to_owned())
        })
        .collect()
}

/// Deletes the routes [`orphan_routes`] finds.
pub(crate) fn remove_orphan_routes() {
    for net in orphan_routes() {
        host::run_quietly("ip", &["route", "delete", "unreachable", &net]);
    }
}

/// The subnets (and their claim files) held by a run.
fn subnet_claims(id: &str) -> Vec<(u8, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(subnets_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .map(|c| c == id)
                .unwrap_or(false)
        })
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect()
}

/// Lists what is left on the host of a run: an empty list means the run is fully gone.
pub fn leftovers(id: &str) -> Vec<String> {
    let mut left = Vec::new();
    let prefix = format!("{NAME_PREFIX}{id}");
    left.extend(
        named_objects()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .map(|n| format!("netns or link {n}")),
    );
    if cgroup::runs_with_cgroups().iter().any(|r| r == id) {
        left.push(format!("cgroup k3s-testbed/{id}"));
    }
    if run_dir(id).exists() {
        left.push(format!("state directory {}", run_dir(id).display()));
    }
    for (_, claim) in subnet_claims(id) {
        left.push(format!("subnet claim {}", claim.display()));
    }
    left.extend(
        orphan_routes()
            .into_iter()
            .map(|r| format!("unreachable route {r} of no run")),
    );
    if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") {
        left.extend(
            mountinfo
                .lines()
                .filter(|l| l.contains(&prefix) || l.contains(&format!("runs/{id}")))
                .map(|l| format!("mount {l}")),
        );
    }
    let cgroup_marker = format!("k3s-testbed/{id}");
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(|e| e.ok()) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let in_run = std::fs::read_to_string(entry.path().join("cgroup"))
                .map(|c| c.contains(&cgroup_marker))
                .unwrap_or(false)
                || std::fs::read(entry.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&format!("runs/{id}")))
                    .unwrap_or(false);
            // A killed process whose parent had already died waits, as a zombie holding nothing
            // but its pid, for the host's init to reap it; that is not the run's doing.
            let zombie = host::process_state(pid) == Some('Z');
            if in_run && !zombie {
                left.push(format!("process {pid}"));
            }
        }
    }
    left
}
