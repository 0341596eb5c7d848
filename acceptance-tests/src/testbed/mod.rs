//! Real Linux nodes on this machine for tests, benchmarks and the local sandbox.
//!
//! Each node is its own network namespace on a bridge, with its own PID, mount, UTS, IPC and
//! cgroup namespaces, a copy-on-write overlay of the host's root on tmpfs, the real systemd as
//! PID 1 and the real OpenSSH server with a host key made for the run. Nodes can be hidden
//! behind a bastion node, and can carry a non-root sudo user.
//!
//! ```no_run
//! use acceptance_tests::testbed::TestBed;
//! let bed = TestBed::builder().nodes(3).boot()?;
//! for node in bed.nodes() {
//!     println!("{} {}", node.name(), node.ssh_ok("hostname")?.trim());
//! }
//! bed.teardown()?; // also done on drop
//! # anyhow::Ok(())
//! ```
//!
//! Teardown is guaranteed twice over: dropping a [`TestBed`] removes everything it made, and
//! every new test bed first sweeps what runs of processes that died left behind (see
//! [`sweep_stale_runs`]). Needs root.

mod cgroup;
mod host;
mod keys;
mod node;
mod run;
mod ssh_agent;

pub use host::mem_available_bytes;
pub use keys::KeyPair;
pub use node::{Node, SudoUser};
pub use run::leftovers;
pub use ssh_agent::SshAgent;

use anyhow::{bail, Context, Result};
use node::{NodeSpec, Placement, Prepared};
use run::Run;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Describes the nodes to boot; see [`TestBed::builder`].
#[derive(Debug, Default)]
pub struct TestBedBuilder {
    specs: Vec<NodeSpec>,
    sudo_user: Option<SudoUser>,
}

impl TestBedBuilder {
    /// Adds `count` nodes reachable from the host, named `node-1`, `node-2`, ….
    pub fn nodes(mut self, count: usize) -> Self {
        for _ in 0..count {
            let name = format!("node-{}", self.specs.len() + 1);
            self.specs.push(NodeSpec {
                name,
                placement: Placement::Public,
            });
        }
        self
    }

    /// Adds one node reachable from the host with the given name.
    pub fn node(mut self, name: &str) -> Self {
        self.specs.push(NodeSpec {
            name: name.to_owned(),
            placement: Placement::Public,
        });
        self
    }

    /// Adds a node that is only on a private network, reachable through the node named
    /// `bastion` (which must be reachable from the host).
    pub fn hidden_node(mut self, name: &str, bastion: &str) -> Self {
        self.specs.push(NodeSpec {
            name: name.to_owned(),
            placement: Placement::Behind(bastion.to_owned()),
        });
        self
    }

    /// Creates a non-root user with sudo rights on every node; it logs in with the run's client key.
    pub fn sudo_user(mut self, user: SudoUser) -> Self {
        self.sudo_user = Some(user);
        self
    }

    /// Boots the nodes (in parallel) and returns once systemd on each reports `running`.
    pub fn boot(self) -> Result<TestBed> {
        TestBed::boot(self)
    }
}

/// A set of booted nodes and everything on the host that connects them.
#[derive(Debug)]
pub struct TestBed {
    run: Run,
    nodes: Vec<Node>,
    client_key: KeyPair,
    client_key_path: PathBuf,
    known_hosts_path: PathBuf,
    torn_down: bool,
}

impl TestBed {
    /// Starts describing a test bed.
    pub fn builder() -> TestBedBuilder {
        TestBedBuilder::default()
    }

    fn boot(builder: TestBedBuilder) -> Result<TestBed> {
        host::check_prerequisites()?;
        validate(&builder.specs)?;
        sweep_stale_runs()?;
        let run = Run::claim()?;
        let client_key = KeyPair::generate(&format!("k3s-testbed-{}", run.id))?;
        let mut bed = TestBed {
            client_key_path: run.dir.join("client_key"),
            known_hosts_path: run.dir.join("known_hosts"),
            run,
            nodes: Vec::new(),
            client_key,
            torn_down: false,
        };
        // From here on, dropping `bed` on an error removes whatever was made.
        bed.start_nodes(&builder)?;
        node::wait_until_running(&mut bed.nodes)?;
        Ok(bed)
    }

    fn start_nodes(&mut self, builder: &TestBedBuilder) -> Result<()> {
        let run = &self.run;
        write_secret(&self.client_key_path, self.client_key.private_openssh())?;
        let needs_private = builder
            .specs
            .iter()
            .any(|s| matches!(s.placement, Placement::Behind(_)));
        create_bridge(&run.public_bridge(), Some(run.host_address()))?;
        if needs_private {
            create_bridge(&run.private_bridge(), None)?;
            host::run(
                "ip",
                &["route", "add", "unreachable", &run.private_subnet()],
            )?;
        }
        let bastions: Vec<&str> = builder
            .specs
            .iter()
            .filter_map(|s| match &s.placement {
                Placement::Behind(b) => Some(b.as_str()),
                Placement::Public => None,
            })
            .collect();
        let mut prepared = Vec::new();
        for (index, spec) in builder.specs.iter().enumerate() {
            let (address, private_address, bastion, gateway) = match &spec.placement {
                Placement::Public => {
                    let private = bastions
                        .contains(&spec.name.as_str())
                        .then(|| run.private_address(index));
                    (run.public_address(index), private, None, None)
                }
                Placement::Behind(name) => {
                    let b = builder
                        .specs
                        .iter()
                        .position(|s| &s.name == name)
                        .context("bastion not found")?;
                    let bastion = Some((name.clone(), run.public_address(b)));
                    (
                        run.private_address(index),
                        None,
                        bastion,
                        Some(run.private_address(b)),
                    )
                }
            };
            let host_key = KeyPair::generate(&format!("{}@k3s-testbed-{}", spec.name, run.id))?;
            prepared.push(Prepared {
                spec: spec.clone(),
                index,
                address,
                private_address,
                bastion,
                bastion_private_address: gateway,
                host_key,
            });
        }
        let mut hosts =
            String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
        let mut known_hosts = String::new();
        for p in &prepared {
            hosts.push_str(&format!("{} {}\n", p.address, p.spec.name));
            known_hosts.push_str(&format!("{} {}\n", p.address, p.host_key.public_openssh()));
        }
        std::fs::write(&self.known_hosts_path, known_hosts)?;
        let seed = node::Seed {
            hosts: &hosts,
            authorized_key: self.client_key.public_openssh(),
            sudo_user: builder.sudo_user.as_ref(),
        };
        for p in prepared {
            node::create_network(run, &p)?;
            let started =
                node::start(run, p, &seed, &self.client_key_path, &self.known_hosts_path)?;
            self.nodes.push(started);
        }
        Ok(())
    }

    /// The run id; every host-side object of this test bed carries it in its name.
    pub fn run_id(&self) -> &str {
        &self.run.id
    }

    /// The nodes, in the order they were described.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node named {name}"))
    }

    /// The host's address on the nodes' network: nodes reach services on the host here.
    pub fn host_address(&self) -> Ipv4Addr {
        self.run.host_address()
    }

    /// The run's client key, authorised for root (and the sudo user) on every node.
    pub fn client_key(&self) -> &KeyPair {
        &self.client_key
    }

    /// The client key's file (mode 0600), for OpenSSH's `-i`.
    pub fn client_key_path(&self) -> &Path {
        &self.client_key_path
    }

    /// A known_hosts file pinning every node's host key at its address.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts_path
    }

    /// Leaves the nodes running after this process exits (for the sandbox demo); they are then
    /// removed only by [`remove_run`].
    pub fn keep(mut self) -> Result<String> {
        self.run.keep()?;
        for node in &mut self.nodes {
            // Forget the start processes without killing them: the nodes outlive us.
            drop(node.unshare.take());
        }
        self.torn_down = true;
        Ok(self.run.id.clone())
    }

    /// Stops every node and removes everything the run made on the host.
    pub fn teardown(mut self) -> Result<()> {
        self.teardown_in_place()
    }

    fn teardown_in_place(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut first_error = None;
        for node in &mut self.nodes {
            if let Err(e) = node::stop(node) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = run::remove(&self.run.id) {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e.context(format!("tearing down test bed run {}", self.run.id))),
            None => Ok(()),
        }
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        if let Err(e) = self.teardown_in_place() {
            eprintln!("test bed teardown: {e:#}");
        }
    }
}

fn validate(specs: &[NodeSpec]) -> Result<()> {
    if specs.is_empty() {
        bail!("a test bed needs at least one node");
    }
    if specs.len() > 200 {
        bail!("a test bed holds at most 200 nodes");
    }
    for (i, spec) in specs.iter().enumerate() {
        let valid = !spec.name.is_empty()
            && spec.name.len() <= 63
            && spec
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            bail!(
                "node name {:?} is not a valid hostname (lowercase letters, digits, '-')",
                spec.name
            );
        }
        if specs[..i].iter().any(|s| s.name == spec.name) {
            bail!("two nodes are named {}", spec.name);
        }
        if let Placement::Behind(bastion) = &spec.placement {
            match specs.iter().find(|s| &s.name == bastion) {
                Some(b) if b.placement == Placement::Public => {}
                Some(_) => bail!("bastion {bastion} of {} is itself hidden", spec.name),
                None => bail!("bastion {bastion} of {} is not in the test bed", spec.name),
            }
        }
    }
    Ok(())
}

fn create_bridge(name: &str, host_address: Option<Ipv4Addr>) -> Result<()> {
    host::run("ip", &["link", "add", name, "type", "bridge"])?;
    if let Some(address) = host_address {
        host::run(
            "ip",
            &["addr", "add", &format!("{address}/24"), "dev", name],
        )?;
    }
    host::run("ip", &["link", "set", name, "up"])?;
    Ok(())
}

fn write_secret(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Removes everything left by test bed runs whose process has died (kept runs excepted).
/// Returns the ids removed. Every [`TestBed`] calls this before it boots.
pub fn sweep_stale_runs() -> Result<Vec<String>> {
    let stale = run::stale_runs();
    for id in &stale {
        run::remove(id).with_context(|| format!("sweeping leftovers of test bed run {id}"))?;
    }
    run::remove_orphan_routes();
    Ok(stale)
}

/// Removes a run by id, including a kept one: its nodes stop and its host objects go.
pub fn remove_run(id: &str) -> Result<()> {
    run::remove(id)
}

/// Ids of the runs kept running on purpose (see [`TestBed::keep`]).
pub fn kept_runs() -> Vec<String> {
    run::all_runs()
        .into_iter()
        .filter(|id| run::is_kept(id))
        .collect()
}
