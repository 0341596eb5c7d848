//! Plugin startup benchmark: our provider binary next to HashiCorp's Go provider
//! `terraform-provider-null` 2.1.2, in one run.
//!
//! For each provider it measures
//!
//! 1. the time from spawning the binary, with the environment a go-plugin client (Terraform)
//!    gives it, to the first complete line on its stdout, the go-plugin handshake line
//!    (`1|6|unix|/path|grpc|CERT` for ours, `1|5|...` for the peer), whose shape is checked;
//! 2. its peak memory at that moment: `VmHWM` from `/proc/<pid>/status`, read right after the
//!    handshake line and before the process is killed, i.e. the peak resident set size so far
//!    (the workspace denies `unsafe_code`, so `wait4`'s rusage is out of reach);
//! 3. the time of a full `terraform plan` through `scripts/terraform` (or
//!    `TF_ACC_TERRAFORM_PATH`): ours through `dev_overrides`, without `terraform init`; the
//!    peer installed offline by `terraform init` from the filesystem mirror that
//!    `scripts/peer-null-provider` lays out under `.tools/peers/mirror`.
//!
//! It then prints a table with the ratio ours/peer for every figure. It asserts nothing about
//! time; it exits non-zero only when a measurement could not be made.
//!
//! Each handshake run gets a fresh client certificate in `PLUGIN_CLIENT_CERT`, as Terraform
//! does with AutoMTLS, so that the server's TLS setup is part of the measured startup: a
//! self-signed ECDSA P-521 certificate (CN and SAN `localhost`, O `HashiCorp`, CA, client and
//! server auth), made with the `openssl` command line tool. The `rcgen` crate only has P-521
//! with its `aws_lc_rs` backend, not with its default `ring` one, so it is not used.
//! The certificates are made before the timed runs, so their cost is not measured.
//!
//! Run with `cargo bench -p acceptance-tests --bench plugin_startup` after building ours with
//! `cargo build --release -p terraform-provider-k3s`. Settings, all from the environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `K3S_PROVIDER_BIN` | our provider binary | `<repo>/target/release/terraform-provider-k3s` |
//! | `BENCH_PEER_ONLY` | `1`: measure the peer alone | ours too, when it exists |
//! | `BENCH_RUNS` | handshake runs per provider | 20 |
//! | `BENCH_PLANS` | timed `terraform plan`s per provider (after one untimed warm-up) | 5; `0` skips plans |
//! | `BENCH_PLAINTEXT` | `1`: no `PLUGIN_CLIENT_CERT` (plaintext gRPC) | AutoMTLS |
//! | `K3S_BENCH_CONFIG` | file with the Terraform configuration planned with ours | `provider "k3s" {}` |
//! | `PEER_BENCH_CONFIG` | file with the configuration planned with the peer | one `null_resource` |
//! | `K3S_TF_VERSION` | Terraform version run by `scripts/terraform` | 1.15.5 |
//!
//! When our binary does not exist yet, the benchmark says so and measures the peer alone.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use acceptance_tests::terraform::{
    repo_root, terraform_program, TerraformVersion, Workdir, PROVIDER_BINARY,
};
use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The go-plugin magic cookie Terraform sets for providers (protocols 5 and 6 alike).
const MAGIC_COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// How long a provider may take to print its handshake line (go-plugin's default timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The peer's version, as installed by `scripts/peer-null-provider`.
const PEER_VERSION: &str = "2.1.2";

/// Configuration planned with ours unless `K3S_BENCH_CONFIG` names a file.
const DEFAULT_OURS_CONFIG: &str = r#"terraform {
  required_providers {
    k3s = { source = "k3s/k3s" }
  }
}

provider "k3s" {}
"#;

/// Configuration planned with the peer unless `PEER_BENCH_CONFIG` names a file.
const DEFAULT_PEER_CONFIG: &str = r#"terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "2.1.2" }
  }
}

provider "null" {}

resource "null_resource" "x" {}
"#;

/// Whose provider a [`Provider`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Peer,
}

/// A provider binary under test.
#[derive(Debug)]
struct Provider {
    side: Side,
    label: String,
    binary: PathBuf,
    /// The plugin protocol version it speaks (and is offered in `PLUGIN_PROTOCOL_VERSIONS`).
    protocol: u32,
}

/// One handshake run.
#[derive(Debug)]
struct Sample {
    handshake: Duration,
    peak_rss_kib: u64,
    line: String,
}

/// What was measured for one provider.
#[derive(Debug, Default)]
struct Figures {
    handshake_ms: Vec<f64>,
    peak_rss_mib: Vec<f64>,
    plan_s: Vec<f64>,
    first_line: Option<String>,
    errors: Vec<String>,
}

/// The benchmark's settings, read from the environment.
#[derive(Debug)]
struct Settings {
    runs: usize,
    plans: usize,
    plaintext: bool,
    tf_version: TerraformVersion,
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1" | "true" | "yes"))
}

fn env_count(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v:?} is not a count")),
        _ => Ok(default),
    }
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("plugin_startup: error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs the benchmark; `Ok(false)` when some measurement failed (reported in the table).
fn run() -> Result<bool> {
    let settings = Settings {
        runs: env_count("BENCH_RUNS", 20)?.max(1),
        plans: env_count("BENCH_PLANS", 5)?,
        plaintext: env_flag("BENCH_PLAINTEXT"),
        tf_version: TerraformVersion::from_env()?,
    };

    let mut providers = Vec::new();
    if env_flag("BENCH_PEER_ONLY") {
        println!("BENCH_PEER_ONLY is set: measuring the peer alone.");
    } else {
        let ours = match std::env::var_os("K3S_PROVIDER_BIN") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => repo_root()
                .join("target")
                .join("release")
                .join(PROVIDER_BINARY),
        };
        if ours.is_file() {
            providers.push(Provider {
                side: Side::Ours,
                label: PROVIDER_BINARY.to_string(),
                binary: ours,
                protocol: 6,
            });
        } else {
            println!(
                "note: our provider binary {} does not exist yet; build it with \
                 `cargo build --release -p terraform-provider-k3s` or name it in \
                 K3S_PROVIDER_BIN. Measuring the peer alone.",
                ours.display()
            );
        }
    }
    providers.push(Provider {
        side: Side::Peer,
        label: format!("terraform-provider-null {PEER_VERSION}"),
        binary: peer_binary()?,
        protocol: 5,
    });

    let scratch = tempfile::Builder::new()
        .prefix("plugin-startup-")
        .tempdir()
        .context("creating a scratch directory")?;
    println!(
        "{} handshake runs and {} timed plans per provider (after one warm-up plan), \
         Terraform {} via {}, {}",
        settings.runs,
        settings.plans,
        settings.tf_version,
        terraform_program().display(),
        if settings.plaintext {
            "plaintext (no PLUGIN_CLIENT_CERT)"
        } else {
            "AutoMTLS (PLUGIN_CLIENT_CERT: self-signed ECDSA P-521 from openssl)"
        }
    );
    for p in &providers {
        println!(
            "  {}: {} ({:.1} MiB), protocol {}",
            p.label,
            p.binary.display(),
            file_mib(&p.binary),
            p.protocol
        );
    }

    let mut figures: Vec<Figures> = providers.iter().map(|_| Figures::default()).collect();
    measure_handshakes(&providers, &settings, scratch.path(), &mut figures)?;
    if settings.plans > 0 {
        measure_plans(&providers, &settings, scratch.path(), &mut figures);
    }

    print_table(&providers, &figures);
    let mut all_ok = true;
    for (p, f) in providers.iter().zip(&figures) {
        if let Some(line) = &f.first_line {
            println!("{} handshake line: {}", p.label, shorten(line, 100));
        }
        for e in &f.errors {
            all_ok = false;
            println!("{} FAILED: {e}", p.label);
        }
    }
    Ok(all_ok)
}

/// The peer's binary, obtained (once) by `scripts/peer-null-provider`.
fn peer_binary() -> Result<PathBuf> {
    let script = repo_root().join("scripts").join("peer-null-provider");
    let out = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "{} failed with {}",
        script.display(),
        out.status
    );
    let path = String::from_utf8(out.stdout).context("the peer's path is not UTF-8")?;
    let path = PathBuf::from(path.trim());
    ensure!(
        path.is_file(),
        "{} printed {}, which is not a file",
        script.display(),
        path.display()
    );
    Ok(path)
}

/// The directory of the Terraform filesystem mirror that holds the peer.
fn peer_mirror() -> PathBuf {
    repo_root().join(".tools").join("peers").join("mirror")
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path)
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .unwrap_or(f64::NAN)
}

/// Makes a self-signed ECDSA P-521 certificate like the one go-plugin's AutoMTLS client
/// makes (CN/SAN `localhost`, O `HashiCorp`, CA, client and server auth, valid 262980 h),
/// with the `openssl` tool, and returns its PEM.
fn client_cert(dir: &Path) -> Result<String> {
    let key = dir.join("client-key.pem");
    let cert = dir.join("client-cert.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args([
            "-pkeyopt",
            "ec_paramgen_curve:secp521r1",
            "-sha512",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "10957", "-subj", "/O=HashiCorp/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args([
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign",
        ])
        .args(["-addext", "extendedKeyUsage=clientAuth,serverAuth"])
        .stdin(Stdio::null())
        .output()
        .context("running openssl to make a client certificate")?;
    ensure!(
        out.status.success(),
        "openssl req failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let pem =
        std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(&cert);
    ensure!(
        pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "openssl wrote no PEM certificate"
    );
    Ok(pem)
}

/// Runs the handshake measurements, the providers taking turns run by run.
fn measure_handshakes(
    providers: &[Provider],
    settings: &Settings,
    scratch: &Path,
    figures: &mut [Figures],
) -> Result<()> {
    let certs = if settings.plaintext {
        Vec::new()
    } else {
        (0..settings.runs * providers.len())
            .map(|_| client_cert(scratch))
            .collect::<Result<Vec<_>>>()?
    };
    let sockets = scratch.join("sockets");
    std::fs::create_dir_all(&sockets).context("creating the socket directory")?;
    let mut certs = certs.into_iter();
    for run in 0..settings.runs {
        for (p, f) in providers.iter().zip(figures.iter_mut()) {
            if !f.errors.is_empty() {
                continue;
            }
            let cert = certs.next();
            let stderr_log = scratch.join(format!("stderr-{run}.log"));
            match handshake_once(p, cert.as_deref(), &sockets, &stderr_log) {
                Ok(sample) => {
                    f.handshake_ms.push(sample.handshake.as_secs_f64() * 1e3);
                    f.peak_rss_mib.push(sample.peak_rss_kib as f64 / 1024.0);
                    f.first_line.get_or_insert(sample.line);
                }
                Err(e) => f.errors.push(format!("handshake run {}: {e:#}", run + 1)),
            }
        }
    }
    Ok(())
}

/// Starts `p` as a go-plugin client would, waits for its handshake line, reads its peak RSS
/// and kills it.
fn handshake_once(
    p: &Provider,
    cert: Option<&str>,
    socket_dir: &Path,
    stderr_log: &Path,
) -> Result<Sample> {
    let stderr =
        File::create(stderr_log).with_context(|| format!("creating {}", stderr_log.display()))?;
    let mut command = Command::new(&p.binary);
    command
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", p.protocol.to_string())
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        // Keeps the unix sockets that killed plugins leave behind in the scratch directory
        // (the peer predates PLUGIN_UNIX_SOCKET_DIR and uses the temp directory).
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir)
        .env("TMPDIR", socket_dir)
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("PLUGIN_MULTIPLEX_GRPC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(cert) = cert {
        command.env("PLUGIN_CLIENT_CERT", cert);
    }

    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", p.binary.display()))?;
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);

    // A watchdog kills the plugin if it prints no line in time; until it is told to stand
    // down the child is not reaped, so the pid cannot have been reused.
    let (cancel, cancelled) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(HANDSHAKE_TIMEOUT) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    });

    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let handshake = started.elapsed();
    let _ = cancel.send(());
    let _ = watchdog.join();

    let outcome = read.context("reading the plugin's stdout").and_then(|_| {
        ensure!(
            line.ends_with('\n'),
            "stdout closed, or {HANDSHAKE_TIMEOUT:?} passed, before a complete line (got {:?})",
            shorten(&line, 120)
        );
        let line = line.trim_end_matches(['\n', '\r']);
        validate_handshake(line, p.protocol, cert.is_some())?;
        vm_hwm_kib(pid)
    });
    let _ = child.kill();
    let _ = child.wait();
    let peak_rss_kib = outcome.map_err(|e| {
        let log = std::fs::read_to_string(stderr_log).unwrap_or_default();
        e.context(format!(
            "{} (stderr: {})",
            p.binary.display(),
            shorten(log.trim(), 600)
        ))
    })?;
    let _ = std::fs::remove_file(stderr_log);
    Ok(Sample {
        handshake,
        peak_rss_kib,
        line: line.trim_end().to_string(),
    })
}

/// Checks a go-plugin handshake line `CORE|APP|NETWORK|ADDRESS|PROTOCOL|SERVERCERT[|MUX]`.
fn validate_handshake(line: &str, protocol: u32, expect_cert: bool) -> Result<()> {
    let fields: Vec<&str> = line.split('|').collect();
    let shown = shorten(line, 120);
    ensure!(
        fields.len() >= 5,
        "handshake line {shown:?} has {} fields, not at least 5",
        fields.len()
    );
    ensure!(
        fields[0] == "1",
        "core protocol {:?} in {shown:?} is not 1",
        fields[0]
    );
    ensure!(
        fields[1] == protocol.to_string(),
        "app protocol {:?} in {shown:?} is not {protocol}",
        fields[1]
    );
    ensure!(
        matches!(fields[2], "unix" | "tcp"),
        "network {:?} in {shown:?} is neither unix nor tcp",
        fields[2]
    );
    ensure!(!fields[3].is_empty(), "empty address in {shown:?}");
    ensure!(
        fields[4] == "grpc",
        "protocol {:?} in {shown:?} is not grpc",
        fields[4]
    );
    let cert = fields.get(5).copied().unwrap_or("");
    if expect_cert {
        // Unpadded standard base64 of a DER certificate, which starts with a SEQUENCE (0x30).
        ensure!(
            cert.len() > 50
                && cert.starts_with('M')
                && cert
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
            "PLUGIN_CLIENT_CERT was given but the server certificate field of {shown:?} is not \
             unpadded base64 DER (AutoMTLS)"
        );
    } else if !cert.is_empty() {
        bail!("no PLUGIN_CLIENT_CERT was given but {shown:?} carries a server certificate");
    }
    Ok(())
}

/// The peak resident set size so far (`VmHWM`) of a running process, in KiB.
fn vm_hwm_kib(pid: Pid) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .with_context(|| format!("no VmHWM in {path}"))?;
    let kib = value.trim().trim_end_matches("kB").trim();
    kib.parse()
        .with_context(|| format!("VmHWM {value:?} in {path} is not a number"))
}

/// A working directory prepared for timing `terraform plan` with `p`.
fn plan_workdir(p: &Provider, settings: &Settings, scratch: &Path) -> Result<Workdir> {
    match p.side {
        Side::Ours => {
            // dev_overrides look for a file named terraform-provider-k3s in the directory.
            let dir = if p.binary.file_name() == Some(PROVIDER_BINARY.as_ref()) {
                p.binary
                    .parent()
                    .context("our binary has no parent directory")?
                    .to_path_buf()
            } else {
                let dir = scratch.join("ours");
                std::fs::create_dir_all(&dir)?;
                let link = dir.join(PROVIDER_BINARY);
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(std::fs::canonicalize(&p.binary)?, &link)
                    .with_context(|| format!("linking {}", link.display()))?;
                dir
            };
            let wd = Workdir::new(settings.tf_version, dir)?;
            wd.write_file(
                "main.tf",
                &config_from_env("K3S_BENCH_CONFIG", DEFAULT_OURS_CONFIG)?,
            )?;
            Ok(wd)
        }
        Side::Peer => {
            let wd = Workdir::new(settings.tf_version, scratch)?;
            // Workdir's own CLI config holds dev_overrides for ours; the peer gets one with
            // the filesystem mirror instead (a later TF_CLI_CONFIG_FILE overrides it).
            let cli_config = wd.path().join("peer.terraformrc");
            let mirror = peer_mirror();
            let mirror = mirror.to_str().context("the mirror's path is not UTF-8")?;
            let wd = wd.with_env(
                "TF_CLI_CONFIG_FILE",
                cli_config
                    .to_str()
                    .context("the CLI config's path is not UTF-8")?,
            );
            wd.write_file(
                "peer.terraformrc",
                &format!(
                    "provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    \
                     include = [\"registry.terraform.io/hashicorp/null\"]\n  }}\n}}\n",
                    serde_json::to_string(mirror)?
                ),
            )?;
            wd.write_file(
                "main.tf",
                &config_from_env("PEER_BENCH_CONFIG", DEFAULT_PEER_CONFIG)?,
            )?;
            wd.run(&["init", "-no-color", "-input=false"])?.ok()?;
            Ok(wd)
        }
    }
}

/// The contents of the file named by the environment variable `var`, or `default`.
fn config_from_env(var: &str, default: &str) -> Result<String> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => std::fs::read_to_string(&path)
            .with_context(|| format!("reading {var}={}", Path::new(&path).display())),
        _ => Ok(default.to_string()),
    }
}

const PLAN_ARGS: [&str; 4] = ["plan", "-no-color", "-input=false", "-lock=false"];

/// Times `terraform plan`: one untimed warm-up each, then the providers take turns.
fn measure_plans(
    providers: &[Provider],
    settings: &Settings,
    scratch: &Path,
    figures: &mut [Figures],
) {
    let mut workdirs: Vec<Option<Workdir>> = Vec::new();
    for (p, f) in providers.iter().zip(figures.iter_mut()) {
        let prepared = plan_workdir(p, settings, scratch).and_then(|wd| {
            wd.run(&PLAN_ARGS)?.ok()?;
            Ok(wd)
        });
        match prepared {
            Ok(wd) => workdirs.push(Some(wd)),
            Err(e) => {
                f.errors.push(format!("terraform plan: {e:#}"));
                workdirs.push(None);
            }
        }
    }
    for _ in 0..settings.plans {
        for (wd, f) in workdirs.iter_mut().zip(figures.iter_mut()) {
            let Some(dir) = wd.as_ref() else { continue };
            match dir.run(&PLAN_ARGS).and_then(|r| r.ok()) {
                Ok(r) => f.plan_s.push(r.elapsed.as_secs_f64()),
                Err(e) => {
                    f.errors.push(format!("terraform plan: {e:#}"));
                    *wd = None;
                }
            }
        }
    }
}

/// Median, minimum and maximum, or `None` for no values.
fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

fn print_table(providers: &[Provider], figures: &[Figures]) {
    // Per provider: handshake median/min/max (ms), peak RSS median/max (MiB), plan
    // median/min/max (s).
    let rows: Vec<[Option<f64>; 8]> = figures
        .iter()
        .map(|f| {
            let h = stats(&f.handshake_ms);
            let r = stats(&f.peak_rss_mib);
            let p = stats(&f.plan_s);
            [
                h.map(|s| s.0),
                h.map(|s| s.1),
                h.map(|s| s.2),
                r.map(|s| s.0),
                r.map(|s| s.2),
                p.map(|s| s.0),
                p.map(|s| s.1),
                p.map(|s| s.2),
            ]
        })
        .collect();
    let decimals = [2, 2, 2, 1, 1, 3, 3, 3];
    println!();
    println!(
        "{:<30} {:>5} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "provider",
        "proto",
        "runs",
        "hs med",
        "hs min",
        "hs max",
        "RSS med",
        "RSS max",
        "plan med",
        "plan min",
        "plan max"
    );
    println!(
        "{:<30} {:>5} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "", "", "hs/plan", "ms", "ms", "ms", "MiB", "MiB", "s", "s", "s"
    );
    for ((p, f), row) in providers.iter().zip(figures).zip(&rows) {
        let cells: Vec<String> = row.iter().zip(decimals).map(|(v, d)| cell(*v, d)).collect();
        println!(
            "{:<30} {:>5} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
            p.label,
            p.protocol,
            format!("{}/{}", f.handshake_ms.len(), f.plan_s.len()),
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7]
        );
    }
    let ours = providers.iter().position(|p| p.side == Side::Ours);
    let peer = providers.iter().position(|p| p.side == Side::Peer);
    if let (Some(o), Some(q)) = (ours, peer) {
        let ratios: Vec<String> = rows[o]
            .iter()
            .zip(&rows[q])
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) if *b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".to_string(),
            })
            .collect();
        println!(
            "{:<30} {:>5} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
            "ratio ours/peer",
            "",
            "",
            ratios[0],
            ratios[1],
            ratios[2],
            ratios[3],
            ratios[4],
            ratios[5],
            ratios[6],
            ratios[7]
        );
    }
    println!();
    println!(
        "hs: spawn to first complete stdout line (the go-plugin handshake); RSS: VmHWM read \
         right after it; plan: wall time of `terraform plan` (Terraform, provider start and \
         RPCs)."
    );
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}...")
    }
}
