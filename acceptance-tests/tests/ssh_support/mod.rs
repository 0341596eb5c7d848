//! Shared by the `ssh_*` tests: a log capture that sees every tracing event and every `log`
//! record (russh logs through `log`), a runner for named checks sharing one test bed, and
//! targets for test-bed nodes.

#![allow(dead_code)]

use acceptance_tests::testbed::{Node, TestBed};
use anyhow::Result;
use k3s_sdk::ssh::{Credentials, HostKeyPolicy, Target};
use std::future::Future;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Everything logged in this process since the capture was installed, at TRACE level.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Installs the capture as the global subscriber (once per process) and returns it.
    pub fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            // With the `tracing-log` feature this also routes `log` records (russh's) here.
            tracing_subscriber::fmt()
                .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
                .with_ansi(false)
                .with_writer(logs.clone())
                .try_init()
                .expect("installing the log capture");
            logs
        })
        .clone()
    }

    /// The captured text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Fails if any of `secrets` appears in the captured logs.
    pub fn assert_free_of(&self, secrets: &[&str]) -> Result<()> {
        let text = self.text();
        anyhow::ensure!(
            text.len() > 1000,
            "the log capture saw almost nothing ({} bytes)",
            text.len()
        );
        // russh logs through `log`: its records must be captured too.
        anyhow::ensure!(
            text.lines().any(|l| l.contains("TRACE russh")),
            "no TRACE record from russh was captured"
        );
        for secret in secrets {
            anyhow::ensure!(!secret.is_empty(), "empty secret in the check list");
            if let Some(line) = text.lines().find(|l| l.contains(secret)) {
                anyhow::bail!("a secret appears in the logs: {line}");
            }
        }
        Ok(())
    }
}

pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

/// Runs named checks one after the other, reporting each with its time, and fails at the end
/// with every failure listed.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
}

impl Checks {
    pub async fn run(&mut self, name: &str, check: impl Future<Output = Result<()>>) {
        let started = Instant::now();
        let result = check.await;
        self.record(name, started, result);
    }

    pub fn run_now(&mut self, name: &str, check: impl FnOnce() -> Result<()>) {
        let started = Instant::now();
        let result = check();
        self.record(name, started, result);
    }

    fn record(&mut self, name: &str, started: Instant, result: Result<()>) {
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("  ok    {name} ({took:.2} s)"),
            Err(e) => {
                eprintln!("  FAIL  {name} ({took:.2} s): {e:#}");
                self.failures.push(format!("{name}: {e:#}"));
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "{} check(s) failed:\n{}",
                self.failures.len(),
                self.failures.join("\n")
            )
        }
    }
}

/// A runtime for the async part of a test (the test bed boots synchronously, before it).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
}

/// Root on `node` with the run's key file and the node's pinned host key; short retries.
pub fn root(bed: &TestBed, node: &Node) -> Target {
    user(bed, node, "root")
}

/// `user` on `node` with the run's key file and the node's pinned host key; short retries.
pub fn user(bed: &TestBed, node: &Node, user: &str) -> Target {
    Target::new(
        node.address().to_string(),
        user,
        Credentials::key_file(bed.client_key_path()),
        HostKeyPolicy::pinned(node.host_key().public_openssh()).expect("pinned key"),
    )
    .connect_timeout(Duration::from_secs(10))
    .retry_for(Duration::from_secs(10))
}

/// A shell command run in the node's namespaces from the host (out of band, for inspection),
/// off the async threads.
pub fn inspect(node: &Node, command: &str) -> Result<std::process::Output> {
    tokio::task::block_in_place(|| node.exec(command))
}

/// An address in the node's subnet that no node has.
pub fn unused_address(node: &Node) -> Ipv4Addr {
    let [a, b, c, _] = node.address().octets();
    Ipv4Addr::new(a, b, c, 250)
}
