//! The test bed itself: nodes boot to a running systemd, are reached over SSH with pinned host
//! keys, are isolated from each other and from the host, and leave nothing behind.

use acceptance_tests::testbed::{leftovers, SudoUser, TestBed};
use anyhow::{ensure, Result};
use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[test]
fn three_nodes_boot_are_isolated_and_leave_nothing_behind() -> Result<()> {
    let bed = TestBed::builder().nodes(3).boot()?;
    let run_id = bed.run_id().to_owned();
    let mut hostnames = HashSet::new();
    let mut addresses = HashSet::new();
    for node in bed.nodes() {
        // StrictHostKeyChecking=yes against a known_hosts holding only this run's keys.
        let state = node.ssh_ok("systemctl is-system-running")?;
        ensure!(
            state.trim() == "running",
            "{}: systemd is {state:?}",
            node.name()
        );
        let hostname = node.ssh_ok("hostname")?.trim().to_owned();
        ensure!(
            hostname == node.name(),
            "{} reports hostname {hostname}",
            node.name()
        );
        let address = node.ssh_ok("ip -4 -o addr show dev eth0 | awk '{print $4}'")?;
        ensure!(
            address.trim() == format!("{}/24", node.address()),
            "{} has {address:?}, expected {}",
            node.name(),
            node.address()
        );
        let pid1 = node.ssh_ok("cat /proc/1/comm")?;
        ensure!(
            pid1.trim() == "systemd",
            "{}: PID 1 is {pid1:?}",
            node.name()
        );
        hostnames.insert(hostname);
        addresses.insert(node.address());
    }
    ensure!(
        hostnames.len() == 3 && addresses.len() == 3,
        "{hostnames:?} {addresses:?}"
    );

    // Writes stay on the node that made them.
    let marker = format!("/var/lib/k3s-testbed-marker-{run_id}");
    let [first, second, third] = bed.nodes() else {
        unreachable!()
    };
    first.ssh_ok(&format!("echo written-on-node-1 > {marker}"))?;
    ensure!(first.ssh_ok(&format!("cat {marker}"))?.trim() == "written-on-node-1");
    for other in [second, third] {
        let out = other.ssh(&format!("test -e {marker}"))?;
        ensure!(!out.status.success(), "{marker} leaked to {}", other.name());
    }
    ensure!(
        !std::path::Path::new(&marker).exists(),
        "{marker} leaked to the host"
    );

    // Nodes reach each other over the bridge.
    let reach = format!(
        "timeout 5 bash -c '</dev/tcp/{}/22' && echo open",
        second.address()
    );
    ensure!(first.ssh_ok(&reach)?.trim() == "open");

    // The host key really is pinned: a known_hosts with another node's key for this address fails.
    let wrong = tempfile::NamedTempFile::new()?;
    std::fs::write(
        wrong.path(),
        format!(
            "{} {}\n",
            first.address(),
            second.host_key().public_openssh()
        ),
    )?;
    let mut args = first.ssh_args("root");
    for arg in args.iter_mut() {
        if arg.starts_with("UserKnownHostsFile=") {
            *arg = format!("UserKnownHostsFile={}", wrong.path().display());
        }
    }
    let out = std::process::Command::new("ssh")
        .args(&args)
        .arg("true")
        .output()?;
    ensure!(
        !out.status.success(),
        "ssh accepted a host key that was not pinned"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains("Host key verification failed"),
        "unexpected ssh error: {stderr}"
    );

    bed.teardown()?;
    let left = leftovers(&run_id);
    ensure!(left.is_empty(), "left behind after teardown: {left:#?}");
    Ok(())
}

#[test]
fn hidden_node_is_reached_through_its_bastion_with_a_sudo_user() -> Result<()> {
    let password = format!("pw-{:016x}", rand::random::<u64>());
    let bed = TestBed::builder()
        .node("bastion")
        .hidden_node("inner", "bastion")
        .sudo_user(SudoUser {
            name: "ops".into(),
            password: Some(password.clone()),
        })
        .boot()?;
    let run_id = bed.run_id().to_owned();
    let inner = bed.node("inner")?;

    // The host cannot reach the hidden node directly, and fails at once rather than timing out.
    let direct = TcpStream::connect_timeout(
        &SocketAddr::from((inner.address(), 22)),
        Duration::from_secs(3),
    );
    ensure!(direct.is_err(), "the host reached the hidden node directly");

    ensure!(inner.ssh_ok("hostname")?.trim() == "inner");
    let whoami = inner.ssh_as("ops", "id -un")?;
    ensure!(String::from_utf8_lossy(&whoami.stdout).trim() == "ops");

    // sudo asks for the password: without it, it refuses; with it on stdin, it runs as root.
    let refused = inner.ssh_as("ops", "sudo -n true")?;
    ensure!(!refused.status.success(), "sudo ran without a password");
    let root = inner.ssh_with_input(
        "ops",
        "sudo -S -p '' id -u",
        format!("{password}\n").as_bytes(),
    )?;
    ensure!(
        String::from_utf8_lossy(&root.stdout).trim() == "0",
        "sudo with password failed: {}",
        String::from_utf8_lossy(&root.stderr)
    );

    drop(bed); // teardown through Drop
    let left = leftovers(&run_id);
    ensure!(left.is_empty(), "left behind after drop: {left:#?}");
    Ok(())
}

#[test]
fn nodes_download_from_the_artifact_server() -> Result<()> {
    use acceptance_tests::artifacts::ArtifactServer;
    let bed = TestBed::builder().nodes(1).boot()?;
    let server = ArtifactServer::start(bed.host_address().into())?;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = server.publish("bin/payload", payload.clone());
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/argocd-v3.5.1-install.yaml");
    let manifest_url = server.publish_file("manifests/install.yaml", &manifest)?;
    let node = &bed.nodes()[0];

    let sums = node.ssh_ok(&format!(
        "curl -fsS {url} | sha256sum && curl -fsS {manifest_url} | sha256sum && \
         curl -s -o /dev/null -w '%{{http_code}}' {}/missing",
        server.url()
    ))?;
    let lines: Vec<&str> = sums.lines().collect();
    ensure!(lines.len() == 3, "unexpected output {sums:?}");
    ensure!(
        lines[0].starts_with(&sha256_hex(&payload)),
        "payload differs: {}",
        lines[0]
    );
    ensure!(
        lines[1].starts_with(&sha256_hex(&std::fs::read(&manifest)?)),
        "manifest differs: {}",
        lines[1]
    );
    ensure!(lines[2] == "404", "missing file answered {}", lines[2]);
    let paths: Vec<(String, u16)> = server
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    ensure!(
        paths
            == vec![
                ("/bin/payload".to_string(), 200),
                ("/manifests/install.yaml".to_string(), 200),
                ("/missing".to_string(), 404)
            ],
        "recorded {paths:?}"
    );
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn refuses_to_run_without_root_and_says_why() -> Result<()> {
    // The testbed command, dropped to the `nobody` user, must stop before touching anything.
    // A copy in a world-readable directory, whatever the permissions of the checkout.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let exe = dir.path().join("testbed");
    std::fs::copy(env!("CARGO_BIN_EXE_testbed"), &exe)?;
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(["up", "--nodes", "1"])
        .env("RUST_BACKTRACE", "0")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "testbed up succeeded without root");
    ensure!(
        stderr.contains("the test bed needs root"),
        "unexpected error: {stderr}"
    );
    Ok(())
}
