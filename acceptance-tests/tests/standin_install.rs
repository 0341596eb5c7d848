//! The stand-in installer's contract on a test-bed node: the unit and env files it writes,
//! the helper scripts and links, idempotent re-runs that leave the service alone, forced
//! restarts, upgrades to another release (the binary reports the new version and the node
//! keeps its objects), the sha256 check, the fatal checks on its inputs, a second unit via
//! INSTALL_K3S_NAME with skipped download and start, and uninstalling.

use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::{install_command, write_node_file};
use acceptance_tests::standin::{binary_for_version, K3sReleases};
use acceptance_tests::testbed::{Node, TestBed};
use anyhow::{ensure, Result};
use std::path::Path;
use std::time::Instant;

const OLD: &str = "v1.33.4+k3s1";
const NEW: &str = "v1.34.1+k3s1";
const BROKEN: &str = "v1.33.9+k3s1";

fn main_pid(node: &Node, unit: &str) -> Result<String> {
    Ok(node
        .ssh_ok(&format!("systemctl show -p MainPID --value {unit}"))?
        .trim()
        .to_owned())
}

fn stderr_of(node: &Node, command: &str) -> Result<(bool, String)> {
    let out = node.ssh(command)?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn installer_writes_units_restarts_only_on_change_upgrades_and_uninstalls() -> Result<()> {
    let started = Instant::now();
    let bed = TestBed::builder().nodes(1).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let standin = Path::new(env!("CARGO_BIN_EXE_k3s-standin"));
    let releases = K3sReleases::publish(&artifacts, standin, &[OLD, NEW])?;
    // A release whose checksum file names another binary.
    let dir = format!("k3s-io/k3s/releases/download/{BROKEN}");
    artifacts.publish(&format!("{dir}/k3s"), binary_for_version(standin, BROKEN)?);
    artifacts.publish(
        &format!("{dir}/sha256sum-amd64.txt"),
        format!("{}  k3s\n", releases.releases[0].sha256).into_bytes(),
    );
    let node = &bed.nodes()[0];
    write_node_file(
        node,
        "/etc/rancher/k3s/config.yaml",
        "token: install-test\n",
        0o600,
    )?;
    write_node_file(node, "/etc/rancher/node/keep-me", "x\n", 0o600)?;

    // --- first install ---------------------------------------------------------------------
    let env = [
        ("INSTALL_K3S_EXEC", "server --tls-san=k3s.example"),
        ("K3S_KUBECONFIG_MODE", "644"),
        ("NO_PROXY", "127.0.0.0/8,10.0.0.0/8"),
    ];
    let out = node.ssh_ok(&install_command(
        &releases,
        OLD,
        &env,
        &["--node-label=tier=web"],
    ))?;
    ensure!(
        out.contains("[INFO]  Using v1.33.4+k3s1 as release"),
        "{out}"
    );
    ensure!(node.ssh_ok("systemctl is-active k3s")?.trim() == "active");
    ensure!(node.ssh_ok("systemctl is-enabled k3s")?.trim() == "enabled");
    let unit = node.ssh_ok("cat /etc/systemd/system/k3s.service")?;
    for line in [
        "Type=notify",
        "EnvironmentFile=-/etc/default/%N",
        "EnvironmentFile=-/etc/sysconfig/%N",
        "EnvironmentFile=-/etc/systemd/system/k3s.service.env",
        "KillMode=process",
        "Delegate=yes",
        "TimeoutStartSec=0",
        "Restart=always",
        "RestartSec=5s",
        "ExecStart=/usr/local/bin/k3s \\",
        "    server \\",
        "    \"--tls-san=k3s.example\" \\",
        "    \"--node-label=tier=web\"",
    ] {
        ensure!(
            unit.lines().any(|l| l == line),
            "unit lacks {line:?}:\n{unit}"
        );
    }
    ensure!(
        node.ssh_ok("stat -c %a /etc/systemd/system/k3s.service.env")?
            .trim()
            == "600"
    );
    let env_file = node.ssh_ok("cat /etc/systemd/system/k3s.service.env")?;
    ensure!(env_file.contains("K3S_KUBECONFIG_MODE='644'"), "{env_file}");
    ensure!(
        env_file.contains("NO_PROXY='127.0.0.0/8,10.0.0.0/8'"),
        "{env_file}"
    );
    ensure!(!env_file.contains("INSTALL_K3S"), "{env_file}");
    ensure!(node.ssh_ok("stat -c %a /etc/rancher/k3s/k3s.yaml")?.trim() == "644");
    let san = node.ssh_ok(
        "openssl x509 -noout -ext subjectAltName -in /var/lib/rancher/k3s/server/tls/serving-kube-apiserver.crt",
    )?;
    ensure!(san.contains("k3s.example"), "{san}");
    for script in ["k3s-killall.sh", "k3s-uninstall.sh"] {
        ensure!(
            node.ssh(&format!("test -x /usr/local/bin/{script}"))?
                .status
                .success(),
            "{script} missing"
        );
    }
    // kubectl is on PATH already (the host's), so no link; a link for crictl only if absent.
    ensure!(!node.ssh("test -L /usr/local/bin/kubectl")?.status.success());
    ensure!(out.contains("Not linking /usr/local/bin/kubectl"), "{out}");
    let labels =
        node.ssh_ok("k3s kubectl get node node-1 -o jsonpath='{.metadata.labels.tier}'")?;
    ensure!(labels == "web", "tier label {labels:?}");
    node.ssh_ok("k3s kubectl create configmap survives --from-literal=a=b >/dev/null")?;
    eprintln!("installed at {:?}", started.elapsed());

    // --- a re-run with nothing changed leaves the service alone ---------------------------------
    let pid = main_pid(node, "k3s")?;
    let out = node.ssh_ok(&install_command(
        &releases,
        OLD,
        &env,
        &["--node-label=tier=web"],
    ))?;
    ensure!(out.contains("installed k3s matches hash"), "{out}");
    ensure!(
        out.contains("No change detected so skipping service start"),
        "{out}"
    );
    ensure!(main_pid(node, "k3s")? == pid, "the service restarted");

    // --- forced restart --------------------------------------------------------------------------
    let mut forced = env.to_vec();
    forced.push(("INSTALL_K3S_FORCE_RESTART", "true"));
    node.ssh_ok(&install_command(
        &releases,
        OLD,
        &forced,
        &["--node-label=tier=web"],
    ))?;
    let restarted = main_pid(node, "k3s")?;
    ensure!(restarted != pid, "FORCE_RESTART did not restart");

    // --- upgrade ----------------------------------------------------------------------------------
    let out = node.ssh_ok(&install_command(
        &releases,
        NEW,
        &env,
        &["--node-label=tier=web"],
    ))?;
    ensure!(out.contains("Downloading binary"), "{out}");
    ensure!(node.ssh_ok("systemctl is-active k3s")?.trim() == "active");
    ensure!(
        main_pid(node, "k3s")? != restarted,
        "the upgrade did not restart"
    );
    let version = node.ssh_ok("k3s --version")?;
    ensure!(
        version.starts_with(&format!("k3s version {NEW} (")),
        "{version}"
    );
    let kubelet =
        node.ssh_ok("k3s kubectl get node node-1 -o jsonpath='{.status.nodeInfo.kubeletVersion}'")?;
    ensure!(kubelet == NEW, "kubelet version {kubelet}");
    node.ssh_ok("k3s kubectl get configmap survives")?;
    let served = artifacts
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/k3s") && r.status == 200)
        .count();
    ensure!(served == 2, "{served} binary downloads, expected 2");

    // --- a checksum mismatch is fatal and leaves the installed binary -----------------------
    let (ok, out) = stderr_of(node, &install_command(&releases, BROKEN, &env, &[]))?;
    ensure!(!ok, "a bad checksum was accepted:\n{out}");
    ensure!(
        out.contains("[ERROR] Download sha256 does not match"),
        "{out}"
    );
    ensure!(node
        .ssh_ok("k3s --version")?
        .starts_with(&format!("k3s version {NEW} (")));

    // --- fatal input checks -------------------------------------------------------------------
    let bare = format!("curl -sfL '{}' | sh -s - server", releases.install_url);
    let (ok, out) = stderr_of(node, &bare)?;
    ensure!(
        !ok && out.contains("[ERROR]") && out.contains("INSTALL_K3S_VERSION"),
        "{out}"
    );
    let (ok, out) = stderr_of(
        node,
        &install_command(&releases, NEW, &[("K3S_URL", "http://x:6443")], &[]),
    )?;
    ensure!(!ok && out.contains("https://"), "{out}");
    let (ok, out) = stderr_of(
        node,
        &install_command(&releases, NEW, &[("K3S_URL", "https://x:6443")], &[]),
    )?;
    ensure!(!ok && out.contains("K3S_TOKEN"), "{out}");

    // --- a second unit, download and start skipped; its uninstall keeps k3s ---------------------
    let extra = [
        ("INSTALL_K3S_SKIP_DOWNLOAD", "true"),
        ("INSTALL_K3S_SKIP_START", "true"),
        ("INSTALL_K3S_NAME", "extra"),
    ];
    node.ssh_ok(&install_command(
        &releases,
        NEW,
        &extra,
        &["agent", "--server", "https://127.0.0.1:6443"],
    ))?;
    ensure!(node.ssh_ok("systemctl is-enabled k3s-extra")?.trim() == "enabled");
    let state = node.ssh("systemctl is-active k3s-extra")?;
    ensure!(String::from_utf8_lossy(&state.stdout).trim() == "inactive");
    node.ssh_ok("systemctl start k3s >/dev/null; k3s-extra-uninstall.sh >/dev/null 2>&1")?;
    ensure!(!node
        .ssh("test -e /etc/systemd/system/k3s-extra.service")?
        .status
        .success());
    ensure!(
        node.ssh("test -x /usr/local/bin/k3s")?.status.success(),
        "k3s went with the extra unit"
    );

    // --- uninstall ------------------------------------------------------------------------------
    node.ssh_ok("systemctl start k3s && k3s-uninstall.sh >/dev/null 2>&1")?;
    let left = node.ssh_ok(
        "ls -d /etc/systemd/system/k3s.service /etc/systemd/system/k3s.service.env /usr/local/bin/k3s \
         /usr/local/bin/k3s-killall.sh /usr/local/bin/k3s-uninstall.sh /etc/rancher/k3s /var/lib/rancher/k3s \
         2>/dev/null | wc -l",
    )?;
    ensure!(left.trim() == "0", "{left} paths left after uninstall");
    let state = node.ssh("systemctl is-active k3s")?;
    ensure!(String::from_utf8_lossy(&state.stdout).trim() != "active");
    ensure!(
        !node.ssh("pgrep -x k3s")?.status.success(),
        "k3s still runs"
    );
    ensure!(
        node.ssh("test -f /etc/rancher/node/keep-me")?
            .status
            .success(),
        "/etc/rancher/node went"
    );
    eprintln!("done in {:?}", started.elapsed());
    Ok(())
}
