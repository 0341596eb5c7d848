//! One node: a network namespace wired to the run's bridges, a copy-on-write overlay of the
//! host's root on tmpfs entered with pivot_root, and the real systemd as PID 1 in its own PID,
//! mount, UTS, IPC and cgroup namespaces. Also the ways to reach it: SSH with its pinned host
//! key (through a bastion when it has one), and `nsenter` from the host for inspection.

use super::keys::KeyPair;
use super::{cgroup, host, run::Run};
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take from start to `systemctl is-system-running` = `running`.
const BOOT_DEADLINE: Duration = Duration::from_secs(90);
/// PATH for commands run on a node from the host.
const NODE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A non-root user created on every node, with sudo rights and the run's client key.
#[derive(Debug, Clone)]
pub struct SudoUser {
    /// Login name.
    pub name: String,
    /// When set, sudo asks for this password; when `None`, sudo is passwordless.
    pub password: Option<String>,
}

/// Where a node sits on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On the bridge the host is on; reachable directly.
    Public,
    /// Only on the private bridge; reachable through the named node.
    Behind(String),
}

/// What to boot.
#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) placement: Placement,
}

/// A booted node.
#[derive(Debug)]
pub struct Node {
    pub(crate) name: String,
    pub(crate) address: Ipv4Addr,
    pub(crate) private_address: Option<Ipv4Addr>,
    pub(crate) bastion: Option<(String, Ipv4Addr)>,
    pub(crate) host_key: KeyPair,
    pub(crate) pid1: u32,
    pub(crate) cgroup: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) known_hosts: PathBuf,
    pub(crate) unshare: Option<Child>,
}

/// The parts of a node known before it starts.
pub(crate) struct Prepared {
    pub(crate) spec: NodeSpec,
    pub(crate) index: usize,
    pub(crate) address: Ipv4Addr,
    pub(crate) private_address: Option<Ipv4Addr>,
    pub(crate) bastion: Option<(String, Ipv4Addr)>,
    /// For a hidden node, the bastion's address on the private bridge (its default gateway).
    pub(crate) bastion_private_address: Option<Ipv4Addr>,
    pub(crate) host_key: KeyPair,
}

impl Node {
    /// The node's name, also its hostname.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the node is reached at: on the host's bridge, or on the private bridge for
    /// a node behind a bastion.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// For a bastion node, its address on the private bridge.
    pub fn private_address(&self) -> Option<Ipv4Addr> {
        self.private_address
    }

    /// The bastion (name and public address) this node is reached through, if any.
    pub fn bastion(&self) -> Option<(&str, Ipv4Addr)> {
        self.bastion.as_ref().map(|(n, a)| (n.as_str(), *a))
    }

    /// The node's SSH host key (made for this run).
    pub fn host_key(&self) -> &KeyPair {
        &self.host_key
    }

    /// The host-side pid of the node's PID 1 (systemd).
    pub fn pid1(&self) -> u32 {
        self.pid1
    }

    /// The node's cgroup on the host; every process of the node is in it.
    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    /// The OpenSSH client arguments that reach this node as `user` with the run's key and the
    /// pinned host keys, including the proxy through the bastion when there is one.
    pub fn ssh_args(&self, user: &str) -> Vec<String> {
        let mut args = common_ssh_options(&self.client_key, &self.known_hosts);
        if let Some((_, bastion_address)) = &self.bastion {
            let mut proxy = vec!["ssh".to_string()];
            proxy.extend(common_ssh_options(&self.client_key, &self.known_hosts));
            proxy.extend([
                "-W".into(),
                "%h:%p".into(),
                format!("root@{bastion_address}"),
            ]);
            args.extend(["-o".into(), format!("ProxyCommand={}", proxy.join(" "))]);
        }
        args.push(format!("{user}@{}", self.address));
        args
    }

    /// Runs a shell command on the node as root over SSH, with the host key pinned.
    pub fn ssh(&self, command: &str) -> Result<Output> {
        self.ssh_as("root", command)
    }

    /// Runs a shell command on the node as `user` over SSH, with the host key pinned.
    pub fn ssh_as(&self, user: &str, command: &str) -> Result<Output> {
        Command::new("ssh")
            .args(self.ssh_args(user))
            .arg("--")
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running ssh to {}", self.name))
    }

    /// Runs a shell command on the node as `user` over SSH with `input` on its stdin.
    pub fn ssh_with_input(&self, user: &str, command: &str, input: &[u8]) -> Result<Output> {
        use std::io::Write;
        let mut child = Command::new("ssh")
            .args(self.ssh_args(user))
            .arg("--")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running ssh to {}", self.name))?;
        child.stdin.take().context("ssh stdin")?.write_all(input)?;
        child.wait_with_output().context("waiting for ssh")
    }

    /// Runs a shell command on the node as root over SSH and returns its stdout; fails with the
    /// exit status and stderr when it does not succeed.
    pub fn ssh_ok(&self, command: &str) -> Result<String> {
        checked(&self.name, command, self.ssh(command)?)
    }

    /// Runs a shell command inside the node's namespaces from the host, without SSH. For test
    /// setup and inspection only: the software under test must go through SSH.
    pub fn exec(&self, command: &str) -> Result<Output> {
        nsenter_sh(self.pid1, command)
    }

    /// Like [`Node::exec`] but returns stdout and fails when the command fails.
    pub fn exec_ok(&self, command: &str) -> Result<String> {
        checked(&self.name, command, self.exec(command)?)
    }

    /// The last lines of the node's boot log (the start script's output and systemd's console).
    pub fn boot_log_tail(&self) -> String {
        tail(&self.dir.join("boot.log"), 20)
    }

    /// Proportional set size of all the node's processes, in bytes.
    pub fn memory_pss_bytes(&self) -> u64 {
        cgroup::pids(&self.cgroup)
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
            .filter_map(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .sum::<u64>()
            * 1024
    }
}

fn common_ssh_options(key: &Path, known_hosts: &Path) -> Vec<String> {
    [
        "-F".to_string(),
        "/dev/null".into(),
        "-i".into(),
        key.display().to_string(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "ConnectTimeout=10".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ]
    .into()
}

fn checked(node: &str, command: &str, output: Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "`{command}` on node {node} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn nsenter_sh(pid1: u32, command: &str) -> Result<Output> {
    Command::new("nsenter")
        .args(["-t", &pid1.to_string(), "-a", "--", "env", "-i"])
        .arg(format!("PATH={NODE_PATH}"))
        .args(["HOME=/root", "/bin/sh", "-c", command])
        .stdin(Stdio::null())
        .output()
        .context("running nsenter")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Wires the node's network namespace: loopback, and veths to the public and/or private bridge.
pub(crate) fn create_network(run: &Run, node: &Prepared) -> Result<()> {
    let ns = run.netns(node.index);
    host::run("ip", &["netns", "add", &ns])?;
    host::run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
    let wire = |host_end: &str, bridge: &str, inside: &str, address: Ipv4Addr| -> Result<()> {
        host::run(
            "ip",
            &[
                "link", "add", host_end, "type", "veth", "peer", "name", inside, "netns", &ns,
            ],
        )?;
        host::run("ip", &["link", "set", host_end, "master", bridge, "up"])?;
        host::run(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                inside,
            ],
        )?;
        host::run("ip", &["-n", &ns, "link", "set", inside, "up"])?;
        Ok(())
    };
    let gateway = match &node.spec.placement {
        Placement::Public => {
            let public = run.public_veth(node.index);
            wire(&public, &run.public_bridge(), "eth0", node.address)?;
            if let Some(private) = node.private_address {
                wire(
                    &run.private_veth(node.index),
                    &run.private_bridge(),
                    "eth1",
                    private,
                )?;
            }
            run.host_address()
        }
        Placement::Behind(_) => {
            wire(
                &run.private_veth(node.index),
                &run.private_bridge(),
                "eth0",
                node.address,
            )?;
            node.bastion_private_address
                .context("a hidden node needs a bastion")?
        }
    };
    let gateway = gateway.to_string();
    host::run(
        "ip",
        &["-n", &ns, "route", "add", "default", "via", &gateway],
    )?;
    Ok(())
}

/// Files laid over the node's root before it boots.
pub(crate) struct Seed<'a> {
    pub(crate) hosts: &'a str,
    pub(crate) authorized_key: &'a str,
    pub(crate) sudo_user: Option<&'a SudoUser>,
}

/// Writes the node's seed files and its start script, then starts it. Returns once the node's
/// PID 1 exists; [`wait_until_running`] waits for the boot to finish.
pub(crate) fn start(
    run: &Run,
    node: Prepared,
    seed: &Seed<'_>,
    client_key: &Path,
    known_hosts: &Path,
) -> Result<Node> {
    let dir = run.node_dir(node.index);
    let root = dir.join("seed");
    std::fs::create_dir_all(dir.join("fs"))?;
    let name = &node.spec.name;
    write(&root, "etc/hostname", &format!("{name}\n"), 0o644)?;
    write(&root, "etc/hosts", seed.hosts, 0o644)?;
    write(
        &root,
        "etc/machine-id",
        &format!("{:032x}\n", rand::random::<u128>()),
        0o444,
    )?;
    write(
        &root,
        "etc/ssh/ssh_host_ed25519_key",
        node.host_key.private_openssh(),
        0o600,
    )?;
    write(
        &root,
        "etc/ssh/ssh_host_ed25519_key.pub",
        &format!("{}\n", node.host_key.public_openssh()),
        0o644,
    )?;
    write(
        &root,
        "etc/ssh/sshd_config.d/k3s-testbed.conf",
        SSHD_CONFIG,
        0o644,
    )?;
    write(
        &root,
        "etc/systemd/journald.conf.d/k3s-testbed.conf",
        JOURNALD_CONFIG,
        0o644,
    )?;
    write(
        &root,
        "root/.ssh/authorized_keys",
        &format!("{}\n", seed.authorized_key),
        0o600,
    )?;
    std::fs::set_permissions(
        root.join("root/.ssh"),
        std::fs::Permissions::from_mode(0o700),
    )?;
    std::fs::set_permissions(root.join("root"), std::fs::Permissions::from_mode(0o700))?;
    let masked = root.join("etc/systemd/system");
    std::fs::create_dir_all(&masked)?;
    // No console in a node: the getty on it would fail and leave the node degraded.
    std::os::unix::fs::symlink("/dev/null", masked.join("console-getty.service"))?;

    let mut users = String::new();
    if let Some(user) = seed.sudo_user {
        let u = &user.name;
        users.push_str(&format!(
            "useradd -m -s /bin/bash -G sudo {u}\n\
             install -d -m 0700 -o {u} -g {u} /home/{u}/.ssh\n\
             install -m 0600 -o {u} -g {u} /root/.ssh/authorized_keys /home/{u}/.ssh/authorized_keys\n"
        ));
        match &user.password {
            Some(password) => write(&dir, "userpass", &format!("{u}:{password}\n"), 0o600)?,
            None => write(
                &root,
                "etc/sudoers.d/k3s-testbed",
                &format!("{u} ALL=(ALL) NOPASSWD:ALL\n"),
                0o440,
            )?,
        }
    }
    write(&dir, "users.sh", &users, 0o600)?;
    write(&dir, "start.sh", &start_script(&dir, name), 0o700)?;

    let cgroup = run.node_cgroup(node.index)?;
    cgroup::create(&cgroup)?;
    let log = std::fs::File::create(dir.join("boot.log"))?;
    // The shell moves itself into the node's cgroup, then becomes nsenter (joins the network
    // namespace), then unshare, whose child is the node's PID 1.
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(
            "echo $$ > \"$1/cgroup.procs\" && exec nsenter --net=/run/netns/\"$2\" -- \
             unshare --pid --fork --mount --uts --ipc --cgroup --propagation private --kill-child \
             -- /bin/sh \"$3\"",
        )
        .args([
            "start-node".as_ref(),
            cgroup.as_os_str(),
            run.netns(node.index).as_ref(),
            dir.join("start.sh").as_os_str(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting a node")?;
    let mut started = Node {
        name: name.clone(),
        address: node.address,
        private_address: node.private_address,
        bastion: node.bastion,
        host_key: node.host_key,
        pid1: 0,
        cgroup,
        dir,
        client_key: client_key.to_owned(),
        known_hosts: known_hosts.to_owned(),
        unshare: Some(child),
    };
    started.pid1 = find_pid1(&mut started)?;
    Ok(started)
}

/// The node's PID 1 is the only child of the `unshare` process.
fn find_pid1(node: &mut Node) -> Result<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = node.unshare.as_mut().context("node has no start process")?;
    let pid = child.id();
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(first) = children.split_whitespace().next() {
            return Ok(first.parse()?);
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "node {} stopped while starting ({status}):\n{}",
                node.name,
                node.boot_log_tail()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "node {} did not start within 10 s:\n{}",
                node.name,
                node.boot_log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until systemd on each node reports `running`. Nodes boot in parallel; this only polls.
pub(crate) fn wait_until_running(nodes: &mut [Node]) -> Result<()> {
    let deadline = Instant::now() + BOOT_DEADLINE;
    let mut pending: Vec<usize> = (0..nodes.len()).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for i in pending {
            let node = &mut nodes[i];
            if let Some(status) = node
                .unshare
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "node {} stopped while booting ({status}):\n{}",
                    node.name,
                    node.boot_log_tail()
                );
            }
            let state = node
                .exec("systemctl is-system-running")
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            match state.as_str() {
                "running" => {}
                "degraded" => {
                    let failed = node
                        .exec("systemctl --failed --no-legend --plain")
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default();
                    bail!(
                        "node {} booted degraded; failed units:\n{failed}",
                        node.name
                    );
                }
                _ => still.push(i),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = pending.iter().map(|&i| nodes[i].name.as_str()).collect();
            let jobs = nodes[pending[0]]
                .exec("systemctl list-jobs --no-legend")
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            bail!("nodes {names:?} did not reach `running` within {BOOT_DEADLINE:?}; pending jobs on {}:\n{jobs}", names[0]);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Stops a node: kills everything in its cgroup and reaps the start process.
pub(crate) fn stop(node: &mut Node) -> Result<()> {
    let result = cgroup::kill_and_remove(&node.cgroup);
    if let Some(mut child) = node.unshare.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

fn write(root: &Path, relative: &str, contents: &str, mode: u32) -> Result<()> {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Create with the final mode so a secret is never readable by others, even briefly.
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// The start script: runs as PID 1 of the new PID namespace, builds the node's root and
/// becomes systemd.
fn start_script(dir: &Path, hostname: &str) -> String {
    let d = dir.display();
    format!(
        r#"#!/bin/sh
set -eu
D='{d}'
mount -t tmpfs -o mode=0755,size=4g k3s-testbed-node "$D/fs"
mkdir -p "$D/fs/upper" "$D/fs/work" "$D/fs/root"
mount -t overlay k3s-testbed-root -o "lowerdir=/,upperdir=$D/fs/upper,workdir=$D/fs/work" "$D/fs/root"
cd "$D/fs/root"
mount -t proc proc proc
mount -t sysfs -o ro sysfs sys
mount -t cgroup2 cgroup2 sys/fs/cgroup
mount -t tmpfs -o mode=0755,size=64m,nosuid tmpfs dev
for d in null zero full random urandom tty; do touch "dev/$d"; mount --bind "/dev/$d" "dev/$d"; done
mkdir dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts dev/pts
ln -s pts/ptmx dev/ptmx
ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin
ln -s /proc/self/fd/1 dev/stdout
ln -s /proc/self/fd/2 dev/stderr
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs tmp
rm -f etc/ssh/ssh_host_*
cp -a "$D/seed/." .
chroot . /bin/sh -eu < "$D/users.sh"
if [ -f "$D/userpass" ]; then chroot . chpasswd < "$D/userpass"; fi
hostname '{hostname}'
mkdir oldroot
pivot_root . oldroot
exec chroot . /bin/sh -c 'umount -l /oldroot && rmdir /oldroot && exec env -i container=other /lib/systemd/systemd'
"#
    )
}

const SSHD_CONFIG: &str = "\
# Written by the k3s test bed.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 200:30:400
MaxSessions 100
";

const JOURNALD_CONFIG: &str = "\
# Written by the k3s test bed: keep the journal in memory and small.
[Journal]
Storage=volatile
RuntimeMaxUse=16M
";
