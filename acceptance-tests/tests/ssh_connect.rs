//! The SSH driver against real OpenSSH nodes: every way to log in, host key verification,
//! failures that must be quick and clear, retries while a host boots, commands (status,
//! errors, deadlines, cancellation, concurrency, stdin), files as root, and port forwarding.
//! One test bed of two nodes serves every check.

#[path = "ssh_support/mod.rs"]
mod support;

use acceptance_tests::testbed::{KeyPair, Node, SshAgent, TestBed};
use anyhow::{bail, ensure, Context, Result};
use k3s_sdk::ssh::{
    CancellationToken, Command, Credentials, Error, ExitStatus, FileOptions, HostKeyPolicy,
    Session, Target,
};
use ssh_key::rand_core::OsRng;
use std::time::{Duration, Instant};
use support::{inspect, root, unused_address, Checks, Logs};

#[test]
fn ssh_driver_on_real_nodes() -> Result<()> {
    let logs = Logs::capture();
    let bed = TestBed::builder().nodes(2).boot()?;
    let passphrase = format!("pass-{:016x}", rand::random::<u64>());
    let agent = SshAgent::start(bed.client_key_path())?;
    // For `Credentials::agent()`; set before any other thread of this test exists.
    std::env::set_var("SSH_AUTH_SOCK", agent.socket());
    let runtime = support::runtime();
    let mut checks = Checks::default();
    runtime.block_on(async {
        let (one, two) = (&bed.nodes()[0], &bed.nodes()[1]);
        checks.run("key file", key_file(&bed, one)).await;
        checks.run("inline key", inline_key(&bed, one)).await;
        checks
            .run(
                "inline passphrase-protected key",
                encrypted_key(&bed, one, &passphrase),
            )
            .await;
        checks.run("ssh-agent", agent_auth(&bed, one, &agent)).await;
        checks.run("known_hosts file", known_hosts(&bed, one)).await;
        checks
            .run("wrong key is refused quickly", wrong_key(&bed, one))
            .await;
        checks
            .run(
                "wrong host key is refused quickly",
                wrong_host_key(&bed, one, two),
            )
            .await;
        checks
            .run("unreachable address fails in time", unreachable(&bed, one))
            .await;
        checks
            .run(
                "insecure mode is explicit and logged",
                insecure(&bed, one, &logs),
            )
            .await;
        checks
            .run(
                "retries while sshd is not up yet",
                retries_until_up(&bed, two),
            )
            .await;
        let session = match Session::connect(&root(&bed, one)).await {
            Ok(s) => s,
            Err(e) => {
                checks
                    .run("connect for the command checks", async { Err(e.into()) })
                    .await;
                return;
            }
        };
        checks
            .run("exit status, stdout, stderr", statuses(&session))
            .await;
        checks
            .run(
                "errors carry purpose, host, status, stderr tail",
                errors(&session),
            )
            .await;
        checks
            .run("deadline stops the remote command", deadline(&session, one))
            .await;
        checks
            .run(
                "cancellation stops the remote command",
                cancellation(&session, one),
            )
            .await;
        checks
            .run("many tasks share one connection", concurrency(&session))
            .await;
        checks
            .run("stdin carries binary data", stdin(&session))
            .await;
        checks.run("files as root", files(&session, one)).await;
        checks
            .run(
                "port forwarding to the node's loopback",
                forwarding(&session, one),
            )
            .await;
    });
    drop(runtime);
    drop(agent);
    let key_body = bed
        .client_key()
        .private_openssh()
        .lines()
        .nth(2)
        .context("key body")?
        .to_owned();
    checks.run_now("no secret in the logs", || {
        logs.assert_free_of(&[&key_body, &passphrase])
    });
    checks.finish()
}

async fn whoami(target: &Target) -> Result<String> {
    let session = Session::connect(target).await?;
    let out = session.run("ask who we are", "id -un; hostname").await?;
    Ok(out
        .stdout_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

async fn key_file(bed: &TestBed, node: &Node) -> Result<()> {
    let got = whoami(&root(bed, node)).await?;
    ensure!(got == format!("root {}", node.name()), "got {got:?}");
    Ok(())
}

async fn inline_key(bed: &TestBed, node: &Node) -> Result<()> {
    let mut target = root(bed, node);
    target.credentials = Credentials::key(bed.client_key().private_openssh());
    ensure!(whoami(&target).await?.starts_with("root "));
    Ok(())
}

async fn encrypted_key(bed: &TestBed, node: &Node, passphrase: &str) -> Result<()> {
    let key = ssh_key::PrivateKey::from_openssh(bed.client_key().private_openssh())?;
    let encrypted = key
        .encrypt(&mut OsRng, passphrase)?
        .to_openssh(ssh_key::LineEnding::LF)?
        .to_string();
    ensure!(encrypted.contains("BEGIN OPENSSH PRIVATE KEY"));
    let mut target = root(bed, node);
    target.credentials = Credentials::key(encrypted.clone()).with_passphrase(passphrase);
    ensure!(whoami(&target).await?.starts_with("root "));

    // Without the passphrase, or with a wrong one: a clear key error, no connection attempt.
    target.credentials = Credentials::key(encrypted.clone());
    match Session::connect(&target).await {
        Err(e @ Error::Key { .. }) => {
            ensure!(e.to_string().contains("passphrase-protected"), "{e}")
        }
        other => bail!("expected a key error, got {other:?}"),
    }
    target.credentials = Credentials::key(encrypted).with_passphrase("not the passphrase");
    match Session::connect(&target).await {
        Err(e @ Error::Key { .. }) => ensure!(e.to_string().contains("passphrase"), "{e}"),
        other => bail!("expected a key error, got {other:?}"),
    }
    Ok(())
}

async fn agent_auth(bed: &TestBed, node: &Node, agent: &SshAgent) -> Result<()> {
    let mut target = root(bed, node);
    target.credentials = Credentials::agent_at(agent.socket());
    ensure!(whoami(&target).await?.starts_with("root "));
    // The agent named by SSH_AUTH_SOCK.
    target.credentials = Credentials::agent();
    ensure!(whoami(&target).await?.starts_with("root "));
    // An agent without keys is a clear error.
    let empty = tempfile::tempdir()?;
    target.credentials = Credentials::agent_at(empty.path().join("none.sock"));
    match Session::connect(&target).await {
        Err(e @ Error::Agent { .. }) => ensure!(e.to_string().contains("ssh-agent"), "{e}"),
        other => bail!("expected an agent error, got {other:?}"),
    }
    Ok(())
}

async fn known_hosts(bed: &TestBed, node: &Node) -> Result<()> {
    let mut target = root(bed, node);
    target.host_key = HostKeyPolicy::known_hosts(bed.known_hosts_path());
    ensure!(whoami(&target).await?.starts_with("root "));
    // A known_hosts file that does not list the host refuses it.
    let other = tempfile::NamedTempFile::new()?;
    std::fs::write(other.path(), "192.0.2.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n")?;
    target.host_key = HostKeyPolicy::known_hosts(other.path());
    match Session::connect(&target).await {
        Err(e @ Error::HostKeyUnknown { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(text.contains(&node.address().to_string()), "{text}");
            ensure!(text.contains(node.host_key().fingerprint()), "{text}");
        }
        other => bail!("expected an unknown host key error, got {other:?}"),
    }
    Ok(())
}

async fn wrong_key(bed: &TestBed, node: &Node) -> Result<()> {
    let stranger = KeyPair::generate("not-authorised")?;
    let mut target = root(bed, node);
    target.credentials = Credentials::key(stranger.private_openssh());
    let started = Instant::now();
    let result = Session::connect(&target).await;
    let took = started.elapsed();
    eprintln!("        wrong key refused after {took:.2?}");
    match result {
        Err(e @ Error::AuthFailed { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(
                text.contains("root@") && text.contains("publickey"),
                "{text}"
            );
        }
        other => bail!("expected an authentication error, got {other:?}"),
    }
    ensure!(
        took < target.timeouts.connect + Duration::from_secs(5),
        "took {took:?}"
    );
    Ok(())
}

async fn wrong_host_key(bed: &TestBed, node: &Node, other: &Node) -> Result<()> {
    let mut target = root(bed, node);
    target.host_key = HostKeyPolicy::pinned(other.host_key().public_openssh())?;
    let started = Instant::now();
    let result = Session::connect(&target).await;
    let took = started.elapsed();
    eprintln!("        wrong host key refused after {took:.2?}");
    match result {
        Err(e @ Error::HostKeyMismatch { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(text.contains(&node.address().to_string()), "{text}");
            ensure!(
                text.contains(node.host_key().fingerprint()),
                "actual missing: {text}"
            );
            ensure!(
                text.contains(other.host_key().fingerprint()),
                "expected missing: {text}"
            );
        }
        other => bail!("expected a host key mismatch, got {other:?}"),
    }
    ensure!(
        took < target.timeouts.connect + Duration::from_secs(5),
        "took {took:?}"
    );
    Ok(())
}

async fn unreachable(bed: &TestBed, node: &Node) -> Result<()> {
    let mut target = root(bed, node)
        .connect_timeout(Duration::from_secs(3))
        .retry_for(Duration::from_secs(4));
    target.host = unused_address(node).to_string();
    let started = Instant::now();
    let result = Session::connect(&target).await;
    let took = started.elapsed();
    eprintln!("        unreachable address gave up after {took:.2?}");
    match result {
        Err(e @ Error::Unreachable { .. }) => {
            let text = e.to_string();
            eprintln!("        {text}");
            ensure!(
                text.contains(&target.host) && text.contains("attempt"),
                "{text}"
            );
        }
        other => bail!("expected an unreachable error, got {other:?}"),
    }
    let bound = target.timeouts.connect.max(target.timeouts.retry_for) + Duration::from_secs(5);
    ensure!(took < bound, "took {took:?}, more than {bound:?}");
    Ok(())
}

async fn insecure(bed: &TestBed, node: &Node, logs: &Logs) -> Result<()> {
    let mut target = root(bed, node);
    target.host_key = HostKeyPolicy::InsecureAcceptAny;
    ensure!(whoami(&target).await?.starts_with("root "));
    let text = logs.text();
    let warning = text
        .lines()
        .find(|l| l.contains("host key checking is OFF"))
        .context("no warning logged for InsecureAcceptAny")?;
    ensure!(warning.contains("WARN"), "{warning}");
    ensure!(warning.contains(node.host_key().fingerprint()), "{warning}");
    Ok(())
}

async fn retries_until_up(bed: &TestBed, node: &Node) -> Result<()> {
    let stopped = inspect(
        node,
        "systemctl stop ssh.service && ! systemctl is-active ssh.service",
    )?;
    ensure!(stopped.status.success(), "could not stop sshd");
    let target = root(bed, node).retry_for(Duration::from_secs(30));
    let started = Instant::now();
    let connecting = tokio::spawn(async move { whoami(&target).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(
        !connecting.is_finished(),
        "connected while sshd was stopped"
    );
    ensure!(inspect(node, "systemctl start ssh.service")?
        .status
        .success());
    let got = connecting.await??;
    ensure!(got.starts_with("root "), "{got}");
    eprintln!(
        "        connected {:.2?} after the first attempt",
        started.elapsed()
    );
    Ok(())
}

async fn statuses(session: &Session) -> Result<()> {
    let out = session
        .output(Command::new("probe", "echo out; echo err >&2; exit 3"))
        .await?;
    ensure!(out.status == ExitStatus::Code(3), "{:?}", out.status);
    ensure!(out.stdout == b"out\n" && out.stderr == b"err\n", "{out:?}");
    let out = session.run("probe", "printf 'no newline'").await?;
    ensure!(out.stdout == b"no newline" && out.status.success());
    let out = session
        .output(Command::new("probe", "kill -KILL $$"))
        .await?;
    ensure!(!out.status.success(), "{:?}", out.status);
    Ok(())
}

async fn errors(session: &Session) -> Result<()> {
    let script = "for i in $(seq 1 50); do echo \"problem line $i\" >&2; done; exit 7";
    let err = session
        .exec(Command::new("install K3s", script))
        .await
        .err()
        .context("a failing command succeeded")?;
    let text = err.to_string();
    eprintln!("        error reads:\n{}", indent(&text));
    ensure!(
        text.starts_with(&format!(
            "install K3s failed on {}: exit status 7",
            session.host()
        )),
        "{text}"
    );
    ensure!(
        text.contains("problem line 50") && text.contains("problem line 31"),
        "{text}"
    );
    ensure!(
        !text.contains("problem line 30\n"),
        "more than 20 lines: {text}"
    );
    match err {
        Error::CommandFailed { status, .. } => ensure!(status == ExitStatus::Code(7)),
        other => bail!("unexpected {other:?}"),
    }
    let missing = session
        .exec(Command::new(
            "check the cluster",
            "kubectl-that-is-missing get nodes",
        ))
        .await
        .err()
        .context("a missing program ran")?
        .to_string();
    ensure!(
        missing.contains("hint: a program the command needs is not installed"),
        "{missing}"
    );
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until no process on the node has `marker` in its command line.
async fn gone(node: &Node, marker: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ps = inspect(node, "ps -eo args")?;
        let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
        if !ps.lines().any(|l| l.contains(marker)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("still running on the node:\n{ps}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn deadline(session: &Session, node: &Node) -> Result<()> {
    let started = Instant::now();
    let result = session
        .exec(
            Command::new("wait forever", "echo starting >&2; sleep 41.5; echo never")
                .timeout(Duration::from_secs(2)),
        )
        .await;
    let took = started.elapsed();
    match result {
        Err(e @ Error::CommandTimedOut { .. }) => {
            let text = e.to_string();
            ensure!(
                text.contains("wait forever") && text.contains("starting"),
                "{text}"
            );
        }
        other => bail!("expected a timeout, got {other:?}"),
    }
    ensure!(took < Duration::from_secs(2 + 10), "took {took:?}");
    gone(node, "sleep 41.5").await
}

async fn cancellation(session: &Session, node: &Node) -> Result<()> {
    // With a token.
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cancel.cancel();
    });
    let result = session
        .exec(Command::new("wait for a cancel", "sleep 42.5").cancel_on(token))
        .await;
    ensure!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
    gone(node, "sleep 42.5").await?;

    // By dropping the future.
    let dropped = tokio::time::timeout(
        Duration::from_millis(1500),
        session.exec(Command::new("be dropped", "sleep 43.5")),
    )
    .await;
    ensure!(dropped.is_err(), "the command ended by itself");
    gone(node, "sleep 43.5").await?;
    // The connection is still good.
    ensure!(session.run("probe", "true").await?.status.success());
    Ok(())
}

async fn concurrency(session: &Session) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let session = session.clone();
        tasks.push(tokio::spawn(async move {
            session
                .run("echo a number", &format!("sleep 0.2; echo {i}"))
                .await
                .map(|o| o.stdout_text())
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task.await??;
        ensure!(out == format!("{i}\n"), "task {i} got {out:?}");
    }
    Ok(())
}

async fn stdin(session: &Session) -> Result<()> {
    let data: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let out = session
        .exec(Command::new("echo stdin back", "cat").stdin(data.clone()))
        .await?;
    ensure!(
        out.stdout.len() == data.len(),
        "{} bytes back",
        out.stdout.len()
    );
    ensure!(out.stdout == data, "the bytes differ");
    // Without stdin, a command reading it sees end-of-file at once.
    let out = session.run("read empty stdin", "wc -c").await?;
    ensure!(out.stdout_text().trim() == "0", "{out:?}");
    Ok(())
}

async fn files(session: &Session, node: &Node) -> Result<()> {
    let path = "/etc/k3s-sdk-test/config.yaml";
    let content = b"token-file: /etc/rancher/k3s/token\nwrite-kubeconfig-mode: \"0600\"\n".to_vec();
    session
        .write_file(path, &content, &FileOptions::new().mode(0o644))
        .await?;
    ensure!(session.read_file(path).await? == content);
    let stat = inspect(
        node,
        &format!(
            "stat -c '%a %U %G' {path}; stat -c '%a' /etc/k3s-sdk-test; ls -A /etc/k3s-sdk-test"
        ),
    )?;
    let stat = String::from_utf8_lossy(&stat.stdout).into_owned();
    ensure!(stat == "644 root root\n755\nconfig.yaml\n", "{stat:?}");
    // Overwrite with a smaller, private file.
    session.write_file(path, b"x", &FileOptions::new()).await?;
    ensure!(session.read_file(path).await? == b"x");
    let mode = inspect(node, &format!("stat -c %a {path}"))?;
    ensure!(String::from_utf8_lossy(&mode.stdout).trim() == "600");
    ensure!(session
        .read_file_if_exists("/etc/k3s-sdk-test/missing")
        .await?
        .is_none());
    ensure!(session.read_file_if_exists(path).await?.as_deref() == Some(&b"x"[..]));
    let missing = session.read_file("/etc/k3s-sdk-test/missing").await;
    ensure!(
        matches!(missing, Err(Error::CommandFailed { .. })),
        "{missing:?}"
    );
    ensure!(matches!(
        session
            .write_file("relative/path", b"", &FileOptions::new())
            .await,
        Err(Error::InvalidConfig(_))
    ));
    Ok(())
}

async fn forwarding(session: &Session, node: &Node) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = "/run/k3s-sdk-forward";
    let started = inspect(
        node,
        &format!(
            "mkdir -p {dir} && echo forwarded-ok > {dir}/probe.txt && \
             systemd-run --unit k3s-sdk-http --working-directory={dir} \
             /usr/bin/python3 -m http.server --bind 127.0.0.1 8099"
        ),
    )?;
    ensure!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    // Wait until it listens (on the node's loopback only).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !inspect(node, "ss -ltn | grep -q 127.0.0.1:8099")?
        .status
        .success()
    {
        ensure!(Instant::now() < deadline, "the HTTP server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let direct = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((node.address(), 8099)),
    )
    .await;
    ensure!(
        !matches!(direct, Ok(Ok(_))),
        "the service is reachable without the forward"
    );

    let forward = session.forward_local("127.0.0.1", 8099).await?;
    let local = forward.local_addr();
    ensure!(local.ip().is_loopback());
    async fn get(local: std::net::SocketAddr) -> Result<String> {
        let mut stream = tokio::net::TcpStream::connect(local).await?;
        stream
            .write_all(b"GET /probe.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    }
    // Several connections, two of them at once.
    let (a, b) = tokio::join!(get(local), get(local));
    for response in [a?, b?, get(local).await?] {
        ensure!(response.starts_with("HTTP/1.0 200"), "{response}");
        ensure!(response.ends_with("forwarded-ok\n"), "{response}");
    }
    drop(forward);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = tokio::time::timeout(Duration::from_secs(3), get(local)).await;
    ensure!(
        !matches!(after, Ok(Ok(_))),
        "still forwarding after drop: {after:?}"
    );
    inspect(node, "systemctl stop k3s-sdk-http")?;
    Ok(())
}
