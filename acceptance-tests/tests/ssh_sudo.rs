//! Privilege and bastions on real OpenSSH nodes: a node reachable only through a bastion,
//! driven end to end as a non-root user through sudo with a password (which never shows in the
//! node's process list or in any log), secret files written with their mode and owner from the
//! first byte, and passwordless sudo (a second test bed), where the password mode must not
//! leak a password line into the command's stdin.

#[path = "ssh_support/mod.rs"]
mod support;

use acceptance_tests::testbed::{Node, SudoUser, TestBed};
use anyhow::{bail, ensure, Context, Result};
use k3s_sdk::ssh::{
    Bastion, Command, Credentials, Error, FileOptions, HostKeyPolicy, Secret, Session, Sudo, Target,
};
use std::time::{Duration, Instant};
use support::{inspect, Checks, Logs};

#[test]
fn sudo_and_bastion_on_real_nodes() -> Result<()> {
    let logs = Logs::capture();
    let password = format!("sudo-pw-{:016x}", rand::random::<u64>());
    let unneeded = format!("unneeded-pw-{:016x}", rand::random::<u64>());
    let secret = format!("secret-{:016x}", rand::random::<u64>());
    // Both test beds boot at once.
    let (with_password, passwordless) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            TestBed::builder()
                .node("bastion")
                .hidden_node("inner", "bastion")
                .sudo_user(SudoUser {
                    name: "ops".into(),
                    password: Some(password.clone()),
                })
                .boot()
        });
        let b = s.spawn(|| {
            TestBed::builder()
                .nodes(1)
                .sudo_user(SudoUser {
                    name: "ops".into(),
                    password: None,
                })
                .boot()
        });
        (
            a.join().expect("boot thread"),
            b.join().expect("boot thread"),
        )
    });
    let (bed, nopw_bed) = (with_password?, passwordless?);
    let inner = bed.node("inner")?;
    let nopw_node = &nopw_bed.nodes()[0];
    let ops = inner_as_ops(&bed, Sudo::Password(Secret::new(password.clone())))?;

    let mut checks = Checks::default();
    support::runtime().block_on(async {
        checks
            .run(
                "bastion: exec, write, read through sudo",
                through_bastion(&ops, inner),
            )
            .await;
        checks
            .run(
                "sudo password never in ps",
                password_not_in_ps(&bed, &ops, &password),
            )
            .await;
        checks
            .run(
                "secret file: mode, owner, exact bytes",
                secret_file(&ops, inner, &secret),
            )
            .await;
        checks
            .run(
                "wrong sudo password: one try, clear error",
                wrong_password(&bed),
            )
            .await;
        checks
            .run(
                "passwordless mode where sudo wants one",
                needs_password(&bed),
            )
            .await;
        checks
            .run("passwordless sudo", passwordless_sudo(&nopw_bed, nopw_node))
            .await;
        checks
            .run(
                "password mode when sudo does not prompt: stdin intact",
                no_prompt_stdin_intact(&nopw_bed, nopw_node, &unneeded),
            )
            .await;
    });
    let key_body = bed
        .client_key()
        .private_openssh()
        .lines()
        .nth(2)
        .context("key")?
        .to_owned();
    checks.run_now("no secret in the logs", || {
        logs.assert_free_of(&[&password, &unneeded, &secret, &key_body])
    });
    checks.finish()
}

fn key_target(bed: &TestBed, node: &Node, user: &str) -> Result<Target> {
    Ok(Target::new(
        node.address().to_string(),
        user,
        Credentials::key_file(bed.client_key_path()),
        HostKeyPolicy::pinned(node.host_key().public_openssh())?,
    )
    .retry_for(Duration::from_secs(10)))
}

/// `ops` on the hidden node, through the bastion (root there), with the given sudo mode.
fn inner_as_ops(bed: &TestBed, sudo: Sudo) -> Result<Target> {
    let inner = bed.node("inner")?;
    let bastion = bed.node("bastion")?;
    Ok(key_target(bed, inner, "ops")?
        .bastion(Bastion::new(
            bastion.address().to_string(),
            "root",
            Credentials::key(bed.client_key().private_openssh()),
            HostKeyPolicy::pinned(bastion.host_key().public_openssh())?,
        ))
        .sudo(sudo))
}

async fn through_bastion(target: &Target, inner: &Node) -> Result<()> {
    let session = Session::connect(target).await?;
    ensure!(session.host().contains(" via root@"), "{}", session.host());
    let out = session.run("who and where", "id -u; hostname").await?;
    ensure!(out.stdout_text() == "0\ninner\n", "{:?}", out.stdout_text());
    // sudo's first-use lecture and its prompt are not the command's stderr.
    ensure!(out.stderr.is_empty(), "{:?}", out.stderr_text());
    let plain = session
        .exec(Command::new("who without sudo", "id -un").unprivileged())
        .await?;
    ensure!(plain.stdout_text() == "ops\n", "{:?}", plain.stdout_text());
    let path = "/etc/k3s-sdk-test/via-bastion.txt";
    session
        .write_file(
            path,
            b"through the bastion\n",
            &FileOptions::new().mode(0o640),
        )
        .await?;
    ensure!(session.read_file(path).await? == b"through the bastion\n");
    let stat = inspect(inner, &format!("stat -c '%a %U' {path}"))?;
    ensure!(String::from_utf8_lossy(&stat.stdout) == "640 root\n");
    Ok(())
}

async fn password_not_in_ps(bed: &TestBed, ops: &Target, password: &str) -> Result<()> {
    let session = Session::connect(ops).await?;
    // Another session, as root, samples the process list while sudo runs.
    let mut root = key_target(bed, bed.node("inner")?, "root")?;
    root.bastion = ops.bastion.clone();
    let observer = Session::connect(&root).await?;
    let running = tokio::spawn(async move {
        session
            .run("wait under sudo", "sleep 3.25; id -u")
            .await
            .map(|o| o.stdout_text())
    });
    let (mut samples, mut saw_sleep) = (0, false);
    while !running.is_finished() {
        let ps = observer
            .run("list processes", "ps -eo args")
            .await?
            .stdout_text();
        ensure!(
            !ps.contains(password),
            "the password is visible in ps:\n{ps}"
        );
        saw_sleep |= ps.contains("sleep 3.25") && ps.contains("sudo -S");
        samples += 1;
    }
    ensure!(running.await?? == "0\n");
    ensure!(
        saw_sleep,
        "never saw the command running ({samples} samples)"
    );
    eprintln!("        {samples} process lists sampled, none held the password");
    Ok(())
}

async fn secret_file(ops: &Target, inner: &Node, secret: &str) -> Result<()> {
    let session = Session::connect(ops).await?;
    let mut content = format!("{secret}\n").into_bytes();
    content.extend_from_slice(&[0, 1, 2, 0xff, 0xfe, b'\r', b'\n', 0x7f]);
    content.extend_from_slice(b"tail without a newline");
    let dir = "/etc/k3s-sdk-secret";
    let path = format!("{dir}/token");
    session
        .write_file(
            &path,
            &content,
            &FileOptions::new().owner("ops").group("ops"),
        )
        .await?;
    let stat = inspect(inner, &format!("stat -c '%a %U %G' {path}; ls -A {dir}"))?;
    let stat = String::from_utf8_lossy(&stat.stdout).into_owned();
    ensure!(stat == "600 ops ops\ntoken\n", "{stat:?}");
    let on_node = inspect(inner, &format!("cat {path}"))?.stdout;
    ensure!(on_node == content, "the file differs from what was written");
    ensure!(session.read_file(&path).await? == content);
    Ok(())
}

async fn wrong_password(bed: &TestBed) -> Result<()> {
    let target = inner_as_ops(bed, Sudo::Password(Secret::new("certainly wrong")))?;
    let session = Session::connect(&target).await?;
    let started = Instant::now();
    let result = session.run("become root", "id -u").await;
    let took = started.elapsed();
    match result {
        Err(e @ Error::Sudo { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(
                text.contains("rejected the sudo password for ops"),
                "{text}"
            );
            ensure!(!text.contains("certainly wrong"), "{text}");
        }
        other => bail!("expected a sudo error, got {other:?}"),
    }
    // sudo waits a moment after a wrong password; one attempt only, not three.
    ensure!(took < Duration::from_secs(15), "took {took:?}");
    Ok(())
}

async fn needs_password(bed: &TestBed) -> Result<()> {
    let session = Session::connect(&inner_as_ops(bed, Sudo::Passwordless)?).await?;
    match session.run("become root", "id -u").await {
        Err(e @ Error::Sudo { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(text.contains("sudo password"), "{text}");
        }
        other => bail!("expected a sudo error, got {other:?}"),
    }
    Ok(())
}

async fn passwordless_sudo(bed: &TestBed, node: &Node) -> Result<()> {
    let target = key_target(bed, node, "ops")?.sudo(Sudo::Passwordless);
    let session = Session::connect(&target).await?;
    ensure!(session.run("become root", "id -u").await?.stdout_text() == "0\n");
    let path = "/etc/k3s-sdk-test/nopasswd.txt";
    session
        .write_file(path, b"via sudo -n", &FileOptions::new())
        .await?;
    ensure!(session.read_file(path).await? == b"via sudo -n");
    let stat = inspect(node, &format!("stat -c '%a %U' {path}"))?;
    ensure!(String::from_utf8_lossy(&stat.stdout) == "600 root\n");
    Ok(())
}

async fn no_prompt_stdin_intact(bed: &TestBed, node: &Node, unneeded: &str) -> Result<()> {
    let target = key_target(bed, node, "ops")?.sudo(Sudo::Password(Secret::new(unneeded)));
    let session = Session::connect(&target).await?;
    let input = b"first line\nsecond line, no newline".to_vec();
    let out = session
        .exec(Command::new("echo stdin as root", "id -u >&2; cat").stdin(input.clone()))
        .await?;
    ensure!(out.stderr_text() == "0\n", "{:?}", out.stderr_text());
    ensure!(
        out.stdout == input,
        "stdin was altered: {:?}",
        out.stdout_text()
    );
    let path = "/etc/k3s-sdk-test/no-prompt.bin";
    let content: Vec<u8> = (0..=255u8).rev().collect();
    session
        .write_file(path, &content, &FileOptions::new())
        .await?;
    ensure!(inspect(node, &format!("cat {path}"))?.stdout == content);
    Ok(())
}
